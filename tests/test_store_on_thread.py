"""Database.run: a whole transaction on the database thread in one hand-off, with the same
store functions as everywhere else, committed or rolled back as a whole."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import aiosqlite
import pytest

from bot.engine.model import Session, Tracked
from bot.store import sessions, stats, wipes
from bot.store.db import Database
from bot.store.on_thread import SuspendedError

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _session(key: str, state: str = "opening.start") -> Session:
    return Session(chat_key=key, state=state, locale="en")


async def test_the_store_functions_run_on_the_database_thread_and_commit(db: Database) -> None:
    threads: list[str] = []

    async def body(conn: aiosqlite.Connection) -> int | None:
        threads.append(threading.current_thread().name)
        await sessions.save(conn, _session("a"), NOW)
        loaded = await sessions.load(conn, "a")
        assert loaded is not None and loaded.state == "opening.start"
        await stats.add(conn, NOW.date(), [("route", "me"), ("route", "me")])
        return await wipes.add(conn, "a", [Tracked(7, 1), Tracked(8, 2)], NOW)

    wipe_id = await db.run(body)
    assert threads and threads[0] != threading.current_thread().name
    assert isinstance(wipe_id, int)

    # What the body wrote is there for the ordinary (aiosqlite) path too.
    async with db.transaction() as conn:
        assert await sessions.load(conn, "a") is not None
        counts = await stats.between(conn, NOW.date(), NOW.date())
        due = await wipes.due(conn, NOW)
        taken = await wipes.take_all(conn, "a")  # iterates its cursor with `async for`
    assert [(c.value, c.count) for c in counts] == [("me", 2)]
    assert [w.id for w in due] == [wipe_id]
    assert [m.message_id for m in taken] == [7, 8]


async def test_a_failing_body_leaves_nothing_behind(db: Database) -> None:
    async def body(conn: aiosqlite.Connection) -> None:
        await sessions.save(conn, _session("b"), NOW)
        raise ValueError("half way")

    with pytest.raises(ValueError, match="half way"):
        await db.run(body)

    async def look(conn: aiosqlite.Connection) -> Session | None:
        return await sessions.load(conn, "b")

    assert await db.run(look) is None
    assert not db.conn.in_transaction


async def test_a_body_that_awaits_anything_but_the_database_is_refused_and_undone(
    db: Database,
) -> None:
    async def body(conn: aiosqlite.Connection) -> None:
        await sessions.save(conn, _session("c"), NOW)
        await asyncio.sleep(0)  # would let other work in mid-transaction

    with pytest.raises(SuspendedError):
        await db.run(body)

    async def look(conn: aiosqlite.Connection) -> Session | None:
        return await sessions.load(conn, "c")

    assert await db.run(look) is None


async def test_a_transaction_already_open_is_never_cut_into(db: Database) -> None:
    """A multi-statement transaction() holds the lock; run() waits for it rather than
    sending its BEGIN into the middle of it."""
    order: list[str] = []

    async def body(conn: aiosqlite.Connection) -> None:
        order.append("run")
        await sessions.save(conn, _session("d", "later"), NOW)

    async with db.transaction() as conn:
        await sessions.save(conn, _session("d", "first"), NOW)
        waiting = asyncio.create_task(db.run(body))
        for _ in range(20):  # give it every chance to slip in
            await asyncio.sleep(0)
        await conn.execute("SELECT 1")
        order.append("transaction")
    await waiting
    assert order == ["transaction", "run"]

    async def look(conn: aiosqlite.Connection) -> Session | None:
        return await sessions.load(conn, "d")

    saved = await db.run(look)
    assert saved is not None and saved.state == "later"


async def test_many_at_once_all_commit_in_the_order_they_were_given(db: Database) -> None:
    async def bump(conn: aiosqlite.Connection) -> int:
        rows = await conn.execute_fetchall("SELECT COUNT(*) FROM sessions")
        count = int(next(iter(rows))[0])
        await sessions.save(conn, _session(f"k{count}"), NOW)
        return count

    seen = await asyncio.gather(*(db.run(bump) for _ in range(50)))
    assert seen == list(range(50))


async def test_a_checkpoint_between_transactions_does_not_block_the_next_commit(
    db: Database,
) -> None:
    async def save(conn: aiosqlite.Connection) -> None:
        await sessions.save(conn, _session("e"), NOW)

    await db.run(save)
    await db.checkpoint()
    await db.run(save)  # failed with "SQL statements in progress" while a checkpoint's
    # cursor was left unread


async def test_a_transaction_cancelled_before_it_began_leaves_none_open(db: Database) -> None:
    """Cancelled while its BEGIN is still queued on the database thread: the BEGIN still runs
    there, and is rolled back before anything else, so later transactions are not refused."""

    async def hold() -> None:
        async with db.transaction() as conn:
            await sessions.save(conn, _session("f"), NOW)

    task = asyncio.create_task(hold())
    await asyncio.sleep(0)  # it has queued its BEGIN and waits for it
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async def save(conn: aiosqlite.Connection) -> None:
        await sessions.save(conn, _session("g"), NOW)

    await db.run(save)
    async with db.transaction() as conn:
        assert await sessions.load(conn, "g") is not None
        assert await sessions.load(conn, "f") is None


async def test_named_parameters_are_passed_as_named(db: Database) -> None:
    async def read(conn: aiosqlite.Connection) -> list[tuple[int]]:
        return list(await conn.execute_fetchall("SELECT :value", {"value": 42}))

    assert [tuple(row) for row in await db.run(read)] == [(42,)]
