"""The fault matrix: every Bot API method the bot uses answers in turn with 429, 500, a timeout
and 403. The bot recovers, keeps the order of its messages, and loses nothing.

For each method, one bot walks through a conversation three times, each in a chat of its own:
fault-free (what every walk must look like), then with the method's first call in the walk
answered in turn with 429, 500 and a timeout before it succeeds, then with a 403.

- 429, 500, timeout in turn: the walk ends exactly as the fault-free one (the same messages, in
  the same order), and the quick exit leaves nothing but the farewell.
- 403 (the person blocked the bot): the bot forgets the conversation (it can no longer delete
  anything, docs/privacy.md) or, for a call that only acknowledges a tap, carries on; either
  way the person is greeted properly when they come back.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import FakeClock
from tests.fakebot import FakeBotApi
from tests.reliability.harness import running
from tests.telegram_support import Running, settings_for

OWNER = 640000
FAREWELL = "This chat has been cleared and closed."
IN_TURN = ("429", "500", "timeout")
BLOCKED = ("403",)
TIMEOUT = 0.25  # the bot's network timeout here; the fake holds a "timeout" a little longer

Walk = Callable[[Running, int], Awaitable[None]]


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeBotApi]:
    with FakeBotApi(clock=clock) as server:
        server.timeout_seconds = TIMEOUT + 0.15
        yield server
    assert server.refused == [], [(r.method, r.description) for r in server.refused]


STEPS: list[tuple[str, str]] = [
    ("say", "/start"),
    ("tap", "No, not right now"),
    ("tap", "Me"),
    ("tap", "Yes, I can talk"),
    ("tap", "Skip the questions"),
    ("tap", "Someone to talk to"),
    ("say", "Bletchley"),
]


async def conversation(bot: Running, chat: int, until: Callable[[], bool] | None = None) -> None:
    """Start, a few taps (edits in place), a typed place (cards, old buttons removed); stop
    early once `until()` holds."""
    for kind, words in STEPS:
        if kind == "say":
            await bot.say(words, chat)
        else:
            await bot.tap(words, chat)
        if until is not None and until():
            return


def visible(bot: Running, chat: int) -> list[str]:
    return [m.plain_text or "" for m in bot.bot_messages(chat)]


def session_of(path: Path, chat: int) -> int:
    with sqlite3.connect(path) as conn:
        return int(
            conn.execute(
                "SELECT count(*) FROM sessions WHERE chat_key = ?", (f"tg:{chat}",)
            ).fetchone()[0]
        )


def faults_hit(fake: FakeBotApi, method: str) -> list[str]:
    return [r.fault for r in fake.requests if r.method == method and r.fault]


def recorded(method: str, count: int) -> Callable[[FakeBotApi], bool]:
    """At least `count` faults on `method` recorded (a timed-out request is recorded only when
    the fake gives up holding it)."""
    return lambda fake: len(faults_hit(fake, method)) >= count


# Where each method is first called: the walk ends with a tapped quick exit.
CONVERSATION_METHODS = [
    "getUpdates",
    "deleteMessage",  # the typed /start, deleted once read
    "sendMessage",  # the first step
    "answerCallbackQuery",  # the first tap
    "editMessageText",  # the first tap's step, edited in place
    "editMessageReplyMarkup",  # the typed place: the old step's buttons removed
    "deleteMessages",  # the quick exit
]


@pytest.mark.parametrize("method", CONVERSATION_METHODS)
async def test_each_fault_on_each_method_of_a_conversation(
    method: str,
    fake: FakeBotApi,
    tmp_path: Path,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    settings = settings_for(fake, tmp_path)
    async with running(fake, settings, clock, TIMEOUT) as bot:
        await conversation(bot, 600)
        expected = visible(bot, 600)
        for number, faults in enumerate([IN_TURN, BLOCKED], start=1):
            chat = 600 + number
            before = len(faults_hit(fake, method))
            for fault in faults:
                fake.inject(method, fault)
            if faults == BLOCKED:
                await blocked_walk(bot, fake, chat, method, tmp_path / "telegram.db")
            else:
                await conversation(bot, chat)
                assert visible(bot, chat) == expected, (method, faults)
                await bot.tap("Quick exit", chat)
                assert (fake.chat(chat)[0].plain_text or "").startswith(FAREWELL)
                assert len(fake.chat(chat)) == 1, (method, faults, fake.chat(chat))
                assert session_of(tmp_path / "telegram.db", chat) == 0
            await fake.until(recorded(method, before + len(faults)))
            assert faults_hit(fake, method)[before:] == list(faults), (method, faults)
    # Only python-telegram-bot's own report of a failed poll may be an error; the bot's
    # handlers never let one out.
    errors = [
        r for r in caplog.records if r.levelno >= logging.ERROR and "polling" not in r.getMessage()
    ]
    assert errors == [], [r.getMessage() for r in errors]


async def blocked_walk(bot: Running, fake: FakeBotApi, chat: int, method: str, db: Path) -> None:
    """A 403 on `method`: the bot takes it that the person blocked it, and forgets them (it can
    no longer delete anything). A 403 on acknowledging a tap, or on a poll, changes nothing."""
    forgotten = False

    def gone() -> bool:
        nonlocal forgotten
        forgotten = bool(faults_hit(fake, method)) and session_of(db, chat) == 0
        return forgotten

    await conversation(bot, chat, until=gone)
    if method in ("answerCallbackQuery", "getUpdates"):
        assert not forgotten
        await bot.tap("Quick exit", chat)
        assert len(fake.chat(chat)) == 1
        return
    if not forgotten:  # the 403 came at the quick exit itself
        await bot.tap("Quick exit", chat)
    assert session_of(db, chat) == 0
    # Coming back is a fresh, polite start.
    await bot.say("/start", chat)
    assert "First, are you in danger right now?" in visible(bot, chat)[-1]
    await bot.say("/exit", chat)
    assert session_of(db, chat) == 0


@pytest.mark.parametrize("faults", [IN_TURN, BLOCKED], ids=["in turn", "403"])
async def test_leaving_a_group_survives_each_fault(
    faults: tuple[str, ...], fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    async with running(fake, settings_for(fake, tmp_path), clock, TIMEOUT) as bot:
        for fault in faults:
            fake.inject("leaveChat", fault)
        await bot.act(lambda: fake.add_bot_to_group(-9001, by_user=5))
        if faults != BLOCKED:  # 403 means the bot is not in the group any more
            await fake.until(lambda f: -9001 in f.left_chats)
        assert [c for c in fake.calls("sendMessage") if c["chat_id"] == -9001] == []


@pytest.mark.parametrize("method", ["sendDocument", "getFile"])
@pytest.mark.parametrize("faults", [IN_TURN, BLOCKED], ids=["in turn", "403"])
async def test_a_managers_files_survive_each_fault(
    method: str, faults: tuple[str, ...], fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    settings = settings_for(fake, tmp_path, owner_ids=frozenset({OWNER}))
    fault = faults[-1]
    async with running(fake, settings, clock, TIMEOUT) as bot:
        await bot.say("/admin", OWNER)
        for each in faults:
            fake.inject(method, each)
        if method == "sendDocument":
            await bot.tap("Export", OWNER)
            documents = [m for m in fake.chat(OWNER) if m.kind == "document"]
            assert len(documents) == (0 if fault == "403" else 1)
        else:
            await bot.tap("Import a file", OWNER)
            await bot.act(lambda: fake.send_document(OWNER, "d.csv", b"id,name\n"))
            newest = bot.bot_messages(OWNER)[-1].plain_text or ""
            assert ("Nothing to import" in newest) is (fault != "403"), newest
        await bot.say("/admin", OWNER)  # the manager carries on
        assert "Directory admin" in (bot.bot_messages(OWNER)[-1].plain_text or "")
