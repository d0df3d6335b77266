"""Pending wipes in SQLite. Called inside a transaction opened by the caller."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from bot.engine.model import Session, Tracked


@dataclass(frozen=True)
class PendingWipe:
    id: int
    chat_key: str
    messages: tuple[Tracked, ...]
    due_at: datetime


async def add(
    conn: aiosqlite.Connection, chat_key: str, messages: list[Tracked], due_at: datetime
) -> int | None:
    """Record messages to delete at `due_at`. None when there is nothing to delete."""
    if not messages:
        return None
    pairs = json.dumps([[m.message_id, m.sent_at] for m in messages], separators=(",", ":"))
    cursor = await conn.execute(
        "INSERT INTO pending_wipes (chat_key, messages, due_at) VALUES (?, ?, ?)",
        (chat_key, pairs, due_at.isoformat()),
    )
    return cursor.lastrowid


async def due(conn: aiosqlite.Connection, now: datetime) -> list[PendingWipe]:
    async with conn.execute(
        "SELECT id, chat_key, messages, due_at FROM pending_wipes WHERE due_at <= ? ORDER BY id",
        (now.isoformat(),),
    ) as cursor:
        rows = await cursor.fetchall()
    return [
        PendingWipe(
            int(row[0]),
            str(row[1]),
            tuple(Session.decode_messages(str(row[2]))),
            datetime.fromisoformat(str(row[3])),
        )
        for row in rows
    ]


async def done(conn: aiosqlite.Connection, wipe_id: int) -> None:
    await conn.execute("DELETE FROM pending_wipes WHERE id = ?", (wipe_id,))


async def waiting(conn: aiosqlite.Connection, pending: PendingWipe) -> bool:
    """Is this wipe still waiting, as it was read? Once carried out, its id may be given to a
    newer wipe (SQLite reuses the highest rowid), so the id alone does not say."""
    async with conn.execute(
        "SELECT messages, due_at FROM pending_wipes WHERE id = ? AND chat_key = ?",
        (pending.id, pending.chat_key),
    ) as cursor:
        row = await cursor.fetchone()
    return (
        row is not None
        and tuple(Session.decode_messages(str(row[0]))) == pending.messages
        and datetime.fromisoformat(str(row[1])) == pending.due_at
    )


async def take_all(conn: aiosqlite.Connection, chat_key: str) -> list[Tracked]:
    """Every message still waiting to be deleted in this chat, removed from the waiting list
    (the caller records them again in one wipe)."""
    async with conn.execute(
        "SELECT messages FROM pending_wipes WHERE chat_key = ?", (chat_key,)
    ) as cursor:
        found = [m async for (raw,) in cursor for m in Session.decode_messages(str(raw))]
    await forget_chat(conn, chat_key)
    return found


async def forget_chat(conn: aiosqlite.Connection, chat_key: str) -> None:
    """Nothing more can be deleted (the person blocked the bot): drop what was pending."""
    await conn.execute("DELETE FROM pending_wipes WHERE chat_key = ?", (chat_key,))
