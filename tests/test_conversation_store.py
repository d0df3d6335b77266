"""Sessions in a real database (SQLite, and PostgreSQL where a server answers): saved with each
step, resumed after a restart, forgotten when idle; an update delivered twice stepped once; a
quick exit's wipe claimed by whoever handled it; a directory edit seen by every instance."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.app import Parts, open_parts, seed_if_empty
from bot.conversation import AlreadyHandled, Conversations, london_day
from bot.directory.files import DirectoryData
from bot.engine.model import Event, Tracked
from bot.store.directory import DirectoryRows
from bot.store.schema import migrations
from bot.sweeper import Sweeper
from tests.conftest import DIRECTORY, FLOWS, LOCALES, AnyStore, Database, FakeClock

pytestmark = pytest.mark.every_store


async def test_migrations_bring_a_new_database_to_the_latest_version(
    db: AnyStore, database: Database
) -> None:
    dialect = "sqlite" if database.backend == "sqlite" else "postgresql"
    assert await db.schema_version() == migrations(dialect)[-1][0]


async def test_migrating_twice_changes_nothing(database: Database) -> None:
    dialect = "sqlite" if database.backend == "sqlite" else "postgresql"
    first = await database.open()
    await first.close()
    again = await database.open()
    assert await again.schema_version() == migrations(dialect)[-1][0]
    await again.close()


async def test_each_step_is_saved_and_a_new_process_resumes_it(
    database: Database, parts: Parts, clock: FakeClock
) -> None:
    db = await database.open()
    chat = Conversations(parts.engine, db, clock, timedelta(minutes=15))
    await chat.handle("c", Event.start())
    await chat.handle("c", Event.button("no", "opening.start"))
    await chat.handle("c", Event.button("me", "opening.who"))
    await db.close()  # as if the process stopped here

    db = await database.open()
    chat = Conversations(parts.engine, db, clock, timedelta(minutes=15))
    reply = (await chat.handle("c", Event.resume())).reply
    await db.close()
    assert reply.state == "victim.start"
    assert reply.notices[0].msgid.startswith("Welcome back")


async def test_resume_with_no_conversation_starts_one(conversations: Conversations) -> None:
    reply = (await conversations.handle("new", Event.resume())).reply
    assert reply.state == "opening.start"
    assert not reply.notices


async def test_exit_removes_the_session_row(conversations: Conversations, db: AnyStore) -> None:
    await conversations.handle("c", Event.start())
    await conversations.handle("c", Event.button("exit"))
    async with db.read() as tx:
        assert await tx.load_session("c") is None


async def test_an_idle_conversation_is_forgotten_and_the_person_told(
    conversations: Conversations, clock: FakeClock
) -> None:
    await conversations.handle("c", Event.start())
    await conversations.handle("c", Event.button("no", "opening.start"))
    clock.advance(minutes=15)
    reply = (await conversations.handle("c", Event.button("me", "opening.who"))).reply
    assert reply.notices[0].msgid.startswith("We cleared our last chat")
    # The old button belongs to a forgotten conversation: it does nothing but show the start.
    assert reply.state == "opening.start"


async def test_a_conversation_used_within_the_idle_time_is_kept(
    conversations: Conversations, clock: FakeClock
) -> None:
    await conversations.handle("c", Event.start())
    clock.advance(minutes=14, seconds=59)
    reply = (await conversations.handle("c", Event.button("no", "opening.start"))).reply
    assert reply.state == "opening.who"


async def test_a_failed_step_leaves_the_stored_session_as_it_was(
    conversations: Conversations, db: AnyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await conversations.handle("c", Event.start())

    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(conversations.engine, "step", broken)
    with pytest.raises(RuntimeError):
        await conversations.handle("c", Event.button("no", "opening.start"))
    async with db.read() as tx:
        stored = await tx.load_session("c")
    assert stored is not None and stored.state == "opening.start"


async def test_typed_words_never_reach_the_database(
    database: Database, parts: Parts, clock: FakeClock
) -> None:
    db = await database.open()
    chat = Conversations(parts.engine, db, clock, timedelta(minutes=15))
    for event in (
        Event.start(),
        Event.button("no", "opening.start"),
        Event.button("me", "opening.who"),
        Event.button("yes", "victim.start"),
        Event.button("skip", "victim.questions"),
        Event.button("talk", "victim.needs"),
        Event.typed("Zebraquartz Lane, my street"),  # not understood: asked again
        Event.typed("Bletchley"),  # understood: kept as an area id only
    ):
        await chat.handle("c", event)
    async with db.read() as tx:
        stored = await tx.load_session("c")
    await db.close()
    raw = database.raw()  # SQLite's files, with their free pages; PostgreSQL's rows
    assert b"Zebraquartz" not in raw and b"Bletchley" not in raw
    assert b"milton-keynes" in raw
    assert stored is not None and "milton-keynes" in stored.answers.values()


# -- several instances on one database ----------------------------------------------------------


async def test_an_update_delivered_twice_is_stepped_once(
    conversations: Conversations, db: AnyStore, clock: FakeClock
) -> None:
    await conversations.handle("c", Event.start(), update_key="tg:1:10")
    await conversations.handle("c", Event.button("no", "opening.start"), update_key="tg:1:11")
    me = Event.button("me", "opening.who")
    outcome = await conversations.handle("c", me, update_key="tg:1:12")
    assert outcome.reply.state == "victim.start"
    async with db.read() as tx:
        before = await tx.load_session("c")
        counted = await tx.counts_between(london_day(clock()), london_day(clock()))
    assert counted  # the route was counted
    clock.advance(seconds=5)
    with pytest.raises(AlreadyHandled):
        await conversations.handle("c", me, update_key="tg:1:12")
    async with db.read() as tx:
        assert await tx.load_session("c") == before
        assert await tx.counts_between(london_day(clock()), london_day(clock())) == counted


async def test_a_quick_exits_wipe_is_left_to_whoever_handled_it_while_its_claim_lasts(
    conversations: Conversations, db: AnyStore, clock: FakeClock
) -> None:
    await conversations.handle("c", Event.start(), incoming=Tracked(1, 1))
    outcome = await conversations.handle("c", Event.button("exit"), incoming=Tracked(3, 3))
    (wipe,) = outcome.wipes
    assert wipe.claimed_until == clock() + conversations.wipe_lease
    assert [m.message_id for m in wipe.messages] == [1, 3]
    # Another instance's sweep (or this one's) leaves it to the handler while the claim lasts;
    # if the handler died, its claim runs out and the sweep does it.
    sweeper = Sweeper(db, clock, conversations.idle_after, 730, lease=conversations.wipe_lease)
    assert await sweeper.claim() == []
    clock.advance(seconds=conversations.wipe_lease.total_seconds())
    (taken,) = await sweeper.claim()
    assert taken.id == wipe.id and taken.messages == wipe.messages


async def instance(database: Database, clock: FakeClock) -> tuple[AnyStore, Conversations]:
    """One instance of the bot on the test's database: its own store, its own directory."""
    store = await database.open()
    parts = await open_parts(store, FLOWS, DIRECTORY, LOCALES, clock)
    return store, Conversations(
        parts.engine, store, clock, timedelta(minutes=15), directory=parts.directory
    )


async def test_a_directory_edit_made_through_one_instance_is_seen_by_the_next_step_of_another(
    database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeder = await database.open()
    async with seeder.transaction() as tx:
        await seed_if_empty(tx, DIRECTORY, clock)
    await seeder.close()
    (one, _), (other, seeing) = [await instance(database, clock) for _ in range(2)]
    try:
        assert seeing.directory is not None
        service_id = "national-domestic-abuse-helpline"
        async with one.transaction() as tx:  # as the admin service saves an edit
            stored = await tx.service(service_id)
            assert stored is not None
            changed = {**stored.record, "name": "National Domestic Abuse Helpline (edited)"}
            assert await tx.write_service(changed, stored.version, clock()) is not None
        loads: list[DirectoryData] = []
        load = DirectoryRows.load_directory

        async def counted(self: DirectoryRows) -> DirectoryData:
            loads.append(data := await load(self))
            return data

        monkeypatch.setattr(DirectoryRows, "load_directory", counted)
        # Steps of five people on the other instance, at once: each sees the edit, and the
        # directory is read once for all of them.
        await asyncio.gather(*(seeing.handle(f"c{n}", Event.start()) for n in range(5)))
        service = seeing.directory.service(service_id)
        assert service is not None and service.name.endswith("(edited)")
        assert len(loads) == 1
    finally:
        await one.close()
        await other.close()
