"""Anonymous daily counts in SQLite: no chat id, no session, no time finer than a day."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import aiosqlite

from bot.store.interface import Count


class CountRows:
    conn: aiosqlite.Connection

    async def add_counts(self, day: date, items: Iterable[tuple[str, str]]) -> None:
        rows = [(day.isoformat(), kind, value) for kind, value in items]
        if not rows:
            return  # most steps count nothing
        await self.conn.executemany(
            "INSERT INTO daily_counts (day, kind, value, count) VALUES (?, ?, ?, 1)"
            " ON CONFLICT (day, kind, value) DO UPDATE SET count = count + 1",
            rows,
        )

    async def counts_between(self, first: date, last: date) -> list[Count]:
        rows = await self.conn.execute_fetchall(
            "SELECT day, kind, value, count FROM daily_counts WHERE day BETWEEN ? AND ?"
            " ORDER BY day, kind, value",
            (first.isoformat(), last.isoformat()),
        )
        return [
            Count(date.fromisoformat(str(row[0])), str(row[1]), str(row[2]), int(row[3]))
            for row in rows
        ]

    async def purge_counts_before(self, first_kept: date) -> int:
        cursor = await self.conn.execute(
            "DELETE FROM daily_counts WHERE day < ?", (first_kept.isoformat(),)
        )
        return cursor.rowcount
