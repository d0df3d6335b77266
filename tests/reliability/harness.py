"""What the reliability checks share: a fake Bot API that can count, forge and kill; an update
processor that says when it is done; a log that catches every unhandled error; and the real
bot running in a thread of its own, so synchronous code (hypothesis, a crash driver) can drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

from telegram import Update

from bot.channels.telegram.app import ALLOWED_UPDATES, TelegramApp, build_application
from bot.channels.telegram.flood import PerChatUpdateProcessor
from bot.channels.telegram.handlers import TelegramChannel
from bot.config import Settings
from tests.conftest import FakeClock
from tests.fakebot import FakeBotApi, RequestError
from tests.fakebot.server import _DROP, _person
from tests.telegram_support import Running

T = TypeVar("T")

# Telegram's own accounts: the sender of an anonymous group admin's messages, and of posts
# forwarded from a channel. Neither is ever a person the bot may trust.
ANONYMOUS_ADMIN = 1087968824
CHANNEL_BOT = 136817688

_PATH = re.compile(r"/bot[^/]*/([^/?]+)")


@dataclass(frozen=True)
class Refusal:
    method: str
    description: str
    params: dict[str, Any]


class ReliableFake(FakeBotApi):
    """The fake Bot API, plus what the reliability checks need to see and do.

    - `delivered`: how many updates getUpdates has handed out, so a test knows when the bot has
      everything it was sent.
    - `refusals`: the bot's invalid requests, collected as they happen (cheap to check often).
    - `invalid_updates`: updates the tests made that do not fit the Bot API's `Update` type, so
      a fuzzer can never pass by sending nonsense Telegram would not send.
    - `on_request(method, phase)`: called before a request is answered ("before"; returning
      `server._DROP` there drops the connection unanswered) and after the answer is ready but
      before it is written back ("after"): where a crash test kills the bot.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delivered = 0
        self.refusals: list[Refusal] = []
        self.invalid_updates: list[str] = []
        self.queued: list[dict[str, Any]] = []
        self.on_request: Callable[[str, str], Any] | None = None

    # -- seeing -------------------------------------------------------------------------------

    def poke(self) -> None:
        """Wake everyone waiting in `wait_for`, to look again."""
        with self._cond:
            self._cond.notify_all()

    def settled(self, completed: int) -> bool:
        """Nothing left to deliver, and `completed` updates account for all that was."""
        with self._cond:
            return not self._updates and completed >= self.delivered

    def every_message(self, chat_id: int) -> list[tuple[int, bool, int, bool]]:
        """(message_id, from_bot, date, deleted) of every message the chat ever held."""
        with self._cond:
            stored = self._messages.get(chat_id, {})
            return [
                (m.message_id, m.from_bot, m.date, m.deleted) for _, m in sorted(stored.items())
            ]

    def raw_message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        with self._cond:
            stored = self._messages.get(chat_id, {}).get(message_id)
            return None if stored is None else copy.deepcopy(stored.raw)

    def is_blocked(self, chat_id: int) -> bool:
        with self._cond:
            return chat_id in self._blocked

    # -- acting -------------------------------------------------------------------------------

    def store_only(
        self, chat_id: int, *, language_code: str = "en", **fields: Any
    ) -> dict[str, Any]:
        """A person's message that exists in the chat, without queueing its update (the caller
        queues it, with update ids of its choosing)."""
        with self._cond:
            chat = self._chat(chat_id, default_type="private")
            stored = self._store(
                chat_id, chat, _person(chat_id, language_code), fields, from_bot=False
            )
            return copy.deepcopy(stored.raw)

    def callback(
        self,
        *,
        from_id: int,
        data: str | None,
        message: dict[str, Any] | None = None,
        inline_message_id: str | None = None,
        chat_instance: str = "1",
    ) -> str:
        """Queue any callback query (forged data, an inaccessible message, an inline message),
        registered so that the bot's answer to it is valid."""
        with self._cond:
            query_id = str(5_000_000 + self._next_callback)
            self._next_callback += 1
            self._callbacks.add(query_id)
            query: dict[str, Any] = {
                "id": query_id,
                "from": _person(from_id, "en"),
                "chat_instance": chat_instance,
            }
            if message is not None:
                query["message"] = message
            if inline_message_id is not None:
                query["inline_message_id"] = inline_message_id
            if data is not None:
                query["data"] = data
            else:
                query["game_short_name"] = "game"
            self._queue({"callback_query": query})
            return query_id

    def add_file(self, file_id: str, data: bytes) -> None:
        """A file the bot can fetch with getFile, whatever its message claims about it."""
        with self._cond:
            self._files[file_id] = data

    def registered_callbacks(self) -> set[str]:
        with self._cond:
            return set(self._callbacks)

    # -- hooks into the fake ------------------------------------------------------------------

    def _queue(self, body: dict[str, Any], update_id: int | None = None) -> int:
        given = self._next_update_id if update_id is None else update_id
        problem = self.schema.type_error({"update_id": given, **body}, ["Update"], "update")
        if problem is not None:
            self.invalid_updates.append(f"{next(iter(body), '?')}: {problem}")
        self.queued.append(copy.deepcopy(body))
        return super()._queue(body, update_id)

    def _finish(
        self,
        method: str,
        params: dict[str, Any],
        arrived: float,
        error: RequestError | None = None,
        **kwargs: Any,
    ) -> tuple[int, dict[str, Any]]:
        result = kwargs.get("result")
        fault = kwargs.get("fault")
        with self._cond:
            if method == "getUpdates" and error is None and isinstance(result, list):
                self.delivered += len(result)
            if error is not None and error.refused and fault is None:
                self.refusals.append(Refusal(method, error.description, params))
        return super()._finish(method, params, arrived, error, **kwargs)

    def _answer(self, path: str, content_type: str, body: bytes) -> Any:
        hook = self.on_request
        if hook is None:
            return super()._answer(path, content_type, body)
        match = _PATH.match(path)
        method = (self.schema.canonical(match.group(1)) or match.group(1)) if match else "?"
        if hook(method, "before") is _DROP:
            return _DROP
        answer = super()._answer(path, content_type, body)
        hook(method, "after")
        return answer


class CountingProcessor(PerChatUpdateProcessor):
    """The bot's own update processor, counting the updates it has finished with (handled,
    ignored or dropped), and waking the fake's waiters each time."""

    def __init__(self, fake: ReliableFake, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fake = fake
        self.completed = 0

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        try:
            await super().do_process_update(update, coroutine)
        finally:
            self.completed += 1
            self.fake.poke()


@dataclass
class Trouble:
    """Every log record at WARNING or above, and every exception the event loop saw.

    An unhandled exception shows as an ERROR record (the bot's error handler logs one for any
    exception a handler lets out, and python-telegram-bot logs its own failures at ERROR) or as
    an exception the loop caught. Warnings are handled trouble: counted, not failed.
    """

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def record(self, record: logging.LogRecord) -> None:
        text = f"{record.levelname} {record.name}: {record.getMessage()}"
        self.messages.append(text)
        if record.levelno >= logging.ERROR or record.exc_info:
            self.errors.append(text)
        else:
            self.warnings.append(text)

    def loop_error(self, _loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exception = context.get("exception")
        self.errors.append(f"event loop: {context.get('message')} {exception!r}")


class _TroubleHandler(logging.Handler):
    def __init__(self, trouble: Trouble) -> None:
        super().__init__(logging.WARNING)
        self.trouble = trouble

    def emit(self, record: logging.LogRecord) -> None:
        self.trouble.record(record)


@contextlib.contextmanager
def watching(trouble: Trouble) -> Any:
    """Collect log trouble from every logger while the block runs."""
    handler = _TroubleHandler(trouble)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield trouble
    finally:
        root.removeHandler(handler)


@contextlib.asynccontextmanager
async def serve(
    settings: Settings,
    clock: FakeClock,
    processor: PerChatUpdateProcessor,
    allowed_updates: Sequence[str] | None = ALLOWED_UPDATES,
    network_timeout: float = 1.0,
) -> AsyncIterator[tuple[TelegramApp, TelegramChannel]]:
    """The bot as `python -m bot run` starts it (as tests/telegram_support.running_bot does),
    with the kinds of update it asks Telegram for, and its network timeout, left to the
    caller."""

    async def no_sleep(_seconds: float) -> None:
        pass

    channels: list[TelegramChannel] = []
    app = build_application(
        settings,
        clock=clock,
        sleep=no_sleep,
        processor=processor,
        timeout=network_timeout,
        on_channel=channels.append,
    )
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    assert app.updater is not None
    await app.updater.start_polling(
        poll_interval=0.0,
        timeout=timedelta(seconds=1),
        allowed_updates=None if allowed_updates is None else list(allowed_updates),
    )
    await app.start()
    # The start-up sweep runs alongside the first replies; tests begin once it is done, as
    # they did when it ran before polling (tests/test_telegram_e2e.py checks it need not).
    await asyncio.wait_for(channels[0].swept_at_start.wait(), 120)
    try:
        yield app, channels[0]
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)


@contextlib.asynccontextmanager
async def running(
    fake: FakeBotApi, settings: Settings, clock: FakeClock, network_timeout: float = 1.0
) -> AsyncIterator[Running]:
    """`tests.telegram_support.running_bot`, with a network timeout of the caller's choosing."""
    processor = PerChatUpdateProcessor()
    async with serve(settings, clock, processor, network_timeout=network_timeout) as (
        app,
        channel,
    ):
        yield Running(fake, app, channel, clock)


class BotThread:
    """The real bot on an event loop in its own thread, driven by blocking calls."""

    def __init__(
        self,
        fake: ReliableFake,
        settings: Settings,
        clock: FakeClock,
        trouble: Trouble,
        *,
        allowed_updates: Sequence[str] | None = Update.ALL_TYPES,
        **processor: Any,
    ) -> None:
        self.fake = fake
        self.settings = settings
        self.clock = clock
        self.trouble = trouble
        self.allowed_updates = allowed_updates
        self.processor = CountingProcessor(fake, **processor)
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(trouble.loop_error)
        self._thread = threading.Thread(target=self._main, name="pathways-bot", daemon=True)
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self.app: TelegramApp | None = None
        self.channel: TelegramChannel | None = None

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(60)
        if self._failed is not None:
            raise self._failed
        if self.channel is None:
            raise TimeoutError("the bot did not start within 60 seconds")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    def _main(self) -> None:
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._failed = exc
            self._ready.set()
        finally:
            self.loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with serve(self.settings, self.clock, self.processor, self.allowed_updates) as (
            app,
            channel,
        ):
            self.app, self.channel = app, channel
            self._ready.set()
            await self._stop.wait()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run `coroutine` on the bot's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def settle(self, timeout: float = 60) -> None:
        """Wait until the bot has finished with every update sent to it so far."""
        self.fake.wait_for(lambda f: self.fake.settled(self.processor.completed), timeout)

    def sweep(self) -> int:
        """The auto-clear sweep, as the job queue runs it."""
        assert self.app is not None and self.channel is not None
        return self.call(self.channel.sweep(self.app.bot))
