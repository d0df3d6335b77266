"""The store through its interface, on SQLite and on PostgreSQL alike: units of work commit
together or not at all, a cancelled one never blocks the next, reads never wait behind a
write, batches are bounded, and every table's statements do what they say."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from bot.directory.files import read_folder
from bot.engine.model import Session, Tracked
from bot.store.interface import Store
from bot.store.schema import latest_schema
from bot.store.sqlite import SqliteStore
from tests.conftest import DIRECTORY, AnyStore, Database
from tests.telegram_support import PATIENCE

pytestmark = pytest.mark.every_store

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
# Telegram's user ids no longer fit in 32 bits.
BIG_USER_ID = 7_123_456_789


def session(key: str, state: str = "opening.start") -> Session:
    return Session(chat_key=key, state=state, locale="en")


async def test_a_unit_of_work_commits_everything_together(db: AnyStore) -> None:
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


async def test_a_failure_rolls_everything_back(db: AnyStore) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.save_session(session("tg:2"), NOW)
            raise RuntimeError("boom")
    async with db.read() as tx:
        assert await tx.load_session("tg:2") is None
    async with db.transaction() as tx:  # and the next unit of work is not blocked
        await tx.save_session(session("tg:2"), NOW)


async def test_a_cancelled_unit_of_work_leaves_nothing_open(db: AnyStore) -> None:
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


async def test_a_read_does_not_wait_behind_a_write(db: AnyStore) -> None:
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


async def test_a_read_cannot_write(db: AnyStore) -> None:
    with pytest.raises((sqlite3.OperationalError, psycopg.errors.ReadOnlySqlTransaction)):
        async with db.read() as tx:
            await tx.save_session(session("tg:7"), NOW)


async def test_units_of_work_on_one_conversation_take_turns(db: AnyStore) -> None:
    async def bump(n: int) -> None:
        async with db.transaction() as tx:
            await tx.lock_chat("tg:counter")
            found = await tx.load_session("tg:counter")
            current = found or session("tg:counter", "0")
            await asyncio.sleep(0)  # let the others try to cut in
            current.state = str(int(current.state) + 1)
            await tx.save_session(current, NOW)

    await asyncio.gather(*(bump(n) for n in range(30)))
    async with db.read() as tx:
        stored = await tx.load_session("tg:counter")
    assert stored is not None and stored.state == "30"


async def test_units_of_work_on_different_conversations_run_side_by_side_up_to_the_writers(
    db: AnyStore,
) -> None:
    inside, most = 0, 0
    release = asyncio.Event()

    async def step(n: int) -> None:
        nonlocal inside, most
        async with db.transaction() as tx:
            await tx.lock_chat(f"tg:{n}")
            inside += 1
            most = max(most, inside)
            if most == db.writers:
                release.set()
            await release.wait()
            await tx.save_session(session(f"tg:{n}"), NOW)
            inside -= 1

    async with asyncio.timeout(PATIENCE):  # fewer places than promised would never release
        await asyncio.gather(*(step(n) for n in range(db.writers + 2)))
    assert most == db.writers  # as many as there are places, and never more


async def test_an_urgent_unit_of_work_goes_before_those_waiting(db: AnyStore) -> None:
    order: list[str] = []
    holding, release = asyncio.Event(), asyncio.Event()
    held_places = 0

    async def hold() -> None:
        nonlocal held_places
        async with db.transaction():
            held_places += 1
            if held_places == db.writers:
                holding.set()
            await release.wait()

    async def unit(name: str, urgent: bool) -> None:
        async with db.transaction(urgent) as tx:
            order.append(name)
            await tx.save_session(session(f"tg:{name}"), NOW)

    held = [asyncio.create_task(hold()) for _ in range(db.writers)]
    await holding.wait()  # every place is taken
    waiting = [asyncio.create_task(unit("step", False)), asyncio.create_task(unit("exit", True))]
    await asyncio.sleep(0)  # both are queued behind those holding the places
    release.set()
    await asyncio.gather(*held, *waiting)
    assert order == ["exit", "step"]


async def test_idle_sessions_come_in_bounded_batches_of_one_channel(db: AnyStore) -> None:
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


async def test_due_wipes_come_in_bounded_batches_after_an_id(db: AnyStore) -> None:
    async with db.transaction() as tx:
        ids = [await tx.add_wipe(f"tg:{n}", [Tracked(n + 1, 1)], NOW) for n in range(5)]
        await tx.add_wipe("tg:later", [Tracked(99, 1)], NOW + timedelta(hours=1))
    async with db.read() as tx:
        first = await tx.due_wipes(NOW, 2)
        rest = await tx.due_wipes(NOW, 10, after_id=first[-1].id)
    assert [w.id for w in first + rest] == ids


async def test_scrub_cleans_up_after_an_erasure(db: AnyStore, database: Database) -> None:
    async with db.transaction() as tx:
        await tx.save_session(session("tg:8"), NOW)
        await tx.add_wipe("tg:8", [Tracked(1, 1)], NOW)
    async with db.transaction() as tx:
        await tx.delete_session("tg:8")
        await tx.forget_wipes("tg:8")
    await db.scrub(urgent=True)
    if database.backend == "sqlite":  # the write-ahead log is emptied
        assert (database.path.parent / "pathways.db-wal").stat().st_size == 0
        return
    # PostgreSQL: the conversation tables were vacuumed (docs/privacy.md says what remains).
    with psycopg.connect(database.location) as conn:
        vacuumed = conn.execute(
            "SELECT relname FROM pg_stat_user_tables"
            " WHERE schemaname = current_schema() AND last_vacuum IS NOT NULL"
        ).fetchall()
    assert {name for (name,) in vacuumed} == {"sessions", "pending_wipes"}


async def test_opening_migrates_and_a_second_open_changes_nothing(database: Database) -> None:
    dialect = "sqlite" if database.backend == "sqlite" else "postgresql"
    first = await database.open()
    assert await first.schema_version() == latest_schema(dialect)
    async with first.transaction() as tx:
        await tx.add_editor(1, 1, NOW)
    await first.close()
    again = await database.open()
    assert await again.schema_version() == latest_schema(dialect)
    async with again.read() as tx:
        assert await tx.editors() == [1]  # nothing was made again over what was there
    await again.close()


async def test_a_failed_migration_leaves_the_database_at_the_last_good_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # (PostgreSQL's: tests/test_postgres_store.py)
    from bot.store import schema

    shipped = schema.migrations()
    broken = [*shipped, (shipped[-1][0] + 1, "9999_broken.sql", "CREATE TABLE x (;")]
    monkeypatch.setattr(schema, "migrations", lambda: broken)
    with pytest.raises(sqlite3.OperationalError):
        await SqliteStore.open(tmp_path / "b.db")
    with sqlite3.connect(tmp_path / "b.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == shipped[-1][0]
        assert not conn.in_transaction


# -- every table's statements, on both databases ---------------------------------------------


async def test_sessions_keep_what_they_are_given(db: AnyStore) -> None:
    chat = session("tg:9")
    chat.answers = {"route": "me", "area": "milton-keynes"}
    chat.messages = [Tracked(1, 100)]
    chat.flags = ["explained"]
    chat.live_message_id = 2**40  # a message id beyond 32 bits is kept whole
    async with db.transaction() as tx:
        await tx.save_session(chat, NOW)
        assert await tx.add_messages("tg:9", [Tracked(1, 100), Tracked(2, 101)], 2)
        assert not await tx.add_messages("tg:none", [Tracked(3, 102)], None)
    async with db.read() as tx:
        stored = await tx.load_session("tg:9")
    assert stored is not None
    assert stored.answers == chat.answers and stored.flags == ["explained"]
    assert stored.messages == [Tracked(1, 100), Tracked(2, 101)] and stored.live_message_id == 2
    assert stored.updated_at == NOW and stored.updated_at.tzinfo == UTC
    async with db.transaction() as tx:  # only if nothing happened since
        assert not await tx.delete_session("tg:9", if_updated_at=NOW - timedelta(seconds=1))
        assert await tx.delete_session("tg:9", if_updated_at=stored.updated_at)
        assert await tx.load_session("tg:9") is None


async def test_wipes_are_taken_once_and_checked_exactly(db: AnyStore) -> None:
    async with db.transaction() as tx:
        first = await tx.add_wipe("tg:1", [Tracked(1, 1)], NOW)
        await tx.add_wipe("tg:1", [Tracked(2, 2)], NOW + timedelta(hours=1))
        await tx.add_wipe("tg:2", [Tracked(3, 3)], NOW)
        assert await tx.add_wipe("tg:3", [], NOW) is None
    async with db.read() as tx:
        (due, other) = await tx.due_wipes(NOW, 10)
        assert due.id == first and await tx.wipe_waiting(due)
        assert not await tx.wipe_waiting(dataclasses.replace(due, due_at=NOW + timedelta(1)))
    async with db.transaction() as tx:
        assert await tx.take_wipes("tg:1") == [Tracked(1, 1), Tracked(2, 2)]
        assert await tx.take_wipes("tg:1") == []
        await tx.wipe_done(other.id)
    async with db.read() as tx:
        assert not await tx.wipe_waiting(due)
        assert await tx.due_wipes(NOW + timedelta(days=1), 10) == []


async def test_figures_add_up_by_day_in_a_fixed_order_and_are_purged(db: AnyStore) -> None:
    yesterday = NOW.date() - timedelta(days=1)
    # Compared byte by byte on both databases, whatever PostgreSQL's own collation says.
    values = ["b", "B", "a-c", "ab", "é"]
    async with db.transaction() as tx:
        await tx.add_counts(yesterday, [("area", "old")])
        await tx.add_counts(NOW.date(), [("area", v) for v in values])
        await tx.add_counts(NOW.date(), [("area", "b")])
        await tx.add_counts(NOW.date(), [])
    async with db.read() as tx:
        counts = await tx.counts_between(yesterday, NOW.date())
    assert [(c.day, c.value, c.count) for c in counts] == [
        (yesterday, "old", 1),
        *((NOW.date(), v, 2 if v == "b" else 1) for v in sorted(values)),
    ]
    async with db.transaction() as tx:
        assert await tx.purge_counts_before(NOW.date()) == 1
        assert len(await tx.counts_between(yesterday, NOW.date())) == len(values)


async def test_the_directory_is_stored_whole_and_versioned(db: AnyStore) -> None:
    shipped = read_folder(DIRECTORY)
    async with db.transaction() as tx:
        assert await tx.directory_is_empty()
        changed = await tx.apply_directory(shipped, NOW)
        assert changed == len(shipped.areas) + len(shipped.services)
        assert await tx.directory_version() == 1
        assert await tx.apply_directory(shipped, NOW) == 0  # the same again changes nothing
        assert await tx.directory_version() == 1
    async with db.read() as tx:
        loaded = await tx.load_directory()
        versions = await tx.service_versions()
    assert loaded == shipped
    assert list(loaded.services) == sorted(shipped.services)  # byte order on both databases
    assert versions == dict.fromkeys(shipped.services, 1)


async def test_service_edits_are_versioned_and_audited(db: AnyStore) -> None:
    async with db.transaction() as tx:
        await tx.apply_directory(read_folder(DIRECTORY), NOW)
        service_id = next(iter(await tx.service_versions()))
        stored = await tx.service(service_id)
        assert stored is not None and stored.version == 1
        before = stored.record
        after = {**before, "name": before["name"] + " (renamed)"}
        assert await tx.write_service(after, expected_version=1, now=NOW) == 2
        assert await tx.write_service(after, expected_version=1, now=NOW) is None  # stale
        assert await tx.write_service(after, expected_version=None, now=NOW) is None  # exists
        await tx.record_change(BIG_USER_ID, "edit", before, after, 2, NOW)
        new = {**before, "id": "zz-new-service"}
        assert await tx.write_service(new, expected_version=None, now=NOW) == 1
        await tx.record_change(BIG_USER_ID, "add", None, new, 1, NOW + timedelta(minutes=1))
        assert await tx.directory_version() == 3
    async with db.transaction() as tx:
        (edit,) = await tx.history(service_id)
        assert (edit.user_id, edit.action, edit.before, edit.after) == (
            BIG_USER_ID,
            "edit",
            before,
            after,
        )
        assert edit.at == NOW and not edit.undone
        last = await tx.last_change_by(BIG_USER_ID)
        assert last is not None and last.service_id == "zz-new-service" and last.before is None
        assert await tx.remove_service("zz-new-service", expected_version=1)
        await tx.mark_undone(last.id)
        undone = await tx.latest_change_for("zz-new-service")
        assert undone is not None and undone.undone
        again = await tx.last_change_by(BIG_USER_ID)
        assert again is not None and again.id == edit.id  # the undone one is passed over
        assert await tx.service("zz-new-service") is None
        assert await tx.directory_version() == 4


async def test_editors_and_where_they_are_in_the_admin_chat(db: AnyStore) -> None:
    async with db.transaction() as tx:
        assert await tx.add_editor(BIG_USER_ID, 1, NOW)
        assert not await tx.add_editor(BIG_USER_ID, 2, NOW)  # already one
        assert await tx.add_editor(5, 1, NOW)
        await tx.save_admin_session(BIG_USER_ID, "menu", {"page": 1}, NOW)
        await tx.save_admin_session(BIG_USER_ID, "editing", {"field": "phone"}, NOW)
    async with db.read() as tx:
        assert await tx.editors() == [5, BIG_USER_ID]
        assert await tx.is_editor(BIG_USER_ID) and not await tx.is_editor(6)
        assert await tx.load_admin_session(BIG_USER_ID) == ("editing", {"field": "phone"})
    async with db.transaction() as tx:
        assert await tx.remove_editor(BIG_USER_ID)  # and where they were goes with them
        assert not await tx.remove_editor(BIG_USER_ID)
        assert await tx.load_admin_session(BIG_USER_ID) is None
        await tx.save_admin_session(5, "menu", {}, NOW)
        await tx.end_admin_session(5)
        assert await tx.load_admin_session(5) is None


# -- several instances on one database: what each unit of work does alone -------------------------
# (Two stores at once on one PostgreSQL database: tests/test_instances.py.)


async def test_a_conversations_turn_is_granted_when_nobody_holds_it(db: AnyStore) -> None:
    async with db.transaction() as tx:
        await tx.lock_chat("tg:1")
        assert await tx.try_lock_chat("tg:2")
        assert await tx.try_lock_chat("tg:1")  # already this unit of work's own
        await tx.save_session(session("tg:1"), NOW)
    async with db.transaction() as tx:  # and let go when the unit of work ended
        assert await tx.try_lock_chat("tg:1")


async def test_an_update_is_handled_once_and_forgotten_after_its_hour_has_passed(
    db: AnyStore,
) -> None:
    at = NOW.replace(minute=37, second=12, microsecond=5)
    async with db.transaction() as tx:
        assert await tx.mark_handled("tg:1:100", at)
        assert not await tx.mark_handled("tg:1:100", at + timedelta(minutes=5))
        assert await tx.mark_handled("tg:2:100", at)  # another bot's update of the same number
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            assert await tx.mark_handled("tg:1:101", at)
            raise RuntimeError("the step failed")
    async with db.transaction() as tx:
        assert await tx.mark_handled("tg:1:101", at)  # not recorded by the step that failed
    async with db.transaction() as tx:
        assert await tx.purge_handled_before(NOW) == 0
        # Kept as the hour only (10:00, not 10:37:12): nothing says when anyone acted.
        assert await tx.purge_handled_before(NOW + timedelta(microseconds=1)) == 3
        assert await tx.mark_handled("tg:1:100", at)


async def test_wipes_are_claimed_once_until_the_claim_runs_out(db: AnyStore) -> None:
    lease = timedelta(minutes=1)
    async with db.transaction() as tx:
        ids = [await tx.add_wipe(f"tg:{n}", [Tracked(n + 1, 1)], NOW) for n in range(4)]
        held = await tx.add_wipe("tg:held", [Tracked(9, 1)], NOW, claimed_until=NOW + lease)
        await tx.add_wipe("tg:later", [Tracked(99, 1)], NOW + timedelta(hours=1))
    async with db.transaction() as tx:
        first = await tx.claim_wipes(NOW, NOW + lease, 3)
    async with db.transaction() as tx:
        rest = await tx.claim_wipes(NOW, NOW + lease, 10)
        assert await tx.claim_wipes(NOW, NOW + lease, 10) == []
    assert [w.id for w in first] == ids[:3] and [w.id for w in rest] == ids[3:]
    assert {w.claimed_until for w in [*first, *rest]} == {NOW + lease}
    async with db.read() as tx:
        assert all([await tx.wipe_waiting(w) for w in first])
        # Read before it was claimed: not this claim's to carry out.
        assert not await tx.wipe_waiting(dataclasses.replace(first[0], claimed_until=None))
    # An instance that claimed them died: once the claims run out, anyone may take them.
    later = NOW + lease
    async with db.transaction() as tx:
        again = await tx.claim_wipes(later, later + lease, 10, after_id=ids[0])
    assert [w.id for w in again] == [*ids[1:], held]
    async with db.read() as tx:
        assert not await tx.wipe_waiting(rest[0])  # the first claim is no longer good


async def test_a_claim_given_up_is_taken_by_the_next_sweep(db: AnyStore) -> None:
    lease = timedelta(minutes=1)
    async with db.transaction() as tx:
        await tx.add_wipe("tg:1", [Tracked(1, 1)], NOW)
        (claimed,) = await tx.claim_wipes(NOW, NOW + lease, 10)
    stale = dataclasses.replace(claimed, claimed_until=NOW + timedelta(seconds=1))
    async with db.transaction() as tx:
        await tx.release_wipe(stale)  # not the claim it holds: nothing changes
        assert await tx.claim_wipes(NOW, NOW + lease, 10) == []
        await tx.release_wipe(claimed)
        (taken,) = await tx.claim_wipes(NOW, NOW + 2 * lease, 10)
    assert taken.id == claimed.id and taken.claimed_until == NOW + 2 * lease


async def test_idle_conversations_taken_to_end_are_the_idle_ones(db: AnyStore) -> None:
    async with db.transaction() as tx:
        for n in range(4):
            await tx.save_session(session(f"tg:{n}"), NOW - timedelta(minutes=30 - n))
        await tx.save_session(session("tg:fresh"), NOW)
        await tx.save_session(session("console"), NOW - timedelta(hours=1))
    async with db.transaction() as tx:
        taken = await tx.take_idle_sessions(NOW - timedelta(minutes=15), 3, "tg:")
    assert [s.chat_key for s in taken] == ["tg:0", "tg:1", "tg:2"]
