"""One leader among the instances of one bot: a PostgreSQL advisory lock on a connection of its own.

Telegram hands a bot's updates to one `getUpdates` caller at a time, so with long polling only
one instance may poll (and sweep); the others stand by. The leader is the instance whose lock
connection holds a session-level advisory lock (`bot/store/advisory.py`) named after the bot:
keyed on the bot's id (the number before the colon of its token), so two bots sharing one
database never wait on each other, and a token revoked and replaced keeps its key.

- Standing by, an instance tries `pg_try_advisory_lock` every `retry` seconds (it never waits
  inside PostgreSQL, so it stays able to stop and to notice a broken connection).
- Leading, it asks its lock connection a trivial question every `check` seconds. When that
  fails, or gets no answer within `answer` seconds, it stops leading at once, without waiting
  for the connection to say why: from then on PostgreSQL may give the lock to another.
- A killed process's connection is closed by its kernel, and PostgreSQL lets go of the lock at
  once. A host that vanishes without closing anything (power lost, network cut) is noticed by
  TCP keepalives, set for the lock session on both sides: the server drops its session after
  about `KEEPALIVE_IDLE + KEEPALIVE_COUNT * KEEPALIVE_INTERVAL` seconds of silence, later than
  the vanished leader itself stops polling (`check + answer`), so two never poll at once, and
  soon enough for a standby to take over within ten seconds.

The lock connection needs a session of its own: straight to PostgreSQL, or through a pooler in
session mode (in transaction mode, a session lock would be held by whichever client came next).
Each change of state is logged in one line, without any address: nothing a person typed, no
chat, no host.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bot.store.advisory import lock_key

log = logging.getLogger(__name__)

POLLING = "pathways.telegram.polling"
# Seconds of silence before TCP probes a lock connection, between probes, and probes unanswered
# before the connection is dropped: 4 + 3 * 1 = 7 s, on the server and in libpq alike.
KEEPALIVE_IDLE = 4
KEEPALIVE_INTERVAL = 1
KEEPALIVE_COUNT = 3
CONNECT_TIMEOUT = 5  # seconds, unless the address says otherwise
# The same bounds for the server's side of the lock session (PostgreSQL 12 or newer).
_SERVER_KEEPALIVES = (
    f"SET tcp_keepalives_idle = {KEEPALIVE_IDLE}",
    f"SET tcp_keepalives_interval = {KEEPALIVE_INTERVAL}",
    f"SET tcp_keepalives_count = {KEEPALIVE_COUNT}",
    # Data the server sends and the client never acknowledges counts as a dead client too.
    f"SET tcp_user_timeout = {1000 * (KEEPALIVE_IDLE + KEEPALIVE_COUNT * KEEPALIVE_INTERVAL)}",
)


def polling_lock(token: str) -> str:
    """The lock's name for the bot of `token`: its id only, never the secret part."""
    return f"{POLLING}.{token.split(':', 1)[0]}"


@dataclass(frozen=True)
class Timing:
    retry: float = 1.0  # seconds between tries to take the lead (or to reconnect)
    check: float = 1.0  # seconds between checks of the lock connection while leading
    answer: float = 3.0  # seconds a check may take before the connection counts as lost


class State(enum.Enum):
    STARTING = "starting"
    STANDING_BY = "standing by"
    LEADING = "leading"
    UNREACHABLE = "unreachable"
    RELEASED = "released"


class Leadership:
    """Take, keep and give back the lead among the instances of one bot.

    `acquire()` waits until this instance leads; `lost()` returns when it no longer does;
    `release()` gives the lead back (closing the lock connection). Use as an async context
    manager to release whatever happens."""

    def __init__(self, conninfo: str, name: str, timing: Timing | None = None) -> None:
        self.conninfo = _lock_conninfo(conninfo)
        self.name = name
        self.timing = timing or Timing()
        self.state = State.STARTING
        self.terms = 0  # how many times this instance has taken the lead
        self._conn: AsyncConnection[Any] | None = None
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> Leadership:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.release()

    @property
    def leading(self) -> bool:
        return self.state is State.LEADING

    @property
    def healthy(self) -> bool:
        """Leading, or standing by on a working connection, ready to take over."""
        return self.state in (State.LEADING, State.STANDING_BY)

    async def acquire(self) -> None:
        """Wait until this instance holds the lock (at once, if nobody else does)."""
        while True:
            try:
                if await self._try_lock():
                    self.terms += 1
                    await self._become(State.LEADING, "leading: this instance polls Telegram")
                    return
                await self._become(
                    State.STANDING_BY, "standing by: another instance polls Telegram"
                )
            except (psycopg.Error, OSError) as exc:
                await self._close()
                await self._become(
                    State.UNREACHABLE,
                    f"cannot reach the database to take the lead ({type(exc).__name__}); "
                    "trying again",
                )
            await asyncio.sleep(self.timing.retry)

    async def lost(self) -> None:
        """Return once the lead is lost: the lock connection failed, or did not answer a check
        in time. Polling must stop at once: PostgreSQL may give the lock to another."""
        if not self.leading:
            return
        while True:
            await asyncio.sleep(self.timing.check)
            if not await self._answers():
                break
        await self._close()
        await self._become(
            State.UNREACHABLE, "lost the lead: its database connection failed; polling stops"
        )

    async def release(self) -> None:
        """Give the lead back, if held, and close the lock connection."""
        await self._close()
        await self._become(State.RELEASED, None)

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until `predicate()` holds, checked at each change of state (callers bound the
        wait)."""
        async with self._changed:
            await self._changed.wait_for(predicate)

    # -- the lock connection ------------------------------------------------------------------

    async def _try_lock(self) -> bool:
        if self._conn is None or self._conn.closed:
            conn = await AsyncConnection.connect(self.conninfo, autocommit=True)
            try:
                for statement in _SERVER_KEEPALIVES:
                    await conn.execute(statement)
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        key = await lock_key(self._conn, self.name)
        cursor = await self._conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
        row = await cursor.fetchone()
        return bool(row and row[0])

    async def _answers(self) -> bool:
        """Whether the lock connection answers a trivial question within `answer` seconds.
        Given up on, the question is not cancelled first: psycopg would then ask the server to
        cancel it and wait for that, and an unreachable server never answers. The connection is
        closed instead, and the question then ends at once."""
        conn = self._conn
        if conn is None or conn.closed:
            return False
        question = asyncio.ensure_future(conn.execute("SELECT 1"))
        question.add_done_callback(_ignore_outcome)
        try:
            async with asyncio.timeout(self.timing.answer):
                await asyncio.shield(question)
        except TimeoutError:
            await self._close()
            question.cancel()
            return False
        except (psycopg.Error, OSError):
            return False
        return True

    async def _close(self) -> None:
        """Close the lock connection (PostgreSQL lets go of the lock with it)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await conn.close()

    async def _become(self, state: State, line: str | None) -> None:
        if state is self.state:
            return
        self.state = state
        if line is not None:
            log.warning("%s", line)
        async with self._changed:
            self._changed.notify_all()


def _ignore_outcome(question: asyncio.Future[Any]) -> None:
    """A check given up on still ends, failing: that is known already, and is not to be
    reported as an exception never retrieved."""
    if not question.cancelled():
        question.exception()


def _lock_conninfo(conninfo: str) -> str:
    """The address with TCP keepalives and a connect timeout, unless it sets them itself."""
    given = conninfo_to_dict(conninfo)
    extra: dict[str, Any] = {
        "keepalives": 1,
        "keepalives_idle": KEEPALIVE_IDLE,
        "keepalives_interval": KEEPALIVE_INTERVAL,
        "keepalives_count": KEEPALIVE_COUNT,
        "connect_timeout": CONNECT_TIMEOUT,
        "application_name": "pathways-leader",
    }
    return make_conninfo(conninfo, **{k: v for k, v in extra.items() if k not in given})
