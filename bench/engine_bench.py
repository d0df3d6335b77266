"""(a) The engine alone: `Engine.step` over the realistic mix, on one core, no I/O.

Every scenario transcript is turned into engine events once; then the scripts are replayed,
each on a fresh session, round after round, and every step is timed.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from bot.app import build

from .common import DIRECTORY, FLOWS, LOCALES, fixed_clock, percentile
from .scenarios import engine_events, load_scripts


@dataclass(frozen=True)
class EngineResult:
    steps: int
    seconds: float
    p50_us: float
    p99_us: float
    conversations: int
    scripts: int

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    """Run on one core only, so that "per core" means what it says."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {max(cores)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, cores)


def run(min_seconds: float = 3.0, max_rounds: int = 2000) -> EngineResult:
    with one_core():
        return _run(min_seconds, max_rounds)


def _run(min_seconds: float, max_rounds: int) -> EngineResult:
    parts = build(FLOWS, DIRECTORY, LOCALES, clock=fixed_clock)
    engine = parts.engine
    scripts = load_scripts()
    compiled = [engine_events(parts, script) for script in scripts]
    # Warm up: first calls fill caches (holidays, regexes) that a running bot has warm.
    for events in compiled:
        session = engine.new_session("warm")
        for event in events:
            engine.step(session, event)
    timings: list[int] = []
    clock = time.perf_counter_ns
    conversations = 0
    gc.collect()
    started = clock()
    deadline = started + int(min_seconds * 1e9)
    for _round in range(max_rounds):
        for number, events in enumerate(compiled):
            session = engine.new_session(f"bench:{number}")
            for event in events:
                before = clock()
                engine.step(session, event)
                timings.append(clock() - before)
            conversations += 1
        if clock() >= deadline:
            break
    elapsed = (clock() - started) / 1e9
    return EngineResult(
        steps=len(timings),
        seconds=elapsed,
        p50_us=percentile(timings, 0.50) / 1000,
        p99_us=percentile(timings, 0.99) / 1000,
        conversations=conversations,
        scripts=len(scripts),
    )


if __name__ == "__main__":
    result = run()
    print(
        f"{result.steps_per_second:,.0f} steps/s over {result.steps:,} steps "
        f"({result.conversations:,} conversations); p50 {result.p50_us:.1f} us, "
        f"p99 {result.p99_us:.1f} us"
    )
