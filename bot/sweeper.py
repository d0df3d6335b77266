"""Auto-clear: conversations left idle are ended, and messages due for deletion are deleted.

A sweep, not a timer per chat: every few seconds, and once at start-up, conversations idle for
`idle_after` become pending wipes, and every pending wipe that is due (including ones that
failed before) is handed to the channel to carry out. The deadline comes from the stored
`updated_at`, so a restart loses nothing.

Work is done in bounded batches, interleaved: a batch of idle conversations is ended, then the
wipes due so far are carried out, then the next batch. However many chats were left idle
across an outage, memory stays flat and the first deletion goes out at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.conversation import london_day
from bot.engine.context import Clock
from bot.engine.model import Tracked
from bot.store.interface import PendingWipe, Store

log = logging.getLogger(__name__)

BATCH = 100  # conversations ended, or wipes read, per transaction
# Hold one chat's turn (nothing else happens in it meanwhile); the channel provides it.
ChatTurn = Callable[[str], contextlib.AbstractAsyncContextManager[None]]
# Delete a wipe's messages from the chat; raising leaves it to be tried again next sweep.
CarryOut = Callable[[PendingWipe], Awaitable[None]]


@dataclass(frozen=True)
class LaterWipe:
    chat_key: str
    messages: tuple[Tracked, ...]
    due_at: datetime


@contextlib.asynccontextmanager
async def any_time(_chat_key: str) -> AsyncIterator[None]:
    yield


@dataclass(frozen=True)
class SweepReport:
    ended: int  # idle conversations ended
    wiped: int  # pending wipes carried out
    failed: int  # pending wipes left to try again


class Sweeper:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        idle_after: timedelta,
        keep_figures_days: int,
        batch: int = BATCH,
    ) -> None:
        self.store = store
        self.clock = clock
        self.idle_after = idle_after
        self.keep_figures_days = keep_figures_days
        self.batch = batch
        self._running = asyncio.Lock()

    async def sweep(
        self, key_prefix: str, carry_out: CarryOut, chat_turn: ChatTurn = any_time
    ) -> SweepReport | None:
        """One sweep of the conversations whose keys start with `key_prefix` (one channel's),
        with `carry_out` deleting messages. None when a sweep is still running (a long
        backlog after an outage): that one covers this."""
        if self._running.locked():
            return None
        async with self._running:
            await self.purge_figures()
            wiped = failed = 0
            # What was already due: wipes that failed before, farewells whose time has come.
            after_id = 0
            while due := await self.due(after_id):
                for pending in due:
                    after_id = pending.id
                    done = await self._wipe(pending, key_prefix, carry_out, chat_turn)
                    wiped, failed = wiped + done, failed + (not done)
            # Then the conversations left idle, a batch at a time, each batch's messages
            # deleted before the next batch is read.
            ended = 0
            while True:
                ended_now, wipes = await self._end_idle(key_prefix)
                ended += ended_now
                for pending in wipes:
                    done = await self._wipe(pending, key_prefix, carry_out, chat_turn)
                    wiped, failed = wiped + done, failed + (not done)
                if ended_now < self.batch:
                    return SweepReport(ended, wiped, failed)

    async def forget_idle(self, key_prefix: str) -> int:
        """End the idle conversations whose keys start with `key_prefix`, for a channel with no
        messages of its own to delete (the web chat's). Unlike `sweep`, it leaves every pending
        wipe alone, so it never marks another channel's deletions as done; and it does not wait
        for, or hold up, a channel's sweep. Returns how many were forgotten."""
        forgotten = 0
        while True:
            ended, wipes = await self._end_idle(key_prefix)
            forgotten += ended
            if wipes:  # never for the web chat; kept for a sweep that can carry them out
                log.warning("idle conversations left %d wipes for a sweep", len(wipes))
            if ended < self.batch:
                return forgotten

    async def purge_figures(self) -> int:
        """Delete anonymous figures older than `keep_figures_days` days."""
        first_kept = london_day(self.clock()) - timedelta(days=self.keep_figures_days)
        async with self.store.transaction() as tx:
            return await tx.purge_counts_before(first_kept)

    async def _end_idle(self, key_prefix: str) -> tuple[int, list[PendingWipe]]:
        """End one batch of idle conversations, unless the person came back meanwhile: their
        messages become pending wipes in the same transaction. Returns how many ended, and
        the wipes made."""
        now = self.clock()
        ended, wipes = 0, []
        async with self.store.transaction() as tx:
            for session in await tx.idle_sessions(now - self.idle_after, self.batch, key_prefix):
                key = session.chat_key
                if await tx.delete_session(key, if_updated_at=session.updated_at):
                    ended += 1
                    wipe_id = await tx.add_wipe(key, session.messages, now)
                    if wipe_id is not None:
                        wipes.append(PendingWipe(wipe_id, key, tuple(session.messages), now))
        if ended:
            await self.store.scrub()
        return ended, wipes

    async def due(self, after_id: int = 0) -> list[PendingWipe]:
        """Up to a batch of wipes due now, with ids above `after_id`."""
        async with self.store.read() as tx:
            return await tx.due_wipes(self.clock(), self.batch, after_id)

    async def _wipe(
        self, pending: PendingWipe, key_prefix: str, carry_out: CarryOut, chat_turn: ChatTurn
    ) -> bool:
        """Carry out one wipe in its chat's turn. False when it failed (tried again later)."""
        try:
            if not pending.chat_key.startswith(key_prefix):
                # Another channel's (the terminal chat's): nothing to delete remotely.
                await self.done(pending)
                return True
            async with chat_turn(pending.chat_key):
                # While this waited for the chat's turn, an exit may have carried it out (and
                # its id may already be a newer wipe's): then there is nothing left to do.
                async with self.store.read() as tx:
                    waiting = await tx.wipe_waiting(pending)
                if waiting:
                    await carry_out(pending)
                    await self.done(pending)
        except Exception as exc:
            log.warning("a wipe will be tried again: %s", type(exc).__name__)
            return False
        return True

    async def done(
        self, *carried: PendingWipe, later: Sequence[LaterWipe] = (), urgent: bool = False
    ) -> None:
        """These wipes have been carried out; `later`, messages to delete once their time
        comes (a farewell), recorded in the same unit of work."""
        async with self.store.transaction(urgent) as tx:
            for pending in carried:
                await tx.wipe_done(pending.id)
            for wipe in later:
                await tx.add_wipe(wipe.chat_key, list(wipe.messages), wipe.due_at)
        await self.store.scrub(urgent)
