"""Service managers' storage: editors, the audit trail, versioned edits, and where each manager
is in the admin chat."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.store.dialect import Connection, as_datetime
from bot.store.directory import BUMP_VERSION
from bot.store.interface import AuditEntry, StoredService

_AUDIT = "SELECT id, at, user_id, service_id, action, before, after, version, undone FROM audit"


def _json(record: object) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        id=int(row[0]),
        at=as_datetime(row[1]),
        user_id=int(row[2]),
        service_id=str(row[3]),
        action=str(row[4]),
        before=json.loads(row[5]) if row[5] is not None else None,
        after=json.loads(row[6]),
        version=int(row[7]),
        undone=bool(row[8]),
    )


class AdminRows:
    db: Connection

    # -- editors: owners come from configuration; editors are added by owners ------------------

    async def editors(self) -> list[int]:
        rows = await self.db.fetch("SELECT user_id FROM editors ORDER BY user_id")
        return [int(row[0]) for row in rows]

    async def is_editor(self, user_id: int) -> bool:
        return bool(await self.db.fetch("SELECT 1 FROM editors WHERE user_id = ?", (user_id,)))

    async def add_editor(self, user_id: int, added_by: int, now: datetime) -> bool:
        added = await self.db.execute(
            "INSERT INTO editors (user_id, added_by, added_at) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id) DO NOTHING",
            (user_id, added_by, now.isoformat()),
        )
        return bool(added)

    async def remove_editor(self, user_id: int) -> bool:
        removed = await self.db.execute("DELETE FROM editors WHERE user_id = ?", (user_id,))
        await self.db.execute("DELETE FROM admin_sessions WHERE user_id = ?", (user_id,))
        return bool(removed)

    # -- services, with their version ----------------------------------------------------------

    async def service(self, service_id: str) -> StoredService | None:
        rows = await self.db.fetch("SELECT data, version FROM services WHERE id = ?", (service_id,))
        return next((StoredService(json.loads(r[0]), int(r[1])) for r in rows), None)

    async def write_service(
        self, record: dict[str, Any], expected_version: int | None, now: datetime
    ) -> int | None:
        if expected_version is None:
            added = await self.db.execute(
                "INSERT INTO services (id, data, version, updated_at) VALUES (?, ?, 1, ?)"
                " ON CONFLICT (id) DO NOTHING",
                (record["id"], _json(record), now.isoformat()),
            )
            new_version: int | None = 1 if added else None
        else:
            updated = await self.db.execute(
                "UPDATE services SET data = ?, version = version + 1, updated_at = ?"
                " WHERE id = ? AND version = ?",
                (_json(record), now.isoformat(), record["id"], expected_version),
            )
            new_version = expected_version + 1 if updated else None
        if new_version is not None:
            await self.db.execute(BUMP_VERSION)
        return new_version

    async def remove_service(self, service_id: str, expected_version: int) -> bool:
        """Only to undo an addition nobody has touched since."""
        removed = await self.db.execute(
            "DELETE FROM services WHERE id = ? AND version = ?", (service_id, expected_version)
        )
        if removed:
            await self.db.execute(BUMP_VERSION)
        return bool(removed)

    # -- the audit trail -----------------------------------------------------------------------

    async def record_change(
        self,
        user_id: int,
        action: str,
        before: dict[str, Any] | None,
        after: dict[str, Any],
        version: int,
        now: datetime,
    ) -> None:
        await self.db.execute(
            "INSERT INTO audit (at, user_id, service_id, action, before, after, version)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                now.isoformat(),
                user_id,
                after["id"],
                action,
                _json(before) if before is not None else None,
                _json(after),
                version,
            ),
        )

    async def history(self, service_id: str, limit: int = 10) -> list[AuditEntry]:
        rows = await self.db.fetch(
            f"{_AUDIT} WHERE service_id = ? ORDER BY id DESC LIMIT ?", (service_id, limit)
        )
        return [_entry(row) for row in rows]

    async def last_change_by(self, user_id: int) -> AuditEntry | None:
        """This manager's latest change that has not been undone (undos themselves excluded)."""
        rows = await self.db.fetch(
            f"{_AUDIT} WHERE user_id = ? AND NOT undone AND action <> 'undo'"
            " ORDER BY id DESC LIMIT 1",
            (user_id,),
        )
        return next((_entry(row) for row in rows), None)

    async def latest_change_for(self, service_id: str) -> AuditEntry | None:
        entries = await self.history(service_id, limit=1)
        return entries[0] if entries else None

    async def mark_undone(self, audit_id: int) -> None:
        await self.db.execute("UPDATE audit SET undone = TRUE WHERE id = ?", (audit_id,))

    # -- where a manager is in the admin chat --------------------------------------------------

    async def load_admin_session(self, user_id: int) -> tuple[str, dict[str, Any]] | None:
        rows = await self.db.fetch(
            "SELECT state, data FROM admin_sessions WHERE user_id = ?", (user_id,)
        )
        return next(((str(r[0]), json.loads(r[1])) for r in rows), None)

    async def save_admin_session(
        self, user_id: int, state: str, data: dict[str, Any], now: datetime
    ) -> None:
        await self.db.execute(
            "INSERT INTO admin_sessions (user_id, state, data, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, data = excluded.data,"
            " updated_at = excluded.updated_at",
            (user_id, state, _json(data), now.isoformat()),
        )

    async def end_admin_session(self, user_id: int) -> None:
        await self.db.execute("DELETE FROM admin_sessions WHERE user_id = ?", (user_id,))
