"""Messages still to be deleted from a chat. A row stays until the deletion has succeeded, so a
network fault or a crash never loses the ids."""

from __future__ import annotations

import json
from datetime import datetime

from bot.engine.model import Session, Tracked
from bot.store.dialect import Connection, as_datetime
from bot.store.interface import PendingWipe


class WipeRows:
    db: Connection

    async def add_wipe(
        self, chat_key: str, messages: list[Tracked], due_at: datetime
    ) -> int | None:
        if not messages:
            return None
        pairs = json.dumps([m.encoded() for m in messages], separators=(",", ":"))
        return await self.db.insert(
            "INSERT INTO pending_wipes (chat_key, messages, due_at) VALUES (?, ?, ?)",
            (chat_key, pairs, due_at.isoformat()),
        )

    async def due_wipes(self, now: datetime, limit: int, after_id: int = 0) -> list[PendingWipe]:
        rows = await self.db.fetch(
            "SELECT id, chat_key, messages, due_at FROM pending_wipes"
            " WHERE due_at <= ? AND id > ? ORDER BY id LIMIT ?",
            (now.isoformat(), after_id, limit),
        )
        return [
            PendingWipe(
                int(row[0]),
                str(row[1]),
                tuple(Session.decode_messages(str(row[2]))),
                as_datetime(row[3]),
            )
            for row in rows
        ]

    async def wipe_done(self, wipe_id: int) -> None:
        await self.db.execute("DELETE FROM pending_wipes WHERE id = ?", (wipe_id,))

    async def wipe_waiting(self, pending: PendingWipe) -> bool:
        # Once carried out, a wipe's id may be given to a newer one (SQLite reuses the highest
        # rowid), so the id alone does not say.
        rows = await self.db.fetch(
            "SELECT messages, due_at FROM pending_wipes WHERE id = ? AND chat_key = ?",
            (pending.id, pending.chat_key),
        )
        return any(
            tuple(Session.decode_messages(str(row[0]))) == pending.messages
            and as_datetime(row[1]) == pending.due_at
            for row in rows
        )

    async def take_wipes(self, chat_key: str) -> list[Tracked]:
        rows = await self.db.fetch(
            "SELECT messages FROM pending_wipes WHERE chat_key = ?", (chat_key,)
        )
        await self.forget_wipes(chat_key)
        return [m for (raw,) in rows for m in Session.decode_messages(str(raw))]

    async def forget_wipes(self, chat_key: str) -> None:
        await self.db.execute("DELETE FROM pending_wipes WHERE chat_key = ?", (chat_key,))
