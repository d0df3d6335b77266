"""Several instances of one bot on one PostgreSQL schema, against one fake Bot API: processes
to start and kill, a person tapping through the chat over HTTP, and a connection that can be
cut off without closing (a host that vanished)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from psycopg import sql

from bot.leader import polling_lock
from bot.store.advisory import lock_key
from tests.fakebot import TOKEN, FakeBotApi
from tests.fakebot.server import Predicate, RequestRecord
from tests.processes import free_port, run_bot
from tests.telegram_support import PATIENCE, ChatReader, moved_on

LEADING = "leading: this instance polls Telegram"
STANDING_BY = "standing by: another instance polls Telegram"


class Instance:
    """`python -m bot run` on PostgreSQL, its log read as it comes (the pipe never fills)."""

    def __init__(
        self,
        name: str,
        fake: FakeBotApi,
        database_url: str,
        changed: threading.Condition,
        sweep_seconds: int = 3600,
    ) -> None:
        self.name = name
        self.health_port = free_port()
        self.process = run_bot(
            {
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_API_BASE_URL": fake.base_url,
                "PATHWAYS_DATABASE_URL": database_url,
                "PATHWAYS_HEALTH_PORT": str(self.health_port),
                # By default the sweep runs only as an instance takes the lead.
                "PATHWAYS_SWEEP_SECONDS": str(sweep_seconds),
            }
        )
        self.lines: list[str] = []
        self.changed = changed  # shared by the instances of a test: notified at each line
        self._reader = threading.Thread(target=self._read, name=f"log of {name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def said(self, words: str) -> int:
        """How many lines of its log hold `words`."""
        with self.changed:
            return sum(words in line for line in self.lines)

    def wait_until_said(self, words: str, times: int = 1) -> None:
        with self.changed:
            ended = self.changed.wait_for(
                lambda: self.said(words) >= times or self.process.poll() is not None, PATIENCE
            )
        assert ended and self.said(words) >= times, f"{self.name} never said {words!r}: {self.log}"

    @property
    def leading(self) -> bool:
        with self.changed:
            states = [line for line in self.lines if LEADING in line or STANDING_BY in line]
        return self.process.poll() is None and bool(states) and LEADING in states[-1]

    def health(self) -> tuple[int, str]:
        """What its health check answers: the status and the body."""
        url = f"http://127.0.0.1:{self.health_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=PATIENCE) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as refused:
            return refused.code, ""

    @property
    def log(self) -> str:
        with self.changed:
            return "\n".join(self.lines)

    def kill(self) -> float:
        """kill -9, and wait for the process to be gone; when it was killed (monotonic)."""
        killed_at = time.monotonic()
        self.process.kill()
        self.process.wait(PATIENCE)
        return killed_at

    def stop(self) -> int:
        """SIGTERM, as systemd stops it; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(PATIENCE)
        self._reader.join(PATIENCE)
        return status


@contextlib.contextmanager
def instances(
    fake: FakeBotApi, database_url: str, count: int, sweep_seconds: int = 3600
) -> Iterator[list[Instance]]:
    """`count` instances, started one after the other: the first leads, the others stand by.
    Whatever the test did, each still running is stopped at the end."""
    started: list[Instance] = []
    changed = threading.Condition()
    try:
        for number in range(count):
            name = f"instance {number + 1}"
            instance = Instance(name, fake, database_url, changed, sweep_seconds)
            started.append(instance)
            instance.wait_until_said(LEADING if number == 0 else STANDING_BY)
        yield started
    finally:
        fake.let_go()  # a held answer would hold up a clean stop
        for instance in started:
            if instance.process.poll() is None:
                instance.stop()


def leader(among: list[Instance]) -> Instance:
    """The one instance leading, once one does (after a kill, once another has taken over)."""
    changed = among[0].changed

    def leading() -> list[Instance]:
        return [i for i in among if i.leading]

    with changed:
        changed.wait_for(lambda: len(leading()) >= 1, PATIENCE)
        found = leading()
    assert len(found) == 1, [i.log for i in among]
    return found[0]


def first_poll_after(fake: FakeBotApi, moment: float) -> RequestRecord:
    """The first getUpdates to arrive after `moment` (monotonic, as the fake records)."""
    polls = [r for r in fake.requests if r.method == "getUpdates" and r.time > moment]
    return min(polls, key=lambda r: r.time)


def polled_after(moment: float) -> Predicate:
    def polled(fake: FakeBotApi) -> bool:
        return any(r.method == "getUpdates" and r.time > moment for r in fake.requests)

    return polled


def conflicts(fake: FakeBotApi) -> int:
    """getUpdates calls ended by another's: two pollers at once. Apart from that, only a dead
    leader's last call, ended by the next leader's first, and a stopping one's own, ended by
    the call python-telegram-bot makes as it stops (to confirm what it fetched)."""
    return sum(r.method == "getUpdates" and r.status == 409 for r in fake.requests)


# -- a person, over HTTP ------------------------------------------------------------------------


@dataclass
class Person(ChatReader):
    """Someone in a private chat with the bot, acting and waiting for the bot's answer."""

    fake: FakeBotApi
    chat: int

    def say(self, text: str) -> None:
        """Type `text`, and wait for the step it leads to."""
        before = self.showing()
        self.fake.send_text(self.chat, text)
        self.fake.wait_for(lambda _f: moved_on(self.showing(), before), PATIENCE)

    def press(self, label: str) -> None:
        """Tap `label` on the live message, without waiting for the answer."""
        live = self.live()
        assert live is not None and live.reply_markup, self.fake.chat(self.chat)
        rows = live.reply_markup["inline_keyboard"]
        data = next(b["callback_data"] for row in rows for b in row if b["text"] == label)
        self.fake.press(self.chat, live.message_id, data)

    def tap(self, label: str) -> None:
        """Tap `label`, and wait for the step it leads to."""
        before = self.showing()
        self.press(label)
        self.fake.wait_for(lambda _f: moved_on(self.showing(), before), PATIENCE)

    def sent_to(self) -> list[str]:
        """The text of every message the bot sent and every edit it made in this chat."""
        calls = [*self.fake.calls("sendMessage"), *self.fake.calls("editMessageText")]
        return [str(c["text"]) for c in calls if c.get("chat_id") == self.chat]


# -- PostgreSQL ---------------------------------------------------------------------------------


def rows(conninfo: str, table: str) -> int:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        found = conn.execute(query).fetchone()
    return int(found[0]) if found else 0


async def polling_lock_key(conninfo: str) -> int:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        return await lock_key(conn, polling_lock(TOKEN))


async def holder(conninfo: str) -> int | None:
    """The server process (pid) holding the polling lock, if any."""
    key = await polling_lock_key(conninfo)
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1",
            ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
        )
        row = await cursor.fetchone()
    return int(row[0]) if row else None


class Blackhole:
    """A TCP relay to PostgreSQL that can stop passing anything on while keeping every
    connection open: to each side, the other has vanished (a cut network, a host lost)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.flowing = asyncio.Event()
        self.flowing.set()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._pumps: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen on 127.0.0.1; the port."""
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers += [writer, up_writer]
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            pump = asyncio.create_task(self._pump(source, sink))
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                await self.flowing.wait()
                sink.write(data)
                await sink.drain()
        sink.close()

    def cut(self) -> None:
        """Pass nothing more on, either way; close nothing."""
        self.flowing.clear()

    async def close(self) -> None:
        """Close every connection, as the server finally does with a silent client."""
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for pump in list(self._pumps):
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
