"""Several instances of the bot on one PostgreSQL database, in webhook mode behind one address
(issue 21): any instance may be given any update.

First the store as two or three instances use it at once, in this process against the local
server: one chat's units of work take turns across instances and other chats never wait, an
update given to two instances is stepped once, sweeps claim different work without waiting,
and figures counted in any order never deadlock. Then two and three real `python -m bot run`
processes against the fake Bot API (tests/instances_support.py), updates handed round robin as
nginx's `upstream` would, one of them killed with SIGKILL in the middle of a conversation, of
a quick exit's wipe, and of a sweep.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from bot.app import Parts
from bot.conversation import AlreadyHandled, Conversations, london_day
from bot.engine.model import Event, Session, Tracked
from bot.store.interface import Transaction
from bot.store.postgres import PostgresStore
from bot.store.transaction import SqlTransaction
from bot.sweeper import Sweeper
from tests.conftest import Database, FakeClock
from tests.instances_support import (
    until,
)
from tests.telegram_support import PATIENCE

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
LEASE = timedelta(minutes=1)


@pytest.fixture
async def stores(database: Database) -> AsyncIterator[list[PostgresStore]]:
    """Three instances' stores on the test's schema."""
    opened: list[PostgresStore] = []
    for _ in range(3):
        store = await database.open()
        assert isinstance(store, PostgresStore)
        opened.append(store)
    yield opened
    for store in opened:
        await store.close()


async def backend(tx: Transaction) -> int:
    """The server process running this unit of work."""
    assert isinstance(tx, SqlTransaction)
    ((pid,),) = await tx.db.fetch("SELECT pg_backend_pid()")
    return int(pid)


async def blocked_by(database: Database, pid: int) -> None:
    """Wait until some unit of work waits for the one on server process `pid`."""
    with psycopg.connect(database.location, autocommit=True) as conn:

        def waiting() -> bool:
            found = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                (pid,),
            ).fetchone()
            return bool(found and found[0])

        await until(waiting, f"nothing waits for server process {pid}")


def session(key: str) -> Session:
    return Session(chat_key=key, state="opening.start", locale="en")


# -- the store, shared ----------------------------------------------------------------------------


async def test_one_chats_units_of_work_take_turns_across_instances_and_other_chats_do_not_wait(
    database: Database, stores: list[PostgresStore]
) -> None:
    first, second, third = stores
    release = asyncio.Event()
    holding: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def step_on_first() -> None:
        async with first.transaction() as tx:
            await tx.lock_chat("tg:1")
            await tx.save_session(Session("tg:1", "victim.start", "en"), NOW)
            holding.set_result(await backend(tx))
            await release.wait()

    async def step_on_second() -> str | None:
        async with second.transaction() as tx:
            await tx.lock_chat("tg:1")
            found = await tx.load_session("tg:1")
            return found.state if found is not None else None

    held = asyncio.create_task(step_on_first())
    first_step = await holding  # the first has the chat's turn
    waiting = asyncio.create_task(step_on_second())
    await blocked_by(database, first_step)  # the second waits for it
    async with asyncio.timeout(PATIENCE):  # while another chat's step goes ahead at once
        async with third.transaction() as tx:
            await tx.lock_chat("tg:2")
            assert not await tx.try_lock_chat("tg:1")
            await tx.save_session(session("tg:2"), NOW)
    assert not waiting.done()
    release.set()
    await held
    assert await waiting == "victim.start"  # it ran after the first, and saw its step


async def test_an_update_given_to_two_instances_at_once_is_stepped_by_one(
    stores: list[PostgresStore], parts: Parts, clock: FakeClock
) -> None:
    chats = [Conversations(parts.engine, s, clock, timedelta(minutes=15)) for s in stores[:2]]
    await chats[0].handle("tg:1", Event.start(), update_key="tg:9:1")
    await chats[1].handle("tg:1", Event.button("no", "opening.start"), update_key="tg:9:2")
    me = Event.button("me", "opening.who")
    for round_ in range(5):
        results = await asyncio.gather(
            *(chat.handle("tg:1", me, update_key="tg:9:3") for chat in chats),
            return_exceptions=True,
        )
        done = [r for r in results if not isinstance(r, BaseException)]
        assert len(done) == (1 if round_ == 0 else 0), results
        assert all(isinstance(r, AlreadyHandled) for r in results if r not in done)
    async with stores[2].read() as tx:
        stored = await tx.load_session("tg:1")
        counts = await tx.counts_between(london_day(clock()), london_day(clock()))
    assert stored is not None and stored.state == "victim.start"
    assert [(c.kind, c.value, c.count) for c in counts] == [("route", "victim", 1)]


async def test_sweeps_of_two_instances_claim_different_wipes_without_waiting(
    stores: list[PostgresStore],
) -> None:
    first, second, _ = stores
    async with first.transaction() as tx:
        ids = [await tx.add_wipe(f"tg:{n}", [Tracked(n + 1, 1)], NOW) for n in range(6)]
    async with first.transaction() as tx:
        mine = await tx.claim_wipes(NOW, NOW + LEASE, 3)
        # Claimed but not yet committed: the other instance passes them over at once.
        async with asyncio.timeout(PATIENCE), second.transaction() as other:
            theirs = await other.claim_wipes(NOW, NOW + LEASE, 10)
    assert [w.id for w in mine] == ids[:3] and [w.id for w in theirs] == ids[3:]
    async with second.transaction() as tx:
        assert await tx.claim_wipes(NOW, NOW + LEASE, 10) == []


async def test_sweeps_of_two_instances_end_different_idle_conversations(
    stores: list[PostgresStore],
) -> None:
    first, second, _ = stores
    async with first.transaction() as tx:
        for n in range(6):
            await tx.save_session(session(f"tg:{n}"), NOW - timedelta(hours=1, minutes=-n))
    cutoff = NOW - timedelta(minutes=15)
    async with first.transaction() as tx:
        mine = await tx.take_idle_sessions(cutoff, 3, "tg:")
        async with asyncio.timeout(PATIENCE), second.transaction() as other:
            theirs = await other.take_idle_sessions(cutoff, 10, "tg:")
    assert [s.chat_key for s in mine] == ["tg:0", "tg:1", "tg:2"]
    assert [s.chat_key for s in theirs] == ["tg:3", "tg:4", "tg:5"]


async def test_a_conversation_whose_step_is_under_way_elsewhere_is_not_ended_by_a_sweep(
    stores: list[PostgresStore], clock: FakeClock
) -> None:
    first, second, _ = stores
    async with first.transaction() as tx:
        for key in ("tg:busy", "tg:idle"):
            left = session(key)
            left.messages = [Tracked(1, 1)]
            await tx.save_session(left, clock() - timedelta(hours=1))
    swept: list[str] = []

    async def carry_out(pending: object) -> None:
        swept.append(getattr(pending, "chat_key", ""))

    async with first.transaction() as tx:
        await tx.lock_chat("tg:busy")  # the person's step, loaded but not yet saved
        sweeper = Sweeper(second, clock, timedelta(minutes=15), 730, lease=LEASE)
        async with asyncio.timeout(PATIENCE):
            report = await sweeper.sweep("tg:", carry_out)
        await tx.save_session(session("tg:busy"), clock())
    assert report is not None and report.ended == 1 and swept == ["tg:idle"]
    async with second.read() as tx:
        assert await tx.load_session("tg:busy") is not None


async def test_figures_counted_in_any_order_by_two_instances_never_deadlock(
    database: Database, stores: list[PostgresStore]
) -> None:
    first, second, _ = stores
    day = NOW.date()
    cards = [("service", "a"), ("service", "b")]
    holding: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    go_on = asyncio.Event()

    async def one_step() -> None:
        async with first.transaction() as tx:
            await tx.add_counts(day, cards[:1])
            holding.set_result(await backend(tx))
            await go_on.wait()
            await tx.add_counts(day, cards[1:])

    async def another_step() -> None:
        async with second.transaction() as tx:
            await tx.add_counts(day, list(reversed(cards)))

    stepping = asyncio.create_task(one_step())
    first_step = await holding  # it has counted "a", and holds that row until it commits
    other = asyncio.create_task(another_step())
    # The other step waits for "a" before it takes "b", so the first can still take "b".
    await blocked_by(database, first_step)
    go_on.set()
    async with asyncio.timeout(PATIENCE):
        await asyncio.gather(stepping, other)
    async with first.read() as tx:
        counts = await tx.counts_between(day, day)
    assert [(c.value, c.count) for c in counts] == [("a", 2), ("b", 2)]
