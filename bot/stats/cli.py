"""`python -m bot stats`: the partnership's figures, from the anonymous daily counts."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date, timedelta
from pathlib import Path

from bot.app import StartupError, open_store, utc_now
from bot.config import Settings
from bot.stats.report import chart, load_figures, table, to_csv
from bot.store.interface import COUNT_KINDS

OK, PROBLEMS, USAGE = 0, 1, 2


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "stats",
        help="anonymous figures: routes, needs, areas and services shown",
        description="Anonymous daily figures (no person, no time finer than a day). "
        "Counts below 5 are shown as <5 everywhere.",
    )
    parser.add_argument(
        "--from", dest="first", help="first day, e.g. 2026-11-01 (default: 30 days ago)"
    )
    parser.add_argument("--to", dest="last", help="last day (default: today)")
    parser.add_argument(
        "--png", type=Path, default=Path("var/stats.png"), help="chart file (var/stats.png)"
    )
    parser.add_argument("--csv", type=Path, help="also write the daily figures as CSV")


def _day(raw: str | None, default: date, name: str) -> date:
    if raw is None:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{name}: '{raw}' is not a date like 2026-11-01") from None


def _write_csv(path: Path, text: str) -> None:
    """Opened with newline="" as the csv module asks, so its line endings reach the file
    unchanged on every platform (no doubled "\\r")."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(text)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    today = utc_now().date()
    try:
        last = _day(args.last, today, "--to")
        first = _day(args.first, last - timedelta(days=29), "--from")
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return USAGE
    if first > last:
        print("--from must not be after --to", file=sys.stderr)
        return USAGE
    try:
        store = await open_store(settings)
    except StartupError as exc:
        print(exc, file=sys.stderr)
        return PROBLEMS
    try:
        figures = await load_figures(store, first, last)
    finally:
        await store.close()
    sys.stdout.write(table(figures, COUNT_KINDS))
    args.png.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(chart, figures, args.png)
    print(f"Chart written to {args.png}.", file=sys.stderr)
    if args.csv:
        await asyncio.to_thread(_write_csv, args.csv, to_csv(figures))
        print(f"Daily figures written to {args.csv}.", file=sys.stderr)
    return OK
