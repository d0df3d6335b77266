"""The SQLite store through its interface: units of work commit together or not at all, a
cancelled one never blocks the next, reads never wait behind a write, batches are bounded."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.engine.model import Session, Tracked
from bot.store.interface import Store
from bot.store.schema import latest_schema
from bot.store.sqlite import SqliteStore

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def session(key: str, state: str = "opening.start") -> Session:
    return Session(chat_key=key, state=state, locale="en")


async def test_a_unit_of_work_commits_everything_together(db: SqliteStore) -> None:
    async with db.transaction() as tx:
        await tx.save_session(session("tg:1"), NOW)
        await tx.add_counts(NOW.date(), [("route", "me"), ("route", "me")])
        wipe_id = await tx.add_wipe("tg:1", [Tracked(7, 1), Tracked(8, 2)], NOW)
    assert wipe_id is not None
    async with db.read() as tx:
        assert await tx.load_session("tg:1") is not None
        (count,) = await tx.counts_between(NOW.date(), NOW.date())
        assert (count.kind, count.value, count.count) == ("route", "me", 2)
        (due,) = await tx.due_wipes(NOW, limit=10)
        assert due.messages == (Tracked(7, 1), Tracked(8, 2))


async def test_a_failure_rolls_everything_back(db: SqliteStore) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.save_session(session("tg:2"), NOW)
            raise RuntimeError("boom")
    async with db.read() as tx:
        assert await tx.load_session("tg:2") is None
    async with db.transaction() as tx:  # and the next unit of work is not blocked
        await tx.save_session(session("tg:2"), NOW)


async def test_a_cancelled_unit_of_work_leaves_nothing_open(db: SqliteStore) -> None:
    started = asyncio.Event()

    async def stuck() -> None:
        async with db.transaction() as tx:
            await tx.save_session(session("tg:3"), NOW)
            started.set()
            await asyncio.Event().wait()  # cancelled here, mid-transaction

    task = asyncio.create_task(stuck())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with db.transaction() as tx:
        assert await tx.load_session("tg:3") is None
        await tx.save_session(session("tg:4"), NOW)
    # Cancelled before its BEGIN had even run: still nothing left open.
    for _ in range(20):
        early = asyncio.create_task(_save(db, "tg:5"))
        await asyncio.sleep(0)
        early.cancel()
        await asyncio.gather(early, return_exceptions=True)
    async with db.transaction() as tx:
        await tx.save_session(session("tg:6"), NOW)
    async with db.read() as tx:
        assert await tx.load_session("tg:6") is not None


async def _save(db: Store, key: str) -> None:
    async with db.transaction() as tx:
        await tx.save_session(session(key), NOW)


async def test_a_read_does_not_wait_behind_a_write(db: SqliteStore) -> None:
    async with db.transaction() as tx:
        await tx.add_editor(42, 1, NOW)
    writing, release = asyncio.Event(), asyncio.Event()

    async def long_write() -> None:
        async with db.transaction() as tx:
            await tx.remove_editor(42)
            writing.set()
            await release.wait()

    task = asyncio.create_task(long_write())
    await writing.wait()
    async with db.read() as tx:  # answered while the write is still open
        assert await tx.is_editor(42)  # and it sees only what was committed
    release.set()
    await task
    async with db.read() as tx:
        assert not await tx.is_editor(42)


async def test_a_read_cannot_write(db: SqliteStore) -> None:
    with pytest.raises(sqlite3.OperationalError):
        async with db.read() as tx:
            await tx.save_session(session("tg:7"), NOW)


async def test_units_of_work_take_turns(db: SqliteStore) -> None:
    async def bump(n: int) -> None:
        async with db.transaction() as tx:
            found = await tx.load_session("tg:counter")
            current = found or session("tg:counter", "0")
            await asyncio.sleep(0)  # let the others try to cut in
            current.state = str(int(current.state) + 1)
            await tx.save_session(current, NOW)

    await asyncio.gather(*(bump(n) for n in range(30)))
    async with db.read() as tx:
        stored = await tx.load_session("tg:counter")
    assert stored is not None and stored.state == "30"


async def test_idle_sessions_come_in_bounded_batches_of_one_channel(db: SqliteStore) -> None:
    async with db.transaction() as tx:
        for n in range(7):
            await tx.save_session(session(f"tg:{n}"), NOW - timedelta(minutes=30 - n))
        await tx.save_session(session("console"), NOW - timedelta(hours=1))
        await tx.save_session(session("tg:fresh"), NOW)
    async with db.read() as tx:
        first = await tx.idle_sessions(NOW - timedelta(minutes=15), 3, "tg:")
        every = await tx.idle_sessions(NOW - timedelta(minutes=15), 100, "tg:")
    assert [s.chat_key for s in first] == ["tg:0", "tg:1", "tg:2"]  # oldest first
    assert [s.chat_key for s in every] == [f"tg:{n}" for n in range(7)]


async def test_due_wipes_come_in_bounded_batches_after_an_id(db: SqliteStore) -> None:
    async with db.transaction() as tx:
        ids = [await tx.add_wipe(f"tg:{n}", [Tracked(n + 1, 1)], NOW) for n in range(5)]
        await tx.add_wipe("tg:later", [Tracked(99, 1)], NOW + timedelta(hours=1))
    async with db.read() as tx:
        first = await tx.due_wipes(NOW, 2)
        rest = await tx.due_wipes(NOW, 10, after_id=first[-1].id)
    assert [w.id for w in first + rest] == ids


async def test_scrub_empties_the_write_ahead_log(db: SqliteStore, tmp_path: Path) -> None:
    async with db.transaction() as tx:
        await tx.save_session(session("tg:8"), NOW)
        await tx.delete_session("tg:8")
    await db.scrub()
    assert (tmp_path / "pathways.db-wal").stat().st_size == 0


async def test_opening_migrates_and_a_second_open_changes_nothing(tmp_path: Path) -> None:
    first = await SqliteStore.open(tmp_path / "m.db")
    assert await first.schema_version() == latest_schema()
    await first.close()
    again = await SqliteStore.open(tmp_path / "m.db")
    assert await again.schema_version() == latest_schema()
    await again.close()


async def test_a_failed_migration_leaves_the_database_at_the_last_good_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.store import schema

    shipped = schema.migrations()
    broken = [*shipped, (shipped[-1][0] + 1, "9999_broken.sql", "CREATE TABLE x (;")]
    monkeypatch.setattr(schema, "migrations", lambda: broken)
    with pytest.raises(sqlite3.OperationalError):
        await SqliteStore.open(tmp_path / "b.db")
    with sqlite3.connect(tmp_path / "b.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == shipped[-1][0]
        assert not conn.in_transaction
