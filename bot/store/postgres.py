"""The store on PostgreSQL, through psycopg 3 and psycopg_pool, chosen by PATHWAYS_DATABASE_URL.

Why psycopg 3 rather than asyncpg: it is maintained by the authors of psycopg2, the adapter
most Python code on PostgreSQL already uses; its asyncio API is native and the same as its
blocking one; psycopg_pool checks, replaces and reconnects pooled connections; parameters are
bound on the server, apart from the statement; advisory locks and LISTEN/NOTIFY
(`AsyncConnection.notifies`), which running several instances will need, are plain statements
and a generator; it adapts types both ways (a `timestamptz` arrives as an aware datetime, a
`date` as a date, and a text parameter goes untyped, so the server reads ISO text as the
column's type: the same statements serve SQLite and PostgreSQL, `bot/store/dialect.py`); and it
runs on libpq, so every libpq setting works as documented (`sslmode`, `passfile`, several hosts
with `target_session_attrs`). asyncpg is often faster in benchmarks, but has its own
placeholders, connection settings and pool instead of libpq's, and no blocking half for the
command-line tools.

The same shape as the SQLite store (`bot/store/sqlite.py`), with two pools instead of two
connections:

- Units of work that may write take turns (`Turns`: urgent ones first), `writers` at a time,
  each on a connection of the writer pool, from `BEGIN` to `COMMIT`. More than one at a time,
  unlike SQLite's single writer: a step holds its connection across several round trips, each
  waiting its turn on a busy event loop, and one at a time that queued every person's step
  behind the others' (docs/benchmarks.md, section i). One chat's units of work still run one at
  a time (`Transaction.lock_chat`), as they must among instances anyway. One that fails or is
  cancelled is rolled back: on cancellation psycopg first cancels a statement still running on
  the server, and the pool replaces a connection left in doubt, so nothing half done is ever
  committed and no transaction outlives its owner.
- Reads go to the reader pool: read-only sessions in autocommit, where each statement sees
  what was committed when it runs and never waits behind a writer (PostgreSQL's MVCC).

Each unit of work takes a connection from a pool and gives it back, so several instances can
share one database: a conversation's steps take turns among them through a transaction-level
advisory lock (`Transaction.lock_chat`), and sweeps share out wipes and idle conversations with
`FOR UPDATE SKIP LOCKED` (`bot/store/wipes.py`, `bot/store/sessions.py`).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from bot.store.advisory import current_schema, key_for
from bot.store.dialect import Params
from bot.store.interface import Transaction
from bot.store.postgres_schema import migrate, schema_version
from bot.store.transaction import SqlTransaction
from bot.store.turns import Turns

# Units of work that may write at once, in one instance: enough that a step waiting on the event
# loop between its statements does not hold up the others (docs/benchmarks.md, section i).
WRITERS = 4
OPEN_TIMEOUT = 30.0  # seconds for the pools' first connections, once migrating has connected
# What erasing leaves behind, cleaned by `scrub`: the conversations and what is still to delete.
# SKIP_LOCKED: never wait for an autovacuum or another instance's scrub already at it;
# TRUNCATE FALSE: never take the lock that would stop readers to shorten the files;
# INDEX_CLEANUP ON: remove the index entries (chat keys) too, however few rows were erased.
_VACUUM = "VACUUM (SKIP_LOCKED, TRUNCATE FALSE, INDEX_CLEANUP ON) sessions, pending_wipes"


@functools.lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    """The row code's `?` as psycopg's `%s` (and a literal `%` as `%%`). The statements hold no
    `?` inside quotes, so each is a placeholder."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresConnection:
    """The row code's statements on a psycopg connection. `schema`: where its tables are, so
    that deployments (or tests) sharing a database in schemas of their own never share a lock."""

    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, conn: AsyncConnection[Any], schema: str = "") -> None:
        self.conn = conn
        self.schema = schema

    async def lock(self, name: str, wait: bool = True) -> bool:
        # A transaction-level advisory lock: let go by COMMIT or ROLLBACK, or when a killed
        # instance's connection closes, so nothing is ever left holding one.
        key = key_for(name, self.schema)
        if wait:
            await self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            return True
        cursor = await self.conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (key,))
        row = await cursor.fetchone()
        return bool(row and row[0])

    async def fetch(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        cursor = await self.conn.execute(_placeholders(sql), params)
        return await cursor.fetchall()

    async def execute(self, sql: str, params: Params = ()) -> int:
        cursor = await self.conn.execute(_placeholders(sql), params)
        return cursor.rowcount

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.conn.cursor() as cursor:
            await cursor.executemany(_placeholders(sql), rows)

    async def insert(self, sql: str, params: Params) -> int:
        cursor = await self.conn.execute(_placeholders(sql) + " RETURNING id", params)
        row = await cursor.fetchone()
        if row is None:  # cannot happen: an INSERT that did not fail made its row
            raise RuntimeError("an INSERT made no row")
        return int(row[0])


async def _read_only(conn: AsyncConnection[Any]) -> None:
    await conn.execute("SET default_transaction_read_only = on")


class PostgresStore:
    def __init__(
        self,
        writer: AsyncConnectionPool,
        reader: AsyncConnectionPool,
        schema: str = "",
        writers: int = 1,
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._schema = schema
        self.writers = writers
        self._write_turns = Turns(writers)
        self._scrub_turns = Turns()

    @classmethod
    async def open(cls, conninfo: str, readers: int = 4, writers: int = WRITERS) -> PostgresStore:
        """Connect, migrate, and open the pools. `conninfo`: a postgresql:// URL or libpq's
        key=value form; `readers`: at most this many reads at once; `writers`: at most this many
        units of work that may write."""
        # Named in pg_stat_activity, unless the address names its connections itself.
        conninfo = make_conninfo(conninfo, fallback_application_name="pathways")
        # A connection of its own for migrating: it fails at once, with libpq's own words,
        # when the server cannot be reached; and closing it lets go of the migration lock.
        async with await AsyncConnection.connect(conninfo, autocommit=True) as conn:
            await migrate(conn)
            schema = await current_schema(conn)  # the same for every connection of the address
        pools = (
            # A connection for each unit of work's place, and one for a scrub beside them.
            _pool(conninfo, "pathways-writer", max_size=writers + 1),
            _pool(conninfo, "pathways-reader", max_size=readers, configure=_read_only),
        )
        try:
            for pool in pools:
                await pool.open(wait=True, timeout=OPEN_TIMEOUT)
        except BaseException:
            for pool in pools:
                await pool.close()
            raise
        return cls(*pools, schema=schema, writers=writers)

    @asynccontextmanager
    async def transaction(self, urgent: bool = False) -> AsyncIterator[Transaction]:
        async with (
            self._write_turns.turn(urgent),
            self._writer.connection() as conn,
            conn.transaction(),
        ):
            yield SqlTransaction(PostgresConnection(conn, self._schema))

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Transaction]:
        # No transaction, as on SQLite: the questions asked this way are one statement each,
        # and a statement on its own sees everything committed before it.
        async with self._reader.connection() as conn:
            yield SqlTransaction(PostgresConnection(conn, self._schema))

    async def scrub(self, urgent: bool = False) -> None:
        """Vacuum the conversation tables, so that erased rows are gone from them and from their
        indexes rather than left as dead rows until autovacuum comes by.

        What PostgreSQL cannot promise (docs/privacy.md): the bytes of a vacuumed row may stay in
        the page's free space until overwritten, in the write-ahead log until its segments are
        recycled, and in any base backup, WAL archive or replica made meanwhile. VACUUM FULL
        would rewrite the tables, but locks them: not something to do after every erasure.

        It does not wait for the writers (a vacuum never blocks them), only for another scrub
        of this process, urgent ones first."""
        async with self._scrub_turns.turn(urgent), self._writer.connection() as conn:
            await conn.execute(_VACUUM)

    async def schema_version(self) -> int:
        async with self._reader.connection() as conn:
            return await schema_version(conn)

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()


def _pool(
    conninfo: str,
    name: str,
    max_size: int,
    configure: Callable[[AsyncConnection[Any]], Awaitable[None]] | None = None,
) -> AsyncConnectionPool:
    return AsyncConnectionPool(
        conninfo,
        name=name,
        min_size=1,
        max_size=max_size,
        # Units of work open their transactions themselves (`conn.transaction()`).
        kwargs={"autocommit": True},
        configure=configure,
        # A connection is checked as it is handed out: after the server restarts, or a managed
        # database fails over, the pool replaces it instead of a person's step failing on it.
        check=AsyncConnectionPool.check_connection,
        open=False,
    )
