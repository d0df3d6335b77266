"""Runs one step of a conversation against storage: load, step, save, in one transaction.

Channels call `handle`; they never touch the engine or the store directly, so the terminal
chat and Telegram behave the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import aiosqlite

from bot.directory.index import DirectoryIndex, LiveDirectory
from bot.engine.context import Clock
from bot.engine.machine import Engine
from bot.engine.model import Event, EventKind, Reply, Session, Text, Tracked
from bot.store import directory as directory_store
from bot.store import sessions, stats, wipes
from bot.store.db import Database
from bot.store.wipes import PendingWipe

LONDON = ZoneInfo("Europe/London")

# Turns typed words into an event, knowing the conversation's step and language.
TextReader = Callable[[str, Session], Event]


@dataclass(frozen=True)
class Outcome:
    reply: Reply
    session: Session  # as it stands after the step (an ended one is already forgotten)
    # Messages to delete now (on exit, or of a chat left idle), recorded as pending wipes in
    # the same transaction: they stay recorded until the deletion has succeeded.
    wipes: tuple[PendingWipe, ...] = ()
    noted: bool = False  # the one-off note asked for is due now (it was not given before)

    @property
    def wipe(self) -> tuple[Tracked, ...]:
        return tuple(m for w in self.wipes for m in w.messages)

    @property
    def ended(self) -> bool:
        return self.reply.ends_session

    def with_notice(self, notice: Text) -> Reply:
        return dataclasses.replace(self.reply, notices=(notice, *self.reply.notices))


def london_day(moment: datetime) -> date:
    """The day in the UK: figures are kept per day, never finer."""
    return moment.astimezone(LONDON).date()


def figures(before: dict[str, str], after: dict[str, str], reply: Reply) -> list[tuple[str, str]]:
    """What this step adds to the anonymous daily figures: a route, need or area chosen now
    (not one carried over), and each service shown. Nothing that identifies anyone."""
    found = [
        (kind, after[key])
        for kind, key in (("route", "route"), ("need", "need"), ("area", "area"))
        if after.get(key) and after.get(key) != before.get(key)
    ]
    if "area" not in after and after.get("nation") and after.get("nation") != before.get("nation"):
        found.append(("area", after["nation"]))
    found += [("service", card.service_id) for card in reply.cards]
    return found


class Conversations:
    def __init__(
        self,
        engine: Engine,
        db: Database,
        clock: Clock,
        idle_after: timedelta,
        read_text: TextReader | None = None,
        directory: LiveDirectory | None = None,
    ) -> None:
        self.engine = engine
        self.db = db
        self.clock = clock
        self.idle_after = idle_after
        self.read_text = read_text or (lambda text, _session: Event.typed(text))
        self.directory = directory

    async def _refresh_directory(self, conn: aiosqlite.Connection) -> None:
        """Pick up a directory changed by an import or an edit, before the step that uses it."""
        if self.directory is None:
            return
        stored = await directory_store.version(conn)
        if stored != self.directory.version:
            data = await directory_store.load(conn)
            self.directory.replace(DirectoryIndex(data.areas, data.services), stored)

    def _idle(self, session: Session, now: datetime) -> bool:
        return session.updated_at is not None and now - session.updated_at >= self.idle_after

    async def exists(self, chat_key: str) -> bool:
        return await self.db.run(lambda conn: sessions.load(conn, chat_key)) is not None

    async def handle(
        self,
        chat_key: str,
        event: Event | str,
        locale: str = "en",
        incoming: Tracked | None = None,
        note_once: str | None = None,
    ) -> Outcome:
        """Apply `event` (or typed words) to the conversation `chat_key`.

        A conversation left idle for `idle_after` is forgotten first and the person told so;
        its messages come back in `Outcome.wipe`. `locale` is used when a conversation begins.
        `incoming` is the person's own message, tracked so that a wipe removes it too.
        `note_once` names a one-off explanation: `Outcome.noted` says whether it is due now,
        and it is recorded as given in the same transaction.
        """
        now = self.clock()
        pending: list[PendingWipe] = []

        async def wipe_later(conn: aiosqlite.Connection, messages: list[Tracked]) -> None:
            wipe_id = await wipes.add(conn, chat_key, messages, now)
            if wipe_id is not None:
                pending.append(PendingWipe(wipe_id, chat_key, tuple(messages), now))

        # Runs on the database thread in one go (Database.run): the engine's step is pure and
        # quick, so the connection's lock is held for one hand-off, not one per statement.
        async def step(conn: aiosqlite.Connection) -> tuple[Reply, Session, bool, bool]:
            await self._refresh_directory(conn)
            session = await sessions.load(conn, chat_key)
            cleared = False
            if session is not None and self._idle(session, now):
                await sessions.delete(conn, chat_key)
                await wipe_later(conn, session.messages)
                session, cleared = None, True
            event_now = event
            if session is None:
                session = self.engine.new_session(chat_key, locale)
                if isinstance(event_now, Event) and event_now.kind is EventKind.RESUME:
                    event_now = Event.start()
            known = {m.message_id for m in session.messages}
            if incoming is not None and incoming.message_id not in known:
                session.messages.append(incoming)
            if isinstance(event_now, str):
                event_now = self.read_text(event_now, session)
            before = dict(session.answers)
            reply = self.engine.step(session, event_now)
            counted = figures(before, session.answers, reply)
            if event_now.kind is EventKind.START and self.engine.start_code(event_now.trigger):
                counted.append(("start_code", event_now.trigger))
            await stats.add(conn, london_day(now), counted)
            noted = note_once is not None and note_once not in session.flags
            if noted and note_once is not None:
                session.flags.append(note_once)
            if reply.ends_session:
                await sessions.delete(conn, chat_key)
                leftovers = await wipes.take_all(conn, chat_key) if reply.forgets else []
                if reply.wipes:
                    # On /forget, what was still waiting to be deleted (an earlier farewell)
                    # goes in the same wipe, and nothing else stays.
                    await wipe_later(conn, [*session.messages, *leftovers])
            else:
                await sessions.save(conn, session, now)
            return reply, session, cleared, noted

        reply, session, cleared, noted = await self.db.run(step)
        if cleared or reply.ends_session:
            await self.db.checkpoint()
        if cleared:
            notice = self.engine.message("idle_cleared")
            reply = dataclasses.replace(reply, notices=(notice, *reply.notices))
        return Outcome(reply, session, tuple(pending), noted)

    async def track(
        self, chat_key: str, sent: list[Tracked], live_message_id: int | None = None
    ) -> bool:
        """Remember messages sent in a live conversation, so a later wipe removes them.

        If the conversation ended meanwhile (an exit, or the idle sweep), the messages are
        recorded as a pending wipe instead, so they are deleted too. Returns False then.
        """
        now = self.clock()

        async def record(conn: aiosqlite.Connection) -> bool:
            if await sessions.add_messages(conn, chat_key, sent, live_message_id):
                return True
            await wipes.add(conn, chat_key, sent, now)
            return False

        return await self.db.run(record)

    async def wipe_later(self, chat_key: str, messages: list[Tracked], after: timedelta) -> None:
        """Delete these messages (a farewell, say) once `after` has passed."""
        due_at = self.clock() + after
        await self.db.run(lambda conn: wipes.add(conn, chat_key, messages, due_at))

    async def forget(self, chat_key: str) -> Session | None:
        """Erase the conversation now (the person blocked the bot, or asked to be forgotten),
        with anything still waiting to be deleted: nothing can be deleted any more."""

        async def erase(conn: aiosqlite.Connection) -> Session | None:
            session = await sessions.load(conn, chat_key)
            await sessions.delete(conn, chat_key)
            await wipes.forget_chat(conn, chat_key)
            return session

        session = await self.db.run(erase)
        await self.db.checkpoint()
        return session

    async def idle(self) -> list[Session]:
        """Conversations left alone for `idle_after` or longer, oldest first."""
        cutoff = self.clock() - self.idle_after
        return await self.db.run(lambda conn: sessions.idle_since(conn, cutoff))

    async def retire(self, session: Session) -> bool:
        """End an idle conversation, unless the person came back meanwhile: its messages
        become a pending wipe, in the same transaction."""
        now = self.clock()

        async def end(conn: aiosqlite.Connection) -> bool:
            ended = await sessions.delete(conn, session.chat_key, if_updated_at=session.updated_at)
            if ended:
                await wipes.add(conn, session.chat_key, session.messages, now)
            return ended

        ended = await self.db.run(end)
        if ended:
            await self.db.checkpoint()
        return ended

    async def purge_figures(self, keep_days: int) -> int:
        """Delete anonymous figures older than `keep_days` days."""
        first_kept = london_day(self.clock()) - timedelta(days=keep_days)
        return await self.db.run(lambda conn: stats.purge_before(conn, first_kept))

    async def due_wipes(self) -> list[PendingWipe]:
        now = self.clock()
        return await self.db.run(lambda conn: wipes.due(conn, now))

    async def still_waiting(self, pending: PendingWipe) -> bool:
        """False if `pending` was carried out since it was read (see `wipes.waiting`)."""
        return await self.db.run(lambda conn: wipes.waiting(conn, pending))

    async def wiped(self, wipe_id: int) -> None:
        await self.db.run(lambda conn: wipes.done(conn, wipe_id))
        await self.db.checkpoint()
