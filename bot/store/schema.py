"""The schema: numbered migrations, one set for each database, with the same numbers and names.

SQLite's are the files in `migrations/`, tracked with `PRAGMA user_version`; PostgreSQL's are
in `migrations/postgresql/` (its types: `timestamptz`, `date`, `bigint`, `boolean`), tracked in
a one-row `schema_version` table by `bot/store/postgres_schema.py`. A test holds the two sets to
the same numbers, names, tables, columns and indexes.

`migrate` here is SQLite's one migration runner, used when the store opens a database and when a
backup is brought up to date before it is restored.
"""

from __future__ import annotations

import re
import sqlite3
from importlib import resources
from typing import Literal

Dialect = Literal["sqlite", "postgresql"]

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_FOLDERS: dict[Dialect, tuple[str, ...]] = {
    "sqlite": ("migrations",),
    "postgresql": ("migrations", "postgresql"),
}


def migrations(dialect: Dialect = "sqlite") -> list[tuple[int, str, str]]:
    """(number, file name, SQL) for every migration shipped with the package, in order."""
    found = []
    for entry in resources.files("bot.store").joinpath(*_FOLDERS[dialect]).iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def latest_schema(dialect: Dialect = "sqlite") -> int:
    return max(number for number, _name, _sql in migrations(dialect))


def schema_version(conn: sqlite3.Connection, schema: str = "main") -> int:
    return int(conn.execute(f"PRAGMA {schema}.user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> None:
    """Apply every migration newer than the database, each in a transaction of its own, so a
    crash leaves the database at one numbered version or the next. `conn` must be in
    autocommit mode (isolation_level=None)."""
    current = schema_version(conn)
    for number, _name, sql in migrations():
        if number <= current:
            continue
        try:
            conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\n;\nPRAGMA user_version = {number};")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
