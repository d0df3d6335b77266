"""Auto-clear: conversations left idle are ended, and messages due for deletion are deleted.

A sweep, not a timer per chat: every few seconds, and once at start-up, conversations idle for
`idle_after` become pending wipes, and every pending wipe that is due (including ones that
failed before) is handed to the channel to carry out. The deadline comes from the stored
`updated_at`, so a restart loses nothing.

Work is done in bounded batches, interleaved: a batch of idle conversations is ended, then the
wipes due so far are carried out, then the next batch. However many chats were left idle
across an outage, memory stays flat and the first deletion goes out at once.

Several instances on one PostgreSQL database (a webhook behind a load balancer) each sweep, and
share the work without doing any of it twice:

- Wipes are claimed before they are carried out (`Transaction.claim_wipes`, `FOR UPDATE SKIP
  LOCKED`), for `lease`: each sweep gets wipes nobody else holds. A wipe is begun only while at
  least half its claim is left, so it is done before another instance could take it over; one
  that fails, or whose claim is nearly out, is let go for the next sweep. The claim of an
  instance killed halfway runs out, and another's sweep does the wipe: none is lost.
- Idle conversations are read with their rows held (`take_idle_sessions`), so two sweeps end
  different ones; each is ended only if its turn is free (`try_lock_chat`: a step under way on
  another instance means it is not idle) and only if nothing happened since it was read, so
  its messages go into exactly one wipe.
- Deleting old figures and forgetting old handled updates are the same whoever does them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.conversation import DEFAULT_WIPE_LEASE, london_day
from bot.engine.context import Clock
from bot.engine.model import Tracked
from bot.store.interface import PendingWipe, Store

log = logging.getLogger(__name__)

BATCH = 100  # conversations ended, or wipes claimed, per transaction
# Telegram keeps an update for 24 hours: one handled before that cannot come again.
HANDLED_KEPT = timedelta(days=1)
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
        lease: timedelta = DEFAULT_WIPE_LEASE,
    ) -> None:
        self.store = store
        self.clock = clock
        self.idle_after = idle_after
        self.keep_figures_days = keep_figures_days
        self.batch = batch
        self.lease = lease  # how long a wipe is claimed for (`bot.conversation.wipe_lease`)
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
            await self.purge_handled()
            wiped = failed = 0
            # What was already due: wipes that failed before, farewells whose time has come,
            # wipes an instance that died had claimed. Past `after_id`, so one that fails is
            # not claimed again in this sweep.
            after_id = 0
            while claimed := await self.claim(after_id):
                for pending in claimed:
                    after_id = pending.id
                    done = await self._wipe(pending, key_prefix, carry_out, chat_turn)
                    wiped, failed = wiped + done, failed + (not done)
            # Then the conversations left idle, a batch at a time, each batch's messages
            # deleted before the next batch is read.
            ended = 0
            while True:
                ended_now, wipes, more = await self._end_idle(key_prefix)
                ended += ended_now
                for pending in wipes:
                    done = await self._wipe(pending, key_prefix, carry_out, chat_turn)
                    wiped, failed = wiped + done, failed + (not done)
                if not more:
                    return SweepReport(ended, wiped, failed)

    async def forget_idle(self, key_prefix: str) -> int:
        """End the idle conversations whose keys start with `key_prefix`, for a channel with no
        messages of its own to delete (the web chat's). Unlike `sweep`, it leaves every pending
        wipe alone, so it never marks another channel's deletions as done; and it does not wait
        for, or hold up, a channel's sweep. Returns how many were forgotten."""
        forgotten = 0
        while True:
            ended, wipes, more = await self._end_idle(key_prefix)
            forgotten += ended
            if wipes:  # never for the web chat; kept for a sweep that can carry them out
                log.warning("idle conversations left %d wipes for a sweep", len(wipes))
                for pending in wipes:
                    await self.let_go(pending)
            if not more:
                return forgotten

    async def purge_figures(self) -> int:
        """Delete anonymous figures older than `keep_figures_days` days."""
        first_kept = london_day(self.clock()) - timedelta(days=self.keep_figures_days)
        async with self.store.transaction() as tx:
            return await tx.purge_counts_before(first_kept)

    async def purge_handled(self) -> int:
        """Forget the updates handled more than a day ago."""
        async with self.store.transaction() as tx:
            return await tx.purge_handled_before(self.clock() - HANDLED_KEPT)

    async def _end_idle(self, key_prefix: str) -> tuple[int, list[PendingWipe], bool]:
        """End one batch of idle conversations, unless the person came back meanwhile: their
        messages become pending wipes in the same transaction, claimed by this sweep. Returns
        how many ended, the wipes made, and whether more may be left (a full batch was read
        and some of it ended: what was passed over is left for the next sweep)."""
        now = self.clock()
        ended, wipes = 0, []
        async with self.store.transaction() as tx:
            idle = await tx.take_idle_sessions(now - self.idle_after, self.batch, key_prefix)
            for session in idle:
                key = session.chat_key
                if not await tx.try_lock_chat(key):
                    continue  # a step of it is under way on another instance: not idle
                if await tx.delete_session(key, if_updated_at=session.updated_at):
                    ended += 1
                    claimed = now + self.lease
                    wipe_id = await tx.add_wipe(key, session.messages, now, claimed)
                    if wipe_id is not None:
                        messages = tuple(session.messages)
                        wipes.append(PendingWipe(wipe_id, key, messages, now, claimed))
        if ended:
            await self.store.scrub()
        return ended, wipes, ended > 0 and len(idle) >= self.batch

    async def claim(self, after_id: int = 0) -> list[PendingWipe]:
        """Claim up to a batch of wipes due now, with ids above `after_id`, that no other
        sweep holds."""
        now = self.clock()
        async with self.store.transaction() as tx:
            return await tx.claim_wipes(now, now + self.lease, self.batch, after_id)

    def _time_left(self, pending: PendingWipe) -> bool:
        """Enough of the claim is left to do the wipe before another instance could take it."""
        if pending.claimed_until is None:
            return True
        return pending.claimed_until - self.clock() >= self.lease / 2

    async def let_go(self, *claimed: PendingWipe) -> None:
        """These wipes could not be done now: give their claims up, so the next sweep (any
        instance's) takes them at once. If even that fails, the claims run out by themselves."""
        try:
            async with self.store.transaction() as tx:
                for pending in claimed:
                    await tx.release_wipe(pending)
        except Exception as exc:
            log.warning("a wipe's claim will run out instead: %s", type(exc).__name__)

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
                # its id may already be a newer wipe's), or the claim run out and another
                # instance taken it: then it is not this sweep's to do.
                async with self.store.read() as tx:
                    waiting = await tx.wipe_waiting(pending)
                if waiting and not self._time_left(pending):
                    await self.let_go(pending)
                    return False
                if waiting:
                    await carry_out(pending)
                    await self.done(pending)
        except Exception as exc:
            log.warning("a wipe will be tried again: %s", type(exc).__name__)
            await self.let_go(pending)
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
