"""The service directory. Each row holds an entry's canonical record as JSON (what
export writes); `directory_meta.version` counts changes, so a running bot knows to reload."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from bot.directory.files import DirectoryData
from bot.directory.validate import (
    DirectoryError,
    Problem,
    area_from_record,
    area_to_record,
    check_whole,
    service_from_record,
    service_to_record,
)
from bot.store.dialect import Connection

BUMP_VERSION = "UPDATE directory_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'"


def _json(record: object) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def directory_from_rows(
    areas_json: Iterable[str], services_json: Iterable[str], origin: str
) -> DirectoryData:
    """The directory from its stored records, checked as on the way in. The one loader: the
    running bot, backups and restores all read a stored directory through it."""
    problems: list[Problem] = []
    areas = {}
    for data in areas_json:
        area = area_from_record(json.loads(data), origin, problems)
        if area is not None:
            areas[area.id] = area
    services = []
    for data in services_json:
        service = service_from_record(json.loads(data), origin, areas, problems)
        if service is not None:
            services.append((origin, service))
    check_whole(areas, services, problems)
    if problems:
        raise DirectoryError(problems)
    return DirectoryData(areas, {s.id: s for _, s in services})


AREAS_SQL = "SELECT data FROM {schema}areas ORDER BY id"
SERVICES_SQL = "SELECT data FROM {schema}services ORDER BY id"


class DirectoryRows:
    db: Connection

    async def directory_version(self) -> int:
        rows = await self.db.fetch("SELECT value FROM directory_meta WHERE key = 'version'")
        return next((int(row[0]) for row in rows), 0)

    async def directory_is_empty(self) -> bool:
        return not await self.db.fetch("SELECT 1 FROM services LIMIT 1")

    async def load_directory(self) -> DirectoryData:
        # One statement, so that it reads one consistent state even outside a transaction.
        rows = await self.db.fetch(
            f"SELECT 'area', data FROM ({AREAS_SQL.format(schema='')}) AS a"
            f" UNION ALL SELECT 'service', data FROM ({SERVICES_SQL.format(schema='')}) AS s"
        )
        return directory_from_rows(
            (str(data) for kind, data in rows if kind == "area"),
            (str(data) for kind, data in rows if kind == "service"),
            "database",
        )

    async def service_versions(self) -> dict[str, int]:
        rows = await self.db.fetch("SELECT id, version FROM services")
        return {str(row[0]): int(row[1]) for row in rows}

    async def apply_directory(self, data: DirectoryData, now: datetime) -> int:
        changed = 0
        for area in data.areas.values():
            # (data is never NULL: `<>` is "changed" in both databases.)
            changed += await self.db.execute(
                "INSERT INTO areas (id, data) VALUES (?, ?) ON CONFLICT (id) DO UPDATE"
                " SET data = excluded.data WHERE areas.data <> excluded.data",
                (area.id, _json(area_to_record(area))),
            )
        for service in data.services.values():
            changed += await self.db.execute(
                "INSERT INTO services (id, data, version, updated_at) VALUES (?, ?, 1, ?)"
                " ON CONFLICT (id) DO UPDATE SET data = excluded.data,"
                " version = services.version + 1, updated_at = excluded.updated_at"
                " WHERE services.data <> excluded.data",
                (service.id, _json(service_to_record(service)), now.isoformat()),
            )
        if changed:
            await self.db.execute(BUMP_VERSION)
        return changed
