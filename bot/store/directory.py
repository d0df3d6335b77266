"""The directory in SQLite. Called inside a transaction opened by the caller, so an import is
all or nothing."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import aiosqlite

from bot.directory.files import DirectoryData, read_folder
from bot.directory.validate import (
    DirectoryError,
    Problem,
    area_from_record,
    area_to_record,
    check_whole,
    service_from_record,
    service_to_record,
)


def _json(record: object) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


async def version(conn: aiosqlite.Connection) -> int:
    # Asked at every step: one round trip to the database thread (not execute, fetch, close).
    rows = await conn.execute_fetchall("SELECT value FROM directory_meta WHERE key = 'version'")
    return next((int(row[0]) for row in rows), 0)


async def is_empty(conn: aiosqlite.Connection) -> bool:
    async with conn.execute("SELECT 1 FROM services LIMIT 1") as cursor:
        return await cursor.fetchone() is None


async def load(conn: aiosqlite.Connection) -> DirectoryData:
    """Everything stored, checked again on the way out (rows are checked on the way in too)."""
    problems: list[Problem] = []
    areas = {}
    async with conn.execute("SELECT data FROM areas ORDER BY id") as cursor:
        async for (data,) in cursor:
            area = area_from_record(json.loads(data), "database", problems)
            if area is not None:
                areas[area.id] = area
    services = []
    async with conn.execute("SELECT data FROM services ORDER BY id") as cursor:
        async for (data,) in cursor:
            service = service_from_record(json.loads(data), "database", areas, problems)
            if service is not None:
                services.append(("database", service))
    check_whole(areas, services, problems)
    if problems:
        raise DirectoryError(problems)
    return DirectoryData(areas, {s.id: s for _, s in services})


async def service_versions(conn: aiosqlite.Connection) -> dict[str, int]:
    async with conn.execute("SELECT id, version FROM services") as cursor:
        return {str(row[0]): int(row[1]) async for row in cursor}


async def apply(conn: aiosqlite.Connection, data: DirectoryData, now: datetime) -> int:
    """Add or update every area and service in `data` (entries not in it are left as they
    are). Returns how many rows changed; the directory version moves on if any did."""
    changed = 0
    for area in data.areas.values():
        cursor = await conn.execute(
            "INSERT INTO areas (id, data) VALUES (?, ?) ON CONFLICT (id) DO UPDATE"
            " SET data = excluded.data WHERE areas.data IS NOT excluded.data",
            (area.id, _json(area_to_record(area))),
        )
        changed += cursor.rowcount
    for service in data.services.values():
        cursor = await conn.execute(
            "INSERT INTO services (id, data, version, updated_at) VALUES (?, ?, 1, ?)"
            " ON CONFLICT (id) DO UPDATE SET data = excluded.data,"
            " version = services.version + 1, updated_at = excluded.updated_at"
            " WHERE services.data IS NOT excluded.data",
            (service.id, _json(service_to_record(service)), now.isoformat()),
        )
        changed += cursor.rowcount
    if changed:
        await conn.execute(
            "UPDATE directory_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'"
        )
    return changed


async def seed_if_empty(conn: aiosqlite.Connection, folder: Path, now: datetime) -> bool:
    """Fill an empty directory from the bundled YAML. True when it did."""
    if not await is_empty(conn):
        return False
    await apply(conn, read_folder(folder), now)
    return True
