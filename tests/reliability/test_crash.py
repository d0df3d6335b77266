"""kill -9 at random points of conversations (a few times here; `make reliability`: 50+)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.engine.model import Event
from tests.conftest import FakeClock
from tests.fakebot import FakeBotApi
from tests.reliability.crash import CrashRun
from tests.reliability.harness import ReliableFake
from tests.telegram_support import CHAT, Running, running_bot, settings_for


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeBotApi]:
    with FakeBotApi(clock=clock) as server:
        yield server
    assert server.refused == [], [(r.method, r.description) for r in server.refused]


@pytest.fixture
async def bot(fake: FakeBotApi, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Running]:
    async with running_bot(fake, settings_for(fake, tmp_path), clock, in_process=False) as running:
        yield running


async def test_a_reply_whose_recording_a_crash_cut_short_is_wiped_once_pressed(
    bot: Running, fake: FakeBotApi
) -> None:
    # The state a kill -9 leaves between a step's transaction and the recording of its reply:
    # the conversation is at its first step, and the message showing it is tracked nowhere.
    await bot.channel.conversations.handle(f"tg:{CHAT}", Event.start())
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("No, not right now", callback_data="s:opening.start:no")],
            [InlineKeyboardButton("Quick exit", callback_data="w:exit")],
        ]
    )
    await bot.app.bot.send_message(
        CHAT, "First, are you in danger right now?", reply_markup=keyboard
    )
    await bot.tap("No, not right now")  # after the restart the person carries on
    assert "Who are you looking for help for?" in bot.text()
    await bot.tap("Quick exit")
    (farewell,) = fake.chat(CHAT)
    assert "This chat has been cleared and closed." in (farewell.plain_text or "")


def test_kill_9_at_random_points_loses_nothing(tmp_path: Path) -> None:
    with ReliableFake() as fake:
        figures = CrashRun(fake, tmp_path, people=3, seed=11).run(kills=4)
    assert figures.errors == []
    assert figures.kills == 4 and figures.integrity_checks == 4
