"""The Bot API client: python-telegram-bot's `BaseRequest` on an aiohttp `ClientSession`.

`BaseRequest` is python-telegram-bot's documented way to plug in a transport, and aiohttp is
already this project's HTTP library on the server side (the webhook and the health check), so
one library serves HTTP both ways. It behaves as python-telegram-bot's own `HTTPXRequest` does,
so that `Sender` retries, waits and gives up the same way: a timeout is `TimedOut`, anything
else that goes wrong on the way is `NetworkError`, and every answer, whatever its status, goes
back for python-telegram-bot to read. A getUpdates answer is looked at on the way: an update
python-telegram-bot cannot read is reduced to its id (`bot.channels.telegram.updates`), so it
is skipped rather than stopping polling.

Proxies come from the standard variables, read once when the session starts (with the
standard library's `urllib.request.getproxies_environment`, the same rules as curl and
requests): HTTPS_PROXY for https:// URLs (through an http:// proxy, with CONNECT), HTTP_PROXY
for http:// ones, ALL_PROXY for either, NO_PROXY for hosts to reach directly. aiohttp's own
`trust_env` reads them (and ~/.netrc) again on every request, in worker threads: about a fifth
of the bot's CPU under load (bench/notes.md), for settings that never change while it runs.
aiohttp speaks to http:// proxies only; another kind (socks5://) is reported and not used.
"""

from __future__ import annotations

import asyncio
import io
import logging
import ssl
import urllib.request
from collections.abc import Callable
from functools import cache
from http import HTTPStatus
from typing import Final
from urllib.parse import urlsplit

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.channels.telegram.updates import without_unreadable

# Files downloaded through the Bot API are at most 20 MB and its JSON answers are far smaller:
# 50 MiB covers them with room to spare, and a broken server cannot fill the memory.
MAX_RESPONSE_BYTES: Final = 50 * 1024 * 1024
_PIECE: Final = 64 * 1024
_JSON: Final = "application/json"
_GET_UPDATES: Final = "/getUpdates"
# What python-telegram-bot passes for a timeout the caller did not set.
_Unset: Final = type(BaseRequest.DEFAULT_NONE)
log = logging.getLogger(__name__)


class AiohttpRequest(BaseRequest):
    """Up to `connection_pool_size` keep-alive connections; timeouts in seconds (None: none),
    with httpx's meanings and python-telegram-bot's defaults."""

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read, self._connect, self._pool = read_timeout, connect_timeout, pool_timeout
        self._write, self._media_write = write_timeout, media_write_timeout
        self._limit = max_response_bytes
        self._session: aiohttp.ClientSession | None = None
        self._proxy_for: Callable[[str], str | None] = _no_proxy

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._pool_size,
                ssl=_tls(),
                # Not reused after 5 s idle, as with httpx: a NAT may have dropped it silently.
                keepalive_timeout=5.0,
            )
            headers = {"User-Agent": self.USER_AGENT}
            self._proxy_for = _proxies_from_environment()
            self._session = aiohttp.ClientSession(connector=connector, headers=headers)

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None:  # used before `initialize`, as httpx's request allows
            await self.initialize()
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is shut down; initialize it again first.")
        files = request_data.multipart_data if request_data else None
        fields = request_data.json_parameters if request_data else {}
        body: aiohttp.FormData | aiohttp.BytesPayload | None = None
        if request_data is not None and fields and not files:
            # As JSON (RequestData.json_payload, which python-telegram-bot offers for this):
            # the Bot API takes it, and it costs less to make than a form.
            body = aiohttp.BytesPayload(request_data.json_payload, content_type=_JSON)
        elif files:
            body = aiohttp.FormData(fields)
            for name, (filename, content, mimetype) in files.items():
                # aiohttp sends bytes over 1 MiB with a ResourceWarning; a BytesIO, in pieces.
                value = io.BytesIO(content) if isinstance(content, bytes) else content
                body.add_field(name, value, filename=filename, content_type=mimetype)
        read = _seconds(read_timeout, self._read)
        write = _seconds(write_timeout, self._media_write if files else self._write)
        connect = _seconds(connect_timeout, self._connect)
        pool = _seconds(pool_timeout, self._pool)
        # `connect` covers waiting for a free connection and connecting; `sock_read` each read,
        # so a slow but steady download is not cut short.
        timeout = aiohttp.ClientTimeout(
            connect=_sum(pool, connect), sock_connect=connect, sock_read=read
        )
        try:
            # aiohttp has no write timeout and starts the read clock once the body is sent, so a
            # server that stopped reading an upload would hold it for ever: up to the answer's
            # head, the request has the time of all its steps together.
            async with asyncio.timeout(_sum(pool, connect, write, read)):
                response = await session.request(
                    method,
                    url,
                    data=body,
                    timeout=timeout,
                    allow_redirects=False,
                    proxy=self._proxy_for(url),
                )
            async with response:
                if (response.content_length or 0) > self._limit:
                    raise NetworkError(f"Bot API answer over {self._limit} bytes; not read")
                payload = bytearray()
                async for piece in response.content.iter_chunked(_PIECE):
                    payload += piece
                    if len(payload) > self._limit:
                        raise NetworkError(f"Bot API answer over {self._limit} bytes; not read")
                status = response.status
        # aiohttp's own messages may hold the URL, and the URL holds the bot token: they are
        # neither repeated nor chained, so no log or traceback can show them.
        except aiohttp.ConnectionTimeoutError:
            raise TimedOut("Timed out connecting, or waiting for a free connection") from None
        except TimeoutError:
            raise TimedOut from None
        except (aiohttp.ClientError, OSError) as exc:
            raise NetworkError(f"Bot API request failed: {_what(exc)}") from None
        if status == HTTPStatus.OK and url.endswith(_GET_UPDATES):
            # An update python-telegram-bot cannot read would stop polling: it is skipped.
            return status, without_unreadable(bytes(payload))
        return status, bytes(payload)


def _no_proxy(_url: str) -> str | None:
    return None


def _proxies_from_environment() -> Callable[[str], str | None]:
    """Which proxy (if any) serves a URL, by the environment as it is now."""
    proxies = urllib.request.getproxies_environment()

    @cache
    def proxy_for(scheme: str, host: str) -> str | None:
        chosen = proxies.get(scheme) or proxies.get("all")
        if not chosen or urllib.request.proxy_bypass(host, proxies):
            return None
        if not chosen.lower().startswith("http://"):
            # The address may hold a password: only its kind is said.
            log.warning("a %s proxy is set, which aiohttp cannot use: going direct", chosen[:5])
            return None
        return chosen

    def for_url(url: str) -> str | None:
        parts = urlsplit(url)
        return proxy_for(parts.scheme, parts.hostname or "")

    return for_url


def _tls() -> ssl.SSLContext:
    try:
        import certifi  # the certificates httpx uses, when they are there

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:
        return ssl.create_default_context()


def _seconds(value: object, default: float | None) -> float | None:
    if isinstance(value, _Unset):
        return default
    if value is None or isinstance(value, int | float):
        return value
    raise TypeError(f"a timeout is a number of seconds, not {value!r}")


def _sum(*seconds: float | None) -> float | None:
    return None if None in seconds else sum(s for s in seconds if s is not None)


def _what(exc: BaseException) -> str:
    """The kind of failure, with the system's words for it: only those of an OSError from the
    system, never aiohttp's own (which may name the URL)."""
    cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
    words = ""
    if isinstance(cause, OSError) and not isinstance(cause, aiohttp.ClientError):
        words = f" ({cause.strerror})" if cause.strerror else ""
    return f"{type(exc).__name__}{words}"
