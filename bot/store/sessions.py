"""Sessions in SQLite. Called inside a transaction opened by the caller."""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from bot.engine.model import Session, Tracked

_COLUMNS = "state, locale, answers, return_to, messages, live_message_id, flags, updated_at"


def _session(chat_key: str, row: aiosqlite.Row | tuple[object, ...]) -> Session:
    state, locale, answers, return_to, messages, live_message_id, flags, updated_at = row
    return Session(
        chat_key=chat_key,
        state=str(state),
        locale=str(locale),
        answers=Session.decode_answers(str(answers)),
        return_to=str(return_to) if return_to is not None else None,
        messages=Session.decode_messages(str(messages)),
        live_message_id=int(str(live_message_id)) if live_message_id is not None else None,
        flags=Session.decode_flags(str(flags)),
        updated_at=datetime.fromisoformat(str(updated_at)),
    )


async def load(conn: aiosqlite.Connection, chat_key: str) -> Session | None:
    # One round trip to the database thread, not three (execute, fetch, close): this runs
    # at every step.
    rows = await conn.execute_fetchall(
        f"SELECT {_COLUMNS} FROM sessions WHERE chat_key = ?", (chat_key,)
    )
    return next((_session(chat_key, row) for row in rows), None)


async def idle_since(conn: aiosqlite.Connection, cutoff: datetime) -> list[Session]:
    """Sessions whose last activity was at or before `cutoff`."""
    async with conn.execute(
        f"SELECT chat_key, {_COLUMNS} FROM sessions WHERE updated_at <= ? ORDER BY updated_at",
        (cutoff.isoformat(),),
    ) as cursor:
        rows = await cursor.fetchall()
    return [_session(str(row[0]), tuple(row)[1:]) for row in rows]


async def save(conn: aiosqlite.Connection, session: Session, now: datetime) -> None:
    """Insert or replace the session, stamped as active at `now`."""
    session.updated_at = now
    await conn.execute(
        f"INSERT INTO sessions (chat_key, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (chat_key) DO UPDATE SET state = excluded.state,"
        " locale = excluded.locale, answers = excluded.answers,"
        " return_to = excluded.return_to, messages = excluded.messages,"
        " live_message_id = excluded.live_message_id, flags = excluded.flags,"
        " updated_at = excluded.updated_at",
        (
            session.chat_key,
            session.state,
            session.locale,
            session.answers_json(),
            session.return_to,
            session.messages_json(),
            session.live_message_id,
            session.flags_json(),
            now.isoformat(),
        ),
    )


async def add_messages(
    conn: aiosqlite.Connection, chat_key: str, sent: list[Tracked], live_message_id: int | None
) -> bool:
    """Record messages of a live conversation without counting it as activity, and which
    of them (if any) now carries the step's buttons and may be edited in place.

    False when there is no such conversation (it ended): nothing is recorded then.
    """
    session = await load(conn, chat_key)
    if session is None:
        return False
    known = {m.message_id for m in session.messages}
    session.messages.extend(m for m in sent if m.message_id not in known)
    session.live_message_id = live_message_id
    await conn.execute(
        "UPDATE sessions SET messages = ?, live_message_id = ? WHERE chat_key = ?",
        (session.messages_json(), session.live_message_id, chat_key),
    )
    return True


async def delete(
    conn: aiosqlite.Connection, chat_key: str, if_updated_at: datetime | None = None
) -> bool:
    """Forget a conversation. With `if_updated_at`, only if nothing happened since then."""
    if if_updated_at is None:
        cursor = await conn.execute("DELETE FROM sessions WHERE chat_key = ?", (chat_key,))
    else:
        cursor = await conn.execute(
            "DELETE FROM sessions WHERE chat_key = ? AND updated_at = ?",
            (chat_key, if_updated_at.isoformat()),
        )
    return bool(cursor.rowcount)
