"""The web chat served beside the terminal chat or Telegram, by `python -m bot run`.

It shares the running `Pathways` (the same conversations, store and sweeper), listens on the
configured address with no access log (`bot.web.server`), and forgets its idle conversations
with a periodic sweep of its own: web conversations have no messages to delete, so the sweep
only ends them (`Sweeper.forget_idle`), and never touches another channel's pending deletions.

If the address cannot be listened on (the port is taken, say), one line says so and the
channel carries on without the web chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.app import Pathways
from bot.channels.web import pages
from bot.channels.web.chat import KEY_PREFIX, web_chat_app
from bot.config import Settings, Web
from bot.sweeper import Sweeper
from bot.web.server import Site, WebServer

log = logging.getLogger(__name__)

Say = Callable[[str], None]
Sleep = Callable[[float], Awaitable[None]]


def chat_url(web: Web) -> str:
    host = f"[{web.host}]" if ":" in web.host else web.host
    return f"http://{host}:{web.port}{pages.CHAT_PATH}"


async def sweep_web_chats(
    sweeper: Sweeper, every_seconds: float, sleep: Sleep = asyncio.sleep
) -> None:
    """Forget idle web conversations now and every `every_seconds`, until cancelled. A failed
    sweep is logged by its type only and tried again next time."""
    while True:
        try:
            await sweeper.forget_idle(KEY_PREFIX)
        except Exception as exc:
            log.warning("the web chat's idle sweep failed: %s", type(exc).__name__)
        await sleep(every_seconds)


@dataclass
class ServedWebChat:
    url: str
    server: WebServer
    sweeping: asyncio.Task[None]

    async def close(self) -> None:
        self.sweeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.sweeping
        await self.server.close()


async def serve_web_chat(
    settings: Settings, pathways: Pathways, say: Say, sleep: Sleep = asyncio.sleep
) -> ServedWebChat | None:
    """Start the web chat when it is on (`settings.web`); None when it is off or cannot
    listen, which `say` reports in one line."""
    web = settings.web
    if web is None:
        return None
    # Unset, the forms' secret is new in each process: a page opened before a restart then
    # asks the person to tap again, and nothing else is lost.
    secret = web.secret.encode() if web.secret else secrets.token_bytes(32)
    app = web_chat_app(
        pathways.conversations,
        pathways.parts.spec,
        pathways.parts.words,
        settings.locales_dir,
        exit_url=web.exit_url,
        title=web.title,
        frame_ancestors=web.frame_ancestors,
        secret=secret,
        clock=pathways.sweeper.clock,
    )
    server = WebServer()
    try:
        await server.start([Site(app, web.host, web.port)])
    except OSError as exc:
        why = (
            f"port {web.port} is in use"
            if exc.errno == errno.EADDRINUSE
            else f"cannot listen on {web.host}:{web.port} ({type(exc).__name__})"
        )
        say(
            f"Web chat off: {why}; set PATHWAYS_WEB_PORT to a free port, "
            "or PATHWAYS_WEB=off to silence this."
        )
        return None
    sweeping = asyncio.create_task(
        sweep_web_chats(pathways.sweeper, settings.sweep_seconds, sleep), name="web-chat-sweep"
    )
    url = chat_url(web)
    say(f"Web chat: {url}")
    return ServedWebChat(url, server, sweeping)
