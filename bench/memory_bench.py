"""(d) Memory: the bot process's resident size with many stored conversations.

For each size, a database is filled with that many live conversations (rows as the bot
writes them: a step, a few answers, the ids of a dozen messages), then the real bot
(`python -m bot run`) is started on it against the fake Bot API and a few people, whose chats
are among the stored ones, run their conversations for a while, so that the bot has loaded
and touched what it would in service. Its VmRSS is read after the traffic. The figure held
to the target is the growth over the same run with no stored conversation.

"1,000 active at once" is measured in the end-to-end run: the bot's highest VmRSS while
1,000 people are each in the middle of a conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import load_spec
from bot.store.db import Database

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
    db = await Database.open(path)
    await db.close()


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
