"""The real bot, over HTTP on 127.0.0.1, against the fake Bot API: a person's whole experience."""

from __future__ import annotations

import asyncio
import gc
import logging
import shutil
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.channels.telegram.app import build_application, serve_webhook
from bot.channels.telegram.flood import PerChatUpdateProcessor
from bot.channels.telegram.handlers import TelegramChannel
from bot.config import Webhook
from bot.engine.model import Event
from tests.conftest import DIRECTORY, FakeClock
from tests.fakebot import TOKEN, FakeBotApi
from tests.telegram_support import CHAT, PATIENCE, Running, running_bot, settings_for

SILENT_SOLUTION = "press 55 when the automated message asks"
# The first step: danger first, then no, the languages in their own words, and the quick exit.
OPENING_LABELS = [
    "Yes, I'm in danger now",
    "No, not right now",
    "Language · Iaith · Język · Limba · زبان",
    "Quick exit",
]


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeBotApi]:
    with FakeBotApi(clock=clock) as server:
        yield server
    # Whatever a test did, the bot never sent a request the real Telegram would refuse,
    # and every message it sent was protected from forwarding and saving.
    assert server.refused == [], [(r.method, r.description) for r in server.refused]
    assert all(call.get("protect_content") is True for call in server.calls("sendMessage"))


@pytest.fixture
async def bot(fake: FakeBotApi, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Running]:
    async with running_bot(fake, settings_for(fake, tmp_path), clock) as running:
        yield running


def session_rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM sessions").fetchone()[0])


async def walk_to_services(bot: Running) -> None:
    await bot.say("/start")
    await bot.tap("No, not right now")
    await bot.tap("Me")
    await bot.tap("Yes, I can talk")
    await bot.tap("Skip the questions")
    await bot.tap("Someone to talk to")
    await bot.say("Bletchley")


async def test_start_asks_about_danger_with_both_ways_out_one_tap_away(
    bot: Running, fake: FakeBotApi
) -> None:
    start = await bot.say("/start")
    (message,) = bot.bot_messages()
    assert "First, are you in danger right now?" in (message.plain_text or "")
    assert bot.labels() == OPENING_LABELS
    assert message.protect_content and message.parse_mode == "HTML"
    assert (message.link_preview_options or {}).get("is_disabled") is True
    # The person's own message was deleted once read, and they were told why, once.
    assert start in fake.deleted(CHAT)
    assert "I delete the messages you type once I have read them" in bot.text()
    assert "This chat clears itself if you leave it for 15 minutes." in bot.text()


async def test_danger_shows_999_and_the_silent_solution(bot: Running) -> None:
    await bot.say("/start")
    await bot.tap("Yes, I'm in danger now")
    text = " ".join(bot.text().split())
    assert "call 999" in text and SILENT_SOLUTION in text
    await bot.tap("Back to where I was")
    assert "Who are you looking for help for?" in bot.text()


async def test_a_tap_edits_the_step_in_place(bot: Running, fake: FakeBotApi) -> None:
    await bot.say("/start")
    await bot.tap("No, not right now")
    assert len(bot.bot_messages()) == 1
    assert fake.calls("editMessageText")
    assert "Who are you looking for help for?" in bot.text()
    # The one-off note about deleting typed messages is not repeated.
    await bot.say("hello")
    assert "I delete the messages you type" not in bot.text()
    assert "Please choose one of the options below." in bot.text()


async def test_services_arrive_as_cards_with_the_buttons_on_the_last(
    bot: Running, fake: FakeBotApi, tmp_path: Path
) -> None:
    await walk_to_services(bot)
    messages = bot.bot_messages()
    assert len(messages) >= 3
    assert any((m.plain_text or "").startswith("These services can help.") for m in messages)
    cards = [m for m in messages if (m.plain_text or "").startswith("MK-Act")]
    assert cards, bot.text()
    assert "0344 375 4307" in (cards[0].plain_text or "")
    assert messages[-1].reply_markup is not None
    assert all(m.reply_markup is None for m in messages[:-1])
    # What was typed was deleted from the chat and is not kept with the conversation.
    with sqlite3.connect(tmp_path / "telegram.db") as conn:
        rows = repr(conn.execute("SELECT * FROM sessions").fetchall())
    assert "Bletchley" not in rows and "milton-keynes" in rows


async def test_typed_words_are_stored_nowhere(bot: Running, tmp_path: Path) -> None:
    await bot.say("/start")
    await bot.tap("No, not right now")
    await bot.tap("Me")
    await bot.tap("Yes, I can talk")
    await bot.tap("Skip the questions")
    await bot.tap("Someone to talk to")
    await bot.say("Quokkaville-7731 is where I live")
    files = [tmp_path / name for name in ("telegram.db", "telegram.db-wal", "telegram.db-shm")]
    raw = b"".join(path.read_bytes() for path in files if path.exists())
    assert b"Quokkaville" not in raw


async def test_quick_exit_deletes_every_message_and_says_what_it_could_not(
    bot: Running, fake: FakeBotApi, tmp_path: Path
) -> None:
    await walk_to_services(bot)
    before = [m.message_id for m in fake.chat(CHAT)]
    await bot.tap("Quick exit")
    (batch,) = fake.calls("deleteMessages")
    assert set(before) <= set(batch["message_ids"]) | set(fake.deleted(CHAT))
    (farewell,) = fake.chat(CHAT)
    assert "This chat has been cleared and closed." in (farewell.plain_text or "")
    assert "still shows in your chat list" in (farewell.plain_text or "")
    assert farewell.reply_markup is None
    assert session_rows(tmp_path / "telegram.db") == 0


@pytest.mark.parametrize("how", ["/exit", "exit", "Exit"])
async def test_quick_exit_by_command_or_word(bot: Running, fake: FakeBotApi, how: str) -> None:
    await bot.say("/start")
    await bot.tap("No, not right now")
    await bot.say(how)
    assert len(fake.chat(CHAT)) == 1
    assert "This chat has been cleared" in bot.text()


async def test_a_cover_message_can_follow_the_exit(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    settings = settings_for(fake, tmp_path, cover_message="Your order <#123> has shipped")
    async with running_bot(fake, settings, clock) as bot:
        await bot.say("/start")
        await bot.say("/exit")
    assert [m.plain_text for m in fake.chat(CHAT)][-1] == "Your order <#123> has shipped"


async def test_wipe_falls_back_to_one_by_one_without_delete_messages(
    bot: Running, fake: FakeBotApi
) -> None:
    fake.remove_method("deleteMessages")
    await bot.say("/start")
    await bot.tap("No, not right now")
    await bot.tap("Quick exit")
    assert fake.calls("deleteMessages") == []
    assert len(fake.calls("deleteMessage")) >= 2
    assert len(fake.chat(CHAT)) == 1


async def test_messages_over_48_hours_old_are_left_and_the_person_told(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    async with running_bot(fake, settings_for(fake, tmp_path, idle_minutes=5000), clock) as bot:
        await bot.say("/start")
        old = [m.message_id for m in fake.chat(CHAT)]
        clock.advance(hours=49)
        await bot.say("/help")
        await bot.tap("Quick exit")
    asked = {i for call in fake.calls("deleteMessages") for i in call["message_ids"]}
    assert not set(old) & asked
    assert "1 older messages could not be removed" in bot.text()


async def test_an_idle_chat_clears_itself(
    bot: Running, fake: FakeBotApi, clock: FakeClock, tmp_path: Path
) -> None:
    await bot.say("/start")
    await bot.tap("No, not right now")
    clock.advance(minutes=14)
    assert await bot.channel.sweep(bot.app.bot) == 0
    clock.advance(minutes=1)
    assert await bot.channel.sweep(bot.app.bot) == 1
    assert fake.chat(CHAT) == []
    assert session_rows(tmp_path / "telegram.db") == 0


async def test_auto_clear_happens_after_a_restart_too(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    settings = settings_for(fake, tmp_path)
    async with running_bot(fake, settings, clock) as bot:
        await bot.say("/start")
        await bot.tap("No, not right now")
    assert fake.chat(CHAT)
    clock.advance(minutes=20)  # the bot was stopped while the time ran out
    async with running_bot(fake, settings, clock):
        assert fake.chat(CHAT) == []
    assert session_rows(tmp_path / "telegram.db") == 0


async def test_the_start_up_sweep_runs_however_long_start_up_takes(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    """The job scheduler drops a job more than a second late unless told otherwise: a slow
    start-up must not leave chats that ran out of time while the bot was stopped."""
    settings = settings_for(fake, tmp_path)
    async with running_bot(fake, settings, clock) as bot:
        await bot.say("/start")
        await bot.tap("No, not right now")
    clock.advance(minutes=20)
    async with running_bot(fake, settings, clock, slow_start_up=1.5) as bot:
        assert bot.channel.swept_at_start.is_set()
        assert fake.chat(CHAT) == []
    assert session_rows(tmp_path / "telegram.db") == 0


async def test_a_conversation_resumes_after_a_restart(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    settings = settings_for(fake, tmp_path)
    async with running_bot(fake, settings, clock) as bot:
        await bot.say("/start")
        await bot.tap("No, not right now")
        message_id, data = bot.data_of("Me")
    async with running_bot(fake, settings, clock) as bot:
        await bot.press(message_id, data)
        assert "Is it safe for you to talk now?" in bot.text()


async def test_a_stale_button_is_answered_and_changes_nothing(
    bot: Running, fake: FakeBotApi
) -> None:
    await bot.say("/start")
    message_id, stale = bot.data_of("No, not right now")
    await bot.tap("No, not right now")
    query = await bot.press(message_id, stale)
    assert (fake.answered_callbacks[query] or "").startswith("That button has expired.")
    assert "Who are you looking for help for?" in bot.text()
    await bot.tap("Me")  # the conversation carries on from where it really was
    assert "Is it safe for you to talk now?" in bot.text()


@pytest.mark.parametrize("data", ["garbage", "s:core.exited:x", "w:nonsense", "s:opening.who:me"])
async def test_forged_callback_data_changes_nothing(
    bot: Running, fake: FakeBotApi, data: str
) -> None:
    await bot.say("/start")
    message_id = bot.live().message_id
    query = await bot.press(message_id, data)
    assert (fake.answered_callbacks[query] or "").startswith("That button has expired.")
    assert "First, are you in danger right now?" in bot.text()


async def test_a_press_from_another_person_is_answered_and_ignored(
    bot: Running, fake: FakeBotApi
) -> None:
    await bot.say("/start")
    message_id, data = bot.data_of("No, not right now")
    sent = len(fake.calls("sendMessage")) + len(fake.calls("editMessageText"))
    query = await bot.press(message_id, data, from_id=999001)
    assert query in fake.answered_callbacks
    assert len(fake.calls("sendMessage")) + len(fake.calls("editMessageText")) == sent


async def test_every_button_press_is_answered(bot: Running, fake: FakeBotApi) -> None:
    await walk_to_services(bot)
    await bot.tap("Ideas to stay safer")
    presses = [r for r in fake.requests if r.method == "answerCallbackQuery"]
    assert len(presses) == 6
    assert all(r.status == 200 for r in presses)


async def test_groups_and_channels_get_nothing_but_a_departure(
    bot: Running, fake: FakeBotApi
) -> None:
    fake.add_bot_to_group(-1001, by_user=5)
    fake.send_group_text(-1002, from_id=5, text="/start")
    fake.channel_post(-1003, "hello")
    await fake.until(lambda f: {-1001, -1002, -1003} <= f.left_chats)
    sent_to = {c["chat_id"] for c in fake.calls("sendMessage")}
    assert not sent_to & {-1001, -1002, -1003}


async def test_a_person_who_blocks_the_bot_is_forgotten(
    bot: Running, fake: FakeBotApi, tmp_path: Path
) -> None:
    await bot.say("/start")
    message_id, data = bot.data_of("No, not right now")
    fake.block(CHAT, notify=False)
    await bot.press(message_id, data)  # the reply meets 403 Forbidden
    assert session_rows(tmp_path / "telegram.db") == 0


async def test_blocking_noticed_through_a_membership_update(
    bot: Running, fake: FakeBotApi, tmp_path: Path
) -> None:
    await bot.say("/start")
    await bot.act(lambda: fake.block(CHAT))
    assert session_rows(tmp_path / "telegram.db") == 0


async def test_a_429_storm_is_waited_out_in_order(bot: Running, fake: FakeBotApi) -> None:
    fake.inject("sendMessage", "429", times=3, retry_after=7)
    await walk_to_services(bot)
    assert bot.sleeps.count(7) == 3
    texts = [m.plain_text or "" for m in bot.bot_messages()]
    services = next(i for i, t in enumerate(texts) if t.startswith("These services can help"))
    assert texts[services + 1].startswith("MK-Act")


async def test_server_errors_and_dropped_connections_are_retried(
    bot: Running, fake: FakeBotApi
) -> None:
    fake.inject("sendMessage", "500", times=2)
    await bot.say("/start")
    fake.inject("editMessageText", "drop")
    await bot.tap("No, not right now")
    assert "Who are you looking for help for?" in bot.text()
    assert len(bot.sleeps) == 3


async def test_a_timeout_is_retried(bot: Running, fake: FakeBotApi) -> None:
    fake.timeout_seconds = 1.5  # longer than the bot's 1-second read timeout here
    fake.inject("sendMessage", "timeout")
    await bot.say("/start")
    assert "First, are you in danger right now?" in bot.text()


async def test_a_flooding_person_does_not_slow_anyone_else(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    processor = PerChatUpdateProcessor(rate=20, burst=2, max_pending=5)
    flooder, other = 7001, 7002
    async with running_bot(
        fake, settings_for(fake, tmp_path), clock, processor, in_process=False
    ) as bot:
        await bot.say("/start", chat=flooder)
        for _ in range(30):
            fake.send_text(flooder, "hello?")
        fake.send_text(other, "/start")
        await fake.until(lambda f: any(m.from_bot for m in f.chat(other)))
        assert processor.dropped > 0
        # The other person was answered while the flood was still being worked through.
        await fake.until(lambda f: not f.pending_updates)
    assert len([c for c in fake.calls("editMessageText") if c["chat_id"] == flooder]) < 30


async def test_logs_carry_no_token_no_words_and_no_chat_ids(
    bot: Running, fake: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    fake.inject("sendMessage", "500")
    await bot.say("/start")
    await bot.say("Zanzibar-marker-text")
    logged = caplog.text
    assert TOKEN not in logged
    assert "Zanzibar" not in logged
    assert str(CHAT) not in logged


async def test_directory_text_with_markup_characters_renders_literally(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    directory = tmp_path / "directory"
    shutil.copytree(DIRECTORY, directory)
    services = directory / "services.yaml"
    services.write_text(
        services.read_text().replace(
            "The domestic abuse service for Milton Keynes:",
            "The <b>domestic</b> abuse service for Milton Keynes & area:",
        )
    )
    settings = settings_for(fake, tmp_path, directory_dir=directory)
    async with running_bot(fake, settings, clock) as bot:
        await walk_to_services(bot)
        assert "The <b>domestic</b> abuse service for Milton Keynes & area:" in bot.text()


async def test_the_webhook_refuses_requests_without_the_secret(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock, unused_tcp_port: int
) -> None:
    """Webhook mode as `python -m bot run` serves it: Pathways' aiohttp server, the real
    Application behind it, and the Bot API over HTTP."""
    import httpx

    # The update below is posted straight to the webhook, so the fake has no such message
    # for the bot to delete: leave typed messages alone in this test.
    hook = Webhook("https://bot.example.org/telegram", "s3cret-token", "127.0.0.1", unused_tcp_port)
    settings = settings_for(fake, tmp_path, delete_typed=False, webhook=hook)
    channels: list[TelegramChannel] = []
    app = build_application(settings, clock=clock, on_channel=channels.append, polling=False)
    stop = asyncio.Event()
    serving = asyncio.create_task(serve_webhook(app, settings, stop))
    await fake.until(lambda f: bool(f.calls("setWebhook")))
    (channel,) = channels
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": int(clock().timestamp()),
            "chat": {"id": CHAT, "type": "private", "first_name": "Test"},
            "from": {"id": CHAT, "is_bot": False, "first_name": "Test"},
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }
    url = f"http://127.0.0.1:{unused_tcp_port}/telegram"
    try:
        async with httpx.AsyncClient() as client:
            missing = await client.post(url, json=update)
            wrong = await client.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
            )
            assert (missing.status_code, wrong.status_code) == (403, 403)
            assert channel.handled == 0
            right = await client.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
            )
            assert right.status_code == 200
            async with asyncio.timeout(PATIENCE):
                await channel.wait_handled(1)
    finally:
        stop.set()
        await serving
    assert any("are you in danger right now?" in (m.plain_text or "") for m in fake.chat(CHAT))
    (registered,) = fake.calls("setWebhook")
    assert registered["secret_token"] == "s3cret-token"
    assert registered["url"] == "https://bot.example.org/telegram"


# -- nothing is left behind, whatever goes wrong ------------------------------------------------


def pending_wipes(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM pending_wipes").fetchone()[0])


async def test_a_failed_quick_exit_is_retried_until_the_chat_is_clear(
    bot: Running, fake: FakeBotApi, tmp_path: Path
) -> None:
    await walk_to_services(bot)
    fake.inject("deleteMessages", "500", times=4)  # more than the bot's retries
    await bot.tap("Quick exit")
    # Nothing claims the chat was cleared while it was not, and nothing was forgotten.
    assert "This chat has been cleared" not in bot.text()
    assert pending_wipes(tmp_path / "telegram.db") == 1
    await bot.channel.sweep(bot.app.bot)
    assert [m for m in fake.chat(CHAT) if m.from_bot] == []
    assert pending_wipes(tmp_path / "telegram.db") == 0


async def test_messages_the_bot_never_recorded_are_wiped_too(
    bot: Running, fake: FakeBotApi
) -> None:
    await bot.say("/start")
    await bot.tap("No, not right now")
    # A message sent but never recorded (as after a crash between sending and recording, or a
    # duplicate left by a retry after a timeout).
    await bot.app.bot.send_message(CHAT, "an unrecorded message", protect_content=True)
    await bot.say("what now?")  # answered with a new message, recorded as usual
    await bot.tap("Me")
    await bot.tap("Quick exit")
    assert "an unrecorded message" not in bot.text()
    assert len(fake.chat(CHAT)) == 1


async def test_the_farewell_itself_is_cleared_later(
    bot: Running, fake: FakeBotApi, clock: FakeClock
) -> None:
    await bot.say("/start")
    await bot.say("/exit")
    assert len(fake.chat(CHAT)) == 1
    clock.advance(minutes=15)
    await bot.channel.sweep(bot.app.bot)
    assert fake.chat(CHAT) == []


async def test_one_chat_in_trouble_does_not_stop_the_others_being_cleared(
    bot: Running, fake: FakeBotApi, clock: FakeClock
) -> None:
    first, second = 5101, 5102
    await bot.say("/start", chat=first)
    await bot.say("/start", chat=second)
    clock.advance(minutes=16)
    fake.inject("deleteMessages", "500", times=4)  # the first chat's wipe fails
    assert await bot.channel.sweep(bot.app.bot) == 2
    assert [m for m in fake.chat(second) if m.from_bot] == []
    assert [m for m in fake.chat(first) if m.from_bot]  # still there, to be tried again
    await bot.channel.sweep(bot.app.bot)
    assert [m for m in fake.chat(first) if m.from_bot] == []


async def test_a_terminal_chat_in_the_same_database_does_not_disturb_telegram(
    bot: Running, fake: FakeBotApi, clock: FakeClock
) -> None:
    await bot.channel.conversations.handle("console", Event.start())
    await bot.say("/start")
    clock.advance(minutes=16)
    assert await bot.channel.sweep(bot.app.bot) == 1
    assert fake.chat(CHAT) == []


async def test_a_quick_exit_gets_through_a_flood(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    processor = PerChatUpdateProcessor(rate=20, burst=2, max_pending=3)
    async with running_bot(
        fake, settings_for(fake, tmp_path), clock, processor, in_process=False
    ) as bot:
        await bot.say("/start")
        for number in range(15):
            fake.send_text(CHAT, f"secret words {number}")
        fake.send_text(CHAT, "/exit")
        await fake.until(
            lambda f: any("cleared and closed" in (m.plain_text or "") for m in f.chat(CHAT))
        )
        await fake.until(lambda f: not f.pending_updates)
        assert processor.dropped > 0
    # Every typed message is gone, read or dropped, and only the farewell remains.
    assert [m.plain_text for m in fake.chat(CHAT) if not m.from_bot] == []
    assert session_rows(tmp_path / "telegram.db") == 0


async def test_typing_start_again_always_gets_a_reply(bot: Running, fake: FakeBotApi) -> None:
    await bot.say("/start")
    sent = len(fake.calls("sendMessage"))
    await bot.say("/start")
    assert len(fake.calls("sendMessage")) == sent + 1


async def test_nothing_of_the_chat_lingers_in_the_database_files_once_cleared(
    bot: Running, tmp_path: Path, clock: FakeClock
) -> None:
    await walk_to_services(bot)
    await bot.tap("Quick exit")
    clock.advance(minutes=15)
    await bot.channel.sweep(bot.app.bot)  # the farewell goes too
    files = [tmp_path / name for name in ("telegram.db", "telegram.db-wal", "telegram.db-shm")]
    raw = b"".join(path.read_bytes() for path in files if path.exists())
    assert f"tg:{CHAT}".encode() not in raw
    assert session_rows(tmp_path / "telegram.db") == 0


async def test_the_running_bot_keeps_the_collector_off_what_start_up_built(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    """`python -m bot run` freezes its start-up objects, so full collections stay short;
    bots started by tests (many in one process) do not."""
    assert gc.get_freeze_count() == 0
    async with running_bot(fake, settings_for(fake, tmp_path / "a"), clock):
        assert gc.get_freeze_count() == 0
    try:
        async with running_bot(
            fake, settings_for(fake, tmp_path / "b"), clock, freeze_start_up=True
        ) as bot:
            assert gc.get_freeze_count() > 0
            await bot.say("/start")  # and it still answers
            assert bot.labels() == OPENING_LABELS
    finally:
        gc.unfreeze()


class HeldDeletes(FakeBotApi):
    """A Bot API whose deleteMessages calls wait until `release` is set."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock=clock)
        self.release = threading.Event()

    def _answer(self, path: str, content_type: str, body: bytes) -> Any:
        if path.rstrip("/").endswith("/deleteMessages"):
            self.release.wait(10)
        return super()._answer(path, content_type, body)


async def test_after_an_outage_people_are_answered_while_old_chats_are_still_being_cleared(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The start-up sweep runs alongside the first replies: someone writing in as the bot
    comes back is not kept waiting behind the chats left idle while it was down."""
    other = CHAT + 1
    with HeldDeletes(clock) as fake:
        settings = settings_for(fake, tmp_path)
        fake.release.set()
        async with running_bot(fake, settings, clock, in_process=False) as bot:
            await bot.say("/start")
            await bot.tap("No, not right now")
        clock.advance(minutes=20)  # the bot was down while this chat's time ran out
        fake.release.clear()
        async with running_bot(
            fake, settings, clock, wait_for_start_up_sweep=False, in_process=False
        ) as bot:
            await bot.say("/start", chat=other)
            assert "First, are you in danger right now?" in bot.text(other)
            assert not bot.channel.swept_at_start.is_set()  # still clearing the old chat
            fake.release.set()
            await asyncio.wait_for(bot.channel.swept_at_start.wait(), PATIENCE)
            assert fake.chat(CHAT) == []
        assert fake.refused == []
