"""The service managers' daily reminder goes out once a day, however many instances run the job:
every instance of the bot schedules it (in webhook mode all of them sweep and remind), and the
first to record the day among the handled updates is the one that sends it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.admin.service import Admin
from bot.app import Parts
from tests.conftest import Database, FakeClock

pytestmark = pytest.mark.every_store


async def test_one_instance_of_several_sends_the_days_reminder_and_the_next_day_again(
    database: Database, parts: Parts, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # 09:00 in London, the default time
    stores = [await database.open() for _ in range(3)]
    try:
        admins = [Admin(store, parts.spec, frozenset({1}), clock) for store in stores]
        firsts = await asyncio.gather(*(admin.first_to_remind() for admin in admins))
        assert sorted(firsts) == [False, False, True]
        assert not await admins[0].first_to_remind()  # the same day again: already sent
        clock.advance(hours=24)
        firsts = await asyncio.gather(*(admin.first_to_remind() for admin in admins))
        assert sorted(firsts) == [False, False, True]
    finally:
        for store in stores:
            await store.close()


async def test_the_day_is_the_uks_not_utcs(
    database: Database, parts: Parts, clock: FakeClock
) -> None:
    """23:30 UTC on 30 June is 00:30 on 1 July in London: a new day for the reminder."""
    store = await database.open()
    try:
        admin = Admin(store, parts.spec, frozenset({1}), clock)
        clock.now = datetime(2026, 6, 30, 22, 0, tzinfo=UTC)
        assert await admin.first_to_remind()
        clock.now = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
        assert await admin.first_to_remind()
    finally:
        await store.close()
