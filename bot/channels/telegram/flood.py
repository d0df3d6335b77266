"""Updates processed concurrently across chats, in order within a chat, and a flooding chat
slowed down without slowing anyone else; a way out first, whatever the chat was doing.

Each chat has its own lock (so its updates run one at a time, in the order they came) and its
own token bucket (so a burst is allowed, then one update per `1/rate` seconds). Only once a
chat's turn has come does an update take one of the `workers` places, so chats waiting on
their own bucket never hold up anyone else.

A chat with more than `max_pending` updates waiting has the rest dropped, except those that
must never be lost (`keep`, e.g. a quick exit). A dropped message is still deleted from the
chat, and a dropped button press is still answered.

An `urgent` update (a quick exit, "I'm in danger now") does not queue: it cancels what its
chat is doing (a reply being sent, a flood-control wait) and drops what the chat was waiting
to do, then runs at once, without waiting for a token or a worker's place. Two urgent updates
of one chat still run in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import BaseUpdateProcessor

log = logging.getLogger(__name__)

# PTB's own limit: set high, because a place is taken as soon as an update arrives, even when
# it will then wait for its chat's turn. The real limit on work is `workers`.
ARRIVALS = 100_000


@dataclass
class _Handling:
    urgent: bool
    started: bool = False
    superseded: bool = False


@dataclass
class _ChatQueue:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: int = 0
    tokens: float = 0.0
    refreshed: float = 0.0
    updates: dict[asyncio.Task[Any], _Handling] = field(default_factory=dict)


def _never(_update: object) -> bool:
    return False


class PerChatUpdateProcessor(BaseUpdateProcessor):
    PRUNE_ABOVE = 1024

    def __init__(
        self,
        workers: int = 64,
        rate: float = 2.0,
        burst: int = 8,
        max_pending: int = 20,
        keep: Callable[[object], bool] = _never,
        urgent: Callable[[object], bool] = _never,
    ) -> None:
        super().__init__(ARRIVALS)
        self.rate = rate
        self.burst = burst
        self.max_pending = max_pending
        self.keep = keep
        self.urgent = urgent
        self.superseded = 0  # updates dropped (or cut short) for a way out
        self._workers = asyncio.Semaphore(workers)
        self._chats: dict[int, _ChatQueue] = {}
        self.dropped = 0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        self._chats.clear()

    @property
    def waiting_chats(self) -> int:
        """Chats with anything kept for them (a turn taken or waited for, a bucket refilling)."""
        return len(self._chats)

    def _queue(self, chat_id: int) -> _ChatQueue:
        return self._chats.setdefault(chat_id, _ChatQueue(tokens=float(self.burst)))

    @contextlib.asynccontextmanager
    async def chat_turn(self, chat_id: int) -> AsyncIterator[None]:
        """Hold a chat's turn: nothing else happens in that chat meanwhile (the idle sweep
        uses this so it never races a reply being sent)."""
        chat = self._queue(chat_id)
        chat.pending += 1
        try:
            async with chat.lock:
                yield
        finally:
            chat.pending -= 1
            # The sweep takes the turn of every chat it clears, most of them silent for long:
            # nothing is kept for a chat that has nothing going on.
            if chat.pending == 0 and self._refilled(chat, asyncio.get_running_loop().time()):
                self._chats.pop(chat_id, None)

    def _refilled(self, chat: _ChatQueue, now: float) -> bool:
        """Its bucket would be full again: forgetting it changes nothing."""
        return now - chat.refreshed >= self.burst / self.rate

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat_id = self._chat_id(update)
        if chat_id is None:
            async with self._workers:
                await coroutine
            return
        chat = self._queue(chat_id)
        urgent = self.urgent(update)
        if urgent:
            self._supersede(chat)
        elif chat.pending >= self.max_pending and not self.keep(update):
            self.dropped += 1
            self._close(coroutine)
            await self._clear_dropped(update)
            return
        task = asyncio.current_task()
        assert task is not None
        handling = chat.updates[task] = _Handling(urgent)
        chat.pending += 1
        try:
            async with chat.lock:
                if urgent:
                    handling.started = True
                    await coroutine
                else:
                    await self._take_token(chat)
                    async with self._workers:
                        handling.started = True
                        await coroutine
        except asyncio.CancelledError:
            if not handling.superseded:
                raise
            task.uncancel()  # cancelled on purpose, for a way out: not an error
            self.superseded += 1
            if not handling.started:
                self._close(coroutine)
            # What the person typed still goes, even if its handler was cut short before
            # deleting it (the way out's wipe may not reach back that far); a tap is answered
            # only if its handler never began (which would have answered it).
            await self._clear_dropped(update, answer=not handling.started)
        finally:
            chat.pending -= 1
            del chat.updates[task]
            if len(self._chats) > self.PRUNE_ABOVE:
                self._prune()

    def _supersede(self, chat: _ChatQueue) -> None:
        """Cancel every update of the chat being handled or waiting, except urgent ones."""
        for task, handling in chat.updates.items():
            if not handling.urgent and not handling.superseded:
                handling.superseded = True
                task.cancel()

    def _prune(self) -> None:
        """Forget idle chats whose bucket has refilled: they would start full anyway."""
        now = asyncio.get_running_loop().time()
        for chat_id, chat in list(self._chats.items()):
            if chat.pending == 0 and self._refilled(chat, now):
                del self._chats[chat_id]

    async def _take_token(self, chat: _ChatQueue) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if chat.refreshed:
            chat.tokens = min(self.burst, chat.tokens + (now - chat.refreshed) * self.rate)
        chat.refreshed = now
        if chat.tokens < 1:
            await asyncio.sleep((1 - chat.tokens) / self.rate)
            chat.tokens = 1.0
            chat.refreshed = loop.time()
        chat.tokens -= 1

    @staticmethod
    def _chat_id(update: object) -> int | None:
        if isinstance(update, Update) and update.effective_chat is not None:
            return update.effective_chat.id
        return None

    @staticmethod
    def _close(coroutine: Awaitable[Any]) -> None:
        close = getattr(coroutine, "close", None)
        if close is not None:
            close()

    @staticmethod
    async def _clear_dropped(update: object, answer: bool = True) -> None:
        """A dropped update still leaves no trace: delete the message, answer the button."""
        if not isinstance(update, Update):
            return
        with contextlib.suppress(TelegramError):
            if update.callback_query is not None and answer:
                await update.callback_query.answer()
            message = update.message
            if message is not None and message.chat.type == ChatType.PRIVATE:
                await message.delete()
