"""The webhook on Pathways' aiohttp server: the secret is checked before the body is read, the
body is bounded, and only well-formed updates are handed on."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.web.server import MAX_UPDATE_BYTES, SECRET_HEADER, Site, WebServer, webhook_app

SECRET = "s3cret-token_ABC"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def hook() -> AsyncIterator[tuple[int, list[dict[str, Any]]]]:
    delivered: list[dict[str, Any]] = []

    async def deliver(update: dict[str, Any]) -> None:
        delivered.append(update)

    server, port = WebServer(), free_port()
    await server.start([Site(webhook_app("telegram", SECRET, deliver), "127.0.0.1", port)])
    yield port, delivered
    await server.close()


async def exchange(port: int, head: str, body: bytes = b"") -> str:
    """Send a raw request (perhaps with less body than it announces); the status line back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode() + b"\r\n" + body)
        await writer.drain()
        return (await reader.readline()).decode().strip()
    finally:
        writer.close()


def request(length: int, secret: str | None) -> str:
    lines = [
        "POST /telegram HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        f"Content-Length: {length}",
    ]
    if secret is not None:
        lines.append(f"{SECRET_HEADER}: {secret}")
    return "\r\n".join(lines) + "\r\n"


async def test_a_wrong_secret_is_refused_before_the_body_is_read(
    hook: tuple[int, list[dict[str, Any]]],
) -> None:
    port, delivered = hook
    # 90 MB announced, a few bytes sent: the answer comes without waiting for the rest.
    for secret in ("wrong", None, SECRET + "x", SECRET[:-1]):
        status = await exchange(port, request(90_000_000, secret), b'{"update_id"')
        assert status == "HTTP/1.1 403 Forbidden"
    assert delivered == []


async def test_a_body_over_the_limit_is_refused(hook: tuple[int, list[dict[str, Any]]]) -> None:
    port, delivered = hook
    status = await exchange(port, request(MAX_UPDATE_BYTES + 1, SECRET), b"{")
    assert status.startswith("HTTP/1.1 413")
    assert delivered == []


async def test_only_a_json_object_is_handed_on(hook: tuple[int, list[dict[str, Any]]]) -> None:
    port, delivered = hook
    for body in (b"not json", b"[1, 2]", b'"text"'):
        assert (await exchange(port, request(len(body), SECRET), body)).endswith("400 Bad Request")
    update = json.dumps({"update_id": 7, "message": {"message_id": 1}}).encode()
    assert (await exchange(port, request(len(update), SECRET), update)).endswith("200 OK")
    assert delivered == [{"update_id": 7, "message": {"message_id": 1}}]


async def test_only_the_webhook_path_answers(hook: tuple[int, list[dict[str, Any]]]) -> None:
    port, _ = hook
    for path in ("/", "/healthz", "/telegram/extra"):
        head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        assert (await exchange(port, head)).split()[1] in ("404", "405")
