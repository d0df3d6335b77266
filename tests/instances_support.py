"""Several instances of the bot in webhook mode behind one address, for tests/test_instances.py:
real `python -m bot run` processes on one PostgreSQL schema and one fake Bot API, a load
balancer that hands each update to one of them as nginx's `upstream` would, people tapping
through their chats, and a relay that can hold an instance's call to the Bot API so that the
instance can be killed in the middle of it.

The fake Bot API keeps updates for getUpdates (no instance polls in webhook mode); the load
balancer takes them from there and posts them to the instances' webhooks with the secret header.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import socket
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import psycopg
from aiohttp import web

from bot.channels.telegram.handlers import chat_key
from bot.engine.model import Session
from bot.web.server import SECRET_HEADER
from tests.fakebot import TOKEN, FakeBotApi
from tests.fakebot.server import RequestRecord
from tests.processes import free_port, run_bot
from tests.telegram_support import PATIENCE, ChatReader, Showing, moved_on

SECRET = "instances-test-secret"
WEBHOOK_PATH = "telegram"
WEBHOOK_URL = f"https://bot.example.org/{WEBHOOK_PATH}"
TEXT_CALLS = ("sendMessage", "editMessageText")
# What an instance logs when an update it was given had been handled already (by another).
TAP_TWICE = "a tap delivered twice was handled once"
MESSAGE_TWICE = "a message delivered twice was handled once"


async def until(check: Callable[[], bool], what: str) -> None:
    """Wait for a condition outside the fake Bot API (a process, a row), looking again every
    few milliseconds; bounded only so that a broken test fails instead of hanging."""
    async with asyncio.timeout(PATIENCE):
        # Nothing signals these from outside (a process's exit, a row in PostgreSQL): look again.
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    assert check(), what


# -- the Bot API, as one instance sees it -------------------------------------------------------


class Gate:
    """A relay between one instance and the fake Bot API. `hold(method)`: its next call of
    `method` is kept here and never passed on, as if the instance died while making it (the
    test then kills it); everything else is passed on as it is."""

    def __init__(self, fake: FakeBotApi) -> None:
        self.target = f"http://127.0.0.1:{fake.port}"
        self.passed: Counter[str] = Counter()
        self._to_hold: set[str] = set()
        self._held = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> Gate:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._relay)
        self._session = aiohttp.ClientSession()
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])
        return self

    def hold(self, method: str) -> None:
        self._held.clear()
        self._to_hold.add(method)

    async def holding(self) -> None:
        """Wait until a call is being held."""
        async with asyncio.timeout(PATIENCE):
            await self._held.wait()

    async def _relay(self, request: web.Request) -> web.StreamResponse:
        method = request.path.rstrip("/").rsplit("/", 1)[-1]
        if method in self._to_hold:
            self._to_hold.discard(method)
            self._held.set()
            await self._closing.wait()  # never passed on; its instance is killed meanwhile
            return web.Response(status=502)
        assert self._session is not None
        async with self._session.request(
            request.method,
            self.target + request.path_qs,
            data=await request.read(),
            headers={"Content-Type": request.headers.get("Content-Type", "")},
        ) as answer:
            body = await answer.read()
            if answer.status == 200:
                self.passed[method] += 1
            return web.Response(status=answer.status, body=body, content_type=answer.content_type)

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()


@contextlib.asynccontextmanager
async def gate(fake: FakeBotApi) -> AsyncIterator[Gate]:
    """A `Gate` to the fake, closed at the end (a call it still holds is dropped)."""
    opened = await Gate(fake).start()
    try:
        yield opened
    finally:
        await opened.close()


# -- the instances --------------------------------------------------------------------------------


class Instance:
    """`python -m bot run` with a webhook, on the test's PostgreSQL schema, its log read as it
    comes (so the pipe never fills)."""

    def __init__(
        self, name: str, api_base_url: str, database_url: str, extra: dict[str, str]
    ) -> None:
        self.name = name
        self.port, self.health_port = free_port(), free_port()
        self.process = run_bot(
            {
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_API_BASE_URL": api_base_url,
                "PATHWAYS_DATABASE_URL": database_url,
                "PATHWAYS_WEBHOOK_URL": WEBHOOK_URL,
                "PATHWAYS_WEBHOOK_SECRET": SECRET,
                "PATHWAYS_WEBHOOK_PORT": str(self.port),
                "PATHWAYS_HEALTH_PORT": str(self.health_port),
                # Each instance sweeps every second, as they would every 30: the claims on
                # wipes then last 10 seconds (bot.conversation.wipe_lease).
                "PATHWAYS_SWEEP_SECONDS": "1",
                **extra,
            }
        )
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name=f"log of {name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def said(self, words: str) -> int:
        with self._lock:
            return sum(words in line for line in self.lines)

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.port}/{WEBHOOK_PATH}"

    async def ready(self, session: aiohttp.ClientSession) -> None:
        """Wait until its health check says it is serving (or it has stopped: a failure)."""
        async with asyncio.timeout(PATIENCE):
            while self.process.poll() is None:
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(
                        f"http://127.0.0.1:{self.health_port}/healthz"
                    ) as answer:
                        if answer.status == 200:
                            return
                await asyncio.sleep(0.05)
        raise AssertionError(f"{self.name} stopped while starting:\n{self.log}")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def accepting(self) -> bool:
        """Whether its webhook's port takes connections (a load balancer's view of it)."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=PATIENCE).close()
        except OSError:
            return False
        return True

    def terminate(self) -> None:
        """SIGTERM, as systemd stops it, without waiting."""
        self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """kill -9, and wait until the process is gone."""
        self.process.kill()
        self.process.wait(PATIENCE)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(PATIENCE)
        self._reader.join(PATIENCE)
        return status


@contextlib.asynccontextmanager
async def instances(
    fake: FakeBotApi,
    database_url: str,
    count: int,
    gates: Sequence[Gate | None] = (),
    extra: dict[str, str] | None = None,
) -> AsyncIterator[list[Instance]]:
    """`count` instances started together, each ready when this yields; `gates[n]`, where
    given, relays instance n's calls. Each one still running is stopped at the end, and none
    may have logged a traceback. None ever takes the webhook away (deleteWebhook): it belongs
    to them all."""
    relays = [*gates, *[None] * count][:count]
    started = [
        Instance(
            f"instance {n + 1}",
            relay.base_url if relay is not None else fake.base_url,
            database_url,
            extra or {},
        )
        for n, relay in enumerate(relays)
    ]
    try:
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(instance.ready(session) for instance in started))
        yield started
    finally:
        fake.let_go()  # an answer held back would hold up a clean stop
        for instance in started:
            if instance.alive:
                assert instance.stop() == 0, instance.log
        for instance in started:
            assert "Traceback" not in instance.log, instance.log
    assert fake.calls("deleteWebhook") == []
    assert fake.webhook_url == WEBHOOK_URL


# -- the load balancer ----------------------------------------------------------------------------


@dataclass
class Balancer:
    """What nginx's `upstream` does here: each update posted to one instance, round robin
    unless the test names one, and to the next when an instance does not answer (it died)."""

    fake: FakeBotApi
    instances: list[Instance]
    session: aiohttp.ClientSession
    database_url: str = ""  # where the instances keep the conversations, to look at them
    seen: int = 0  # the newest update id taken from the fake
    turns: itertools.count[int] = field(default_factory=itertools.count)
    delivered_to: Counter[str] = field(default_factory=Counter)
    taken: list[dict[str, Any]] = field(default_factory=list)  # every update, once

    def take(self) -> list[dict[str, Any]]:
        """The updates the fake has made since the last call, oldest first."""
        fresh = [u for u in self.fake.pending_updates if u["update_id"] > self.seen]
        if fresh:
            self.seen = max(u["update_id"] for u in fresh)
        self.taken += fresh
        return fresh

    def taps(self) -> set[str]:
        """The ids of every tap taken so far."""
        return {query_id(u) for u in self.taken if "callback_query" in u}

    def recorded(self, chat: int) -> set[int] | None:
        """The ids of the messages `chat`'s conversation has recorded (None: it has none)."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT messages FROM sessions WHERE chat_key = %s", (chat_key(chat),)
            ).fetchone()
        return None if row is None else {m.message_id for m in Session.decode_messages(row[0])}

    def take_one(self) -> dict[str, Any]:
        (update,) = self.take()
        return update

    async def post(self, update: dict[str, Any], to: Instance) -> bool:
        """Post to one instance; False when it does not answer."""
        try:
            async with self.session.post(
                to.webhook, json=update, headers={SECRET_HEADER: SECRET}
            ) as answer:
                assert answer.status == 200, f"{to.name} answered {answer.status}"
        except aiohttp.ClientConnectionError:
            return False
        self.delivered_to[to.name] += 1
        return True

    async def deliver(self, update: dict[str, Any], to: Instance | None = None) -> Instance:
        """Hand the update on, as the proxy would: to `to`, or the next instance in turn, and
        past any that does not answer. Which instance took it."""
        first = self.instances.index(to) if to is not None else next(self.turns)
        for step in range(len(self.instances)):
            instance = self.instances[(first + step) % len(self.instances)]
            if await self.post(update, instance):
                return instance
        raise AssertionError("no instance answered")

    async def to_both(self, update: dict[str, Any], one: Instance, other: Instance) -> None:
        """The same update to two instances at once (a webhook retried to another one)."""
        delivered = await asyncio.gather(self.post(update, one), self.post(update, other))
        assert all(delivered)


# -- a person -------------------------------------------------------------------------------------


@dataclass
class Person(ChatReader):
    """Someone in a private chat with the bot, whose every update goes through the balancer."""

    fake: FakeBotApi
    balancer: Balancer
    chat: int

    def labels(self) -> list[str]:
        live = self.live()
        rows = (live.reply_markup or {}).get("inline_keyboard", []) if live else []
        return [b["text"] for row in rows for b in row]

    def press(self, label: str) -> dict[str, Any]:
        """Tap `label` on the live message: the update Telegram makes of it (not yet sent)."""
        live = self.live()
        assert live is not None and live.reply_markup, self.fake.chat(self.chat)
        rows = live.reply_markup["inline_keyboard"]
        data = next(b["callback_data"] for row in rows for b in row if b["text"] == label)
        self.fake.press(self.chat, live.message_id, data)
        return self.balancer.take_one()

    def type(self, text: str) -> dict[str, Any]:
        self.fake.send_text(self.chat, text)
        return self.balancer.take_one()

    async def step(self, update: dict[str, Any], to: Instance | None = None) -> Instance:
        """Send the update through the balancer and wait for the step it leads to."""
        before = self.showing()
        taken = await self.balancer.deliver(update, to)
        await self.fake.until(lambda _f: self.moved_on(before), PATIENCE)
        await self.settled()
        return taken

    def moved_on(self, before: Showing) -> bool:
        """The chat shows a step other than `before` (`tests.telegram_support.moved_on`)."""
        return moved_on(self.showing(), before)

    async def settled(self) -> None:
        """Wait until every message of the bot's in the chat is recorded, as it is once the
        step that sent it is over: a person reads a message before tapping it. Tapped at the
        very moment it appears, the tap could be stepped on another instance before the one
        that sent it has recorded it; the step would then not know which message is live, and
        the older one would keep its (expired) buttons."""
        if not self.balancer.database_url:
            return
        shown = {m.message_id for m in self.bot_messages()}

        def recorded() -> bool:
            found = self.balancer.recorded(self.chat)
            return found is None or shown <= found

        await until(recorded, f"the bot's messages in chat {self.chat} were never recorded")

    async def tap(self, label: str, to: Instance | None = None) -> Instance:
        return await self.step(self.press(label), to)

    async def say(self, text: str, to: Instance | None = None) -> Instance:
        return await self.step(self.type(text), to)

    def seen(self) -> list[tuple[int, str | None]]:
        return [(m.message_id, m.text) for m in self.bot_messages()]

    async def send(self, update: dict[str, Any], to: Instance | None = None) -> Instance:
        """Send the update and wait for anything new in the chat: for the admin chat, whose
        answers need not carry buttons."""
        before = self.seen()
        taken = await self.balancer.deliver(update, to)
        await self.fake.until(lambda _f: self.seen() != before, PATIENCE)
        return taken

    def newest(self) -> str:
        messages = self.bot_messages()
        return messages[-1].plain_text or "" if messages else ""

    def sent(self) -> list[str]:
        """What the bot sent and edited in this chat, in the order Telegram carried it out."""
        return [
            str(r.params.get("text"))
            for r in self.fake.requests
            if r.method in TEXT_CALLS and r.status == 200 and r.params.get("chat_id") == self.chat
        ]

    def answers(self, query_id: str) -> int:
        """How many times the tap `query_id` was answered."""
        return sum(
            c.get("callback_query_id") == query_id for c in self.fake.calls("answerCallbackQuery")
        )


def query_id(update: dict[str, Any]) -> str:
    return str(update["callback_query"]["id"])


def assert_nothing_sent_twice(*people: Person) -> None:
    """Each step of a walk that never goes back is shown once: a text sent or shown twice is
    an update handled twice (by two instances, or by one after another)."""
    for person in people:
        sent = person.sent()
        assert len(sent) == len(set(sent)), sent


def deletions(fake: FakeBotApi, chat: int, after: float = 0.0) -> list[RequestRecord]:
    """deleteMessages calls Telegram carried out in `chat` (after `after`, monotonic), in
    order of arrival."""
    found = [
        r
        for r in fake.requests
        if r.method == "deleteMessages"
        and r.status == 200
        and r.params.get("chat_id") == chat
        and r.time > after
    ]
    return sorted(found, key=lambda r: r.time)
