"""The store on SQLite, through aiosqlite: one file, write-ahead log, explicit transactions.

Two connections, each with its own thread (aiosqlite's): one writes, one only reads. Units of
work that may write take turns on the writer (`BEGIN IMMEDIATE` ... `COMMIT`), so a step and
its session row are committed together or not at all; reads (is this user an editor?) go to
the reader, each statement seeing what was committed when it runs, and never wait behind a
write.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiosqlite

from bot.store.dialect import Params
from bot.store.interface import Transaction
from bot.store.schema import migrate, schema_version
from bot.store.transaction import SqlTransaction
from bot.store.turns import Turns

BUSY_TIMEOUT_MS = 5000


class SqliteConnection:
    """The row code's statements on an aiosqlite connection, as they are written."""

    skip_locked = ""  # one writer at a time: nobody else can be claiming the same rows

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def lock(self, name: str, wait: bool = True) -> bool:
        # One process, and its units of work that may write take turns (`BEGIN IMMEDIATE`):
        # whoever runs one already holds every lock there is.
        return True

    async def fetch(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self.conn.execute_fetchall(sql, params)]

    async def execute(self, sql: str, params: Params = ()) -> int:
        cursor = await self.conn.execute(sql, params)
        return cursor.rowcount

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        await self.conn.executemany(sql, rows)

    async def insert(self, sql: str, params: Params) -> int:
        cursor = await self.conn.execute(sql, params)
        if cursor.lastrowid is None:  # cannot happen: an INSERT that did not fail made its row
            raise RuntimeError("an INSERT made no row")
        return cursor.lastrowid


def _prepare(path: Path) -> int:
    """Create or upgrade the database file before anything else opens it."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")  # kept in the file, for every connection
        migrate(conn)
        return schema_version(conn)
    finally:
        conn.close()


class SqliteStore:
    def __init__(
        self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection
    ) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self.writers = 1  # one writer: units of work that may write never interleave
        self._write_turns = Turns(self.writers)
        self._read_turn = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> SqliteStore:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(_prepare, path)
        # isolation_level=None: no implicit transactions; each unit of work opens its own.
        writer = await aiosqlite.connect(path, isolation_level=None)
        try:
            await writer.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await writer.execute("PRAGMA foreign_keys = ON")
            # Overwrite deleted content with zeros so an erased conversation cannot be carved out.
            await writer.execute("PRAGMA secure_delete = ON")
            uri = f"file:{quote(str(path.resolve()))}?mode=ro"
            reader = await aiosqlite.connect(uri, uri=True, isolation_level=None)
        except BaseException:
            await writer.close()  # its thread would otherwise keep the process alive
            raise
        try:
            await reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except BaseException:
            await writer.close()
            await reader.close()
            raise
        return cls(path, writer, reader)

    @asynccontextmanager
    async def transaction(self, urgent: bool = False) -> AsyncIterator[Transaction]:
        async with self._write_turns.turn(urgent), self._unit() as tx:
            yield tx

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Transaction]:
        # No transaction: the questions asked this way are one statement each, and a
        # statement on its own sees everything committed before it.
        async with self._read_turn:
            yield SqlTransaction(SqliteConnection(self._reader))

    @asynccontextmanager
    async def _unit(self) -> AsyncIterator[Transaction]:
        conn = self._writer
        try:
            await conn.execute("BEGIN IMMEDIATE")
            yield SqlTransaction(SqliteConnection(conn))
            await conn.commit()
        except BaseException:
            # Also when cancelled: aiosqlite runs calls in order on its thread, so this comes
            # after a BEGIN or COMMIT still queued then (and is a no-op after a COMMIT): no
            # transaction outlives its owner to block the next one.
            await asyncio.shield(conn.rollback())
            raise

    async def scrub(self, urgent: bool = False) -> None:
        """Fold the write-ahead log into the database and empty it, so erased rows do not
        linger in the -wal file (secure_delete then zeroes them in the main file)."""
        async with self._write_turns.turn(urgent):
            await self._writer.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")

    async def schema_version(self) -> int:
        rows = await self._reader.execute_fetchall("PRAGMA user_version")
        return next((int(row[0]) for row in rows), 0)

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()
