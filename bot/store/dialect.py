"""The seam between the statements and the database that runs them.

The row code (`sessions.py`, `wipes.py`, `stats.py`, `directory.py`, `admin.py`) is written once,
in SQL that SQLite and PostgreSQL both accept, with `?` placeholders. Each store hands it a
`Connection` that runs those statements on its database: SQLite's as they are, PostgreSQL's
with its own placeholders. What differs between the two is kept here and in the adapters,
nothing else:

- placeholders (`?` against psycopg's `%s`), translated by the PostgreSQL adapter;
- the id of a new row (`insert`): SQLite's `lastrowid`, PostgreSQL's `RETURNING id`;
- what a column comes back as: SQLite keeps times and days as ISO text, PostgreSQL as
  `timestamptz` and `date`; `as_datetime` and `as_date` read either;
- what several instances on one database need, which one SQLite process does not: a lock held
  until the unit of work ends (`lock`: PostgreSQL's `pg_advisory_xact_lock`; on SQLite always
  granted, its one writer already serialising units of work), and rows claimed by one writer
  while others pass them over (`skip_locked`: PostgreSQL's `FOR UPDATE SKIP LOCKED`, nothing on
  SQLite).

Times and days are always passed in as ISO text: SQLite stores the text, and PostgreSQL reads
it into its own types (a text parameter is untyped there, so it takes the column's type).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any, Protocol

Params = Sequence[object]


class Connection(Protocol):
    """One unit of work's connection, as the row code uses it."""

    # Appended to a SELECT whose rows the unit of work is about to change, so that writers on
    # other connections skip them instead of waiting for them: " FOR UPDATE SKIP LOCKED" on
    # PostgreSQL, "" on SQLite. Only in a unit of work that may write (`Store.transaction`).
    skip_locked: str

    async def lock(self, name: str, wait: bool = True) -> bool:
        """Hold the lock `name` until the unit of work ends, among every connection to the
        database; with `wait`, wait for it (True), else take it only if it is free. Only in a
        unit of work that may write (`Store.transaction`)."""

    async def fetch(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """Every row the statement returns."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; how many rows it changed."""

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement for each set of parameters."""

    async def insert(self, sql: str, params: Params) -> int:
        """Run an INSERT into a table whose key is `id`; the new row's id."""


def as_datetime(value: object) -> datetime:
    """A stored time (ISO text, or a datetime from PostgreSQL); in UTC, as written, whatever
    the time zone of PostgreSQL's session."""
    found = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return found.astimezone(UTC) if found.tzinfo is not None else found


def as_date(value: object) -> date:
    """A stored day (ISO text, or a date from PostgreSQL)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))
