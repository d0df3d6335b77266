"""The web chat as `python -m bot run` serves it: beside the terminal chat on the configured
port, said in one line, off (in one line) when the port is taken; and its idle conversations
forgotten by a periodic sweep that leaves other channels' deletions alone."""

from __future__ import annotations

import signal
import socket
import subprocess
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

from bot.channels.web.serve import sweep_web_chats
from bot.engine.model import Session, Tracked
from bot.store.sqlite import SqliteStore
from bot.sweeper import Sweeper
from tests.conftest import FakeClock
from tests.fakebot import TOKEN, FakeBotApi
from tests.processes import free_port, run_bot
from tests.telegram_support import CHAT

IDLE = timedelta(minutes=15)


def start_run(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    settings = {"PATHWAYS_DB": str(tmp_path / "run.db"), "PATHWAYS_WEB": "on"}
    return run_bot(
        {"PYTHONUNBUFFERED": "1", **settings, "PATHWAYS_WEB_PORT": str(port)},
        stdin=subprocess.PIPE,
    )


def web_line(process: subprocess.Popen[str]) -> str:
    """The line that says where the web chat is (or why it is off)."""
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("Web chat"):
            return line.rstrip("\n")
    raise AssertionError("no line about the web chat")


def test_run_without_a_token_serves_the_web_chat_beside_the_terminal_chat(
    tmp_path: Path,
) -> None:
    port = free_port()
    process = start_run(tmp_path, port)
    try:
        assert web_line(process) == f"Web chat: http://127.0.0.1:{port}/chat"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/chat", timeout=30) as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "no-store"
            assert "sid=" in response.headers["Set-Cookie"]
            page = response.read().decode()
        assert "are you in danger right now?" in page  # the opening step
        assert "<title>Help</title>" in page
        # Closing stdin (communicate does, with nothing to send) ends the terminal chat, and
        # the web chat with it.
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert process.returncode == 0, err
    assert "are you in danger right now?" in out
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass


def test_a_taken_port_is_said_in_one_line_and_the_terminal_chat_carries_on(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        process = start_run(tmp_path, port)
        try:
            out, err = process.communicate("1\n", timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    assert process.returncode == 0, err
    about_web = [line for line in err.splitlines() if "web chat" in line.lower()]
    assert about_web == [
        f"Web chat off: port {port} is in use; set PATHWAYS_WEB_PORT to a free port, "
        "or PATHWAYS_WEB=off to silence this."
    ]
    assert "Traceback" not in err
    assert "call 999" in out  # the terminal chat answered "1" (in danger now)


async def keys(db: SqliteStore) -> set[str]:
    async with db.read() as tx:
        sessions = await tx.idle_sessions(FakeClock().now + timedelta(days=999), 10**6, "")
    return {s.chat_key for s in sessions}


async def due_wipes(db: SqliteStore, clock: FakeClock) -> list[str]:
    async with db.read() as tx:
        return [w.chat_key for w in await tx.due_wipes(clock() + timedelta(days=1), 100)]


class Stop(Exception):
    pass


async def test_idle_web_conversations_are_forgotten_by_a_periodic_sweep(
    db: SqliteStore, clock: FakeClock
) -> None:
    async with db.transaction() as tx:
        for key, minutes_ago in (("web:old", 20), ("web:new", 1), ("tg:1", 20)):
            chat = Session(chat_key=key, state="opening.start", locale="en")
            if key.startswith("tg:"):
                chat.messages = [Tracked(1, 1)]
            await tx.save_session(chat, clock() - timedelta(minutes=minutes_ago))
        # A Telegram deletion waiting to be tried again: not the web sweep's to carry out.
        await tx.add_wipe("tg:9", [Tracked(5, 5)], clock() - timedelta(minutes=1))
    sweeper = Sweeper(db, clock, IDLE, keep_figures_days=730)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 1:
            # The first sweep, at start: the idle web conversation is forgotten, nothing else.
            assert await keys(db) == {"web:new", "tg:1"}
            assert await due_wipes(db, clock) == ["tg:9"]
            clock.advance(minutes=15)
            return
        # The next sweep, once the other was left for 15 minutes too.
        assert await keys(db) == {"tg:1"}
        assert await due_wipes(db, clock) == ["tg:9"]
        raise Stop

    with pytest.raises(Stop):
        await sweep_web_chats(sweeper, 30, sleep)
    assert slept == [30, 30]


def test_run_on_telegram_serves_the_web_chat_too_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    with FakeBotApi() as fake:
        process = run_bot(
            {
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_API_BASE_URL": fake.base_url,
                "PATHWAYS_DB": str(tmp_path / "tg.db"),
                "PATHWAYS_WEB": "on",
                "PATHWAYS_WEB_PORT": str(port),
            }
        )
        try:
            fake.send_text(CHAT, "/start")  # answered once start-up (and the web chat) is up
            fake.wait_for(lambda f: any(m.from_bot for m in f.chat(CHAT)), timeout=30)
            url = f"http://127.0.0.1:{port}/chat"
            with urllib.request.urlopen(url, timeout=30) as response:
                page = response.read().decode()
            assert "are you in danger right now?" in page
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert f"Web chat: http://127.0.0.1:{port}/chat" in stderr
    assert TOKEN not in stderr
