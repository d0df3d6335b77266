"""The sweeper: idle conversations ended and their messages deleted, in bounded batches that
interleave, one failure never stopping the rest, one channel's conversations at a time."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.engine.model import Session, Tracked
from bot.store.interface import PendingWipe
from bot.sweeper import Sweeper
from tests.conftest import AnyStore, FakeClock

pytestmark = pytest.mark.every_store

IDLE = timedelta(minutes=15)


async def leave_idle(db: AnyStore, clock: FakeClock, count: int, prefix: str = "tg:") -> None:
    async with db.transaction() as tx:
        for n in range(count):
            chat = Session(chat_key=f"{prefix}{n}", state="opening.start", locale="en")
            chat.messages = [Tracked(n * 10 + 1, 1), Tracked(n * 10 + 2, 2)]
            await tx.save_session(chat, clock() - timedelta(hours=1))


async def stored(db: AnyStore) -> tuple[int, int]:
    """(live conversations, pending wipes)."""
    async with db.read() as tx:
        sessions = len(await tx.idle_sessions(FakeClock().now + timedelta(days=999), 10**6, ""))
        wipes = len(await tx.due_wipes(FakeClock().now + timedelta(days=999), 10**6))
    return sessions, wipes


async def test_every_idle_conversation_is_ended_and_wiped_in_batches(
    db: AnyStore, clock: FakeClock
) -> None:
    await leave_idle(db, clock, 25)
    sweeper = Sweeper(db, clock, IDLE, keep_figures_days=730, batch=4)
    carried: list[PendingWipe] = []
    left_when_first_carried: list[tuple[int, int]] = []

    async def carry_out(pending: PendingWipe) -> None:
        if not carried:
            left_when_first_carried.append(await stored(db))
        carried.append(pending)

    report = await sweeper.sweep("tg:", carry_out)
    assert report is not None and (report.ended, report.wiped, report.failed) == (25, 25, 0)
    assert sorted(p.chat_key for p in carried) == sorted(f"tg:{n}" for n in range(25))
    assert all(len(p.messages) == 2 for p in carried)
    assert await stored(db) == (0, 0)
    # The first deletion went out after the first batch, not after all of them.
    ((sessions_left, wipes_waiting),) = left_when_first_carried
    assert sessions_left == 21 and wipes_waiting == 4


async def test_a_failing_wipe_is_kept_for_the_next_sweep_and_stops_nothing(
    db: AnyStore, clock: FakeClock
) -> None:
    await leave_idle(db, clock, 6)
    sweeper = Sweeper(db, clock, IDLE, keep_figures_days=730, batch=2)

    async def refuse_tg_3(pending: PendingWipe) -> None:
        if pending.chat_key == "tg:3":
            raise ConnectionError("the network is down")

    report = await sweeper.sweep("tg:", refuse_tg_3)
    assert report is not None and (report.ended, report.wiped, report.failed) == (6, 5, 1)
    async with db.read() as tx:
        (left,) = await tx.due_wipes(clock(), 10)
    assert left.chat_key == "tg:3"

    async def accept(_pending: PendingWipe) -> None:
        pass

    again = await sweeper.sweep("tg:", accept)
    assert again is not None and (again.ended, again.wiped, again.failed) == (0, 1, 0)
    assert await stored(db) == (0, 0)


async def test_another_channels_conversations_are_left_to_it(
    db: AnyStore, clock: FakeClock
) -> None:
    await leave_idle(db, clock, 3, prefix="console")
    await leave_idle(db, clock, 2, prefix="tg:")
    seen: list[str] = []

    async def carry_out(pending: PendingWipe) -> None:
        seen.append(pending.chat_key)

    sweeper = Sweeper(db, clock, IDLE, keep_figures_days=730)
    report = await sweeper.sweep("tg:", carry_out)
    assert report is not None and report.ended == 2
    assert sorted(seen) == ["tg:0", "tg:1"]
    assert (await stored(db))[0] == 3  # the terminal chat clears its own when next used


async def test_a_conversation_in_use_is_not_ended(db: AnyStore, clock: FakeClock) -> None:
    async with db.transaction() as tx:
        await tx.save_session(Session(chat_key="tg:1", state="opening.start", locale="en"), clock())

    async def carry_out(_pending: PendingWipe) -> None:
        raise AssertionError("nothing is due")

    sweeper = Sweeper(db, clock, IDLE, keep_figures_days=730)
    report = await sweeper.sweep("tg:", carry_out)
    assert report is not None and report.ended == 0
    assert (await stored(db))[0] == 1


async def test_a_sweep_while_one_runs_is_skipped(db: AnyStore, clock: FakeClock) -> None:
    await leave_idle(db, clock, 1)
    sweeper = Sweeper(db, clock, IDLE, keep_figures_days=730)
    inside, release = asyncio.Event(), asyncio.Event()

    async def slow(_pending: PendingWipe) -> None:
        inside.set()
        await release.wait()

    first = asyncio.create_task(sweeper.sweep("tg:", slow))
    await inside.wait()
    assert await sweeper.sweep("tg:", slow) is None
    release.set()
    report = await first
    assert report is not None and report.wiped == 1


async def test_old_figures_are_purged(db: AnyStore, clock: FakeClock) -> None:
    async with db.transaction() as tx:
        await tx.add_counts(clock().date() - timedelta(days=800), [("route", "me")])
        await tx.add_counts(clock().date(), [("route", "me")])
    sweeper = Sweeper(db, clock, IDLE, keep_figures_days=730)
    assert await sweeper.purge_figures() == 1
