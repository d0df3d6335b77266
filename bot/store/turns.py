"""Turns on a resource with a number of places, first come first served, except that urgent
callers go first.

A quick exit or "I'm in danger now" must not wait behind every other person's step for a
database writer; among themselves, and among the others, turns keep their order. SQLite has one
writer (one place); on PostgreSQL an instance runs a few units of work at once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Turns:
    def __init__(self, places: int = 1) -> None:
        if places < 1:
            raise ValueError("turns need at least one place")
        self.places = places
        self._taken = 0
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._others: deque[asyncio.Future[None]] = deque()

    @property
    def held(self) -> bool:
        return self._taken > 0

    @asynccontextmanager
    async def turn(self, urgent: bool = False) -> AsyncIterator[None]:
        await self._acquire(urgent)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, urgent: bool) -> None:
        if self._taken < self.places and not self._urgent and not self._others:
            self._taken += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._others).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed the turn as it was cancelled: pass it on
            elif waiter in (waiting := self._urgent if urgent else self._others):
                waiting.remove(waiter)  # (a release may have passed over it already)
            raise

    def _release(self) -> None:
        """Hand the place straight to the next waiter, so nobody can cut in between."""
        for waiting in (self._urgent, self._others):
            while waiting:
                waiter = waiting.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._taken -= 1
