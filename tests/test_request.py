"""The Bot API client on aiohttp (bot/channels/telegram/request.py), against servers on
127.0.0.1: a fake Bot API on aiohttp.web, and raw TCP servers where the server must misbehave.

Timeouts are small (a fraction of a second) and are only ever expected to fire at servers that
never answer; nothing here waits on the clock for something to happen."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import ssl
import subprocess
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from telegram import Bot, InputFile
from telegram.error import NetworkError, RetryAfter, TimedOut

from bot.channels.telegram.request import AiohttpRequest

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
SECRET = TOKEN.split(":")[1]
CHAT = 42
USER = {"id": 123456789, "is_bot": True, "first_name": "Pathways", "username": "pathways_bot"}
MESSAGE = {"message_id": 7, "date": 1_700_000_000, "chat": {"id": CHAT, "type": "private"}}
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(autouse=True)
def no_proxy_from_the_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests go where the test says: no proxy settings from whoever runs the tests."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "request_method"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


class FakeApi:
    """A Bot API on aiohttp.web that records what arrives and answers from `answers`."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.answers: dict[str, tuple[int, object]] = {
            "getMe": (200, {"ok": True, "result": USER}),
            "sendMessage": (200, {"ok": True, "result": {**MESSAGE, "text": "x"}}),
        }
        self.files: dict[str, bytes] = {}
        self.app = web.Application()
        self.app.router.add_post(f"/bot{TOKEN}/{{method}}", self._method)
        self.app.router.add_get(f"/file/bot{TOKEN}/{{path:.+}}", self._file)

    async def _method(self, request: web.Request) -> web.Response:
        fields: dict[str, Any] = {}
        if request.content_type == "application/json":
            fields = await request.json()
        for name, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                fields[name] = (value.filename, value.file.read(), value.content_type)
            else:
                fields[name] = value
        method = request.match_info["method"]
        self.calls.append(
            {
                "method": method,
                "content_type": request.content_type,
                "fields": fields,
                "user_agent": request.headers.get("User-Agent", ""),
            }
        )
        status, body = self.answers[method]
        return web.json_response(body, status=status)

    async def _file(self, request: web.Request) -> web.Response:
        return web.Response(body=self.files[request.match_info["path"]])


@pytest.fixture
async def api() -> AsyncIterator[tuple[FakeApi, TestServer]]:
    fake = FakeApi()
    async with TestServer(fake.app, host="127.0.0.1") as server:
        yield fake, server


def bot_at(base_url: str, request: AiohttpRequest, base_file_url: str | None = None) -> Bot:
    """A Bot on this transport only (python-telegram-bot would make an httpx one for
    getUpdates otherwise)."""
    return Bot(
        TOKEN,
        base_url=base_url,
        base_file_url=base_file_url or "https://api.telegram.org/file/bot",
        request=request,
        get_updates_request=AiohttpRequest(connection_pool_size=1),
    )


def bot_for(server: TestServer, request: AiohttpRequest) -> Bot:
    return bot_at(str(server.make_url("/bot")), request, str(server.make_url("/file/bot")))


@contextlib.asynccontextmanager
async def raw_server(serve: Handler) -> AsyncIterator[int]:
    """A TCP server on 127.0.0.1 running `serve` for each connection; yields its port."""
    writers: list[asyncio.StreamWriter] = []

    async def each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await serve(reader, writer)

    server = await asyncio.start_server(each, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            await reader.readexactly(int(value))
    return head


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    await reader.read()  # until the client gives up and closes


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def started(request: AiohttpRequest) -> AsyncIterator[AiohttpRequest]:
    await request.initialize()
    try:
        yield request
    finally:
        await request.shutdown()


def url(port: int, method: str = "getMe") -> str:
    return f"http://127.0.0.1:{port}/bot{TOKEN}/{method}"


async def within(seconds: float, step: Awaitable[Any]) -> Any:
    """Guards the tests against hanging if the code under test never gives up."""
    async with asyncio.timeout(seconds):
        return await step


# 1. Parameters, statuses


async def test_parameters_arrive_as_json_and_the_answer_comes_back(
    api: tuple[FakeApi, TestServer],
) -> None:
    fake, server = api
    async with bot_for(server, AiohttpRequest()) as bot:
        sent = await bot.send_message(CHAT, "héllo & a=b; ünïcode")
    assert sent.message_id == 7
    call = fake.calls[-1]
    assert call["method"] == "sendMessage"
    assert call["content_type"] == "application/json"
    # python-telegram-bot gives every value as a string; the Bot API reads them so.
    assert call["fields"] == {"chat_id": str(CHAT), "text": "héllo & a=b; ünïcode"}
    assert call["user_agent"].startswith("python-telegram-bot")


@pytest.mark.parametrize("status", [400, 429, 500])
async def test_an_error_status_comes_back_as_an_answer_not_an_exception(
    api: tuple[FakeApi, TestServer], status: int
) -> None:
    fake, server = api
    answer = {"ok": False, "error_code": status, "description": "no"}
    fake.answers["getMe"] = (status, answer)
    async with started(AiohttpRequest()) as request:
        code, body = await request.do_request(str(server.make_url(f"/bot{TOKEN}/getMe")), "POST")
    assert code == status
    assert body == b'{"ok": false, "error_code": %d, "description": "no"}' % status


async def test_python_telegram_bot_still_reads_the_status(
    api: tuple[FakeApi, TestServer],
) -> None:
    fake, server = api
    async with bot_for(server, AiohttpRequest()) as bot:
        flood = {"ok": False, "error_code": 429, "parameters": {"retry_after": 3}}
        fake.answers["sendMessage"] = (429, flood)
        with pytest.raises(RetryAfter):
            await bot.send_message(CHAT, "hi")


# 2. Uploads and downloads


async def test_a_file_is_uploaded_as_multipart_with_the_other_parameters(
    api: tuple[FakeApi, TestServer],
) -> None:
    fake, server = api
    document = {"file_id": "F1", "file_unique_id": "U1", "file_name": "x.csv"}
    fake.answers["sendDocument"] = (200, {"ok": True, "result": {**MESSAGE, "document": document}})
    data = 'name,phone\r\nA "quoted" place,0800 000 000, ünïcode\r\n'.encode() * 500
    async with bot_for(server, AiohttpRequest()) as bot:
        sent = await bot.send_document(CHAT, InputFile(data, filename="x.csv"), caption="list")
    assert sent.document is not None and sent.document.file_id == "F1"
    call = fake.calls[-1]
    assert call["content_type"] == "multipart/form-data"
    assert call["fields"] == {
        "chat_id": str(CHAT),
        "caption": "list",
        "document": ("x.csv", data, "text/csv"),
    }


async def test_a_file_is_downloaded_with_get(api: tuple[FakeApi, TestServer]) -> None:
    fake, server = api
    fake.files["documents/back.csv"] = content = bytes(range(256)) * 1000
    info = {"file_id": "F2", "file_unique_id": "U2", "file_path": "documents/back.csv"}
    fake.answers["getFile"] = (200, {"ok": True, "result": info})
    async with bot_for(server, AiohttpRequest()) as bot:
        file = await bot.get_file("F2")
        assert bytes(await file.download_as_bytearray()) == content


# 3. Timeouts


async def test_a_server_that_never_answers_times_out() -> None:
    async with raw_server(never_answer) as port:
        async with started(AiohttpRequest(read_timeout=0.2)) as request:
            with pytest.raises(TimedOut):
                await within(10, request.do_request(url(port), "POST"))
        async with started(AiohttpRequest(read_timeout=None)) as request:
            with pytest.raises(TimedOut):  # the call's own timeout wins over the default
                await within(10, request.do_request(url(port), "POST", read_timeout=0.2))


async def test_the_read_timeout_is_for_each_read_not_the_whole_answer() -> None:
    pieces, gap, read_timeout = 8, 0.1, 0.5

    async def slow_but_steady(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % pieces)
        for _ in range(pieces):
            await asyncio.sleep(gap)  # the server's pace, which is what is being tested
            writer.write(b"x")
            await writer.drain()

    loop = asyncio.get_running_loop()
    request = AiohttpRequest(read_timeout=read_timeout)
    async with raw_server(slow_but_steady) as port, started(request):
        began = loop.time()
        assert await within(30, request.do_request(url(port), "POST")) == (200, b"x" * pieces)
        assert loop.time() - began > read_timeout  # longer than the timeout in all


async def test_an_upload_the_server_stops_reading_times_out() -> None:
    """aiohttp has no write timeout of its own: the request must still end."""

    async def stops_reading(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.Event().wait()  # and reads no more

    timeouts = {"read_timeout": 0.1, "connect_timeout": 0.1, "pool_timeout": 0.1}
    request = AiohttpRequest(**timeouts, write_timeout=0.1, media_write_timeout=0.1)
    # Far more than the socket buffers on both sides hold, so the upload stalls.
    big = InputFile(b"x" * (64 * 1024 * 1024), filename="big.bin")
    async with raw_server(stops_reading) as port, started(request):
        bot = bot_at(f"http://127.0.0.1:{port}/bot", request)
        with pytest.raises(TimedOut):
            await within(10, bot.send_document(CHAT, big))


# 4, 5. Connections refused or dropped


async def test_a_refused_connection_is_a_network_error_not_a_timeout() -> None:
    async with started(AiohttpRequest()) as request:
        with pytest.raises(NetworkError) as refused:
            await within(10, request.do_request(url(closed_port()), "POST"))
    assert not isinstance(refused.value, TimedOut)
    assert "ClientConnectorError" in str(refused.value)


async def drop_half_way(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b'{"ok":')
    await writer.drain()
    writer.close()


async def drop_unanswered(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.close()


@pytest.mark.parametrize("serve", [drop_half_way, drop_unanswered])
async def test_a_dropped_connection_is_a_network_error(serve: Handler) -> None:
    async with raw_server(serve) as port, started(AiohttpRequest()) as request:
        with pytest.raises(NetworkError) as dropped:
            await within(10, request.do_request(url(port), "POST"))
    assert not isinstance(dropped.value, TimedOut)


# 6. Answers too big


async def test_an_answer_declared_too_big_is_refused_unread() -> None:
    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % 10**12)
        await reader.read()  # and never sends the body: reading it would time out

    request = AiohttpRequest(read_timeout=30, max_response_bytes=1024)
    async with raw_server(huge) as port, started(request):
        with pytest.raises(NetworkError, match="over 1024 bytes") as refused:
            await within(10, request.do_request(url(port), "GET"))
    assert not isinstance(refused.value, TimedOut)


async def test_an_answer_growing_too_big_is_cut_short() -> None:
    limit, piece, offered = 256 * 1024, 64 * 1024, 256 * 1024 * 1024
    sent = 0
    finished = asyncio.Event()

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        try:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n" % piece + b"x" * piece + b"\r\n"
            while sent < offered:
                writer.write(chunk)
                await writer.drain()  # fails once the client has hung up
                sent += piece
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        finally:
            finished.set()

    request = AiohttpRequest(max_response_bytes=limit)
    async with raw_server(endless) as port, started(request):
        with pytest.raises(NetworkError, match=f"over {limit} bytes"):
            await within(30, request.do_request(url(port), "GET"))
        await within(30, finished.wait())
    # What the client did not read is left in the socket buffers at most, a few MB.
    assert sent < offered // 8


# 7. Proxies from the environment


@contextlib.asynccontextmanager
async def proxy() -> AsyncIterator[tuple[list[tuple[str, str]], str]]:
    """A plain HTTP proxy that answers every request itself, recording its target and Host."""
    heard: list[tuple[str, str]] = []

    async def answer(request: web.Request) -> web.Response:
        heard.append((request.raw_path, request.host))
        return web.json_response({"ok": True, "result": USER})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    async with TestServer(app, host="127.0.0.1") as server:
        yield heard, str(server.make_url(""))


async def test_http_proxy_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    async with proxy() as (heard, address):
        monkeypatch.setenv("HTTP_PROXY", address)
        # A made-up host only the proxy can reach.
        base = "http://api.telegram.test/bot"
        async with bot_at(base, AiohttpRequest()) as bot:
            assert (await bot.get_me()).username == "pathways_bot"
    assert heard[-1] == (f"{base}{TOKEN}/getMe", "api.telegram.test")


async def test_no_proxy_and_all_proxy(
    monkeypatch: pytest.MonkeyPatch, api: tuple[FakeApi, TestServer]
) -> None:
    fake, server = api
    async with proxy() as (heard, address):
        monkeypatch.setenv("HTTP_PROXY", address)
        monkeypatch.setenv("NO_PROXY", "example.org,127.0.0.1")
        async with bot_for(server, AiohttpRequest()) as bot:
            await bot.get_me()
        assert heard == []
        assert len(fake.calls) == 2  # directly: `initialize` and the call
        monkeypatch.delenv("HTTP_PROXY")
        monkeypatch.delenv("NO_PROXY")
        monkeypatch.setenv("ALL_PROXY", address)  # for every scheme
        async with bot_for(server, AiohttpRequest()) as bot:
            await bot.get_me()
        assert len(heard) == 2  # through the proxy: `initialize` and the call
        assert len(fake.calls) == 2


async def test_a_proxy_aiohttp_cannot_use_is_reported_and_left_alone(
    monkeypatch: pytest.MonkeyPatch,
    api: tuple[FakeApi, TestServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, server = api
    monkeypatch.setenv("ALL_PROXY", "socks5://user:password@127.0.0.1:1080")
    async with bot_for(server, AiohttpRequest()) as bot:
        await bot.get_me()
    assert len(fake.calls) == 2  # directly
    assert "socks" in caplog.text and "password" not in caplog.text


async def test_https_proxy_is_asked_to_tunnel(monkeypatch: pytest.MonkeyPatch) -> None:
    heard: list[bytes] = []

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heard.append(await read_request(reader))
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    async with raw_server(refuse) as port:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
        async with started(AiohttpRequest()) as request:
            with pytest.raises(NetworkError) as refused:
                await within(
                    10, request.do_request(f"https://api.telegram.org/bot{TOKEN}/getMe", "POST")
                )
    assert heard[0].startswith(b"CONNECT api.telegram.org:443 ")
    assert SECRET not in str(refused.value)


# 8. Keep-alive


async def test_one_connection_serves_call_after_call_until_shutdown() -> None:
    peers: list[object] = []
    closed = asyncio.Event()

    async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername"))
        while not reader.at_eof():
            try:
                await read_request(reader)
            except asyncio.IncompleteReadError:
                break
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
        closed.set()

    request = AiohttpRequest()
    async with raw_server(keep_alive) as port:
        await request.initialize()
        for _ in range(3):
            assert await within(10, request.do_request(url(port), "POST")) == (200, b"ok")
        assert len(peers) == 1
        await request.shutdown()
        await within(10, closed.wait())  # the server saw the connection closed
        with pytest.raises(RuntimeError, match="shut down"):
            await request.do_request(url(port), "POST")
        await request.initialize()  # as python-telegram-bot does on a restart
        assert await within(10, request.do_request(url(port), "POST")) == (200, b"ok")
        await request.shutdown()
    assert len(peers) == 2


# 9. A full round trip through python-telegram-bot


async def test_get_me_through_python_telegram_bot(api: tuple[FakeApi, TestServer]) -> None:
    fake, server = api
    async with bot_for(server, AiohttpRequest()) as bot:  # `initialize` asks getMe
        me = await bot.get_me()
    assert me.id == USER["id"] and me.username == "pathways_bot"
    assert [call["method"] for call in fake.calls] == ["getMe", "getMe"]


# 10. The token stays secret


def assert_secret_kept(error: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    shown = [str(error), repr(error), "".join(traceback.format_exception(error))]
    shown += [record.getMessage() for record in caplog.records]
    shown += [record.exc_text or "" for record in caplog.records]
    assert not [text for text in shown if SECRET in text]


async def test_errors_do_not_show_the_token(caplog: pytest.LogCaptureFixture) -> None:
    held = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        held.set()
        await reader.read()

    refused_request = AiohttpRequest()
    silent_request = AiohttpRequest(read_timeout=0.2)
    pool = AiohttpRequest(connection_pool_size=1, pool_timeout=0.1, connect_timeout=0.1)
    async with raw_server(never_answer) as silent_port, raw_server(hold) as holding:
        refused = bot_at(f"http://127.0.0.1:{closed_port()}/bot", refused_request)
        silent = bot_at(f"http://127.0.0.1:{silent_port}/bot", silent_request)
        # python-telegram-bot itself logs its URLs, token and all, when a Bot is made (at DEBUG
        # level): only what is logged from here on is this transport's doing.
        caplog.set_level(logging.DEBUG)
        caplog.clear()

        with pytest.raises(NetworkError) as network_error:
            await within(10, refused.get_me())
        assert_secret_kept(network_error.value, caplog)

        with pytest.raises(TimedOut) as read_timeout:
            await within(10, silent.get_me())
        assert_secret_kept(read_timeout.value, caplog)

        # aiohttp's own message for this one names the URL.
        first = asyncio.create_task(pool.do_request(url(holding), "POST"))
        await within(10, held.wait())  # the only connection is taken
        with pytest.raises(TimedOut, match="free connection") as pool_timeout:
            await within(10, pool.do_request(url(holding), "POST"))
        assert_secret_kept(pool_timeout.value, caplog)
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
        for request in (refused_request, silent_request, pool):
            await request.shutdown()


# TLS


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subject = ["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"]
    files = ["-keyout", str(key), "-out", str(cert)]
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run([*command, *subject, *files], check=True, capture_output=True)
    return cert, key


async def test_a_certificate_nobody_vouches_for_is_refused(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    answered = False

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        await read_request(reader)
        answered = True

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_side)
    port = server.sockets[0].getsockname()[1]
    async with server, started(AiohttpRequest()) as request:
        with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED"):
            await within(
                10, request.do_request(f"https://localhost:{port}/bot{TOKEN}/getMe", "POST")
            )
    assert not answered
