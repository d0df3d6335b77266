"""Anonymous daily counts: no chat id, no session, no time finer than a day."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from bot.store.dialect import Connection, as_date
from bot.store.interface import Count


class CountRows:
    db: Connection

    async def add_counts(self, day: date, items: Iterable[tuple[str, str]]) -> None:
        # In one order, whatever order the step counted them in: units of work of several
        # instances then take these rows' locks in the same order, and never deadlock.
        rows = sorted((day.isoformat(), kind, value) for kind, value in items)
        if not rows:
            return  # most steps count nothing
        await self.db.execute_many(
            "INSERT INTO daily_counts (day, kind, value, count) VALUES (?, ?, ?, 1)"
            " ON CONFLICT (day, kind, value) DO UPDATE SET count = daily_counts.count + 1",
            rows,
        )

    async def counts_between(self, first: date, last: date) -> list[Count]:
        rows = await self.db.fetch(
            "SELECT day, kind, value, count FROM daily_counts WHERE day BETWEEN ? AND ?"
            " ORDER BY day, kind, value",
            (first.isoformat(), last.isoformat()),
        )
        return [Count(as_date(row[0]), str(row[1]), str(row[2]), int(row[3])) for row in rows]

    async def purge_counts_before(self, first_kept: date) -> int:
        return await self.db.execute(
            "DELETE FROM daily_counts WHERE day < ?", (first_kept.isoformat(),)
        )
