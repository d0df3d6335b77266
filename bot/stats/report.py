"""Tables, CSV and charts of the anonymous daily figures, with small numbers suppressed.

A count from 1 to 4 is shown as "<5" everywhere (table, chart labels, CSV), because in a
small area a small number can point to a person. Zero stays zero: it reveals no one.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from bot.store.interface import Count, Store

SMALL = 5
SUPPRESSED = "<5"
CHARTED = ("route", "need")


def shown(count: int) -> str:
    return SUPPRESSED if 0 < count < SMALL else str(count)


@dataclass(frozen=True)
class Figures:
    first: date
    last: date
    counts: tuple[Count, ...]

    def totals(self, kind: str) -> list[tuple[str, int]]:
        """(value, total over the period) for one kind, largest first."""
        totals: dict[str, int] = defaultdict(int)
        for count in self.counts:
            if count.kind == kind:
                totals[count.value] += count.count
        return sorted(totals.items(), key=lambda item: (-item[1], item[0]))

    def weekly(self, kind: str) -> tuple[list[date], dict[str, list[int]]]:
        """Counts per week (weeks starting on Monday), so that one day's small numbers are
        not charted on their own."""
        start = self.first - timedelta(days=self.first.weekday())
        weeks = []
        while start <= self.last:
            weeks.append(start)
            start += timedelta(days=7)
        series: dict[str, list[int]] = defaultdict(lambda: [0] * len(weeks))
        for count in self.counts:
            if count.kind == kind:
                index = (count.day - weeks[0]).days // 7
                series[count.value][index] += count.count
        return weeks, dict(series)


async def load_figures(store: Store, first: date, last: date) -> Figures:
    """The daily counts from `first` to `last`, both included."""
    async with store.read() as tx:
        counts = await tx.counts_between(first, last)
    return Figures(first, last, tuple(counts))


def table(figures: Figures, kinds: Sequence[str]) -> str:
    lines = [f"Figures from {figures.first} to {figures.last} (counts below {SMALL} shown as <5)"]
    for kind in kinds:
        rows = figures.totals(kind)
        lines.append("")
        lines.append(f"{kind}:")
        if not rows:
            lines.append("  none")
        width = max((len(value) for value, _ in rows), default=0)
        lines.extend(f"  {value:<{width}}  {shown(total):>6}" for value, total in rows)
    return "\n".join(lines) + "\n"


def to_csv(figures: Figures) -> str:
    """One row per day, kind and value, suppressed as everywhere else."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["day", "kind", "value", "count"])
    for count in figures.counts:
        writer.writerow([count.day.isoformat(), count.kind, count.value, shown(count.count)])
    return out.getvalue()


def chart_labels(figures: Figures, kind: str) -> list[str]:
    """The legend entries of one panel: each value with its suppressed total."""
    return [f"{value} ({shown(total)})" for value, total in figures.totals(kind)]


def chart(figures: Figures, target: Path | io.BytesIO, kinds: Iterable[str] = CHARTED) -> None:
    """A PNG of routes and needs, week by week. Weekly values below 5 are not plotted (a gap),
    and every label carries suppressed totals only."""
    import matplotlib

    matplotlib.use("Agg")  # no screen: draw straight to a file
    from matplotlib import pyplot

    kinds = list(kinds)
    fig, axes = pyplot.subplots(len(kinds), 1, figsize=(9, 3.2 * len(kinds)), squeeze=False)
    for axis, kind in zip(axes[:, 0], kinds, strict=True):
        weeks, series = figures.weekly(kind)
        labels = dict(
            zip([v for v, _ in figures.totals(kind)], chart_labels(figures, kind), strict=True)
        )
        for value, counts in sorted(series.items()):
            points = [c if c >= SMALL else float("nan") for c in counts]
            axis.plot(weeks, points, marker="o", label=labels.get(value, value))
        axis.set_title(f"{kind.capitalize()}s, week by week")
        axis.set_ylabel("conversations")
        axis.set_ylim(bottom=0)
        if series:
            axis.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
        else:
            axis.text(0.5, 0.5, "no figures", ha="center", va="center", transform=axis.transAxes)
    fig.suptitle(f"Pathways, {figures.first} to {figures.last} (weekly values below 5 not shown)")
    fig.tight_layout()
    fig.savefig(target, format="png", dpi=100)
    pyplot.close(fig)
