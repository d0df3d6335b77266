"""Sessions in SQLite. Called inside a transaction opened by the caller."""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from bot.engine.model import Session


async def load(conn: aiosqlite.Connection, chat_key: str) -> Session | None:
    async with conn.execute(
        "SELECT state, locale, answers, return_to, message_ids, updated_at"
        " FROM sessions WHERE chat_key = ?",
        (chat_key,),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return None
    state, locale, answers, return_to, message_ids, updated_at = row
    return Session(
        chat_key=chat_key,
        state=state,
        locale=locale,
        answers=Session.decode_answers(answers),
        return_to=return_to,
        message_ids=Session.decode_message_ids(message_ids),
        updated_at=datetime.fromisoformat(updated_at),
    )


async def save(conn: aiosqlite.Connection, session: Session, now: datetime) -> None:
    session.updated_at = now
    await conn.execute(
        "INSERT INTO sessions"
        " (chat_key, state, locale, answers, return_to, message_ids, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (chat_key) DO UPDATE SET state = excluded.state, locale = excluded.locale,"
        " answers = excluded.answers, return_to = excluded.return_to,"
        " message_ids = excluded.message_ids, updated_at = excluded.updated_at",
        (
            session.chat_key,
            session.state,
            session.locale,
            session.answers_json(),
            session.return_to,
            session.message_ids_json(),
            now.isoformat(),
        ),
    )


async def delete(conn: aiosqlite.Connection, chat_key: str) -> None:
    await conn.execute("DELETE FROM sessions WHERE chat_key = ?", (chat_key,))
