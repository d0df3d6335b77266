"""The figures against their targets: a table for the terminal, docs/benchmarks.md for the repo."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .common import Figure, at_least, at_most, fmt, info
from .e2e import LoadResult
from .engine_bench import EngineResult
from .machine import Machine
from .memory_bench import MemoryResult, OutageResult
from .search_bench import SearchResult
from .sizes import Sizes
from .storage_bench import StorageResult
from .wipe_bench import WipeResult

NOTES = Path(__file__).with_name("notes.md")

# The targets of issue 10.
ENGINE_STEPS = 10_000  # steps a second on one core
E2E_UPDATES = 500  # updates a second on this machine
E2E_P99_MS = 50  # at 100 updates a second offered
MEMORY_MB = 20  # more resident memory for 100,000 stored conversations
WIPE_CALLS = 3
WIPE_MS = 1000
SEARCH_P99_MS = 2


@dataclass
class Results:
    machine: Machine
    sizes: Sizes
    engine: EngineResult
    storage: StorageResult
    search: SearchResult
    wipe: WipeResult
    loads: dict[str, LoadResult]
    memory: list[MemoryResult]
    outage: OutageResult
    scripts: int
    script_updates: float  # updates in one conversation, on average
    others: float  # cores other processes used meanwhile, on average
    seconds: float  # how long the whole run took


def figures(r: Results) -> list[Figure]:
    found: list[Figure] = []
    e, st = r.engine, r.storage
    a = "a. engine"
    found += [
        at_least(a, "steps a second, one core", e.steps_per_second, "steps/s", ENGINE_STEPS),
        info(a, "step time p50", e.p50_us, "us"),
        info(a, "step time p99", e.p99_us, "us"),
        info(a, "with storage: steps committed a second", st.steps_per_second, "steps/s"),
        info(a, "with storage: CPU time a step", st.cpu_us_per_step, "us"),
        info(a, "with storage: step time p99", st.p99_us, "us"),
    ]
    ours, base = r.loads["pathways"], r.loads["baseline"]
    ours_paced, base_paced = r.loads["pathways paced"], r.loads["baseline paced"]
    many = r.loads["pathways, many at once"]
    rate = fmt(r.sizes.paced_rate)
    b = "b. end to end"
    found += [
        at_least(
            b,
            f"updates handled a second ({ours.people:,} people, each about 1/s)",
            ours.throughput,
            "updates/s",
            E2E_UPDATES,
        ),
        info(b, "bot CPU time per update", ours.cpu_ms_per_update, "ms"),
        info(b, "so one free core would handle", _per_core(ours), "updates/s"),
        info(b, "Bot API requests per update, besides getUpdates", ours.calls_per_update, ""),
        info(b, "bot CPU time per Bot API request", ours.cpu_ms_per_request, "ms"),
        info(b, f"handled a second, {rate}/s offered", ours_paced.throughput, "updates/s"),
        info(b, f"p50 latency, {rate}/s offered", ours_paced.p50_ms, "ms"),
        at_most(b, f"p99 latency, {rate}/s offered", ours_paced.p99_ms, "ms", E2E_P99_MS),
        info(
            b,
            f"p50 / p99 latency, {many.people:,} at once at reading pace "
            f"({many.offered_rate:,.0f}/s)",
            many.p50_ms,
            f"/ {fmt(many.p99_ms)} ms",
        ),
        info(
            b,
            f"start-up with {r.outage.idle:,} conversations left idle: first getUpdates",
            r.outage.first_poll_seconds,
            "s",
        ),
        info(
            b,
            f"start-up with {r.outage.idle:,} conversations left idle: all cleared",
            r.outage.cleared_seconds if r.outage.cleared_seconds is not None else float("nan"),
            "s",
        ),
    ]
    c = "c. baseline"
    ratio = _ratio(ours.throughput, base.throughput)
    found += [
        info(c, "baseline: updates handled a second", base.throughput, "updates/s"),
        info(c, "baseline: bot CPU time per update", base.cpu_ms_per_update, "ms"),
        info(c, "baseline: so one free core would handle", _per_core(base), "updates/s"),
        info(c, "baseline: Bot API requests per update", base.calls_per_update, ""),
        info(c, "baseline: bot CPU time per Bot API request", base.cpu_ms_per_request, "ms"),
        info(c, f"baseline: p99 latency, {rate}/s offered", base_paced.p99_ms, "ms"),
        Figure(c, "Pathways / baseline, updates a second", ratio, "x", ">= 1 x", ratio >= 1),
        info(
            c,
            "Pathways / baseline, per core (by CPU time)",
            _ratio(_per_core(ours), _per_core(base)),
            "x",
        ),
    ]
    d = "d. memory"
    empty = next((m for m in r.memory if m.stored == 0), None)
    for m in r.memory:
        found.append(
            info(d, f"resident, {m.stored:,} stored conversations", m.rss_kib / 1024, "MB")
        )
    largest = max(r.memory, key=lambda m: m.stored)
    if empty is not None and largest.stored:
        growth = (largest.rss_kib - empty.rss_kib) / 1024
        name = f"more resident for {largest.stored:,} stored"
        found.append(
            at_most(d, name, growth, "MB", MEMORY_MB)
            if largest.stored >= 100_000
            else info(d, name, growth, "MB")
        )
    found += [
        info(
            d, f"resident, {many.people:,} active at once (highest)", many.rss_kib_max / 1024, "MB"
        ),
        info(
            d,
            f"more than idle, {many.people:,} active at once",
            (many.rss_kib_max - many.rss_kib_start) / 1024,
            "MB",
        ),
        info(d, "baseline resident, under load (highest)", base.rss_kib_max / 1024, "MB"),
    ]
    w = r.wipe
    f = "e. wipe"
    found += [
        at_most(f, f"API calls to wipe {w.messages} messages", w.calls, "calls", WIPE_CALLS),
        at_most(
            f,
            f"time to wipe {w.messages} messages (slowest of {w.rounds})",
            w.max_ms,
            "ms",
            WIPE_MS,
        ),
        info(f, "messages left in the chats", w.left, ""),
    ]
    s = r.search
    g = "f. search"
    found += [
        info(
            g, f"find: p50 ({s.services:,} services, {s.areas} areas)", s.find_p50_us / 1000, "ms"
        ),
        at_most(g, "find: p99", s.find_p99_us / 1000, "ms", SEARCH_P99_MS),
        at_most(g, "typed place, then find: p99", s.both_p99_us / 1000, "ms", SEARCH_P99_MS),
        info(g, "index built in", s.build_ms, "ms"),
    ]
    for kind, (p50, p99) in s.place_kinds.items():
        found.append(
            info(g, f"resolve_place, {kind}: p50 / p99", p50 / 1000, f"/ {fmt(p99 / 1000)} ms")
        )
    return found


def render_table(r: Results) -> str:
    rows = [("section", "figure", "measured", "target", "")]
    rows += [(x.section, x.name, x.shown(), x.target, x.verdict()) for x in figures(r)]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    others = f"other processes kept {r.others:.2f} of {r.machine.cores} cores busy meanwhile"
    return "\n".join([*lines, "", f"{r.seconds:.0f} s in all; {others}"])


def _per_core(x: LoadResult) -> float:
    """Updates a second one core would handle, all to itself: robust to other processes."""
    return _ratio(1000, x.cpu_ms_per_update)


def _ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(b) else float("nan")


def _load_row(x: LoadResult) -> str:
    return (
        f"| {x.label} | {x.people:,} | {x.offered_rate:,.1f} | {x.throughput:,.1f} | "
        f"{fmt(x.p50_ms)} | {fmt(x.p99_ms)} | {fmt(x.cpu_ms_per_update)} | "
        f"{fmt(x.calls_per_update)} + {fmt(x.polls_per_update)} | {fmt(x.cpu_ms_per_request)} | "
        f"{fmt(x.driver_cpu_seconds * 1000 / x.handled if x.handled else float('nan'))} | "
        f"{x.conversations:,} | {x.rss_kib_max / 1024:,.1f} |"
    )


def render_markdown(r: Results, quick: bool = False) -> str:
    met = [x for x in figures(r) if x.met is not None]
    missed = [x for x in met if not x.met]
    out = [
        "# Benchmarks",
        "",
        "How fast and how small Pathways is, side by side with a plain python-telegram-bot "
        "conversation bot (issue 10). This file is written by `make bench` "
        "(`python -m bench`); the notes after the figures are kept by hand in "
        "`bench/notes.md`. Timings are reported here and never asserted in tests.",
        "",
    ]
    if quick:
        out += ["**A `--quick` run: tiny sizes, to check the benchmarks run. Not figures.**", ""]
    out += [
        "## Where it ran",
        "",
        *r.machine.lines(),
        f"- Other processes kept {r.others:.2f} of {r.machine.cores} cores busy, on average, "
        f"during the {r.seconds:.0f} s of the run (figures are slower on a busy machine)",
        "",
        "## Against the targets",
        "",
        f"{len(met) - len(missed)} of {len(met)} targets met"
        + (f"; missed: {', '.join(x.name for x in missed)}." if missed else "."),
        "",
        "| section | figure | measured | target | |",
        "| --- | --- | --- | --- | --- |",
    ]
    out += [
        f"| {x.section} | {x.name} | {x.shown()} | {x.target} | {x.verdict()} |" for x in figures(r)
    ]
    e, s, w = r.engine, r.search, r.wipe
    out += [
        "",
        "## How each figure is measured",
        "",
        "**a. Engine.** `Engine.step` alone (no I/O), pinned to one core, replaying the "
        f"{r.scripts} scenario transcripts of `tests/scenarios/` (on average "
        f"{r.script_updates:.1f} steps each, including `/start`), each on a fresh session, "
        f"round after round: {e.steps:,} steps in {e.seconds:.1f} s. With storage: the same "
        "steps through `Conversations.handle` on a SQLite file (load, step, count, save, "
        "commit; then a second short transaction recording sent message ids after a start or "
        "typed text, as the Telegram channel does). The short benchmarks (engine, storage, "
        f"search) run {r.sizes.repeats} times and the best run is kept, as `timeit` does.",
        "",
        "**b. End to end.** The real bot, `python -m bot run` as deployed (default settings, "
        "its own per-chat flood guard, SQLite in WAL mode committing every step), polls the "
        "fake Bot API of `tests/fakebot` on 127.0.0.1. The fake and the simulated people share "
        "the benchmark's process; the bot is a process of its own. Each person plays the "
        "scenario transcripts one after another, tapping buttons by their words and typing "
        "what the transcript types. Latency runs from the moment a person's update is queued "
        "for `getUpdates` to the moment the bot's request carrying the next step's buttons "
        "(for a quick exit, the farewell) reaches the fake; figures count the updates "
        "answered within the measured window.",
        "",
        f"Throughput run: {r.loads['pathways'].people:,} people at once, each pausing 0.5 to "
        "1.5 s after every reply (well inside the flood guard's 2 updates a second per chat), "
        "so that the bot is never short of work; updates answered in the "
        f"{fmt(r.loads['pathways'].seconds)} s after {fmt(r.sizes.warmup)} s of "
        "warm-up. Latency run: updates offered as a Poisson stream at "
        f"{fmt(r.sizes.paced_rate)} a second by {r.sizes.paced_people} "
        "people, each acting only once the reply to their previous update has arrived (so if "
        "the bot falls behind, fewer are offered: the offered rate measured is shown). Many at "
        f"once: {r.loads['pathways, many at once'].people:,} people starting within "
        f"{fmt(r.sizes.active_ramp)} s and taking "
        f"{'-'.join(fmt(t) for t in r.sizes.active_think)} s over each step, as a "
        "person reading does, so that that many conversations are in flight at once.",
        "CPU times are the bot process's own (user and system, all its threads) over the "
        "measured window; requests are counted at the fake.",
        "",
        f"Start-up after an outage: a database with {r.outage.idle:,} conversations last "
        "active an hour ago, each with a dozen messages to delete, then the bot started on "
        "it: the time to its first `getUpdates` (when it can answer anyone) and until the "
        "last of those chats was cleared (its `deleteMessages` reached the fake).",
        "",
        "**c. Baseline.** `bench/baseline_bot.py`: a `ConversationHandler` bot with "
        "`PicklePersistence`, python-telegram-bot's defaults otherwise (its httpx transport; "
        "updates handled one at a time; the pickle written every 60 s and at shutdown, not at "
        "every step). Each "
        "step shows a text and six buttons, about as much as a Pathways step. It "
        "walks as many steps as each scenario (tap for tap, typed text for typed text) and "
        "runs under the same loads, in the same run, against the same fake.",
        "",
        "| run | people | offered /s | handled /s | p50 ms | p99 ms | bot CPU ms per update "
        "| Bot API requests per update (+ getUpdates) | bot CPU ms per request "
        "| fake and people CPU ms per update | conversations finished | bot RSS MB (highest) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(_load_row(x) for x in r.loads.values()),
        "",
        "**d. Memory.** The bot's VmRSS (`/proc/<pid>/status`). Stored conversations: a "
        "database filled with that many live conversations as the bot writes them, then the "
        "bot started on it and "
        f"{r.sizes.memory_people} people (chats among the stored ones) running "
        f"conversations for {fmt(r.sizes.memory_seconds)} s; RSS read afterwards. "
        "Active at once: the highest RSS during the many-at-once run (b).",
        "",
        "| stored conversations | RSS after start-up MB | RSS after traffic MB | start-up s |",
        "| --- | --- | --- | --- |",
        *(
            f"| {m.stored:,} | {m.rss_kib_idle / 1024:.1f} | {m.rss_kib / 1024:.1f} | "
            f"{m.start_seconds:.1f} |"
            for m in r.memory
        ),
        "",
        f"**e. Wipe.** `Wiper.wipe` on a private chat of {w.messages} messages (alternately "
        "the person's and the bot's, all tracked), through python-telegram-bot against the "
        f"fake on 127.0.0.1, {w.rounds} times on fresh chats: p50 {fmt(w.p50_ms)} ms, "
        f"slowest {fmt(w.max_ms)} ms, {w.calls} calls, {w.left} messages left, "
        f"{w.refused} requests refused.",
        "",
        f"**f. Directory search.** A synthetic directory of {s.services:,} services in "
        f"{s.areas} areas (the UK, 4 nations, 45 counties, 450 towns with aliases and "
        "postcode districts; services mostly local, with the opening hours real services "
        f"have). {s.queries:,} searches (`DirectoryIndex.find`: 80% from a town, 10% a county, "
        "5% a nation, 5% unknown; a random audience, need and moment in the week), each also "
        "with a typed place resolved first (`resolve_place`: a town, an alias, a postcode, a "
        f"district, a near miss or an unknown place). Each search returned {s.find_results:.1f} "
        "services on average.",
        "",
    ]
    if NOTES.exists():
        out += [NOTES.read_text(encoding="utf-8").rstrip(), ""]
    return "\n".join(out)
