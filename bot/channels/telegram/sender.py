"""Calls to the Bot API that survive Telegram's faults.

- 429 (flood control): wait the `retry_after` Telegram asks for, then try again. The caller
  awaits each call in turn, so the order of one chat's messages is kept.
- 5xx, timeouts and dropped connections: a few retries with growing waits.
- 403 (the person blocked the bot): `Blocked`, so the conversation can be forgotten.
- Anything else (a bad request, a method the server lacks) is raised at once: trying again
  cannot help.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

log = logging.getLogger(__name__)
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class Blocked(Exception):
    """The person has blocked the bot: nothing more can be sent to this chat."""


class GaveUp(Exception):
    """A call kept failing after every retry."""


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Sender:
    def __init__(
        self,
        sleep: Sleep = asyncio.sleep,
        retries: int = 3,
        first_backoff: float = 0.5,
        flood_waits: int = 5,
    ) -> None:
        self.sleep = sleep
        self.retries = retries
        self.first_backoff = first_backoff
        self.flood_waits = flood_waits

    async def call(self, method: Callable[..., Awaitable[T]], *args: object, **kwargs: object) -> T:
        name = getattr(method, "__name__", "call")
        failures = waits = 0
        while True:
            try:
                return await method(*args, **kwargs)
            except RetryAfter as exc:
                waits += 1
                if waits > self.flood_waits:
                    raise GaveUp(f"{name}: still rate-limited after {waits - 1} waits") from exc
                await self.sleep(_seconds(exc.retry_after))
            except Forbidden as exc:
                raise Blocked(name) from exc
            except BadRequest:
                raise  # the request itself is wrong: repeating it cannot help
            except NetworkError as exc:  # 5xx, timeouts, dropped connections
                failures += 1
                if failures > self.retries:
                    raise GaveUp(f"{name}: {type(exc).__name__} after {failures} tries") from exc
                log.warning("%s failed (%s); retrying", name, type(exc).__name__)
                await self.sleep(self.first_backoff * 2 ** (failures - 1))
