"""`python -m bot stats` output: a chart whose axes read sensibly with small counts, and a table
and CSV that end with one newline. Small numbers are suppressed as in test_privacy."""

from __future__ import annotations

import argparse
import csv
import io
import math
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from matplotlib import dates
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bot.config import Settings
from bot.stats import cli
from bot.stats.report import Figures, drawing, table, to_csv
from bot.store.interface import Count
from bot.store.sqlite import SqliteStore

FIRST = date(2026, 11, 2)  # a Monday, so the first plotted week starts on the first day
LAST = FIRST + timedelta(days=29)  # a 30-day range, as `python -m bot stats` gives by default
MONTH = {
    "all suppressed": (
        Count(FIRST + timedelta(days=3), "route", "victim", 2),
        Count(FIRST + timedelta(days=17), "route", "friend", 1),
        Count(FIRST + timedelta(days=10), "need", "talk", 4),
    ),
    # one plotted week: matplotlib's default put this single point among years 2025-2029
    "one week shown": (
        Count(FIRST + timedelta(days=8), "route", "victim", 7),
        Count(FIRST + timedelta(days=9), "route", "friend", 3),
    ),
    "nothing at all": (),
}


@pytest.fixture(params=list(MONTH), ids=list(MONTH))
def month(request: pytest.FixtureRequest) -> Iterator[Figure]:
    fig = drawing(Figures(FIRST, LAST, MONTH[request.param]))
    fig.canvas.draw()  # lay out the ticks as a saved PNG would have them
    yield fig


def visible(ticks: list[float], limits: tuple[float, float]) -> list[float]:
    low, high = sorted(limits)
    return [t for t in ticks if low - 1e-9 <= t <= high + 1e-9]


def panels(fig: Figure) -> list[Axes]:
    axes = [a for a in fig.axes if a.get_title()]
    assert [a.get_title() for a in axes] == ["Routes, week by week", "Needs, week by week"]
    return axes


def test_chart_y_axis_counts_whole_conversations_from_zero(month: Figure) -> None:
    for axis in panels(month):
        bottom, top = axis.get_ylim()
        assert bottom == 0
        assert top >= 5  # room for the smallest value that may be plotted, even with none
        ticks = visible(list(axis.get_yticks()), (bottom, top))
        assert len(ticks) >= 2 and ticks[0] == 0
        assert all(tick == int(tick) for tick in ticks), ticks
        labels = [label.get_text() for label in axis.get_yticklabels() if label.get_text()]
        assert all(text.isdigit() for text in labels), labels


def test_chart_x_axis_of_a_month_shows_its_days_not_years(month: Figure) -> None:
    for axis in panels(month):
        ticks = visible(list(axis.get_xticks()), axis.get_xlim())
        assert len(ticks) >= 3
        days = [dates.num2date(tick).date() for tick in ticks]
        assert all(FIRST <= day <= LAST for day in days), days
        labels = [label.get_text() for label in axis.get_xticklabels() if label.get_text()]
        assert labels, "no x tick labels"
        for text in labels:
            shown = datetime.strptime(f"{text} 2026", "%d %b %Y").date()
            assert FIRST <= shown <= LAST, text
        assert not any(str(year) in " ".join(labels) for year in range(2025, 2030))
        assert axis.xaxis.get_major_formatter().get_offset() == ""
        left, right = (dates.num2date(x).date() for x in axis.get_xlim())
        assert FIRST - timedelta(days=1) <= left and right <= LAST + timedelta(days=1)


def test_chart_still_plots_no_value_below_five() -> None:
    fig = drawing(Figures(FIRST, LAST, MONTH["one week shown"]))
    routes, _needs = panels(fig)
    plotted = [y for line in routes.get_lines() for y in line.get_ydata() if not math.isnan(y)]
    assert plotted == [7]
    legend = routes.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["friend (<5)", "victim (7)"]


def test_chart_of_a_single_day_ticks_days_not_hours() -> None:
    day = date(2026, 11, 4)  # a Wednesday: its week starts on Monday the 2nd
    fig = drawing(Figures(day, day, (Count(day, "route", "victim", 6),)))
    fig.canvas.draw()
    for axis in panels(fig):
        ticks = visible(list(axis.get_xticks()), axis.get_xlim())
        assert all(tick == int(tick) for tick in ticks), ticks  # midnights only
        assert [label.get_text() for label in axis.get_xticklabels()] == [
            "02 Nov",
            "03 Nov",
            "04 Nov",
        ]


def test_chart_of_two_years_ticks_a_readable_number_of_months() -> None:
    first, last = date(2024, 12, 1), date(2026, 11, 30)
    fig = drawing(Figures(first, last, (Count(date(2025, 6, 3), "need", "talk", 9),)))
    fig.canvas.draw()
    for axis in panels(fig):
        ticks = visible(list(axis.get_xticks()), axis.get_xlim())
        assert 3 <= len(ticks) <= 12
        assert all(first - timedelta(days=7) <= dates.num2date(t).date() <= last for t in ticks)


def test_chart_is_still_written_as_a_png() -> None:
    from bot.stats.report import chart

    out = io.BytesIO()
    chart(Figures(FIRST, LAST, MONTH["all suppressed"]), out)
    assert out.getvalue().startswith(b"\x89PNG")


# -- table and CSV ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MONTH))
def test_table_ends_with_exactly_one_newline(name: str) -> None:
    text = table(Figures(FIRST, LAST, MONTH[name]), ("route", "need", "area"))
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert "\r" not in text


@pytest.mark.parametrize("name", list(MONTH))
def test_csv_ends_with_exactly_one_newline_and_reads_back(name: str) -> None:
    sheet = to_csv(Figures(FIRST, LAST, MONTH[name]))
    assert sheet.endswith("\n") and not sheet.endswith("\n\n")
    assert not sheet.endswith("\r\n\r\n")
    rows = list(csv.reader(io.StringIO(sheet, newline="")))
    assert rows[0] == ["day", "kind", "value", "count"]
    assert len(rows) == 1 + len(MONTH[name])
    assert all(row for row in rows), "no blank rows"


async def test_stats_command_writes_outputs_that_end_with_one_newline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.db"
    db = await SqliteStore.open(path)
    async with db.transaction() as tx:
        await tx.add_counts(FIRST + timedelta(days=3), [("route", "victim")])
    await db.close()
    settings = Settings(
        token=None,
        db_path=path,
        idle_minutes=15,
        flows_dir=tmp_path,
        directory_dir=tmp_path,
        locales_dir=tmp_path,
    )
    png, sheet = tmp_path / "out.png", tmp_path / "out.csv"
    args = argparse.Namespace(first=str(FIRST), last=str(LAST), png=png, csv=sheet)
    assert await cli.run(settings, args) == cli.OK
    out = capsys.readouterr().out
    assert out.endswith("\n") and not out.endswith("\n\n")
    raw = sheet.read_bytes()
    assert raw.endswith(b"\n") and not raw.endswith(b"\n\n") and not raw.endswith(b"\r\r\n")
    assert raw.decode("utf-8").splitlines()[-1] == "2026-11-05,route,victim,<5"
    assert png.read_bytes().startswith(b"\x89PNG")
