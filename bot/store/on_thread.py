"""Run a whole transaction on aiosqlite's database thread, in one hand-off.

The store's functions are written once, as coroutines over an `aiosqlite.Connection`. Awaited
through aiosqlite, each statement is a hand-off to the database thread and back; a step's
transaction makes five or six, and under load each waits its turn on the busy event loop
while holding the connection's only write lock. That wait, not SQLite, limited how many steps
a second the bot could commit (docs/benchmarks.md).

`ThreadConnection` offers the same calls over the plain `sqlite3.Connection`, finishing each
at once, so the same coroutines can be driven to the end on the database thread itself
(`drive`): one hand-off for the whole transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Coroutine, Generator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")
# As sqlite3 takes them: a sequence for "?" placeholders, a mapping for ":name" ones.
Parameters = Sequence[Any] | Mapping[str, Any]


class ThreadCursor:
    """aiosqlite's cursor calls, answered at once from a `sqlite3.Cursor`."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def __aiter__(self) -> ThreadCursor:
        return self

    async def __anext__(self) -> Any:
        row = self._cursor.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row

    async def close(self) -> None:
        self._cursor.close()


class _Executed:
    """What `execute` returns: awaited, the cursor; or used with `async with`, as aiosqlite's."""

    def __init__(self, cursor: ThreadCursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Generator[Any, None, ThreadCursor]:
        return self._ready().__await__()

    async def _ready(self) -> ThreadCursor:
        return self._cursor

    async def __aenter__(self) -> ThreadCursor:
        return self._cursor

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        await self._cursor.close()


class ThreadConnection:
    """The `aiosqlite.Connection` calls the store uses, for code already on the database
    thread. Only ever used there: sqlite3 connections refuse other threads."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self._raw = raw

    def execute(self, sql: str, parameters: Parameters = ()) -> _Executed:
        return _Executed(ThreadCursor(self._raw.execute(sql, parameters)))

    async def execute_fetchall(self, sql: str, parameters: Parameters = ()) -> list[Any]:
        return self._raw.execute(sql, parameters).fetchall()

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> ThreadCursor:
        return ThreadCursor(self._raw.executemany(sql, rows))


class SuspendedError(RuntimeError):
    """A transaction run on the database thread awaited something other than the database."""


def drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never really suspends (it awaits only a `ThreadConnection`)."""
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return finished.value  # type: ignore[no-any-return]
    coroutine.close()
    raise SuspendedError(
        "a transaction run on the database thread may await only the database; "
        "it awaited something else (network, sleep, a lock)"
    )
