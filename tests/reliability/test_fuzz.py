"""A small fuzz run in every test run; `make reliability` plays at least 10,000 updates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.conversation import Outcome
from bot.store.interface import PendingWipe
from tests.conftest import FakeClock
from tests.fakebot import FakeBotApi
from tests.reliability.fuzz import run_fuzz
from tests.telegram_support import CHAT, running_bot, settings_for


def test_random_update_streams_break_nothing(tmp_path: Path) -> None:
    """Bursts of random updates of every kind (see tests/reliability/fuzz.py): no unhandled
    exception, no request Telegram would refuse, every tap answered, nothing said in groups, and
    after everyone's quick exit and the idle time, nothing left in any private chat."""
    figures = run_fuzz(tmp_path, examples=70)
    assert figures.updates >= 250, figures
    assert figures.errors == 0 and figures.leftovers == 0


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeBotApi]:
    with FakeBotApi(clock=clock) as server:
        yield server
    assert server.refused == [], [(r.method, r.description) for r in server.refused]


# -- what the fuzz found --------------------------------------------------------------------


async def test_a_sweep_that_waited_for_an_exit_leaves_the_farewells_wipe_alone(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep claims what is due, then waits for each chat's turn. An exit in that chat may
    meanwhile carry out the wipe it listed and record the farewell's, which SQLite can give the
    very same id: the sweep must not take the farewell's wipe for the one it listed."""
    async with running_bot(fake, settings_for(fake, tmp_path), clock) as bot:
        conversations = bot.channel.conversations
        ended: list[PendingWipe] = []
        handle = conversations.handle

        async def recording(*args: Any, **kwargs: Any) -> Outcome:
            outcome = await handle(*args, **kwargs)
            ended.extend(outcome.wipes)
            return outcome

        monkeypatch.setattr(conversations, "handle", recording)
        await bot.say("/start")
        await bot.tap("Quick exit")  # wiped at once; the farewell's wipe recorded for later
        (listed,) = ended

        async def listed_before_the_exit(after_id: int = 0) -> list[PendingWipe]:
            return [listed] if after_id < listed.id else []

        monkeypatch.setattr(bot.channel.pathways.sweeper, "claim", listed_before_the_exit)
        await bot.channel.sweep(bot.app.bot)
        monkeypatch.undo()
        clock.advance(minutes=15)
        await bot.channel.sweep(bot.app.bot)
        assert fake.chat(CHAT) == []  # the farewell went too, once its time came
