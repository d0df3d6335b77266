"""Runs one step of a conversation against storage: load, step, save, in one transaction.

Channels call `handle`; they never touch the engine or the store directly, so the terminal
chat and Telegram behave the same way.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from bot.engine.context import Clock
from bot.engine.machine import Engine
from bot.engine.model import Event, EventKind, Reply, Session
from bot.store import sessions
from bot.store.db import Database


class Conversations:
    def __init__(self, engine: Engine, db: Database, clock: Clock, idle_after: timedelta) -> None:
        self.engine = engine
        self.db = db
        self.clock = clock
        self.idle_after = idle_after

    def _idle(self, session: Session) -> bool:
        return (
            session.updated_at is not None and self.clock() - session.updated_at >= self.idle_after
        )

    async def exists(self, chat_key: str) -> bool:
        async with self.db.transaction() as conn:
            return await sessions.load(conn, chat_key) is not None

    async def handle(self, chat_key: str, event: Event, locale: str = "en") -> Reply:
        """Apply `event` to the conversation `chat_key` and return what to show.

        A conversation left idle for longer than `idle_after` is forgotten first, and the
        person is told so. `locale` is used when a new conversation begins.
        """
        async with self.db.transaction() as conn:
            session = await sessions.load(conn, chat_key)
            cleared = False
            if session is not None and self._idle(session):
                await sessions.delete(conn, chat_key)
                session, cleared = None, True
            if session is None:
                session = self.engine.new_session(chat_key, locale)
                if event.kind is EventKind.RESUME:
                    event = Event.start()
            reply = self.engine.step(session, event)
            if reply.ends_session:
                await sessions.delete(conn, chat_key)
            else:
                await sessions.save(conn, session, self.clock())
        if cleared:
            notice = self.engine.fill(self.engine.spec.message("idle_cleared"))
            reply = dataclasses.replace(reply, notices=(notice, *reply.notices))
        return reply
