"""Runs one step of a conversation against storage: load, step, save, in one transaction.

Channels call `handle`; they never touch the engine or the store directly, so the terminal
chat and Telegram behave the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite

from bot.directory.index import DirectoryIndex, LiveDirectory
from bot.engine.context import Clock
from bot.engine.machine import Engine
from bot.engine.model import Event, EventKind, Reply, Session, Text, Tracked
from bot.store import directory as directory_store
from bot.store import sessions
from bot.store.db import Database

# Turns typed words into an event, knowing the conversation's step and language.
TextReader = Callable[[str, Session], Event]


@dataclass(frozen=True)
class Outcome:
    reply: Reply
    session: Session  # as it stands after the step (an ended one is already forgotten)
    wipe: tuple[Tracked, ...] = ()  # messages to delete now: on exit, or of an idle chat
    noted: bool = False  # the one-off note asked for is due now (it was not given before)

    @property
    def ended(self) -> bool:
        return self.reply.ends_session

    def with_notice(self, notice: Text) -> Reply:
        return dataclasses.replace(self.reply, notices=(notice, *self.reply.notices))


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
        async with self.db.transaction() as conn:
            return await sessions.load(conn, chat_key) is not None

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
        wipe: list[Tracked] = []
        async with self.db.transaction() as conn:
            await self._refresh_directory(conn)
            session = await sessions.load(conn, chat_key)
            cleared = False
            if session is not None and self._idle(session, now):
                await sessions.delete(conn, chat_key)
                wipe.extend(session.messages)
                session, cleared = None, True
            if session is None:
                session = self.engine.new_session(chat_key, locale)
                if isinstance(event, Event) and event.kind is EventKind.RESUME:
                    event = Event.start()
            if incoming is not None:
                session.messages.append(incoming)
            if isinstance(event, str):
                event = self.read_text(event, session)
            reply = self.engine.step(session, event)
            noted = note_once is not None and note_once not in session.flags
            if noted and note_once is not None:
                session.flags.append(note_once)
            if reply.ends_session:
                await sessions.delete(conn, chat_key)
                if reply.wipes:
                    wipe.extend(session.messages)
            else:
                await sessions.save(conn, session, now)
        if cleared:
            notice = self.engine.message("idle_cleared")
            reply = dataclasses.replace(reply, notices=(notice, *reply.notices))
        return Outcome(reply, session, tuple(wipe), noted)

    async def track(
        self, chat_key: str, sent: list[Tracked], live_message_id: int | None = None
    ) -> bool:
        """Remember messages sent in a live conversation, so a later wipe removes them."""
        async with self.db.transaction() as conn:
            return await sessions.add_messages(conn, chat_key, sent, live_message_id)

    async def forget(self, chat_key: str) -> Session | None:
        """Erase the conversation now (the person blocked the bot, or asked to be forgotten)."""
        async with self.db.transaction() as conn:
            session = await sessions.load(conn, chat_key)
            await sessions.delete(conn, chat_key)
        return session

    async def idle(self) -> list[Session]:
        """Conversations left alone for `idle_after` or longer, oldest first."""
        async with self.db.transaction() as conn:
            return await sessions.idle_since(conn, self.clock() - self.idle_after)

    async def end_if_unchanged(self, session: Session) -> bool:
        """Forget an idle conversation, unless the person came back meanwhile."""
        async with self.db.transaction() as conn:
            return await sessions.delete(conn, session.chat_key, if_updated_at=session.updated_at)
