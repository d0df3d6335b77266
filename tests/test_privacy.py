"""What is kept about a person, for how long, and that nothing they type is ever kept."""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.stats.report import Figures, chart, chart_labels, shown, table, to_csv
from bot.store.interface import Count
from bot.store.schema import migrations
from bot.store.sqlite import SqliteStore
from tests.conftest import ROOT, FakeClock
from tests.fakebot import TOKEN, FakeBotApi
from tests.telegram_support import CHAT, Running, running_bot, settings_for

MARKER = "Xylophonic-Quasar-4417"


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeBotApi]:
    with FakeBotApi(clock=clock) as server:
        yield server
    assert server.refused == []


@pytest.fixture
async def bot(fake: FakeBotApi, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Running]:
    async with running_bot(fake, settings_for(fake, tmp_path), clock) as running:
        yield running


def database_bytes(path: Path) -> bytes:
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    return b"".join(f.read_bytes() for f in files if f.exists())


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


# -- nothing typed is kept --------------------------------------------------------------------


async def test_a_typed_marker_is_nowhere_during_or_after_the_conversation(
    bot: Running, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    caplog.set_level(logging.DEBUG, logger="bot")
    path = tmp_path / "telegram.db"
    await bot.say("/start")
    await bot.say(MARKER)  # where only buttons fit
    await bot.tap("No, not right now")
    await bot.tap("Me")
    await bot.tap("Yes, I can talk")
    await bot.tap("Skip the questions")
    await bot.tap("Someone to talk to")
    await bot.say(f"{MARKER} Road")  # where a place is read, and not understood
    await bot.say("Bletchley")
    assert MARKER.encode() not in database_bytes(path)  # during
    await bot.say("/exit")
    assert MARKER.encode() not in database_bytes(path)  # after
    assert MARKER not in caplog.text
    assert str(CHAT) not in caplog.text and TOKEN not in caplog.text


def test_the_database_is_set_up_to_hold_under_crashes_and_forget_for_real(tmp_path: Path) -> None:
    import asyncio

    async def pragmas() -> tuple[str, int, int]:
        db = await SqliteStore.open(tmp_path / "p.db")
        try:
            values = []
            # Through the connection that writes, as the bot's own steps do.
            async with db.transaction() as tx:
                for pragma in ("journal_mode", "secure_delete", "busy_timeout"):
                    rows = await tx.db.conn.execute_fetchall(f"PRAGMA {pragma}")  # type: ignore[attr-defined]
                    values.append(next(iter(rows))[0])
            return str(values[0]), int(values[1]), int(values[2])
        finally:
            await db.close()

    assert asyncio.run(pragmas()) == ("wal", 1, 5000)


# -- /forget ------------------------------------------------------------------------------------


async def test_forget_erases_everything_now_and_says_what(
    bot: Running, fake: FakeBotApi, tmp_path: Path
) -> None:
    path = tmp_path / "telegram.db"
    await bot.say("/start")
    await bot.say("/exit")  # an earlier farewell, waiting to be cleared later
    await bot.say("/start")
    await bot.tap("No, not right now")
    assert rows(path, "SELECT count(*) FROM pending_wipes") == [(1,)]
    await bot.say("/forget")
    (farewell,) = fake.chat(CHAT)
    assert "I have erased everything I kept about this chat" in (farewell.plain_text or "")
    assert rows(path, "SELECT count(*) FROM sessions") == [(0,)]
    assert rows(path, "SELECT count(*) FROM pending_wipes") == [(0,)]
    assert f"tg:{CHAT}".encode() not in database_bytes(path)


def test_forget_in_the_terminal_chat(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "console", "--db", str(tmp_path / "c.db")],
        input="2\n/forget\n1\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0
    assert "I have erased everything I kept about this chat" in " ".join(result.stdout.split())
    assert rows(tmp_path / "c.db", "SELECT count(*) FROM sessions") == [(0,)]


# -- anonymous figures ----------------------------------------------------------------------------


async def test_figures_count_routes_needs_areas_and_services_with_no_identifiers(
    bot: Running, tmp_path: Path
) -> None:
    await bot.say("/start")
    await bot.tap("No, not right now")
    await bot.tap("Me")
    await bot.tap("Yes, I can talk")
    await bot.tap("Skip the questions")
    await bot.tap("Someone to talk to")
    await bot.say("MK9 3EQ")
    found = rows(tmp_path / "telegram.db", "SELECT day, kind, value, count FROM daily_counts")
    kinds = {(kind, value) for _, kind, value, _ in found}
    assert {("route", "victim"), ("need", "talk"), ("area", "milton-keynes")} <= kinds
    assert ("service", "mk-act") in kinds
    assert {day for day, *_ in found} == {"2026-11-26"}
    flat = repr(found)
    assert str(CHAT) not in flat and "MK9" not in flat


async def test_figures_are_kept_for_the_set_time_then_deleted(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    settings = settings_for(fake, tmp_path, stats_days=30)
    async with running_bot(fake, settings, clock) as bot:
        await bot.say("/start")
        await bot.tap("No, not right now")
        await bot.tap("Me")
        path = tmp_path / "telegram.db"
        assert rows(path, "SELECT count(*) FROM daily_counts") != [(0,)]
        clock.advance(days=30)
        await bot.channel.sweep(bot.app.bot)
        assert rows(path, "SELECT count(*) FROM daily_counts") != [(0,)]
        clock.advance(days=1)
        await bot.channel.sweep(bot.app.bot)
        assert rows(path, "SELECT count(*) FROM daily_counts") == [(0,)]


def figures() -> Figures:
    first = date(2026, 11, 2)  # a Monday
    counts = [
        Count(first, "route", "victim", 3),
        Count(first + timedelta(days=1), "route", "victim", 9),
        Count(first, "route", "friend", 2),
        Count(first + timedelta(days=8), "route", "friend", 1),
        Count(first, "need", "talk", 4),
        Count(first, "area", "milton-keynes", 1),
    ]
    return Figures(first, first + timedelta(days=13), tuple(counts))


def test_small_numbers_are_shown_as_less_than_five_everywhere(tmp_path: Path) -> None:
    assert [shown(n) for n in (0, 1, 4, 5, 12)] == ["0", "<5", "<5", "5", "12"]
    report = figures()
    text = table(report, ("route", "need", "area"))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert {"victim 12", "friend <5", "talk <5", "milton-keynes <5"} <= set(lines)
    sheet = to_csv(report)
    assert ",1\r\n" not in sheet and ",3\r\n" not in sheet and "<5" in sheet
    assert chart_labels(report, "route") == ["victim (12)", "friend (<5)"]
    _weeks, series = report.weekly("route")
    assert series["victim"] == [12, 0] and series["friend"] == [2, 1]
    png = tmp_path / "chart.png"
    chart(report, png)
    assert png.read_bytes().startswith(b"\x89PNG")


def test_the_weekly_chart_never_plots_a_small_value() -> None:
    report = figures()
    _, series = report.weekly("route")
    plotted = [c if c >= 5 else math.nan for c in series["friend"]]
    assert all(math.isnan(value) for value in plotted)


def test_stats_command_prints_a_table_and_writes_a_chart(tmp_path: Path) -> None:
    import asyncio

    path = tmp_path / "s.db"

    async def fill() -> None:
        db = await SqliteStore.open(path)
        async with db.transaction() as tx:
            await tx.add_counts(date(2026, 11, 20), [("route", "victim")])
            for _ in range(6):
                await tx.add_counts(date(2026, 11, 21), [("route", "friend")])
        await db.close()

    asyncio.run(fill())
    png, sheet = tmp_path / "out.png", tmp_path / "out.csv"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "stats",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--png",
            str(png),
            "--csv",
            str(sheet),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "PATHWAYS_DB": str(path)},
    )
    assert result.returncode == 0, result.stderr
    lines = {" ".join(line.split()) for line in result.stdout.splitlines()}
    assert {"friend 6", "victim <5"} <= lines
    assert png.read_bytes().startswith(b"\x89PNG")
    assert "2026-11-20,route,victim,<5" in sheet.read_text()
    bad = subprocess.run(
        [sys.executable, "-m", "bot", "stats", "--from", "last week"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**os.environ, "PATHWAYS_DB": str(path)},
    )
    assert bad.returncode == 2 and "not a date like 2026-11-01" in bad.stderr


async def test_managers_can_ask_for_the_chart_in_telegram(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    settings = settings_for(fake, tmp_path, owner_ids=frozenset({CHAT}))
    async with running_bot(fake, settings, clock) as bot:
        await bot.say("/admin")
        await bot.tap("Figures")
    (sent,) = fake.calls("sendPhoto")
    assert "Weekly values below 5 are not shown" in sent["caption"]


# -- migrations keep what there is ----------------------------------------------------------------


async def test_a_database_from_the_previous_version_is_migrated_with_its_data(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    previous = migrations()[-2][0]
    with sqlite3.connect(path) as conn:
        for number, _name, sql in migrations():
            if number <= previous:
                conn.executescript(sql)
        conn.execute(f"PRAGMA user_version = {previous}")
        conn.execute(
            "INSERT INTO sessions (chat_key, state, locale, updated_at)"
            " VALUES ('tg:1', 'opening.who', 'cy', '2026-11-26T10:00:00+00:00')"
        )
    db = await SqliteStore.open(path)
    version = await db.schema_version()
    await db.close()
    assert version == migrations()[-1][0]
    assert rows(path, "SELECT chat_key, state, locale FROM sessions") == [
        ("tg:1", "opening.who", "cy")
    ]
