"""A small fuzz run in every test run; `make reliability` plays at least 10,000 updates."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.fuzz import run_fuzz


def test_random_update_streams_break_nothing(tmp_path: Path) -> None:
    """Bursts of random updates of every kind (see tests/reliability/fuzz.py): no unhandled
    exception, no request Telegram would refuse, every tap answered, nothing said in groups, and
    after everyone's quick exit and the idle time, nothing left in any private chat."""
    figures = run_fuzz(tmp_path, examples=70)
    assert figures.updates >= 250, figures
    assert figures.errors == 0 and figures.leftovers == 0
