"""The command line as a person or CI meets it: exit codes, messages, generated docs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bot.engine.flows import load_flows
from bot.engine.graph import markdown
from tests.conftest import FLOWS, ROOT


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_flows_check_passes_on_the_shipped_flows() -> None:
    result = cli("flows", "check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Flows are fine:")


def test_flows_check_fails_naming_file_and_line(flows_copy: Path) -> None:
    victim = flows_copy / "victim.yaml"
    text = victim.read_text()
    line = text[: text.index("goto: not_safe")].count("\n") + 1
    victim.write_text(text.replace("goto: not_safe", "goto: victim.nedds"))
    result = cli("flows", "check", "--dir", str(flows_copy))
    assert result.returncode == 1
    assert f"victim.yaml:{line}: unknown destination 'victim.nedds'" in result.stderr


def test_flows_check_reports_an_unreachable_state_and_a_dead_end(flows_copy: Path) -> None:
    with (flows_copy / "learn.yaml").open("a") as extra:
        extra.write("  forgotten:\n    text: Nobody links here.\n    end: true\n")
        extra.write("  stuck:\n    text: Nowhere to go.\n")
    result = cli("flows", "check", "--dir", str(flows_copy))
    assert result.returncode == 1
    assert "state 'learn.forgotten' cannot be reached from the start" in result.stderr
    assert "dead end: 'learn.stuck'" in result.stderr


def test_the_committed_diagram_matches_the_flows() -> None:
    committed = (ROOT / "docs" / "flows.md").read_text()
    assert committed == markdown(load_flows(FLOWS)), (
        "docs/flows.md is out of date: run `make flows-graph` and commit it"
    )


def test_flows_graph_prints_mermaid() -> None:
    result = cli("flows", "graph")
    assert result.returncode == 0
    assert "```mermaid\nflowchart TD" in result.stdout
    assert 'opening__start -->|"No, not right now"| opening__who' in result.stdout


def test_start_up_stops_on_broken_flows_with_the_reason(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(FLOWS, flows)
    (flows / "opening.yaml").write_text("states: [oops")
    result = cli("console", "--db", str(tmp_path / "x.db"), env={"PATHWAYS_FLOWS": str(flows)})
    assert result.returncode == 2
    assert "The flows have problems:" in result.stderr
    assert "opening.yaml:1: not valid YAML" in result.stderr


def test_a_malformed_token_stops_start_up_without_echoing_it() -> None:
    result = cli("run", env={"TELEGRAM_BOT_TOKEN": "not-a-token-secret"})
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN does not look like a bot token" in result.stderr
    assert "not-a-token-secret" not in result.stderr


def test_run_without_a_token_starts_the_terminal_chat(tmp_path: Path) -> None:
    env = {"TELEGRAM_BOT_TOKEN": "", "PATHWAYS_DB": str(tmp_path / "run.db"), "PATHWAYS_WEB": "off"}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        input="",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**os.environ, **env},
    )
    assert result.returncode == 0
    assert "starting the terminal chat" in result.stderr
    assert "are you in danger right now?" in result.stdout
    assert (tmp_path / "run.db").exists()


def test_help_lists_the_commands() -> None:
    result = cli("--help")
    assert result.returncode == 0
    for command in ("run", "console", "flows"):
        assert command in result.stdout
