"""Updates processed concurrently across chats, in order within a chat, and a flooding chat
slowed down without slowing anyone else.

Each chat has its own lock (so its updates run one at a time, in the order they came) and its
own token bucket (so a burst is allowed, then one update per `1/rate` seconds). A chat with
more than `max_pending` updates waiting has the rest dropped; a dropped button press is still
answered, so the person's app does not spin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import BaseUpdateProcessor

log = logging.getLogger(__name__)


@dataclass
class _ChatQueue:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: int = 0
    tokens: float = 0.0
    refreshed: float = 0.0


class PerChatUpdateProcessor(BaseUpdateProcessor):
    def __init__(
        self,
        max_concurrent_updates: int = 256,
        rate: float = 2.0,
        burst: int = 8,
        max_pending: int = 20,
    ) -> None:
        super().__init__(max_concurrent_updates)
        self.rate = rate
        self.burst = burst
        self.max_pending = max_pending
        self._chats: dict[int, _ChatQueue] = {}
        self.dropped = 0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        self._chats.clear()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat_id = self._chat_id(update)
        if chat_id is None:
            await coroutine
            return
        chat = self._chats.setdefault(chat_id, _ChatQueue(tokens=float(self.burst)))
        if chat.pending >= self.max_pending:
            self.dropped += 1
            self._close(coroutine)
            await self._answer_dropped(update)
            return
        chat.pending += 1
        try:
            async with chat.lock:
                await self._take_token(chat)
                await coroutine
        finally:
            chat.pending -= 1
            if len(self._chats) > self.PRUNE_ABOVE:
                self._prune()

    PRUNE_ABOVE = 1024

    def _prune(self) -> None:
        """Forget idle chats whose bucket has refilled: they would start full anyway."""
        now = asyncio.get_running_loop().time()
        full_after = self.burst / self.rate
        for chat_id, chat in list(self._chats.items()):
            if chat.pending == 0 and now - chat.refreshed >= full_after:
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
    async def _answer_dropped(update: object) -> None:
        if isinstance(update, Update) and update.callback_query is not None:
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer()
