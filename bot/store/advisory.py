"""PostgreSQL advisory locks, by name: one lock per name and schema, whoever asks.

Session-level locks, held by one connection: PostgreSQL releases them when the block ends or
when the connection goes (a killed process), so a crash never leaves one behind. Start-up takes
one around migrating, so that two instances starting together do not both run a migration;
the same kind of lock can elect one instance among several. A conversation's turn is the other
kind, held by a transaction until it ends (`PostgresConnection.lock`), keyed the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection

MIGRATING = "pathways.migrate"


def key_for(name: str, schema: str) -> int:
    """The 64-bit key of the lock `name` in `schema`: a stable hash (the same in every process
    and every Python, unlike `hash()`), so every instance asks for the same lock."""
    digest = hashlib.blake2b(f"{name}\0{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def current_schema(conn: AsyncConnection[Any]) -> str:
    """The schema the connection's tables are in ("" when none is)."""
    cursor = await conn.execute("SELECT current_schema()")
    row = await cursor.fetchone()
    return str(row[0]) if row and row[0] is not None else ""


async def lock_key(conn: AsyncConnection[Any], name: str) -> int:
    """The 64-bit key of `name` in the connection's current schema: deployments that share a
    database in schemas of their own (or tests, each in its own) never wait on each other."""
    return key_for(name, await current_schema(conn))


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
