"""`python -m bot run` as a real process, for the tests that need one (signals, ports, crashes)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Mapping

from tests.conftest import ROOT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_bot(env: Mapping[str, str], *, stdin: int = subprocess.DEVNULL) -> subprocess.Popen[str]:
    """`python -m bot run` with only these settings (none inherited from the machine running
    the tests), and no web chat unless they ask for one: tests run side by side, and would all
    want port 8080."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PATHWAYS_", "TELEGRAM_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=ROOT,
        env={**clean, "PATHWAYS_WEB": "off", **env},
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
