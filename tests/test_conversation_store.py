"""Sessions in a real database (SQLite, and PostgreSQL where a server answers): saved with each
step, resumed after a restart, forgotten when idle."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app import Parts
from bot.conversation import Conversations
from bot.engine.model import Event
from bot.store.schema import migrations
from tests.conftest import AnyStore, Database, FakeClock

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
