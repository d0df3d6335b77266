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
from typing import TYPE_CHECKING

from bot.store.interface import Count, Store

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as MplFigure
    from matplotlib.ticker import Formatter

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
    drawing(figures, kinds).savefig(target, format="png", dpi=100)


def drawing(figures: Figures, kinds: Iterable[str] = CHARTED) -> MplFigure:
    """The chart as a matplotlib Figure, one panel per kind.

    Built with `matplotlib.figure.Figure` rather than pyplot, so nothing global is touched and
    it is safe to draw from a worker thread (the Telegram admin does). The axes are fixed so a
    few small counts still read sensibly: whole-number y ticks from 0, and date ticks spanning
    the chosen days rather than matplotlib's default of several years around a lone point.
    """
    from matplotlib.figure import Figure

    kinds = list(kinds)
    fig = Figure(figsize=(9, 3.2 * len(kinds)))
    axes = fig.subplots(len(kinds), 1, squeeze=False)
    for axis, kind in zip(axes[:, 0], kinds, strict=True):
        weeks, series = figures.weekly(kind)
        labels = dict(
            zip([v for v, _ in figures.totals(kind)], chart_labels(figures, kind), strict=True)
        )
        axis.xaxis_date()  # dates even when nothing is plotted
        highest = 0
        for value, counts in sorted(series.items()):
            points = [c if c >= SMALL else float("nan") for c in counts]
            highest = max([highest, *(c for c in counts if c >= SMALL)])
            axis.plot(weeks, points, marker="o", label=labels.get(value, value))
        _date_axis(axis, weeks[0], figures.last)
        _count_axis(axis, highest)
        axis.set_title(f"{kind.capitalize()}s, week by week")
        axis.set_ylabel("conversations")
        if series:
            axis.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
        else:
            axis.text(0.5, 0.5, "no figures", ha="center", va="center", transform=axis.transAxes)
    fig.suptitle(f"Pathways, {figures.first} to {figures.last} (weekly values below 5 not shown)")
    fig.tight_layout()
    return fig


def _date_axis(axis: Axes, first: date, last: date) -> None:
    """x from the first week's Monday to the last day, half a day either side, with ticks
    suited to the span: each day for a week or so, each Monday (the plotted weeks) for up to 16
    weeks, matplotlib's automatic choice beyond that. Never hours, never years for a month."""
    from matplotlib import dates

    left = dates.date2num(first) - 0.5  # type: ignore[no-untyped-call]
    right = dates.date2num(last) + 0.5  # type: ignore[no-untyped-call]
    span = right - left
    locator: dates.DateLocator
    formatter: Formatter
    if span <= 10:
        locator = dates.DayLocator()  # type: ignore[no-untyped-call]
        formatter = dates.DateFormatter("%d %b")  # type: ignore[no-untyped-call]
    elif span <= 7 * 16:
        locator = dates.WeekdayLocator(byweekday=dates.MO)  # type: ignore[no-untyped-call]
        formatter = dates.DateFormatter("%d %b")  # type: ignore[no-untyped-call]
    else:
        locator = dates.AutoDateLocator(minticks=3, maxticks=10)  # type: ignore[no-untyped-call]
        formatter = dates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(formatter)
    axis.set_xlim(left, right)


def _count_axis(axis: Axes, highest: int) -> None:
    """y from 0 in whole conversations. The top is at least 5 (the smallest value that can be
    plotted), so a panel where everything is 0 or suppressed still has a readable scale."""
    from matplotlib.ticker import MaxNLocator

    axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_ylim(0, max(SMALL, highest) * 1.1)
