"""PostgreSQL advisory locks, by name: one lock per name and schema, whoever asks.

Session-level locks, held by one connection: PostgreSQL releases them when the block ends or
when the connection goes (a killed process), so a crash never leaves one behind. Start-up takes
one around migrating, so that two instances starting together do not both run a migration;
the same kind of lock can elect one instance among several.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection

MIGRATING = "pathways.migrate"


async def lock_key(conn: AsyncConnection[Any], name: str) -> int:
    """The 64-bit key of `name` in the connection's current schema: deployments that share a
    database in schemas of their own (or tests, each in its own) never wait on each other."""
    cursor = await conn.execute("SELECT current_schema()")
    row = await cursor.fetchone()
    schema = str(row[0]) if row and row[0] is not None else ""
    digest = hashlib.blake2b(f"{name}\0{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@asynccontextmanager
async def advisory_lock(conn: AsyncConnection[Any], name: str) -> AsyncIterator[None]:
    """Hold the lock `name` while the block runs, waiting for whoever holds it first. `conn`
    should be in autocommit mode, so that no transaction is kept open while waiting."""
    key = await lock_key(conn, name)
    await conn.execute("SELECT pg_advisory_lock(%s)", (key,))
    try:
        yield
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
