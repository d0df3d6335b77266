"""Service managers' storage: editors, the audit trail, versioned edits, admin sessions.
Called inside a transaction opened by the caller."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite


def _json(record: object) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    user_id: int
    service_id: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any]
    version: int
    undone: bool


@dataclass(frozen=True)
class StoredService:
    record: dict[str, Any]
    version: int


# -- editors -----------------------------------------------------------------------------------


async def editors(conn: aiosqlite.Connection) -> list[int]:
    async with conn.execute("SELECT user_id FROM editors ORDER BY user_id") as cursor:
        return [int(row[0]) async for row in cursor]


async def is_editor(conn: aiosqlite.Connection, user_id: int) -> bool:
    # Asked for every typed message: one round trip to the database thread, not three.
    rows = await conn.execute_fetchall("SELECT 1 FROM editors WHERE user_id = ?", (user_id,))
    return bool(rows)


async def add_editor(
    conn: aiosqlite.Connection, user_id: int, added_by: int, now: datetime
) -> bool:
    cursor = await conn.execute(
        "INSERT OR IGNORE INTO editors (user_id, added_by, added_at) VALUES (?, ?, ?)",
        (user_id, added_by, now.isoformat()),
    )
    return bool(cursor.rowcount)


async def remove_editor(conn: aiosqlite.Connection, user_id: int) -> bool:
    cursor = await conn.execute("DELETE FROM editors WHERE user_id = ?", (user_id,))
    await conn.execute("DELETE FROM admin_sessions WHERE user_id = ?", (user_id,))
    return bool(cursor.rowcount)


# -- services, with their version ----------------------------------------------------------------


async def service(conn: aiosqlite.Connection, service_id: str) -> StoredService | None:
    async with conn.execute(
        "SELECT data, version FROM services WHERE id = ?", (service_id,)
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else StoredService(json.loads(row[0]), int(row[1]))


async def write_service(
    conn: aiosqlite.Connection,
    record: dict[str, Any],
    expected_version: int | None,
    now: datetime,
) -> int | None:
    """Save a service if nobody changed it since `expected_version` was read (None: it must
    be new). Returns the new version, or None when someone else got there first."""
    if expected_version is None:
        cursor = await conn.execute(
            "INSERT OR IGNORE INTO services (id, data, version, updated_at) VALUES (?, ?, 1, ?)",
            (record["id"], _json(record), now.isoformat()),
        )
        new_version: int | None = 1 if cursor.rowcount else None
    else:
        cursor = await conn.execute(
            "UPDATE services SET data = ?, version = version + 1, updated_at = ?"
            " WHERE id = ? AND version = ?",
            (_json(record), now.isoformat(), record["id"], expected_version),
        )
        new_version = expected_version + 1 if cursor.rowcount else None
    if new_version is not None:
        await conn.execute(
            "UPDATE directory_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'"
        )
    return new_version


async def remove_service(
    conn: aiosqlite.Connection, service_id: str, expected_version: int
) -> bool:
    """Only to undo an addition nobody has touched since."""
    cursor = await conn.execute(
        "DELETE FROM services WHERE id = ? AND version = ?", (service_id, expected_version)
    )
    if cursor.rowcount:
        await conn.execute(
            "UPDATE directory_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'"
        )
    return bool(cursor.rowcount)


# -- audit --------------------------------------------------------------------------------------


def _entry(row: aiosqlite.Row | tuple[Any, ...]) -> AuditEntry:
    return AuditEntry(
        id=int(row[0]),
        at=datetime.fromisoformat(str(row[1])),
        user_id=int(row[2]),
        service_id=str(row[3]),
        action=str(row[4]),
        before=json.loads(row[5]) if row[5] is not None else None,
        after=json.loads(row[6]),
        version=int(row[7]),
        undone=bool(row[8]),
    )


_AUDIT = "SELECT id, at, user_id, service_id, action, before, after, version, undone FROM audit"


async def record_change(
    conn: aiosqlite.Connection,
    user_id: int,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    version: int,
    now: datetime,
) -> None:
    await conn.execute(
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


async def history(conn: aiosqlite.Connection, service_id: str, limit: int = 10) -> list[AuditEntry]:
    async with conn.execute(
        f"{_AUDIT} WHERE service_id = ? ORDER BY id DESC LIMIT ?", (service_id, limit)
    ) as cursor:
        return [_entry(tuple(row)) async for row in cursor]


async def last_change_by(conn: aiosqlite.Connection, user_id: int) -> AuditEntry | None:
    """This manager's latest change that has not been undone (undos themselves excluded)."""
    async with conn.execute(
        f"{_AUDIT} WHERE user_id = ? AND undone = 0 AND action != 'undo' ORDER BY id DESC LIMIT 1",
        (user_id,),
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else _entry(tuple(row))


async def latest_for(conn: aiosqlite.Connection, service_id: str) -> AuditEntry | None:
    entries = await history(conn, service_id, limit=1)
    return entries[0] if entries else None


async def mark_undone(conn: aiosqlite.Connection, audit_id: int) -> None:
    await conn.execute("UPDATE audit SET undone = 1 WHERE id = ?", (audit_id,))


# -- where a manager is in the admin chat ------------------------------------------------------


async def load_session(
    conn: aiosqlite.Connection, user_id: int
) -> tuple[str, dict[str, Any]] | None:
    async with conn.execute(
        "SELECT state, data FROM admin_sessions WHERE user_id = ?", (user_id,)
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else (str(row[0]), json.loads(row[1]))


async def save_session(
    conn: aiosqlite.Connection, user_id: int, state: str, data: dict[str, Any], now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO admin_sessions (user_id, state, data, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, data = excluded.data,"
        " updated_at = excluded.updated_at",
        (user_id, state, _json(data), now.isoformat()),
    )


async def end_session(conn: aiosqlite.Connection, user_id: int) -> None:
    await conn.execute("DELETE FROM admin_sessions WHERE user_id = ?", (user_id,))
