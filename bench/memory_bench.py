"""(d) Memory: the bot process's resident size with many stored conversations.

For each size, a database is filled with that many live conversations (rows as the bot
writes them: a step, a few answers, the ids of a dozen messages), then the real bot
(`python -m bot run`) is started on it against the fake Bot API and a few people, whose chats
are among the stored ones, run their conversations for a while, so that the bot has loaded
and touched what it would in service. Its VmRSS is read after the traffic. The figure held
to the target is the growth over the same run with no stored conversation.

Idle conversations are the sweep's work: `sweep` starts the bot on a database of conversations
all idle for an hour (as after an outage) and watches it clear them, alongside a few people
starting conversations of their own: its highest VmRSS meanwhile, the time from starting the
process to its first `deleteMessages`, and how many chats it cleared a second. `outage` does
the same with fewer, until every one is cleared.

"1,000 active at once" is measured in the end-to-end run: the bot's highest VmRSS while
1,000 people are each in the middle of a conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import load_spec
from bot.store.sqlite import SqliteStore
from tests.fakebot import FakeBotApi

from . import e2e
from .common import FLOWS
from .scenarios import Script

FIRST_STORED = 20_000_000


@dataclass(frozen=True)
class MemoryResult:
    stored: int
    rss_kib: int  # after the traffic
    rss_kib_idle: int  # right after start-up, before any traffic
    start_seconds: float  # from starting the process to its first getUpdates
    handled: int


@dataclass(frozen=True)
class SweepResult:
    """Start-up on many conversations left idle: the sweep at work, watched for a while."""

    idle: int
    first_poll_seconds: float  # from starting the process to its first getUpdates
    first_delete_seconds: float | None  # ... to its first deleteMessages (None: not in time)
    seconds: float  # how long the sweep was watched, from its first deleteMessages
    cleared: int  # idle chats cleared by the end of that (one deleteMessages each)
    rss_kib_start: int  # at the first getUpdates
    rss_kib_max: int  # the highest while the sweep was watched
    # (chats cleared so far, VmRSS KiB), every half second while watched
    samples: tuple[tuple[int, int], ...] = ()

    @property
    def cleared_per_second(self) -> float:
        return self.cleared / self.seconds if self.seconds else math.nan

    @property
    def all_cleared_seconds(self) -> float:
        """At that pace, how long clearing every one would take."""
        rate = self.cleared_per_second
        return self.idle / rate if rate else math.nan

    @property
    def kib_per_cleared(self) -> float:
        """How much resident memory grows with each chat cleared: the least-squares slope over
        the second half of the samples (the first half includes the code warming up)."""
        points = self.samples[len(self.samples) // 2 :]
        if len(points) < 2:
            return math.nan
        xs, ys = [x for x, _ in points], [y for _, y in points]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        spread = sum((x - mx) ** 2 for x in xs)
        if not spread:
            return math.nan
        return sum((x - mx) * (y - my) for x, y in points) / spread

    @property
    def rss_kib_all_cleared(self) -> float:
        """Resident size when every one is cleared, were it to grow on as it did while watched
        (never less than the highest seen)."""
        slope = self.kib_per_cleared
        last = self.samples[-1][1] if self.samples else self.rss_kib_max
        if math.isnan(slope):
            return float(self.rss_kib_max)
        return max(float(self.rss_kib_max), last + max(0.0, slope) * (self.idle - self.cleared))


@dataclass(frozen=True)
class OutageResult:
    """Start-up with conversations whose time ran out while the bot was down."""

    idle: int
    first_poll_seconds: float  # from starting the process to its first getUpdates
    cleared_seconds: float | None  # until every one of them was wiped (None: not in time)


def fill(path: Path, sessions: int, seed: int = 5, idle_for: timedelta | None = None) -> None:
    """A database with `sessions` live conversations, written as the bot writes them; with
    `idle_for`, each was last active that long ago."""
    asyncio.run(_migrate(path))
    states = sorted(load_spec(FLOWS).states)
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    active_at = now - idle_for if idle_for is not None else now
    routes = ("victim", "friend", "professional", "own_behaviour", "learn")
    rows = []
    for number in range(sessions):
        answers = {"route": rnd.choice(routes), "nation": "england", "area": "milton-keynes"}
        first = rnd.randrange(1, 5000)
        messages = [[first + n, int(now.timestamp()) - 60 + n] for n in range(12)]
        rows.append(
            (
                f"tg:{FIRST_STORED + number}",
                rnd.choice(states),
                "en",
                json.dumps(answers, sort_keys=True, separators=(",", ":")),
                None,
                json.dumps(messages, separators=(",", ":")),
                first + 11,
                '["typed_deleted"]',
                active_at.isoformat(),
            )
        )
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO sessions (chat_key, state, locale, answers, return_to, messages,"
            " live_message_id, flags, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


async def _migrate(path: Path) -> None:
    store = await SqliteStore.open(path)
    await store.close()


def measure(
    stored: int,
    workdir: Path,
    scripts: list[Script],
    people: int = 100,
    seconds: float = 4.0,
    seed: int = 3,
) -> MemoryResult:
    workdir.mkdir(parents=True, exist_ok=True)
    fill(workdir / "pathways.db", stored)
    rnd = random.Random(seed)
    chats = (
        rnd.sample(range(FIRST_STORED, FIRST_STORED + stored), people)
        if stored >= people
        else [FIRST_STORED + n for n in range(people)]
    )
    with e2e.LoadFake() as fake:
        started = time.monotonic()
        bot = e2e.start_bot("pathways", fake, workdir)
        start_seconds = time.monotonic() - started
        try:
            idle = bot.rss_kib()
            result = e2e.load(
                f"memory {stored}",
                fake,
                bot,
                scripts,
                people=people,
                seconds=seconds,
                warmup=0.0,
                seed=seed,
                chat_ids=chats,
                drain=2.0,
            )
            time.sleep(0.5)  # let the last replies settle
            rss = bot.rss_kib()
        finally:
            bot.stop()
    return MemoryResult(stored, rss, idle, start_seconds, result.handled)


def _idle_chats_cleared(fake: FakeBotApi, idle: int) -> list[float]:
    """When each deleteMessages for one of the idle chats reached the fake."""
    first, last = FIRST_STORED, FIRST_STORED + idle
    return [
        q.time
        for q in fake.requests
        if q.method == "deleteMessages"
        and q.status == 200
        and first <= int(q.params.get("chat_id", 0)) < last
    ]


def sweep(idle: int, workdir: Path, seconds: float = 10.0, timeout: float = 60.0) -> SweepResult:
    """Start the bot on `idle` conversations left idle for an hour and watch its sweep for
    `seconds` from its first deleteMessages: nobody else writes meanwhile, as at night."""
    workdir.mkdir(parents=True, exist_ok=True)
    fill(workdir / "pathways.db", idle, idle_for=timedelta(hours=1))
    with e2e.LoadFake() as fake:
        started = time.monotonic()
        bot = e2e.start_bot("pathways", fake, workdir)
        first_poll = time.monotonic() - started
        try:
            rss_start = bot.rss_kib()
            first_delete: float | None = None
            with contextlib.suppress(AssertionError):  # none in time
                fake.wait_for(lambda f: bool(_idle_chats_cleared(f, idle)), timeout)
                first_delete = min(_idle_chats_cleared(fake, idle)) - started
            watched = time.monotonic()
            samples: list[tuple[int, int]] = []
            while True:
                samples.append((len(_idle_chats_cleared(fake, idle)), bot.rss_kib()))
                if time.monotonic() - watched >= seconds:
                    break
                time.sleep(min(0.5, max(0.0, watched + seconds - time.monotonic())))
            until = time.monotonic()
            cleared = sum(1 for t in _idle_chats_cleared(fake, idle) if t < until)
        finally:
            bot.stop(grace=5.0)
    since = started + first_delete if first_delete is not None else watched
    return SweepResult(
        idle=idle,
        first_poll_seconds=first_poll,
        first_delete_seconds=first_delete,
        seconds=until - since,
        cleared=cleared,
        rss_kib_start=rss_start,
        rss_kib_max=max(rss for _, rss in samples),
        samples=tuple(samples),
    )


def outage(idle: int, workdir: Path, timeout: float = 600.0) -> OutageResult:
    """Start the bot on `idle` conversations left idle for an hour (as after an outage): how
    soon it asks for updates, and how long clearing them all takes alongside."""
    workdir.mkdir(parents=True, exist_ok=True)
    fill(workdir / "pathways.db", idle, idle_for=timedelta(hours=1))
    with e2e.LoadFake() as fake:
        started = time.monotonic()
        bot = e2e.start_bot("pathways", fake, workdir)
        first_poll = time.monotonic() - started
        try:
            cleared: float | None = None
            # Each conversation's messages go in one deleteMessages call.
            with contextlib.suppress(AssertionError):  # not all of them in time
                fake.wait_for(lambda f: len(f.calls("deleteMessages")) >= idle, timeout)
                cleared = time.monotonic() - started
        finally:
            bot.stop()
    return OutageResult(idle, first_poll, cleared)
