"""The web side of Pathways, on aiohttp: the Telegram webhook and the health check.

Each is a small `aiohttp.web.Application` served on its own address, so the health check can
stay on 127.0.0.1 for a monitor while the proxy exposes only the webhook's path.

- The health check answers `GET /healthz` with `ok` while the bot is serving people, and 503
  otherwise: nothing that says what the bot is for.
- The webhook checks Telegram's secret header (in constant time) before it reads a byte of the
  body, and reads at most `MAX_UPDATE_BYTES`: an unauthenticated client cannot make the bot
  hold a large body in memory.
- No response of these apps or the web chat names the server: aiohttp's default `Server`
  header (its version and Python's) is removed (`without_server_header`). aiohttp's own answer
  to bytes that are not HTTP at all (400) still carries it, as no app sees that request; behind
  the proxy that cannot happen, as nginx sends requests of its own making.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import hdrs, web

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# A Telegram update is a few kilobytes at most; this leaves a wide margin.
MAX_UPDATE_BYTES = 1024 * 1024
READ_BODY_SECONDS = 30
NO_STORE = {"Cache-Control": "no-store"}

Ready = Callable[[], bool]
Deliver = Callable[[dict[str, Any]], Awaitable[None]]


async def without_server_header(_request: web.Request, response: web.StreamResponse) -> None:
    """For `on_response_prepare`: aiohttp sets `Server` to its and Python's versions as the
    headers are prepared, just before this signal; nobody needs them."""
    response.headers.popall(hdrs.SERVER, None)


def health_app(ready: Ready) -> web.Application:
    async def healthz(_request: web.Request) -> web.Response:
        if ready():
            return web.Response(text="ok", headers=NO_STORE)
        return web.Response(status=503, headers=NO_STORE)

    app = web.Application()
    app.on_response_prepare.append(without_server_header)
    app.router.add_get(HEALTH_PATH, healthz)  # HEAD too
    return app


def webhook_app(path: str, secret: str, deliver: Deliver) -> web.Application:
    """Updates posted to `/<path>` with the matching secret are handed to `deliver`."""
    expected = secret.encode()

    async def update(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            return web.Response(status=403)
        if (request.content_length or 0) > MAX_UPDATE_BYTES:
            return web.Response(status=413)
        try:
            # aiohttp also stops a chunked body at the limit (413); a body that never comes
            # only holds its own connection, for as long as Telegram itself would wait.
            async with asyncio.timeout(READ_BODY_SECONDS):
                body = await request.json()
        except TimeoutError:
            return web.Response(status=408)
        except (ValueError, UnicodeDecodeError):
            log.warning("the webhook received a body that is not JSON")
            return web.Response(status=400)
        if not isinstance(body, dict):
            return web.Response(status=400)
        await deliver(body)
        return web.Response()

    app = web.Application(client_max_size=MAX_UPDATE_BYTES)
    app.on_response_prepare.append(without_server_header)
    app.router.add_post("/" + path.strip("/"), update)
    return app


@dataclass(frozen=True)
class Site:
    app: web.Application
    host: str
    port: int


class WebServer:
    """Serves each app on its own address until `close`."""

    def __init__(self) -> None:
        self._runners: list[web.AppRunner] = []

    async def start(self, sites: list[Site]) -> None:
        try:
            for site in sites:
                # No access log: addresses and paths of the people's chats stay out of logs.
                runner = web.AppRunner(site.app, access_log=None)
                await runner.setup()
                self._runners.append(runner)
                await web.TCPSite(runner, site.host, site.port).start()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        while self._runners:
            await self._runners.pop().cleanup()
