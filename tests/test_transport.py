"""The lean Bot API transport (bot/channels/telegram/transport.py) against the fake Bot API:
requests, uploads and downloads arrive as python-telegram-bot's own transport sends them, and
every failure becomes the error python-telegram-bot's callers expect."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from telegram import Bot
from telegram.error import NetworkError, RetryAfter, TimedOut
from telegram.request import RequestData

from bot.channels.telegram import transport
from bot.channels.telegram.transport import BotApiRequest, _response
from tests.fakebot import TOKEN, FakeBotApi

CHAT = 4242


@pytest.fixture
def fake() -> Iterator[FakeBotApi]:
    with FakeBotApi() as server:
        yield server
    assert server.refused == []


@pytest.fixture
async def bot(fake: FakeBotApi) -> AsyncIterator[Bot]:
    request = BotApiRequest(read_timeout=0.5, write_timeout=0.5, connect_timeout=0.5)
    bot = Bot(
        TOKEN,
        base_url=fake.base_url,
        base_file_url=fake.base_file_url,
        request=request,
        get_updates_request=BotApiRequest(connection_pool_size=1),
    )
    async with bot:
        yield bot


async def test_requests_arrive_and_connections_are_kept_alive(fake: FakeBotApi, bot: Bot) -> None:
    fake.send_text(CHAT, "hello")  # the chat exists once the person has written
    for number in range(5):
        sent = await bot.send_message(CHAT, f"<b>step</b> {number} - ünïcode", parse_mode="HTML")
        assert sent.text == f"step {number} - ünïcode"
    await bot.delete_messages(CHAT, [sent.message_id])
    assert [m.plain_text for m in fake.chat(CHAT)][-1] == "step 3 - ünïcode"
    request = bot.request
    assert isinstance(request, BotApiRequest)
    assert sum(len(idle) for idle in request._idle.values()) == 1  # one connection, reused


async def test_uploads_and_downloads(fake: FakeBotApi, bot: Bot) -> None:
    fake.send_text(CHAT, "hello")
    data = 'name,phone\r\nA "quoted" place,0800 000 000, ünïcode\r\n'.encode() * 50
    sent = await bot.send_document(CHAT, data, filename="services.csv")
    assert sent.document is not None
    assert fake.file_data(sent.document.file_id) == data
    upload = fake.send_document(CHAT, "back.csv", b"a,b\r\n1,2\r\n")
    document = next(m for m in fake.chat(CHAT) if m.message_id == upload).raw["document"]
    file = await bot.get_file(document["file_id"])
    assert bytes(await file.download_as_bytearray()) == b"a,b\r\n1,2\r\n"


async def test_failures_become_the_errors_callers_expect(fake: FakeBotApi, bot: Bot) -> None:
    fake.send_text(CHAT, "hello")
    fake.inject("sendMessage", "429", retry_after=3)
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(CHAT, "one")
    assert flood.value.retry_after.total_seconds() == 3
    fake.inject("sendMessage", "timeout")
    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "two")
    fake.inject("sendMessage", "drop")
    with pytest.raises(NetworkError):
        await bot.send_message(CHAT, "three")
    fake.inject("sendMessage", "500")
    with pytest.raises(NetworkError):
        await bot.send_message(CHAT, "four")
    assert (await bot.send_message(CHAT, "five")).text == "five"  # and it recovers


async def test_a_full_pool_fails_the_request_unsent(fake: FakeBotApi) -> None:
    fake.send_text(CHAT, "hello")
    fake.timeout_seconds = 1.0
    fake.inject("sendMessage", "timeout")
    request = BotApiRequest(connection_pool_size=1, read_timeout=2.0, pool_timeout=0.1)
    async with Bot(TOKEN, base_url=fake.base_url, request=request) as bot:
        slow = asyncio.create_task(bot.send_message(CHAT, "held"))
        await asyncio.sleep(0.2)
        before = len(fake.calls("sendMessage"))
        with pytest.raises(TimedOut, match="Pool timeout"):
            await bot.send_message(CHAT, "waits")
        with pytest.raises(NetworkError):
            await slow  # the fake answers the held request with a 500
        assert len(fake.calls("sendMessage")) == before


async def _read(raw: bytes, method: str = "POST") -> tuple[int, bytes, bool]:
    reader = asyncio.StreamReader()
    reader.feed_data(raw)
    reader.feed_eof()
    return await _response(reader, method, 5.0)


async def test_responses_in_every_framing() -> None:
    assert await _read(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") == (200, b"ok", True)
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunked += b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
    assert await _read(chunked) == (200, b"abcde", True)
    closing = b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx"
    assert await _read(closing) == (502, b"x", False)
    assert await _read(b"HTTP/1.0 200 OK\r\n\r\nuntil the end") == (200, b"until the end", False)
    with pytest.raises(ValueError):
        await _read(b"SSH-2.0-OpenSSH\r\n\r\n")


async def test_an_interim_answer_is_skipped_not_taken_for_the_answer() -> None:
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    assert await _read(hints + answer) == (200, b"ok", True)
    with pytest.raises(ValueError, match="switched protocols"):
        await _read(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n")


async def test_a_body_cut_short_is_an_error_not_a_shorter_answer() -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    with pytest.raises(asyncio.IncompleteReadError):
        await _read(chunked)  # the server closed before the last chunk
    with pytest.raises(asyncio.IncompleteReadError):
        await _read(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")


async def test_a_large_body_is_read_whole() -> None:
    body = bytes(range(256)) * 1000  # several read pieces
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    assert await _read(raw) == (200, body, True)


class RawServer:
    """An HTTP server on 127.0.0.1 answering each request with `answers`, counting
    connections; `then` is sent (unasked) after each answer."""

    def __init__(self, then: bytes = b"") -> None:
        self.then = then
        self.connections = 0
        self.requests = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/bot{TOKEN}"

    async def __aexit__(self, *_exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                self.requests += 1
                body = b'{"ok":true,"result":%d}' % self.requests
                head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
                # One write, so the unasked-for bytes arrive with the answer.
                writer.write(head + body + self.then)
                await writer.drain()
                if self.then:
                    writer.close()
                    return


async def _two_requests(url: str) -> list[tuple[int, bytes]]:
    request = BotApiRequest()
    await request.initialize()
    try:
        answers = []
        for _ in range(2):
            answers.append(await request.do_request(f"{url}/getMe", "POST", RequestData([])))
        return answers
    finally:
        await request.shutdown()


async def test_bytes_sent_unasked_on_an_idle_connection_are_never_taken_as_an_answer() -> None:
    # Some servers send "408 Request Timeout" and close an idle keep-alive connection.
    server = RawServer(then=b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
    async with server as url:
        answers = await _two_requests(url)
    assert answers == [(200, b'{"ok":true,"result":1}'), (200, b'{"ok":true,"result":2}')]
    assert server.connections == 2


async def test_a_connection_idle_too_long_is_not_used_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = RawServer()
    async with server as url:
        assert [a[0] for a in await _two_requests(url)] == [200, 200]
        assert server.connections == 1  # kept alive and used again
        monkeypatch.setattr(transport, "KEEPALIVE_EXPIRY", -1.0)  # any idle time is too long
        assert [a[0] for a in await _two_requests(url)] == [200, 200]
        assert server.connections == 3


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


async def test_https(certificate: tuple[Path, Path]) -> None:
    """Telegram is reached over TLS: the server's certificate is checked, then it is HTTP."""
    cert, key = certificate
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    heard: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heard.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"ok":true}')
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_side)
    port = server.sockets[0].getsockname()[1]
    trusted = ssl.create_default_context(cafile=str(cert))
    async with server:
        request = BotApiRequest(tls=trusted)
        await request.initialize()
        url = f"https://localhost:{port}/bot{TOKEN}/getMe"
        assert await request.do_request(url, "POST") == (200, b'{"ok":true}')
        assert heard[0].startswith(b"POST /bot") and f"localhost:{port}".encode() in heard[0]
        untrusting = BotApiRequest()  # certifi's certificates: this one is not among them
        await untrusting.initialize()
        with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED"):
            await untrusting.do_request(url, "POST")
        await request.shutdown()
        await untrusting.shutdown()
