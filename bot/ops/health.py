"""A health check on a port of its own: `GET /healthz` answers `ok` while the bot runs.

Why a separate listener rather than a route on the webhook server: python-telegram-bot builds
its webhook server itself, with no supported way to add routes; and a port of its own can stay
on 127.0.0.1 for the monitor while the proxy exposes only the webhook path. The answer is the
two letters "ok" (or 503 and nothing) with no server name: it says nothing about what the bot
is for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from bot.config import Health

PATH = "/healthz"
_LIMIT = 8192  # a request line and headers longer than this are not a health check


def _response(status: str, body: bytes = b"") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class HealthServer:
    def __init__(self) -> None:
        self.ready: Callable[[], bool] = lambda: False
        self._server: asyncio.Server | None = None

    async def start(self, health: Health, ready: Callable[[], bool]) -> None:
        """Listen; `ready` says whether the bot is serving people right now."""
        self.ready = ready
        self._server = await asyncio.start_server(
            self._serve, health.listen, health.port, limit=_LIMIT
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                request = await reader.readuntil(b"\r\n\r\n")
            method, _, rest = request.partition(b" ")
            target = rest.split(b" ", 1)[0].split(b"?", 1)[0]
            if method not in (b"GET", b"HEAD") or target != PATH.encode():
                answer = _response("404 Not Found")
            elif self.ready():
                answer = _response("200 OK", b"ok")
            else:
                answer = _response("503 Service Unavailable")
            if method == b"HEAD":
                answer = answer.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
            writer.write(answer)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a slow, cut-off or oversized request just gets the connection closed
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
