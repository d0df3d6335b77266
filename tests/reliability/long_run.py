"""The dedicated long run (`make reliability`): the reliability checks at full scale, with the
figures written into docs/reliability.md.

- fuzz: at least 10,000 random updates (`--updates`);
- crash: at least 50 kill -9 of the bot process (`--kills`);
- faults, abuse, secrets and the ways out under pressure: the same tests as in every test run.

Usage: python -m tests.reliability.long_run [--updates N] [--kills N] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import ROOT
from tests.reliability.crash import CrashFigures, CrashRun
from tests.reliability.fuzz import Figures, run_fuzz
from tests.reliability.harness import ReliableFake

DOC = ROOT / "docs" / "reliability.md"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"
PYTEST_FILES = ("test_faults.py", "test_abuse.py", "test_secrets.py")
# Beside them in tests/: the ways out under pressure (exit first, nothing left behind).
PYTEST_ELSEWHERE = ("test_ways_out.py",)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def fuzz(updates: int, folder: Path) -> tuple[Figures, float]:
    started = time.monotonic()

    def progress(figures: Figures) -> None:
        print(f"  fuzz: {figures.bursts} bursts ...", flush=True)

    # Bursts average about 7 updates; far more examples than needed, stopping at the target.
    figures = run_fuzz(folder, examples=updates, target_updates=updates, progress=progress)
    return figures, time.monotonic() - started


def crash(kills: int, folder: Path) -> tuple[CrashFigures, float]:
    started = time.monotonic()
    with ReliableFake() as fake:
        figures = CrashRun(fake, folder, people=3, seed=2026).run(kills)
    return figures, time.monotonic() - started


def pytest_checks() -> tuple[str, float, int]:
    started = time.monotonic()
    files = [str(Path(__file__).with_name(name)) for name in PYTEST_FILES]
    files += [str(Path(__file__).parent.parent / name) for name in PYTEST_ELSEWHERE]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    summary = re.sub(r"=+", "", lines[-1]).strip() if lines else "no output"
    return summary, time.monotonic() - started, result.returncode


def table(rows: Sequence[tuple[str, str]]) -> str:
    return "\n".join(["| | |", "| --- | --- |", *(f"| {a} | {b} |" for a, b in rows)])


def report(
    fuzzed: Figures,
    fuzz_seconds: float,
    crashed: CrashFigures,
    crash_seconds: float,
    checks: str,
    checks_seconds: float,
) -> str:
    windows = list(crashed.in_kill_window.values())
    kinds = ", ".join(f"{k}: {n}" for k, n in sorted(fuzzed.actions.items()))
    phases = ", ".join(f"{k} {n}" for k, n in sorted(crashed.kills_by_phase.items()))
    methods = ", ".join(f"{k} {n}" for k, n in sorted(crashed.kills_by_method.items()))
    return "\n\n".join(
        [
            f"Last run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, on {machine()}.",
            "**Fuzz**\n\n"
            + table(
                [
                    ("updates delivered to the bot", f"{fuzzed.updates:,}"),
                    ("bursts", f"{fuzzed.bursts:,}"),
                    ("actions by kind", kinds),
                    ("Bot API requests made by the bot", f"{fuzzed.requests:,}"),
                    ("updates dropped by the flood guard", f"{fuzzed.dropped:,}"),
                    ("unhandled exceptions", f"**{fuzzed.errors}**"),
                    ("warnings logged", f"{fuzzed.warnings}"),
                    (
                        "requests refused by the schema check",
                        f"{fuzzed.refused} (each a harmless repeat: deleting a message already"
                        " gone, answering a tap delivered twice; any other fails the run)",
                    ),
                    ("messages left after everyone's quick exit", f"**{fuzzed.leftovers}**"),
                    ("time", f"{fuzz_seconds:.0f} s ({fuzzed.updates / fuzz_seconds:.0f}/s)"),
                ]
            ),
            "**Crash (kill -9)**\n\n"
            + table(
                [
                    ("kills", f"{crashed.kills} (at: {phases})"),
                    ("killed during", methods),
                    ("restarts", f"{crashed.restarts}"),
                    ("people's actions", f"{crashed.actions:,}"),
                    ("quick exits checked", f"{crashed.exits}"),
                    (
                        "after a restart",
                        f"{crashed.resumed} carried on from their step, {crashed.restarted} "
                        "began again politely (by /start, or their step was never saved)",
                    ),
                    ("`PRAGMA integrity_check`", f"{crashed.integrity_checks} run, all ok"),
                    ("tracked ids checked after kills", f"{crashed.tracked_ids_checked:,}"),
                    ("messages left outside a kill's own round", f"**{crashed.leftovers}**"),
                    (
                        "messages left from a kill's own round",
                        f"{len(windows)} ({windows.count('person')} typed messages whose "
                        f"update died with the process, {windows.count('bot')} messages "
                        "Telegram accepted in the instant of the kill)",
                    ),
                    ("problems", f"**{len(crashed.errors)}**"),
                    ("time", f"{crash_seconds:.0f} s"),
                ]
            ),
            "**Faults, abuse, secrets, ways out** (`tests/reliability/test_faults.py`, "
            "`test_abuse.py`, `test_secrets.py`, `tests/test_ways_out.py`): "
            f"{checks}, in {checks_seconds:.0f} s.",
        ]
    )


def write(text: str, doc: Path = DOC) -> None:
    current = doc.read_text(encoding="utf-8")
    if START not in current or END not in current:
        raise SystemExit(f"{doc} has no {START} ... {END} section for the figures")
    head, rest = current.split(START, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--updates", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--no-write", action="store_true", help="print the figures only")
    args = parser.parse_args(argv)
    failed = False
    with tempfile.TemporaryDirectory(prefix="pathways-reliability-") as scratch:
        folder = Path(scratch)
        print(f"fuzz: at least {args.updates:,} updates", flush=True)
        (folder / "fuzz").mkdir()
        fuzzed, fuzz_seconds = fuzz(args.updates, folder / "fuzz")
        print(f"  {fuzzed}", flush=True)
        print(f"crash: {args.kills} kill -9", flush=True)
        (folder / "crash").mkdir()
        crashed, crash_seconds = crash(args.kills, folder / "crash")
        print(f"  {crashed}", flush=True)
        failed |= bool(crashed.errors) or crashed.kills < args.kills
        failed |= fuzzed.updates < args.updates
    print("faults, abuse, secrets, ways out: pytest", flush=True)
    checks, checks_seconds, code = pytest_checks()
    print(f"  {checks}", flush=True)
    failed |= code != 0
    text = report(fuzzed, fuzz_seconds, crashed, crash_seconds, checks, checks_seconds)
    print(text)
    if not args.no_write:
        write(text)
        print(f"figures written to {DOC.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
