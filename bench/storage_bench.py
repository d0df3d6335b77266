"""(a, with storage) Steps committed to disk: `Conversations` on a real SQLite file.

The same realistic mix as the engine benchmark, but each step is what the Telegram channel
asks of storage for it (bot/channels/telegram/handlers.py), through `SqliteStore` as the bot
opens it:

- typed words: read by the engine at the step, in the step's own transaction (no extra read);
- every step: load the conversation, step it, count it, save it, in one transaction committed
  to the database file (WAL);
- then, after typed words or a step shown as new messages (with service cards), a second
  short transaction recording their ids (`Conversations.track`); after a quick exit, the wipe
  marked done (`Sweeper.done`) and the farewell recorded to be deleted later.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bot.app import build
from bot.conversation import Conversations
from bot.engine.model import Tracked
from bot.store.sqlite import SqliteStore
from bot.sweeper import Sweeper

from .common import BENCH_MOMENT, DIRECTORY, FLOWS, LOCALES, fixed_clock, percentile
from .scenarios import engine_events, load_scripts

IDLE_AFTER = timedelta(minutes=15)
TYPED_NOTE = "typed_deleted"  # as the Telegram channel notes it


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
    scripts = load_scripts()
    compiled = [
        list(zip(script.actions, engine_events(parts, script), strict=True)) for script in scripts
    ]
    store = await SqliteStore.open(path)
    try:
        conversations = Conversations(parts.engine, store, fixed_clock, IDLE_AFTER)
        sweeper = Sweeper(store, fixed_clock, IDLE_AFTER, keep_figures_days=730)
        sent_at = int(BENCH_MOMENT.timestamp())
        timings: list[int] = []
        clock = time.perf_counter_ns
        number = 0
        cpu = time.process_time()
        started = clock()
        deadline = started + int(min_seconds * 1e9)
        while clock() < deadline or number == 0:
            for steps in compiled:
                key, live = f"tg:{number}", 1
                number += 1
                for action, event in steps:
                    before = clock()
                    typed = action.kind == "type"
                    outcome = await conversations.handle(
                        key,
                        event,
                        incoming=None if typed else Tracked(live, sent_at),
                        note_once=TYPED_NOTE if typed else None,
                    )
                    for pending in outcome.wipes:
                        await sweeper.done(pending)
                    live += 2
                    if outcome.ended:
                        await conversations.wipe_later(key, [Tracked(live, sent_at)], IDLE_AFTER)
                    elif typed or outcome.reply.cards or outcome.wipes:
                        await conversations.track(key, [Tracked(live, sent_at)], live)
                    timings.append(clock() - before)
        elapsed = (clock() - started) / 1e9
        cpu = time.process_time() - cpu
    finally:
        await store.close()
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
