"""PostgreSQL's migration runner: the numbered files in `migrations/postgresql/`, each applied
in a transaction of its own, tracked in a one-row `schema_version` table (PostgreSQL has no
`PRAGMA user_version`), under an advisory lock so that two instances starting together do not
both run a migration: the second waits, then finds nothing left to do.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from bot.store import schema
from bot.store.advisory import MIGRATING, advisory_lock

_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " one_row boolean PRIMARY KEY DEFAULT true CHECK (one_row),"
    " version integer NOT NULL)"
)


async def schema_version(conn: AsyncConnection[Any]) -> int:
    """The version of the schema the connection sees; 0 before any migration."""
    cursor = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
    exists = await cursor.fetchone()
    if not exists or not exists[0]:
        return 0
    cursor = await conn.execute("SELECT version FROM schema_version")
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def migrate(conn: AsyncConnection[Any]) -> int:
    """Bring the schema up to date; its version afterwards. `conn` must be in autocommit
    mode: each migration commits on its own, so a crash leaves one numbered version or the
    next."""
    async with advisory_lock(conn, MIGRATING):
        await conn.execute(_VERSION_TABLE)
        await conn.execute("INSERT INTO schema_version (version) VALUES (0) ON CONFLICT DO NOTHING")
        current = await schema_version(conn)
        for number, _name, sql in schema.migrations("postgresql"):
            if number <= current:
                continue
            async with conn.transaction():
                await conn.execute(sql)  # no parameters: the file's statements run as written
                await conn.execute("UPDATE schema_version SET version = %s", (number,))
        return await schema_version(conn)
