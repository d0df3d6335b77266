"""What every benchmark shares: paths, a fixed clock, percentiles, figures and targets."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ROOT / "flows"
DIRECTORY = ROOT / "directory"
LOCALES = ROOT / "locales"
SCENARIOS = ROOT / "tests" / "scenarios"

# A Wednesday morning in November (UK time = UTC then): most services are open, none is
# closed for a bank holiday. A fixed moment keeps runs comparable.
BENCH_MOMENT = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)


def fixed_clock() -> datetime:
    return BENCH_MOMENT


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` 0.5 for p50, 0.99 for p99); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def rss_kib(pid: int | None = None) -> int:
    """Resident set size (VmRSS) of a process, in KiB, from /proc."""
    path = Path(f"/proc/{pid or os.getpid()}/status")
    for line in path.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS in {path}")


@dataclass(frozen=True)
class Figure:
    """One measured figure, with the target it is held to (if any)."""

    section: str
    name: str
    value: float
    unit: str
    target: str = ""  # in words, e.g. ">= 10,000"
    met: bool | None = None  # None when there is no target
    note: str = ""

    def shown(self) -> str:
        return f"{fmt(self.value)} {self.unit}".strip()

    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: ""}[self.met]


def fmt(value: float) -> str:
    """A figure as people read it: thousands separated, a sensible number of decimals."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "never" if value > 0 else "-inf"
    if value == int(value) and abs(value) < 1e9:
        return f"{int(value):,}"
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:,.1f}"
    if size >= 1:
        return f"{value:,.2f}"
    return f"{value:.3f}"


def at_least(section: str, name: str, value: float, unit: str, target: float) -> Figure:
    return Figure(section, name, value, unit, f">= {fmt(target)} {unit}", value >= target)


def at_most(section: str, name: str, value: float, unit: str, target: float) -> Figure:
    return Figure(section, name, value, unit, f"<= {fmt(target)} {unit}", value <= target)


def info(section: str, name: str, value: float, unit: str, note: str = "") -> Figure:
    return Figure(section, name, value, unit, note=note)
