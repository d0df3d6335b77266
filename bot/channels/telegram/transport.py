"""A lean HTTP/1.1 transport for python-telegram-bot: keep-alive connections on asyncio streams.

python-telegram-bot's own transport (httpx) spends about 3 ms of CPU on each Bot API request on
a small server, twenty times what the request itself needs; with two or three requests for each
step a person takes, it was what limited how many people one core could serve (see
docs/benchmarks.md). The Bot API needs little of HTTP: POST (GET for file downloads) to one
host, a form-encoded or multipart body, a JSON answer. This does exactly that, and maps every
failure onto python-telegram-bot's errors as its own transport does, so that `Sender` retries,
waits and gives up the same way: a timeout is `TimedOut`, anything else that goes wrong on the
way is `NetworkError`, and the answer (whatever its status) goes back for python-telegram-bot
to read.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

MAX_HEADER_BYTES = 64 * 1024
# A connection idle for longer is not used again: a NAT or firewall may have dropped it without
# a word, and a request sent on it would wait out the whole read timeout (httpx's default too).
KEEPALIVE_EXPIRY = 5.0
READ_PIECE = 64 * 1024  # bodies are read in pieces, each within the read timeout
Origin = tuple[str, str, int]  # scheme, host, port
# What python-telegram-bot passes for a timeout the caller did not set.
_UNSET = type(BaseRequest.DEFAULT_NONE)
T = TypeVar("T")


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def usable(self, now: float) -> bool:
        """Still open at both ends (a server that closed an idle connection shows EOF here),
        idle only briefly, and with nothing unasked-for waiting to be read (a server may
        send a 408 before closing an idle connection; it must not be taken as an answer)."""
        return (
            not self.writer.is_closing()
            and not self.reader.at_eof()
            and now - self.idle_since <= KEEPALIVE_EXPIRY
            # StreamReader has no public way to ask whether bytes are waiting.
            and not getattr(self.reader, "_buffer", b"")
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


def _tls() -> ssl.SSLContext:
    try:
        import certifi  # httpx's own certificate bundle, when it is there

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:
        return ssl.create_default_context()


def _seconds(value: object, default: float | None) -> float | None:
    if isinstance(value, _UNSET):
        return default
    if value is None:
        return None
    if not isinstance(value, int | float):
        raise TypeError(f"a timeout is a number of seconds, not {value!r}")
    return float(value)


class BotApiRequest(BaseRequest):
    """A `BaseRequest` on asyncio streams: HTTP/1.1, keep-alive, up to `connection_pool_size`
    requests at once (more wait up to `pool_timeout`, then fail unsent with `TimedOut`)."""

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """`tls` checks https servers (default: certifi's certificates, as httpx uses)."""
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._idle: dict[Origin, list[_Connection]] = {}
        self._slots: asyncio.Semaphore | None = None
        self._tls_context = tls

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._pool_size)

    async def shutdown(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
        self._slots = None  # a fresh set at the next `initialize`, on whatever loop runs then

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        slots = self._slots
        if slots is None:
            raise RuntimeError("This BotApiRequest is not initialized!")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NetworkError(f"cannot request {parts.scheme or 'this'} URL")
        origin = (parts.scheme, parts.hostname, parts.port or _default_port(parts.scheme))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        files = request_data.multipart_data if request_data else None
        body, content_type = _body(request_data, files)
        writing = _seconds(
            write_timeout, self._media_write_timeout if files else self._write_timeout
        )
        head = _head(method, target, origin, content_type, len(body), self.USER_AGENT)
        try:
            async with asyncio.timeout(_seconds(pool_timeout, self._pool_timeout)):
                await slots.acquire()
        except TimeoutError as exc:
            raise TimedOut(
                "Pool timeout: all connections are busy. The request was not sent."
            ) from exc
        connection: _Connection | None = None
        try:
            async with asyncio.timeout(_seconds(connect_timeout, self._connect_timeout)):
                connection = await self._connection(origin)
            async with asyncio.timeout(writing):
                connection.writer.write(head + body)
                await connection.writer.drain()
            reading = _seconds(read_timeout, self._read_timeout)
            status, payload, keep = await _response(connection.reader, method, reading)
            # A request still running when the transport was shut down closes its connection
            # rather than leaving it open in a pool nobody will use or close.
            if keep and self._slots is slots:
                connection.idle_since = asyncio.get_running_loop().time()
                self._idle.setdefault(origin, []).append(connection)
            else:
                connection.close()
            connection = None
            return status, payload
        except TimeoutError as exc:
            raise TimedOut from exc
        except (OSError, EOFError, asyncio.IncompleteReadError, ValueError) as exc:
            raise NetworkError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            if connection is not None:  # failed or cancelled half-way: never reused
                connection.close()
            slots.release()

    async def _connection(self, origin: Origin) -> _Connection:
        idle = self._idle.get(origin, [])
        now = asyncio.get_running_loop().time()
        while idle:
            connection = idle.pop()
            if connection.usable(now):
                return connection
            connection.close()
        scheme, host, port = origin
        context = None
        if scheme == "https":
            self._tls_context = self._tls_context or _tls()
            context = self._tls_context
        # Addresses are tried 0.25 s apart, as httpx does: a host whose first address is
        # unreachable (often IPv6) is still reached well within the connect timeout.
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context, limit=MAX_HEADER_BYTES, happy_eyeballs_delay=0.25
        )
        return _Connection(reader, writer)


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _body(request_data: RequestData | None, files: dict[str, Any] | None) -> tuple[bytes, str]:
    """The body as python-telegram-bot's own transport sends it: the parameters form-encoded
    (each value JSON), or, with files, all of it as multipart/form-data."""
    fields = request_data.json_parameters if request_data else {}
    if not files:
        if not fields:
            return b"", ""
        return urlencode(fields).encode("ascii"), "application/x-www-form-urlencoded"
    boundary = secrets.token_hex(16)
    chunks: list[bytes] = []
    for name, value in fields.items():
        chunks.append(_part(boundary, f'name="{_quoted(name)}"', value.encode("utf-8")))
    for name, (filename, content, mimetype) in files.items():
        data = content if isinstance(content, bytes) else content.read()
        disposition = f'name="{_quoted(name)}"; filename="{_quoted(filename)}"'
        chunks.append(_part(boundary, disposition, data, mimetype))
    chunks.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "").replace("\n", "")


def _part(boundary: str, disposition: str, data: bytes, mimetype: str | None = None) -> bytes:
    head = f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n"
    if mimetype:
        head += f"Content-Type: {mimetype}\r\n"
    return head.encode("utf-8") + b"\r\n" + data + b"\r\n"


def _head(
    method: str, target: str, origin: Origin, content_type: str, length: int, agent: str
) -> bytes:
    scheme, host, port = origin
    authority = host if port == _default_port(scheme) else f"{host}:{port}"
    lines = [f"{method} {target} HTTP/1.1", f"Host: {authority}", f"User-Agent: {agent}"]
    lines.append("Accept: application/json")
    if method != "GET" or length:
        lines.append(f"Content-Length: {length}")
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


async def _within(seconds: float | None, step: Awaitable[T]) -> T:
    """One read, within the read timeout: as with httpx, the timeout is for each read (so a
    slow but steady download is not cut short), not for the whole response."""
    async with asyncio.timeout(seconds):
        return await step


async def _response(
    reader: asyncio.StreamReader, method: str, per_read: float | None
) -> tuple[int, bytes, bool]:
    """(status, body, whether the connection may be used again)."""
    while True:
        status, headers, keep = await _head_of_response(reader, per_read)
        if status == 101 or not 100 <= status < 200:
            break
        # "100 Continue", "103 Early Hints": the answer itself follows on the same connection.
    if status == 101:
        raise ValueError("the server switched protocols")
    if method == "HEAD" or status in (204, 304):
        return status, b"", keep
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return status, await _chunked(reader, per_read), keep
    if "content-length" in headers:
        length = int(headers["content-length"])
        if length < 0:
            raise ValueError("negative Content-Length")
        return status, await _exactly(reader, length, per_read), keep
    return status, await _to_end(reader, per_read), False  # delimited by the server closing


async def _head_of_response(
    reader: asyncio.StreamReader, per_read: float | None
) -> tuple[int, dict[str, str], bool]:
    try:
        raw = await _within(per_read, reader.readuntil(b"\r\n\r\n"))
    except asyncio.LimitOverrunError as exc:
        raise ValueError("response headers too long") from exc
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1 response: {lines[0][:40]!r}")
    status = int(rest.split(" ", 1)[0])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    return status, headers, keep


async def _exactly(reader: asyncio.StreamReader, length: int, per_read: float | None) -> bytes:
    if length <= READ_PIECE:
        return await _within(per_read, reader.readexactly(length))
    pieces = []
    while length:
        piece = await _within(per_read, reader.readexactly(min(length, READ_PIECE)))
        pieces.append(piece)
        length -= len(piece)
    return b"".join(pieces)


async def _to_end(reader: asyncio.StreamReader, per_read: float | None) -> bytes:
    pieces = []
    while piece := await _within(per_read, reader.read(READ_PIECE)):
        pieces.append(piece)
    return b"".join(pieces)


async def _chunked(reader: asyncio.StreamReader, per_read: float | None) -> bytes:
    chunks: list[bytes] = []
    while True:
        line = await _within(per_read, reader.readline())
        if not line:  # the server closed before the last chunk: the body is cut short
            raise asyncio.IncompleteReadError(b"".join(chunks), None)
        size = int(line.split(b";")[0].strip(), 16)  # a blank or bad size: ValueError
        if size == 0:
            while (await _within(per_read, reader.readline())) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        chunks.append(await _exactly(reader, size, per_read))
        await _within(per_read, reader.readline())
