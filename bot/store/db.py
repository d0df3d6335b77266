"""The database connection: settings that hold under crashes, migrations, transactions."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from bot.store.on_thread import ThreadConnection, drive

T = TypeVar("T")

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """(number, file name, SQL) for every migration shipped with the package, in order."""
    found = []
    for entry in resources.files("bot.store").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


class Database:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        # One connection serves every conversation; transactions on it must not interleave.
        # A transaction opened with `transaction()` holds this lock from BEGIN to COMMIT;
        # `run()` needs it only while such a transaction is open.
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; every write is in an explicit
        # BEGIN IMMEDIATE, so a step and its session row are committed together or not at all.
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        try:
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA busy_timeout = 5000")
            await conn.execute("PRAGMA foreign_keys = ON")
            # Overwrite deleted content with zeros so an erased conversation cannot be carved out.
            await conn.execute("PRAGMA secure_delete = ON")
            db = cls(conn)
            await db.migrate()
        except BaseException:
            # aiosqlite's worker thread would otherwise keep the process alive.
            await conn.close()
            raise
        return db

    async def schema_version(self) -> int:
        async with self.conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> None:
        current = await self.schema_version()
        for number, _name, sql in migrations():
            if number <= current:
                continue
            code = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
            async with self.transaction() as conn:
                for statement in code.split(";"):
                    if statement.strip():
                        await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version = {number}")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            try:
                await self.conn.execute("BEGIN IMMEDIATE")
                yield self.conn
                await self.conn.execute("COMMIT")
            except BaseException:
                # Also when cancelled while BEGIN or COMMIT was still queued on the database
                # thread: this is queued behind it, so no transaction outlives its owner.
                await self._on_thread(lambda: _roll_back_if_open(self.conn._conn))
                raise

    def _on_thread(self, job: Callable[[], T]) -> Awaitable[T]:
        """Run `job` on aiosqlite's database thread, after whatever was queued there before.
        aiosqlite has no public call for this; `_execute` is what each of its own calls uses
        (pinned ~=0.22; tests/test_store_on_thread.py)."""
        submit: Callable[[Callable[[], T]], Awaitable[T]] = self.conn._execute
        return submit(job)

    async def run(self, body: Callable[[aiosqlite.Connection], Coroutine[Any, Any, T]]) -> T:
        """Run `body` in one transaction, on the database thread in one hand-off (see
        on_thread.py): committed if it returns, rolled back if it raises. `body` may await
        only the connection it is given; everything else it does must be quick and local.

        Once handed over, the transaction runs to its end: cancelling the caller does not
        stop it (a step may then be committed whose reply is never sent, as after a crash;
        the conversation carries on from it)."""

        def in_thread() -> T:
            raw: Any = self.conn._conn  # aiosqlite's sqlite3.Connection, on its own thread
            try:
                raw.execute("BEGIN IMMEDIATE")
                # The store's functions take an aiosqlite.Connection; this offers the calls
                # they make, answered at once.
                result = drive(body(cast(aiosqlite.Connection, ThreadConnection(raw))))
                raw.execute("COMMIT")
            except BaseException:
                _roll_back_if_open(raw)
                raise
            return result

        if not self._lock.locked():
            # The database thread runs what it is given one at a time, in order, so these
            # transactions need no lock among themselves: only one opened with
            # `transaction()` must not be cut into. One that opens later queues its BEGIN
            # behind this.
            return await self._on_thread(in_thread)
        async with self._lock:
            return await self._on_thread(in_thread)

    async def checkpoint(self) -> None:
        """Fold the write-ahead log into the database and empty it, so erased rows do not
        linger in the -wal file (secure_delete then zeroes them in the main file)."""
        async with self._lock:
            # Read to the end: a checkpoint left unfinished would block the next COMMIT.
            await self.conn.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")

    async def close(self) -> None:
        await self.conn.close()


def _roll_back_if_open(raw: Any) -> None:
    """ROLLBACK, unless there is no transaction to end (BEGIN failed, or SQLite already
    rolled back by itself after an error such as a full disk)."""
    if raw.in_transaction:
        raw.execute("ROLLBACK")
