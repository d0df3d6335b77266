"""Run the real Telegram Application against the fake Bot API, and play a person."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from telegram import Update

from bot.channels.telegram.app import ALLOWED_UPDATES, TelegramApp, build_application
from bot.channels.telegram.flood import PerChatUpdateProcessor
from bot.channels.telegram.handlers import TelegramChannel
from bot.channels.telegram.sender import Sleep
from bot.config import Settings
from tests.conftest import DIRECTORY, FLOWS, LOCALES, FakeClock
from tests.fakebot import TOKEN, FakeBotApi
from tests.fakebot.inprocess import InProcessRequest
from tests.fakebot.server import ChatMessage

CHAT = 424242  # a person's private chat (the same number as their user id)
# A bound on waits for the bot, only so a broken test fails rather than hangs: the waits
# themselves are on conditions, never on time.
PATIENCE = 120


# What a chat shows: its newest message with buttons, by id and text (None: no buttons at all).
Showing = tuple[int, str | None] | None


class ChatReader:
    """What a person sees of their private chat with the bot, as the fake Bot API holds it
    (for a test's person; `fake` and `chat` are theirs)."""

    fake: FakeBotApi
    chat: int

    def bot_messages(self) -> list[ChatMessage]:
        return [m for m in self.fake.chat(self.chat) if m.from_bot]

    def live(self) -> ChatMessage | None:
        with_buttons = [m for m in self.bot_messages() if m.reply_markup]
        return with_buttons[-1] if with_buttons else None

    def showing(self) -> Showing:
        live = self.live()
        return None if live is None else (live.message_id, live.text)

    def text(self) -> str:
        return "\n".join(m.plain_text or "" for m in self.bot_messages())


def moved_on(now: Showing, before: Showing) -> bool:
    """The chat shows a step other than `before`: its message edited in place, or a newer one
    with buttons. Not an older message's buttons (a card's), which are all the chat shows in
    the moment between the old step's buttons going and the new step's coming."""
    return now is not None and now != before and (before is None or now[0] >= before[0])


def settings_for(fake: FakeBotApi, tmp_path: Path, **changes: Any) -> Settings:
    base = Settings(
        token=TOKEN,
        db_path=tmp_path / "telegram.db",
        idle_minutes=15,
        flows_dir=FLOWS,
        directory_dir=DIRECTORY,
        locales_dir=LOCALES,
        api_base_url=fake.base_url,
        sweep_seconds=3600,  # tests run the sweep themselves, at clock times they choose
        web=None,  # tests run side by side: no web chat on port 8080
    )
    return dataclasses.replace(base, **changes)


@dataclass
class Running:
    fake: FakeBotApi
    app: TelegramApp
    channel: TelegramChannel
    clock: FakeClock
    sleeps: list[float] = field(default_factory=list)

    # -- looking at the chat -------------------------------------------------------------------

    def bot_messages(self, chat: int = CHAT) -> list[ChatMessage]:
        return [m for m in self.fake.chat(chat) if m.from_bot]

    def live(self, chat: int = CHAT) -> ChatMessage:
        """The newest message that carries buttons."""
        with_buttons = [m for m in self.bot_messages(chat) if m.reply_markup]
        assert with_buttons, f"no message with buttons in {self.fake.chat(chat)}"
        return with_buttons[-1]

    def labels(self, chat: int = CHAT) -> list[str]:
        rows = self.live(chat).reply_markup or {}
        return [b["text"] for row in rows["inline_keyboard"] for b in row]

    def text(self, chat: int = CHAT) -> str:
        return "\n".join(m.plain_text or "" for m in self.bot_messages(chat))

    # -- acting ---------------------------------------------------------------------------------

    def data_of(self, label: str, chat: int = CHAT) -> tuple[int, str]:
        """The live message's id and the callback data of its button `label`."""
        message = self.live(chat)
        rows = (message.reply_markup or {})["inline_keyboard"]
        data = next(b["callback_data"] for row in rows for b in row if b["text"] == label)
        return message.message_id, data

    async def tap(self, label: str, chat: int = CHAT) -> str:
        """Tap a button on the live message, and wait until the bot has finished with it."""
        message_id, data = self.data_of(label, chat)
        return await self.press(message_id, data, chat)

    async def press(self, message_id: int, data: str, chat: int = CHAT, **kw: Any) -> str:
        return await self.act(lambda: self.fake.press(chat, message_id, data, **kw))

    async def say(self, text: str, chat: int = CHAT) -> int:
        return await self.act(lambda: self.fake.send_text(chat, text))

    async def act(self, action: Callable[[], Any], updates: int = 1) -> Any:
        """Do something that sends the bot `updates` updates; wait until it has handled them."""
        target = self.channel.handled + updates
        result = action()
        async with asyncio.timeout(PATIENCE):
            await self.channel.wait_handled(target)
        return result


@asynccontextmanager
async def running_bot(
    fake: FakeBotApi,
    settings: Settings,
    clock: FakeClock,
    processor: PerChatUpdateProcessor | None = None,
    freeze_start_up: bool = False,
    wait_for_start_up_sweep: bool = True,
    in_process: bool = True,
    slow_start_up: float = 0.0,
    sleep: Sleep | None = None,
    network_timeout: float = 10.0,
) -> AsyncIterator[Running]:
    """The bot as `python -m bot run` starts it, with its clock and its sleeps under control.

    In process by default (tests/fakebot/inprocess.py): the same Application and handlers, with
    no HTTP: its requests answered by the fake directly, updates put on its queue as a webhook
    would. `in_process=False`: over real HTTP, the bot long-polling the fake on 127.0.0.1, for
    what depends on the network (faults in transit, floods as polled, the process itself).
    `slow_start_up`: seconds start-up takes beyond its own work (a slow disk or Bot API, say).
    `sleep`: the bot's waits (flood control, retries); by default recorded and not waited.
    """
    sleeps: list[float] = []

    async def record(seconds: float) -> None:
        sleeps.append(seconds)
        if sleep is not None:
            await sleep(seconds)

    if processor is None:
        # A test taps as fast as the bot answers: the flood guard (tested on its own, with its
        # own settings) would otherwise hold every step after the eighth for half a second.
        processor = PerChatUpdateProcessor(rate=1000.0, burst=1000)
    channels: list[TelegramChannel] = []
    app = build_application(
        settings,
        clock=clock,
        sleep=record,
        processor=processor,
        # Over HTTP: generous, so a busy machine is not taken for a fault.
        timeout=network_timeout,
        on_channel=channels.append,
        freeze_start_up=freeze_start_up,
        requests=(InProcessRequest(fake), InProcessRequest(fake)) if in_process else None,
        polling=not in_process,
    )
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    await asyncio.sleep(slow_start_up)
    if in_process:
        fake.listen(lambda update: app.update_queue.put_nowait(Update.de_json(update, app.bot)))
    else:
        assert app.updater is not None
        await app.updater.start_polling(
            poll_interval=0.0, timeout=timedelta(seconds=1), allowed_updates=ALLOWED_UPDATES
        )
    await app.start()
    # The start-up sweep runs alongside the first replies; tests begin once it is done, as
    # they did when it ran before polling (tests/test_telegram_e2e.py checks it need not).
    if wait_for_start_up_sweep:
        await asyncio.wait_for(channels[0].swept_at_start.wait(), PATIENCE)
    try:
        yield Running(fake, app, channels[0], clock, sleeps)
    finally:
        fake.listen(None)
        # Stopping waits for every update being handled, and a handler waiting for an answer
        # the fake holds back (`FakeBotApi.hold`) would wait out its read timeout: they go
        # back first, whatever the test did.
        fake.let_go()
        try:
            # A bound only, so that a bot that cannot stop fails its test rather than hangs it.
            async with asyncio.timeout(PATIENCE):
                if app.updater is not None:
                    await app.updater.stop()
                await app.stop()
        finally:
            if not app.running:  # else the updater could not stop: nothing more can be done
                await app.shutdown()
                if app.post_shutdown is not None:
                    await app.post_shutdown(app)


Check = Callable[[FakeBotApi], bool]
