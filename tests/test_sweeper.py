"""The sweeper: idle conversations ended and their messages deleted, in bounded batches that
interleave, one failure never stopping the rest, one channel's conversations at a time; and
several instances' sweeps on one database sharing the work, none of it done twice or lost."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.engine.model import Session, Tracked
from bot.store.interface import PendingWipe
from bot.sweeper import HANDLED_KEPT, CarryOut, Sweeper
from tests.conftest import AnyStore, Database, FakeClock

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


async def test_updates_handled_more_than_a_day_ago_are_forgotten(
    db: AnyStore, clock: FakeClock
) -> None:
    async with db.transaction() as tx:
        await tx.mark_handled("tg:1:1", clock() - HANDLED_KEPT - timedelta(hours=1))
        await tx.mark_handled("tg:1:2", clock() - timedelta(hours=1))
    sweeper = Sweeper(db, clock, IDLE, keep_figures_days=730)
    await sweeper.sweep("tg:", accept_all)
    async with db.transaction() as tx:
        assert not await tx.mark_handled("tg:1:2", clock())  # still remembered
        assert await tx.mark_handled("tg:1:1", clock())  # forgotten


async def accept_all(_pending: PendingWipe) -> None:
    pass


# -- several instances on one database -------------------------------------------------------


LEASE = timedelta(minutes=1)


class Killed(BaseException):
    """The process died: nothing of it runs any more, not even its error handling."""


async def test_two_instances_sweeping_at_once_share_the_work_and_do_each_wipe_once(
    database: Database, clock: FakeClock
) -> None:
    stores = [await database.open(), await database.open()]  # two instances, one database
    try:
        await leave_idle(stores[0], clock, 30)
        async with stores[0].transaction() as tx:
            for n in range(30, 50):  # due wipes too: farewells, and wipes that failed before
                await tx.add_wipe(f"tg:{n}", [Tracked(n * 10 + 1, 1)], clock())
        carried: list[tuple[int, str]] = []

        def carry_out(instance: int) -> CarryOut:
            async def carry(pending: PendingWipe) -> None:
                carried.append((instance, pending.chat_key))
                await asyncio.sleep(0)  # let the other sweep run meanwhile

            return carry

        sweepers = [Sweeper(s, clock, IDLE, 730, batch=4, lease=LEASE) for s in stores]
        reports = await asyncio.gather(
            *(sweeper.sweep("tg:", carry_out(n)) for n, sweeper in enumerate(sweepers))
        )
        assert all(r is not None and r.failed == 0 for r in reports)
        assert sum(r.ended for r in reports if r is not None) == 30
        chats = [key for _instance, key in carried]
        assert sorted(chats) == sorted(f"tg:{n}" for n in range(50))  # each once
        assert await stored(stores[0]) == (0, 0)
    finally:
        for store in stores:
            await store.close()


async def test_a_wipe_claimed_by_an_instance_that_died_is_done_once_its_claim_runs_out(
    database: Database, clock: FakeClock
) -> None:
    died, alive = await database.open(), await database.open()
    try:
        await leave_idle(died, clock, 1)
        claimed: list[PendingWipe] = []

        async def killed(pending: PendingWipe) -> None:
            claimed.append(pending)
            raise Killed  # as kill -9 would, halfway through deleting

        # The instance that died had ended the conversation and claimed its wipe.
        with pytest.raises(Killed):
            await Sweeper(died, clock, IDLE, 730, lease=LEASE).sweep("tg:", killed)
        await died.close()
        seen: list[PendingWipe] = []

        async def carry_out(pending: PendingWipe) -> None:
            seen.append(pending)

        sweeper = Sweeper(alive, clock, IDLE, 730, lease=LEASE)
        report = await sweeper.sweep("tg:", carry_out)
        assert report is not None and report.wiped == 0 and seen == []  # still claimed
        clock.advance(seconds=LEASE.total_seconds())
        report = await sweeper.sweep("tg:", carry_out)
        assert report is not None and report.wiped == 1
        assert [p.id for p in seen] == [claimed[0].id]
        assert seen[0].messages == claimed[0].messages
        assert await stored(alive) == (0, 0)
    finally:
        await alive.close()


async def test_a_wipe_is_not_begun_with_too_little_of_its_claim_left(
    database: Database, clock: FakeClock
) -> None:
    stores = [await database.open(), await database.open()]
    try:
        async with stores[0].transaction() as tx:
            for n in range(2):
                await tx.add_wipe(f"tg:{n}", [Tracked(n + 1, 1)], clock())
        carried: list[str] = []

        async def slow_network(pending: PendingWipe) -> None:
            carried.append(pending.chat_key)
            clock.advance(seconds=LEASE.total_seconds() * 0.6)  # the first took a while

        first = Sweeper(stores[0], clock, IDLE, 730, lease=LEASE)
        report = await first.sweep("tg:", slow_network)
        assert report is not None and (report.wiped, report.failed) == (1, 1)
        assert carried == ["tg:0"]
        # Let go at once rather than left to run out: another instance takes it now.
        other = Sweeper(stores[1], clock, IDLE, 730, lease=LEASE)
        report = await other.sweep("tg:", slow_network)
        assert report is not None and report.wiped == 1 and carried == ["tg:0", "tg:1"]
    finally:
        for store in stores:
            await store.close()
