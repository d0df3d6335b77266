"""(a, with storage) Steps committed to disk: `Conversations.handle` on a real SQLite file.

The same realistic mix as the engine benchmark, but each step is what a channel asks for:
load the conversation, step it, count it, save it, in one transaction committed to the
database file (WAL), and, after a step that sends new messages (a start or typed text), a
second short transaction recording their ids, as the Telegram channel does.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bot.app import build
from bot.conversation import Conversations
from bot.engine.model import EventKind, Tracked
from bot.store.db import Database

from .common import BENCH_MOMENT, DIRECTORY, FLOWS, LOCALES, fixed_clock, percentile
from .scenarios import engine_events, load_scripts


@dataclass(frozen=True)
class StorageResult:
    steps: int
    seconds: float
    cpu_seconds: float
    p50_us: float
    p99_us: float

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds

    @property
    def cpu_us_per_step(self) -> float:
        return self.cpu_seconds / self.steps * 1e6


async def _run(path: Path, min_seconds: float) -> StorageResult:
    parts = build(FLOWS, DIRECTORY, LOCALES, clock=fixed_clock)
    compiled = [engine_events(parts, script) for script in load_scripts()]
    db = await Database.open(path)
    try:
        conversations = Conversations(parts.engine, db, fixed_clock, timedelta(minutes=15))
        sent_at = int(BENCH_MOMENT.timestamp())
        timings: list[int] = []
        clock = time.perf_counter_ns
        number = 0
        cpu = time.process_time()
        started = clock()
        deadline = started + int(min_seconds * 1e9)
        while clock() < deadline or number == 0:
            for events in compiled:
                key, message_id = f"bench:{number}", 1
                number += 1
                for event in events:
                    before = clock()
                    await conversations.handle(key, event)
                    if event.kind is not EventKind.BUTTON:
                        message_id += 2
                        await conversations.track(
                            key, [Tracked(message_id, sent_at)], live_message_id=message_id
                        )
                    timings.append(clock() - before)
        elapsed = (clock() - started) / 1e9
        cpu = time.process_time() - cpu
    finally:
        await db.close()
    return StorageResult(
        steps=len(timings),
        seconds=elapsed,
        cpu_seconds=cpu,
        p50_us=percentile(timings, 0.5) / 1000,
        p99_us=percentile(timings, 0.99) / 1000,
    )


def run(workdir: Path, min_seconds: float = 3.0) -> StorageResult:
    workdir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_run(workdir / "storage.db", min_seconds))


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        result = run(Path(folder))
    print(
        f"{result.steps_per_second:,.0f} steps/s committed ({result.steps:,} steps); "
        f"CPU {result.cpu_us_per_step:.0f} us a step; p50 {result.p50_us:.0f} us, "
        f"p99 {result.p99_us:.0f} us"
    )
