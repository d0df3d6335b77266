"""How big each benchmark is: the full run, and a quick one that only checks they run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    repeats: int = 3  # of the short benchmarks (engine, storage, search): the best is kept
    engine_seconds: float = 1.5
    search_queries: int = 3000
    search_services: int = 5000
    place_rounds: int = 20  # times each typed place of tests/data/uk_places.csv is read
    wipe_messages: int = 200
    wipe_rounds: int = 10
    # At once in the throughput run, each acting about once a second: enough to keep the bot
    # busy, few enough that each gets well into a conversation before the measured window
    # (with too many, the window sees mostly the first, cheapest steps).
    people: int = 400
    seconds: float = 12.0  # measured, per run
    warmup: float = 8.0
    paced_rates: tuple[float, ...] = (30.0, 100.0)  # updates a second offered, one run each
    paced_people: int = 200
    # On PostgreSQL (section i), at the load of the throughput run: latency at these rates.
    postgres_paced_rates: tuple[float, ...] = (100.0,)
    # Runs each of one webhook instance and two, taking turns (A B B A for 2).
    postgres_turns: int = 2
    exit_rate: float = 5.0  # people a second arriving to do a quick exit among `people`
    active_people: int = 1000  # at once, at a reading pace
    active_think: tuple[float, float] = (20.0, 40.0)
    active_ramp: float = 25.0  # they start within this time
    active_seconds: float = 30.0
    memory_sizes: tuple[int, ...] = (0, 10_000, 100_000)
    memory_people: int = 100
    memory_seconds: float = 4.0
    outage_idle: int = 1000  # conversations left idle while the bot was down
    sweep_idle: int = 100_000  # the same, many more: memory and first deletion while it sweeps
    sweep_seconds: float = 30.0  # how long the sweep is watched (a part, enough for a slope)


FULL = Sizes()
QUICK = Sizes(
    repeats=1,
    engine_seconds=0.1,
    search_queries=100,
    search_services=500,
    place_rounds=1,
    wipe_messages=20,
    wipe_rounds=1,
    people=10,
    seconds=1.5,
    warmup=0.5,
    paced_rates=(5.0, 10.0),
    paced_people=5,
    postgres_paced_rates=(10.0,),
    postgres_turns=1,
    exit_rate=2.0,
    active_people=20,
    active_think=(1.0, 2.0),
    active_ramp=1.0,
    active_seconds=2.0,
    memory_sizes=(0, 200),
    memory_people=5,
    memory_seconds=1.0,
    outage_idle=20,
    sweep_idle=300,
    sweep_seconds=1.0,
)
