"""The bot's profile at start-up (commands in every language, descriptions from settings), and
the health check, in polling mode and as a real webhook process behind a "proxy"."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.channels.telegram.app import ALLOWED_UPDATES
from bot.config import Health
from bot.engine.flows import load_flows
from bot.i18n import available_locales, translator
from bot.web.server import Site, WebServer, health_app
from tests.conftest import FLOWS, LOCALES, FakeClock
from tests.fakebot import TOKEN, FakeBotApi
from tests.processes import free_port, run_bot
from tests.telegram_support import CHAT, running_bot, settings_for

SECRET = "f3b1c8e0d2a4469bb7e5c3a1d9f00e7c"
NEUTRAL = "Information and contacts."


@pytest.fixture
def fake() -> Iterator[FakeBotApi]:
    with FakeBotApi() as server:
        yield server
    assert server.refused == [], [(r.method, r.description) for r in server.refused]


def get(
    port: int, path: str = "/healthz", method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


# -- the profile ---------------------------------------------------------------------------------


async def test_commands_in_every_language_and_a_neutral_description(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    settings = settings_for(
        fake, tmp_path, short_description=NEUTRAL, description="Ask a question to begin."
    )
    async with running_bot(fake, settings, clock):
        pass
    spec = load_flows(FLOWS)
    names = [way.command for way in spec.ways_out.values()]
    english = fake.commands()
    assert [c["command"] for c in english] == names
    assert {"danger", "exit", "help", "start", "language"} <= set(names)
    assert dict((c["command"], c["description"]) for c in english)["exit"] == "Quick exit"
    for locale in available_locales(LOCALES)[1:]:
        listed = fake.commands(locale)
        tr = translator(locale, LOCALES)
        assert [c["command"] for c in listed] == names, locale
        assert [c["description"] for c in listed] == [
            tr.gettext(way.label) for way in spec.ways_out.values()
        ]
        assert listed != english, f"{locale}: the commands are not translated"
    assert "admin" not in {c["command"] for c in english}  # the admin chat stays unseen
    assert fake.short_descriptions == {"": NEUTRAL}
    assert fake.descriptions == {"": "Ask a question to begin."}


async def test_descriptions_left_alone_when_not_configured(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    async with running_bot(fake, settings_for(fake, tmp_path), clock):
        pass
    assert fake.calls("setMyShortDescription") == [] and fake.calls("setMyDescription") == []
    assert fake.commands() != []


async def test_a_profile_telegram_refuses_never_stops_the_bot(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    fake.inject("setMyCommands", "500", times=10)
    fake.inject("setMyShortDescription", "403")
    settings = settings_for(fake, tmp_path, short_description=NEUTRAL)
    with caplog.at_level(logging.WARNING):
        async with running_bot(fake, settings, clock) as bot:
            await bot.say("/start")
            assert "are you in danger right now?" in bot.text()
    logged = "\n".join(r.getMessage() for r in caplog.records if "profile" in r.getMessage())
    assert "could not set the bot's profile" in logged
    assert "commands (cy): " in logged and "short description: Forbidden" in logged
    assert TOKEN not in caplog.text


# -- the health check ----------------------------------------------------------------------------


async def test_the_health_check_says_ok_and_nothing_else() -> None:
    ready = False
    server = WebServer()
    port = free_port()
    await server.start([Site(health_app(lambda: ready), "127.0.0.1", port)])
    try:
        status, headers, body = await asyncio.to_thread(get, port)
        assert (status, body) == (503, b"")
        ready = True
        status, headers, body = await asyncio.to_thread(get, port)
        assert (status, body) == (200, b"ok")
        assert headers["Cache-Control"] == "no-store"
        # Nothing says what the bot is for.
        shown = " ".join(f"{k}: {v}" for k, v in headers.items()).lower()
        assert not any(word in shown for word in ("pathways", "telegram", "abuse", "help"))
        assert (await asyncio.to_thread(get, port, "/healthz", "HEAD"))[2] == b""
        for path, method in (("/", "GET"), ("/telegram", "GET"), ("/healthz", "POST")):
            assert (await asyncio.to_thread(get, port, path, method))[0] in (404, 405)
        # A request that never finishes only costs its own connection.
        with socket.create_connection(("127.0.0.1", port)) as idle:
            idle.sendall(b"GET /healthz HTTP/1.1\r\n")
            assert (await asyncio.to_thread(get, port))[0] == 200
    finally:
        await server.close()


async def test_polling_mode_can_have_a_health_check_too(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    port = free_port()
    settings = settings_for(fake, tmp_path, health=Health(port))
    async with running_bot(fake, settings, clock, in_process=False):
        status, _headers, body = await asyncio.to_thread(get, port)
        assert (status, body) == (200, b"ok")
    with pytest.raises(OSError):
        await asyncio.to_thread(get, port)


def wait_healthy(port: int, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            if get(port)[:3:2] == (200, b"ok"):
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("the health check never said ok")


def post_update(port: int, update: dict[str, object], secret: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            "POST",
            "/telegram",
            body=json.dumps(update),
            headers={
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": secret,
            },
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_webhook_mode_behind_a_proxy_with_a_health_check(fake: FakeBotApi, tmp_path: Path) -> None:
    hook_port, health_port = free_port(), free_port()
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(SECRET)
    secret_file.chmod(0o600)
    process = run_bot(
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "PATHWAYS_DB": str(tmp_path / "hook.db"),
            "PATHWAYS_WEBHOOK_URL": "https://bot.example.org/telegram",
            "PATHWAYS_WEBHOOK_SECRET_FILE": str(secret_file),
            "PATHWAYS_WEBHOOK_PORT": str(hook_port),
            "PATHWAYS_HEALTH_PORT": str(health_port),
        }
    )
    try:
        wait_healthy(health_port, process)
        (registered,) = fake.calls("setWebhook")
        assert registered["url"] == "https://bot.example.org/telegram"
        assert registered["secret_token"] == SECRET
        assert registered["allowed_updates"] == list(ALLOWED_UPDATES)
        # What the proxy forwards from Telegram.
        fake.send_text(CHAT, "/start")
        update = fake.pending_updates[-1]
        assert post_update(hook_port, update, "wrong-secret") == 403
        assert post_update(hook_port, update, SECRET) == 200
        fake.wait_for(lambda f: any(m.from_bot for m in f.chat(CHAT)), timeout=30)
        # The health check is not on the webhook's port, and the webhook says nothing there.
        assert get(hook_port)[0] == 404
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "are you in danger right now?" in " ".join(m.plain_text or "" for m in fake.chat(CHAT))
    assert SECRET not in stderr and TOKEN not in stderr
