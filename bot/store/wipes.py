"""Messages still to be deleted from a chat. A row stays until the deletion has succeeded, so a
network fault or a crash never loses the ids.

Several instances on one database share the wipes by claims: whoever carries a wipe out holds
it until `claimed_until`, and the others' sweeps pass it over until then. A claim is a time,
not a lock, so an instance killed halfway through a wipe leaves nothing held: its claim runs
out, and the next sweep (anyone's) takes the wipe up.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.engine.model import Session, Tracked
from bot.store.dialect import Connection, as_datetime
from bot.store.interface import PendingWipe

_COLUMNS = "id, chat_key, messages, due_at, claimed_until"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _pending(row: tuple[Any, ...]) -> PendingWipe:
    wipe_id, chat_key, messages, due_at, claimed_until = row
    return PendingWipe(
        int(wipe_id),
        str(chat_key),
        tuple(Session.decode_messages(str(messages))),
        as_datetime(due_at),
        as_datetime(claimed_until) if claimed_until is not None else None,
    )


class WipeRows:
    db: Connection

    async def add_wipe(
        self,
        chat_key: str,
        messages: list[Tracked],
        due_at: datetime,
        claimed_until: datetime | None = None,
    ) -> int | None:
        if not messages:
            return None
        pairs = json.dumps([m.encoded() for m in messages], separators=(",", ":"))
        return await self.db.insert(
            "INSERT INTO pending_wipes (chat_key, messages, due_at, claimed_until)"
            " VALUES (?, ?, ?, ?)",
            (chat_key, pairs, due_at.isoformat(), _iso(claimed_until)),
        )

    async def due_wipes(self, now: datetime, limit: int, after_id: int = 0) -> list[PendingWipe]:
        rows = await self.db.fetch(
            f"SELECT {_COLUMNS} FROM pending_wipes WHERE due_at <= ? AND id > ?"
            " ORDER BY id LIMIT ?",
            (now.isoformat(), after_id, limit),
        )
        return [_pending(row) for row in rows]

    async def claim_wipes(
        self, now: datetime, until: datetime, limit: int, after_id: int = 0
    ) -> list[PendingWipe]:
        # MATERIALIZED: the rows are chosen (and on PostgreSQL locked) once; a subquery with a
        # LIMIT inside `IN (...)` may be run again by the planner, claiming more than `limit`.
        # SKIP LOCKED: rows another instance is claiming at this moment are passed over, not
        # waited for; once it commits, its claim keeps them out of ours.
        rows = await self.db.fetch(
            "WITH claimable AS MATERIALIZED (SELECT id FROM pending_wipes"
            " WHERE due_at <= ? AND id > ? AND (claimed_until IS NULL OR claimed_until <= ?)"
            f" ORDER BY id LIMIT ?{self.db.skip_locked})"
            " UPDATE pending_wipes SET claimed_until = ? WHERE id IN (SELECT id FROM claimable)"
            f" RETURNING {_COLUMNS}",
            (now.isoformat(), after_id, now.isoformat(), limit, until.isoformat()),
        )
        return sorted((_pending(row) for row in rows), key=lambda pending: pending.id)

    async def release_wipe(self, pending: PendingWipe) -> None:
        if pending.claimed_until is None:
            return
        await self.db.execute(
            "UPDATE pending_wipes SET claimed_until = NULL WHERE id = ? AND claimed_until = ?",
            (pending.id, pending.claimed_until.isoformat()),
        )

    async def wipe_done(self, wipe_id: int) -> None:
        await self.db.execute("DELETE FROM pending_wipes WHERE id = ?", (wipe_id,))

    async def wipe_waiting(self, pending: PendingWipe) -> bool:
        # Once carried out, a wipe's id may be given to a newer one (SQLite reuses the highest
        # rowid), so the id alone does not say; and a claim taken over by another instance
        # (this one's ran out) makes it that instance's to carry out.
        rows = await self.db.fetch(
            f"SELECT {_COLUMNS} FROM pending_wipes WHERE id = ? AND chat_key = ?",
            (pending.id, pending.chat_key),
        )
        return any(_pending(row) == pending for row in rows)

    async def take_wipes(self, chat_key: str) -> list[Tracked]:
        rows = await self.db.fetch(
            "SELECT messages FROM pending_wipes WHERE chat_key = ?", (chat_key,)
        )
        await self.forget_wipes(chat_key)
        return [m for (raw,) in rows for m in Session.decode_messages(str(raw))]

    async def forget_wipes(self, chat_key: str) -> None:
        await self.db.execute("DELETE FROM pending_wipes WHERE chat_key = ?", (chat_key,))
