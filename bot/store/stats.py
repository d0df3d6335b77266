"""Anonymous daily counts. Called inside a transaction opened by the caller."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import aiosqlite

KINDS = ("route", "need", "area", "service", "start_code")


@dataclass(frozen=True)
class Count:
    day: date
    kind: str
    value: str
    count: int


async def add(conn: aiosqlite.Connection, day: date, items: Iterable[tuple[str, str]]) -> None:
    """Add one to each (kind, value) for `day`."""
    rows = [(day.isoformat(), kind, value) for kind, value in items]
    if not rows:
        return  # most steps count nothing: no round trip to the database thread then
    await conn.executemany(
        "INSERT INTO daily_counts (day, kind, value, count) VALUES (?, ?, ?, 1)"
        " ON CONFLICT (day, kind, value) DO UPDATE SET count = count + 1",
        rows,
    )


async def between(conn: aiosqlite.Connection, first: date, last: date) -> list[Count]:
    async with conn.execute(
        "SELECT day, kind, value, count FROM daily_counts WHERE day BETWEEN ? AND ?"
        " ORDER BY day, kind, value",
        (first.isoformat(), last.isoformat()),
    ) as cursor:
        return [
            Count(date.fromisoformat(str(row[0])), str(row[1]), str(row[2]), int(row[3]))
            async for row in cursor
        ]


async def purge_before(conn: aiosqlite.Connection, first_kept: date) -> int:
    cursor = await conn.execute("DELETE FROM daily_counts WHERE day < ?", (first_kept.isoformat(),))
    return cursor.rowcount
