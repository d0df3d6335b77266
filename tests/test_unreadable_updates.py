"""An update python-telegram-bot cannot read is counted and skipped, and its words are never
logged (issue 17, item 4).

python-telegram-bot 22.8 raises reading, for instance, a poll without `allows_revoting` (as an
older Bot API server sends it). Before, one such update stopped long polling for everyone (the
offset never moved past it) and python-telegram-bot logged it whole, the person's words and
name, at CRITICAL on every poll; a webhook answered it with an error, so Telegram would send it
again and again. Here every string of the bad update carries a marker, it arrives between good
updates, and the marker must appear in no log at all: from `python -m bot run` as deployed,
and in process with the same logging set-up (`bot.logs.configure`).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import io
import logging
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram import Update
from telegram.ext import ExtBot, Updater

from bot import logs
from bot.channels.telegram import updates
from bot.channels.telegram.app import build_application, serve_webhook
from bot.channels.telegram.handlers import TelegramChannel
from bot.config import Webhook
from tests.conftest import FakeClock
from tests.fakebot import TOKEN, FakeBotApi
from tests.fakebot.inprocess import InProcessRequest
from tests.processes import free_port, run_bot
from tests.telegram_support import PATIENCE, running_bot, settings_for

MARKER = "Quillwort-Ambergris-5821"
FIRST, SECOND, STRANGER = 7100001, 7100002, 7100003  # two people, and the one who sent it
SKIPPED = "skipped an update python-telegram-bot could not read"
SECRET = "hook-Secret_9Kq2Vx7Lm4Tz8Rw1"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


def marked(field: str) -> str:
    return f"{MARKER}-{field}"


def _message(date: int) -> dict[str, Any]:
    """A private message from STRANGER, with the marker in every string it holds."""
    person = {
        "id": STRANGER,
        "is_bot": False,
        "first_name": marked("first-name"),
        "last_name": marked("last-name"),
        "username": marked("username"),
        "language_code": "en",
    }
    chat = {
        "id": STRANGER,
        "type": "private",
        "title": marked("chat-title"),
        "first_name": marked("chat-first-name"),
        "last_name": marked("chat-last-name"),
        "username": marked("chat-username"),
    }
    return {
        "message_id": 9001,
        "date": date,
        "chat": chat,
        "from": person,
        "text": marked("text"),
        "caption": marked("caption"),
    }


def _poll(allows_revoting: bool | None) -> dict[str, Any]:
    poll: dict[str, Any] = {
        "id": marked("poll-id"),
        "question": marked("question"),
        "options": [
            {"text": marked(f"option-{n}"), "voter_count": 0, "persistent_id": marked(f"o{n}")}
            for n in (1, 2)
        ],
        "total_voter_count": 0,
        "is_closed": False,
        "is_anonymous": True,
        "type": "regular",
        "allows_multiple_answers": False,
        "members_only": False,
        "explanation": marked("explanation"),
    }
    if allows_revoting is not None:
        poll["allows_revoting"] = allows_revoting
    return poll


def _without(message: dict[str, Any], *path: str) -> dict[str, Any]:
    changed = copy.deepcopy(message)
    *parents, last = path
    inner = changed
    for key in parents:
        inner = inner[key]
    del inner[last]
    return changed


# Shapes python-telegram-bot 22.8 cannot read (each checked below), each a whole update.
SHAPES: dict[str, Callable[[int], dict[str, Any]]] = {
    "a poll without allows_revoting": lambda date: {
        "message": {**_message(date), "poll": _poll(allows_revoting=None)}
    },
    "a message without its date": lambda date: {"message": _without(_message(date), "date")},
    "a sender without a first name": lambda date: {
        "message": _without(_message(date), "from", "first_name")
    },
    "a date that is text": lambda date: {"message": {**_message(date), "date": marked("date")}},
}


def unreadable(shape: str = "a poll without allows_revoting") -> dict[str, Any]:
    return SHAPES[shape](int(time.time()))


def pending_ids(fake: FakeBotApi) -> list[int]:
    return [u["update_id"] for u in fake.pending_updates]


def answered(fake: FakeBotApi, *chats: int) -> bool:
    return all(any(m.from_bot for m in fake.chat(chat)) for chat in chats)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_these_updates_are_ones_python_telegram_bot_cannot_read(shape: str) -> None:
    """What the rest of this file relies on; if python-telegram-bot learns to read one, the
    shape can go."""
    with pytest.raises(Exception):  # noqa: B017 - whatever reading it raises
        Update.de_json({"update_id": 1, **unreadable(shape)}, None)
    # and the same message with the poll a current server sends is read:
    fine = {"message": {**_message(int(time.time())), "poll": _poll(allows_revoting=True)}}
    assert Update.de_json({"update_id": 1, **fine}, None).message is not None


def test_a_get_updates_answer_keeps_its_readable_updates_and_only_the_id_of_the_others() -> None:
    good = {"update_id": 10, "message": {**_message(1795687200), "text": "/start"}}
    bad = {"update_id": 11, **unreadable()}
    payload = httpx.Response(200, json={"ok": True, "result": [good, bad]}).content
    before = updates.skipped()
    cleaned = httpx.Response(200, content=updates.without_unreadable(payload)).json()
    assert cleaned == {"ok": True, "result": [good, {"update_id": 11}]}
    assert updates.skipped() == before + 1
    all_good = httpx.Response(200, json={"ok": True, "result": [good]}).content
    assert updates.without_unreadable(all_good) is all_good  # nothing to do: nothing done
    for other in (b"not json", b'{"ok": false, "error_code": 409}', b'{"ok": true, "result": 1}'):
        assert updates.without_unreadable(other) is other
    assert updates.skipped() == before + 1


# -- the process as deployed ---------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeBotApi]:
    """On the real clock, as the bot process is."""
    with FakeBotApi() as server:
        yield server


@pytest.fixture
def clocked_fake(clock: FakeClock) -> Iterator[FakeBotApi]:
    """On the test's clock, as the bot in process is."""
    with FakeBotApi(clock=clock) as server:
        yield server


def start(fake: FakeBotApi, tmp_path: Path, **extra: str) -> subprocess.Popen[str]:
    return run_bot(
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "PATHWAYS_DB": str(tmp_path / "run.db"),
            **extra,
        }
    )


def stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return out + err


def assert_one_short_warning_and_no_marker(logged: str) -> None:
    assert MARKER not in logged
    skips = [line for line in logged.splitlines() if SKIPPED in line]
    assert len(skips) == 1, skips
    assert " WARNING bot.channels.telegram.updates: " in skips[0]
    assert skips[0].endswith("(message, TypeError): 1 so far")
    assert len(skips[0]) < 200
    assert " CRITICAL " not in logged and " ERROR " not in logged
    assert len(logged) < 5_000  # a few lines, not a flood


def test_polling_skips_an_unreadable_update_and_answers_everyone_else(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    fake.send_text(FIRST, "/start")
    bad = fake.queue_update(unreadable())
    fake.send_text(SECOND, "/start")
    process = start(fake, tmp_path)
    try:
        # Before, the whole batch failed at every poll: no one was answered.
        fake.wait_for(lambda f: answered(f, FIRST, SECOND), timeout=60)
        fake.wait_for(lambda f: bad not in pending_ids(f), timeout=30)  # the offset moved on
        fake.send_text(FIRST, "/start")  # and it carries on
        fake.wait_for(lambda f: len([m for m in f.chat(FIRST) if m.from_bot]) >= 2, timeout=60)
    finally:
        logged = stop(process)
    assert process.returncode == 0, logged
    assert_one_short_warning_and_no_marker(logged)
    assert fake.chat(STRANGER) == []  # nothing was sent to whoever sent it


def test_the_webhook_answers_an_unreadable_update_and_skips_it(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    port = free_port()
    process = start(
        fake,
        tmp_path,
        PATHWAYS_WEBHOOK_URL="https://bot.example.org/telegram",
        PATHWAYS_WEBHOOK_SECRET=SECRET,
        PATHWAYS_WEBHOOK_PORT=str(port),
    )
    sent: list[dict[str, Any]] = []
    fake.listen(sent.append)  # the fake's updates, to post to the webhook as Telegram would
    fake.send_text(FIRST, "/start")
    sent.append({"update_id": 500, **unreadable()})
    fake.send_text(SECOND, "/start")
    url = f"http://127.0.0.1:{port}/telegram"
    try:
        fake.wait_for(lambda f: bool(f.calls("setWebhook")), timeout=60)
        with httpx.Client(timeout=10, headers={HEADER: SECRET}) as client:
            statuses = [client.post(url, json=update).status_code for update in sent]
        # Answered 200, the bad one too: Telegram would otherwise send it again and again.
        assert statuses == [200, 200, 200]
        fake.wait_for(lambda f: answered(f, FIRST, SECOND), timeout=60)
    finally:
        logged = stop(process)
    assert process.returncode == 0, logged
    assert_one_short_warning_and_no_marker(logged)
    assert fake.chat(STRANGER) == []


def test_what_python_telegram_bot_logs_of_an_update_it_cannot_read_holds_none_of_it(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    """An update whose update_id is not a number is not skipped (the offset cannot be moved
    past it), so python-telegram-bot logs the whole batch at CRITICAL at every poll, as it did
    every unreadable update before: the process's logging keeps the logger, level, place and
    kind of failure of each record, and none of its words."""
    bad = {"update_id": "7", **unreadable()}
    polls: list[int] = []

    def get_updates(_params: dict[str, Any]) -> list[dict[str, Any]]:
        polls.append(1)
        if len(polls) <= 3:
            return [bad]
        time.sleep(0.2)  # a quiet long poll
        return []

    fake.respond("getUpdates", get_updates)
    process = start(fake, tmp_path)
    try:
        fake.wait_for(lambda f: len(f.calls("getUpdates")) >= 5, timeout=60)
    finally:
        logged = stop(process)
    assert process.returncode == 0, logged
    assert MARKER not in logged
    critical = [line for line in logged.splitlines() if " CRITICAL " in line]
    # python-telegram-bot's Bot ("Received data was ...") and Updater, at each of three polls
    assert len(critical) == 6, critical
    for line in critical:
        assert " CRITICAL telegram.ext.ExtBot: (details withheld) at _bot.py:" in line or (
            " CRITICAL telegram.ext.Updater: (details withheld) at _updater.py:" in line
        )
        assert line.endswith("; TypeError")
    assert "Traceback" not in logged


# -- in process, with the same logging set-up ----------------------------------------------------


@pytest.fixture
def process_logging() -> Iterator[Callable[[], io.StringIO]]:
    """`set_up()`: logging as `python -m bot run` sets it up (`bot.logs.configure`), written to
    a string as well. Called in the test itself, so that pytest's handlers for the test (and
    so `caplog`) get the same filters."""
    root = logging.getLogger()
    handlers: list[logging.Handler] = []

    def set_up() -> io.StringIO:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        handlers.append(handler)
        logs.configure(logging.WARNING, [TOKEN])
        return stream

    try:
        yield set_up
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        for handler in root.handlers:
            for kind in (logs.WithholdingFilter, logs.RedactingFilter):
                for each in [f for f in handler.filters if isinstance(f, kind)]:
                    handler.removeFilter(each)


def skip_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if SKIPPED in r.getMessage()]


@pytest.mark.parametrize("shape", sorted(SHAPES))
async def test_polling_in_process_counts_the_skip_and_logs_one_warning(
    clocked_fake: FakeBotApi,
    clock: FakeClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    process_logging: Callable[[], io.StringIO],
    shape: str,
) -> None:
    fake = clocked_fake
    caplog.set_level(logging.WARNING)
    stream = process_logging()
    async with running_bot(fake, settings_for(fake, tmp_path), clock, in_process=False) as bot:
        before = updates.skipped()
        fake.send_text(FIRST, "/start")
        bad = fake.queue_update(unreadable(shape))
        fake.send_text(SECOND, "/start")
        async with asyncio.timeout(30):
            await bot.channel.wait_handled(2)
        await fake.until(lambda f: bad not in pending_ids(f), timeout=30)
        assert updates.skipped() == before + 1
    assert answered(fake, FIRST, SECOND)
    (warning,) = skip_warnings(caplog)
    assert (warning.levelno, warning.name) == (logging.WARNING, "bot.channels.telegram.updates")
    assert [r for r in caplog.records if r.levelno > logging.WARNING] == []
    assert MARKER not in caplog.text and MARKER not in stream.getvalue()
    assert SKIPPED in stream.getvalue()


@pytest.mark.parametrize("shape", sorted(SHAPES))
async def test_the_webhook_in_process_answers_200_counts_and_skips(
    clocked_fake: FakeBotApi,
    clock: FakeClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    process_logging: Callable[[], io.StringIO],
    unused_tcp_port: int,
    shape: str,
) -> None:
    fake = clocked_fake
    caplog.set_level(logging.WARNING)
    stream = process_logging()
    hook = Webhook("https://bot.example.org/telegram", SECRET, "127.0.0.1", unused_tcp_port)
    settings = settings_for(fake, tmp_path, webhook=hook)
    channels: list[TelegramChannel] = []
    app = build_application(settings, clock=clock, on_channel=channels.append, polling=False)
    stop_serving = asyncio.Event()
    serving = asyncio.create_task(serve_webhook(app, settings, stop_serving))
    sent: list[dict[str, Any]] = []
    fake.listen(sent.append)
    fake.send_text(FIRST, "/start")
    sent.append({"update_id": 500, **unreadable(shape)})
    fake.send_text(SECOND, "/start")
    url = f"http://127.0.0.1:{unused_tcp_port}/telegram"
    try:
        await fake.until(lambda f: bool(f.calls("setWebhook")))
        before = updates.skipped()
        async with httpx.AsyncClient(headers={HEADER: SECRET}) as client:
            statuses = [(await client.post(url, json=update)).status_code for update in sent]
        assert statuses == [200, 200, 200]
        assert updates.skipped() == before + 1
        async with asyncio.timeout(PATIENCE):
            await channels[0].wait_handled(2)
    finally:
        stop_serving.set()
        await serving
    assert answered(fake, FIRST, SECOND)
    (warning,) = skip_warnings(caplog)
    assert warning.levelno == logging.WARNING
    assert [r for r in caplog.records if r.levelno > logging.WARNING] == []
    assert MARKER not in caplog.text and MARKER not in stream.getvalue()


# -- what the libraries log is kept free of content ----------------------------------------------


async def test_python_telegram_bots_own_records_of_an_unreadable_update_hold_none_of_it(
    fake: FakeBotApi, caplog: pytest.LogCaptureFixture, process_logging: Callable[[], io.StringIO]
) -> None:
    """python-telegram-bot's Updater, polling with a client that does not skip (the fake's in
    process one): it logs the whole batch at CRITICAL on every poll. With the process's logging,
    each record keeps its logger, level, place and the kind of failure, and nothing else."""
    caplog.set_level(logging.WARNING)
    stream = process_logging()
    fake.queue_update(unreadable())
    bot = ExtBot(
        TOKEN,
        base_url=fake.base_url,
        request=InProcessRequest(fake),
        get_updates_request=InProcessRequest(fake),
    )
    updater = Updater(bot, asyncio.Queue())
    async with updater:
        await updater.start_polling(poll_interval=0.01, timeout=timedelta(seconds=0))
        # The third poll has begun: the first two have failed, and been logged.
        await fake.until(lambda f: len(f.calls("getUpdates")) >= 3, timeout=30)
        # Its last getUpdates, to confirm what it had, fails on the same update.
        with contextlib.suppress(TypeError):
            await updater.stop()
    out = stream.getvalue()
    assert MARKER not in caplog.text and MARKER not in out
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) >= 4
    assert {r.name for r in critical} == {"telegram.ext.ExtBot", "telegram.ext.Updater"}
    for record in critical:
        message = record.getMessage()
        assert message.startswith("(details withheld) at ") and message.endswith("; TypeError")
        assert record.exc_info is None and record.exc_text is None
    assert "CRITICAL telegram.ext.Updater: (details withheld) at _updater.py:" in out


def test_other_libraries_records_keep_their_kind_and_ours_keep_their_words(
    caplog: pytest.LogCaptureFixture, process_logging: Callable[[], io.StringIO]
) -> None:
    caplog.set_level(logging.WARNING)
    stream = process_logging()
    for name in ("aiohttp.server", "apscheduler.executors.default", "asyncio", "httpx", "root"):
        logger = logging.getLogger(None if name == "root" else name)
        logger.warning("about %s and %r", marked("arg"), {"text": marked("dict")})
        logger.error(marked("pre-formatted message"))
        try:
            try:
                raise KeyError(marked("key"))
            except KeyError as exc:
                raise ValueError(marked("value")) from exc
        except ValueError:
            logger.exception("failed on %s", marked("arg"))
        logger.warning("with a stack", stack_info=True)
    ours = logging.getLogger("bot.channels.telegram.handlers")
    ours.warning("gave up sending to chat_id=%s (%s)", 5550001234, "NetworkError")
    ours.warning("the token %s", TOKEN)
    out = stream.getvalue()
    assert MARKER not in out and MARKER not in caplog.text
    assert "Traceback" not in out and "Stack (most recent call last)" not in out
    assert "ERROR aiohttp.server: (details withheld) at test_unreadable_updates.py:" in out
    assert "ERROR asyncio: (details withheld) at " in out and "ValueError from KeyError" in out
    assert "WARNING root: (details withheld)" in out
    # Pathways' own records say what they said, with the long numbers and secrets redacted.
    assert "gave up sending to chat_id=[redacted] (NetworkError)" in out
    assert "the token [redacted]" in out and TOKEN not in out
    assert "5550001234" not in out
