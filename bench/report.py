"""The figures against their targets: a table for the terminal, docs/benchmarks.md for the repo."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

from .common import Figure, at_least, at_most, fmt, info
from .e2e import LoadResult
from .engine_bench import EngineResult
from .machine import Machine
from .memory_bench import MemoryResult, OutageResult, SweepResult
from .places_bench import PlacesResult
from .postgres_bench import (
    POLLING,
    SQLITE_POLLING,
    SQLITE_WEBHOOK,
    WEBHOOK_ONE,
    WEBHOOK_TWO,
    PostgresResult,
    PostgresSkipped,
)
from .search_bench import SearchResult
from .sizes import Sizes
from .storage_bench import StorageResult
from .web_bench import WebResult
from .wipe_bench import WipeResult

NOTES = Path(__file__).with_name("notes.md")
NOTES_MARK = "<!-- What follows is bench/notes.md, kept by hand. -->"

# The targets, on this 2-core machine against the fake Bot API on loopback, every step
# committed to disk. Each applies to the run of the size it names (a --quick run has none).
E2E_UPDATES = 120  # updates handled a second by one process, at least
E2E_PEOPLE = 400  # ... with this many people at once
PER_CORE_RATIO = 1.2  # and at least this many times the baseline, by CPU time per update
P99_MS_AT = {30.0: 50.0, 100.0: 100.0}  # p99 latency, ms, at most, at updates a second offered
EXIT_MS = 1000  # a quick exit clears the chat within this (p99) ...
EXIT_AMONG = 400  # ... while this many other people are active
RSS_MB = 80  # resident memory under load, at most
MEMORY_MB = 20  # more resident memory for 100,000 stored conversations, live or idle
MEMORY_STORED = 100_000
FIRST_POLL_S = 1.5  # start-up to the first getUpdates, with ...
OUTAGE_IDLE = 1000  # ... this many idle conversations to clear
FIRST_DELETE_S = 2.0  # start-up to the first deleteMessages, with 100,000 idle
PLACE_P99_MS = 2.0  # a typed place read, with the whole UK gazetteer loaded (p99)
GAZETTEER_MB = 15  # resident memory the gazetteer and postcode tables add at start-up
PLACE_READS = 10_000  # the place targets hold for a sample at least this big
WEB_RATE = 50.0  # web chat steps offered a second ...
WEB_P99_MS = 20.0  # ... each served within this (server time, p99) ...
WEB_STEPS = 1000  # ... over at least this many steps
PAGE_KB = 30  # a web chat step's page with its styles and scripts, at most (KB of 1,024 bytes)
PG_UPDATES = 100  # updates handled a second by one instance on PostgreSQL, at least ...
PG_PEOPLE = 400  # ... with this many people at once
TWO_OVER_ONE = 1.0  # two webhook instances on PostgreSQL / one, updates a second, at least
CORES = (2, 4, 8)  # what so many cores would give, by CPU time per update
RUNS = (SQLITE_POLLING, POLLING, SQLITE_WEBHOOK, WEBHOOK_ONE, WEBHOOK_TWO)  # section i's, in order

WEB = "h. web chat"
WEB_PARAGRAPH = "**h. Web chat.**"
PG = "i. PostgreSQL"
PG_PARAGRAPH = "**i. PostgreSQL.**"
TARGETS_START = "The targets, on this"
TABLE_HEADER = "| section | figure | measured | target | |"


def paced_label(kind: str, rate: float) -> str:
    return f"{kind} paced {fmt(rate)}/s"


THROUGHPUT = "pathways"
BASELINE = "baseline"
MANY = "pathways, many at once"
EXITS = "pathways, quick exits"


@dataclass
class Results:
    machine: Machine
    sizes: Sizes
    engine: EngineResult
    storage: StorageResult
    search: SearchResult
    places: PlacesResult
    wipe: WipeResult
    loads: dict[str, LoadResult]
    memory: list[MemoryResult]
    outage: OutageResult
    sweep: SweepResult
    web: WebResult
    scripts: int
    script_updates: float  # updates in one conversation, on average
    others: float  # cores other processes used meanwhile, on average
    seconds: float  # how long the whole run took
    # Section i: its figures, why it was skipped, or None when it was not run at all.
    postgres: PostgresResult | PostgresSkipped | None = None


def _only_if(held: bool, figure: Figure) -> Figure:
    """The figure with its target when measured as the target says, else for information."""
    return figure if held else replace(figure, target="", met=None)


def _mb(kib: float) -> float:
    return kib / 1024


def figures(r: Results) -> list[Figure]:
    found: list[Figure] = []
    e, st = r.engine, r.storage
    a = "a. engine"
    found += [
        info(a, "steps a second, one core", e.steps_per_second, "steps/s"),
        info(a, "step time p50", e.p50_us, "us"),
        info(a, "step time p99", e.p99_us, "us"),
        info(a, "with storage: steps committed a second", st.steps_per_second, "steps/s"),
        info(a, "with storage: CPU time a step", st.cpu_us_per_step, "us"),
        info(a, "with storage: step time p99", st.p99_us, "us"),
    ]
    ours, base = r.loads[THROUGHPUT], r.loads[BASELINE]
    many, exits = r.loads[MANY], r.loads[EXITS]
    b = "b. end to end"
    found += [
        _only_if(
            ours.people >= E2E_PEOPLE,
            at_least(
                b,
                f"updates handled a second ({ours.people:,} people, each about 1/s)",
                ours.throughput,
                "updates/s",
                E2E_UPDATES,
            ),
        ),
        info(b, "bot CPU time per update", ours.cpu_ms_per_update, "ms"),
        info(b, "so one free core would handle", _per_core(ours), "updates/s"),
        info(b, "Bot API requests per update, besides getUpdates", ours.calls_per_update, ""),
        info(b, "bot CPU time per Bot API request", ours.cpu_ms_per_request, "ms"),
    ]
    for rate in r.sizes.paced_rates:
        paced = r.loads[paced_label("pathways", rate)]
        shown = fmt(rate)
        found += [
            info(b, f"handled a second, {shown}/s offered", paced.throughput, "updates/s"),
            info(b, f"p50 latency, {shown}/s offered", paced.p50_ms, "ms"),
            _only_if(
                rate in P99_MS_AT,
                at_most(
                    b, f"p99 latency, {shown}/s offered", paced.p99_ms, "ms", P99_MS_AT.get(rate, 0)
                ),
            ),
        ]
    found += [
        info(
            b,
            f"p50 / p99 latency, {many.people:,} at once at reading pace "
            f"({many.offered_rate:,.0f}/s)",
            many.p50_ms,
            f"/ {fmt(many.p99_ms)} ms",
        ),
        info(
            b,
            f"quick exit until the chat is clear, p50 ({exits.exits} exits among "
            f"{exits.people:,} people)",
            exits.exit_ms(0.5),
            "ms",
        ),
        _only_if(
            exits.people >= EXIT_AMONG,
            at_most(
                b,
                f"quick exit until the chat is clear, p99 (among {exits.people:,} people)",
                exits.exit_ms(0.99),
                "ms",
                EXIT_MS,
            ),
        ),
        info(b, "quick exits not cleared by the end of the run", exits.exits_uncleared, ""),
        _only_if(
            r.outage.idle >= OUTAGE_IDLE,
            at_most(
                b,
                f"start-up with {r.outage.idle:,} conversations left idle: first getUpdates",
                r.outage.first_poll_seconds,
                "s",
                FIRST_POLL_S,
            ),
        ),
        info(
            b,
            f"start-up with {r.outage.idle:,} conversations left idle: all cleared",
            _or_nan(r.outage.cleared_seconds),
            "s",
        ),
    ]
    sw = r.sweep
    idle = f"start-up with {sw.idle:,} conversations left idle"
    found += [
        info(b, f"{idle}: first getUpdates", sw.first_poll_seconds, "s"),
        _only_if(
            sw.idle >= MEMORY_STORED,
            at_most(
                b,
                f"{idle}: first deleteMessages",
                _or_nan(sw.first_delete_seconds),
                "s",
                FIRST_DELETE_S,
            ),
        ),
        info(b, f"{idle}: chats cleared a second", sw.cleared_per_second, "chats/s"),
        info(b, f"{idle}: all cleared, at that pace", sw.all_cleared_seconds, "s"),
    ]
    c = "c. baseline"
    found += [
        info(c, "baseline: updates handled a second", base.throughput, "updates/s"),
        info(c, "baseline: bot CPU time per update", base.cpu_ms_per_update, "ms"),
        info(c, "baseline: so one free core would handle", _per_core(base), "updates/s"),
        info(c, "baseline: Bot API requests per update", base.calls_per_update, ""),
        info(c, "baseline: bot CPU time per Bot API request", base.cpu_ms_per_request, "ms"),
    ]
    for rate in r.sizes.paced_rates:
        paced = r.loads[paced_label("baseline", rate)]
        found.append(info(c, f"baseline: p99 latency, {fmt(rate)}/s offered", paced.p99_ms, "ms"))
    found += [
        info(
            c,
            "Pathways / baseline, updates a second",
            _ratio(ours.throughput, base.throughput),
            "x",
        ),
        _only_if(
            ours.people >= E2E_PEOPLE,
            at_least(
                c,
                "Pathways / baseline, per core (by CPU time per update)",
                _ratio(_per_core(ours), _per_core(base)),
                "x",
                PER_CORE_RATIO,
            ),
        ),
    ]
    d = "d. memory"
    ours_runs = [x for label, x in r.loads.items() if not label.startswith(BASELINE)]
    highest = max(ours_runs, key=lambda x: x.rss_kib_max)
    found.append(
        _only_if(
            ours.people >= E2E_PEOPLE,
            at_most(
                d,
                f'resident under load, highest (in "{highest.label}")',
                _mb(highest.rss_kib_max),
                "MB",
                RSS_MB,
            ),
        )
    )
    empty = next((m for m in r.memory if m.stored == 0), None)
    for m in r.memory:
        found.append(info(d, f"resident, {m.stored:,} stored conversations", _mb(m.rss_kib), "MB"))
    largest = max(r.memory, key=lambda m: m.stored)
    if empty is not None and largest.stored:
        found.append(
            _only_if(
                largest.stored >= MEMORY_STORED,
                at_most(
                    d,
                    f"more resident for {largest.stored:,} stored, live",
                    _mb(largest.rss_kib - empty.rss_kib),
                    "MB",
                    MEMORY_MB,
                ),
            )
        )
    found += [
        info(
            d,
            f"resident while the sweep clears {sw.idle:,} idle (highest in {fmt(sw.seconds)} s, "
            f"{sw.cleared:,} cleared)",
            _mb(sw.rss_kib_max),
            "MB",
        ),
        info(d, "growth while the sweep clears idle chats", sw.kib_per_cleared, "KiB/chat"),
    ]
    if empty is not None:
        found.append(
            _only_if(
                sw.idle >= MEMORY_STORED,
                at_most(
                    d,
                    f"more resident for {sw.idle:,} stored, idle: when the sweep has cleared "
                    "them (projected)",
                    _mb(sw.rss_kib_all_cleared - empty.rss_kib),
                    "MB",
                    MEMORY_MB,
                ),
            )
        )
    found += [
        info(d, f"resident, {many.people:,} active at once (highest)", _mb(many.rss_kib_max), "MB"),
        info(
            d,
            f"more than idle, {many.people:,} active at once",
            _mb(many.rss_kib_max - many.rss_kib_start),
            "MB",
        ),
        info(d, "baseline resident, under load (highest)", _mb(base.rss_kib_max), "MB"),
    ]
    w = r.wipe
    f = "e. wipe"
    found += [
        info(f, f"API calls to wipe {w.messages} messages", w.calls, "calls"),
        info(f, f"time to wipe {w.messages} messages (slowest of {w.rounds})", w.max_ms, "ms"),
        info(f, "messages left in the chats", w.left, ""),
    ]
    s = r.search
    g = "f. search"
    found += [
        info(
            g, f"find: p50 ({s.services:,} services, {s.areas} areas)", s.find_p50_us / 1000, "ms"
        ),
        info(g, "find: p99", s.find_p99_us / 1000, "ms"),
        info(g, "typed place, then find: p99", s.both_p99_us / 1000, "ms"),
        info(g, "index built in", s.build_ms, "ms"),
    ]
    for kind, (p50, p99) in s.place_kinds.items():
        found.append(
            info(g, f"resolve_place, {kind}: p50 / p99", p50 / 1000, f"/ {fmt(p99 / 1000)} ms")
        )
    p = r.places
    h = "g. places"
    found += [
        info(h, f"typed place read: p50 ({p.typed:,} typed, half unknown)", p.p50_us / 1000, "ms"),
        _only_if(
            p.reads >= PLACE_READS,
            at_most(
                h, "typed place read: p99, whole gazetteer", p.p99_us / 1000, "ms", PLACE_P99_MS
            ),
        ),
        info(h, "typed place read: slowest", p.slowest_us / 1000, "ms"),
        _only_if(
            p.reads >= PLACE_READS,
            at_most(
                h, "start-up: memory the gazetteer adds", _mb(p.startup_kib), "MB", GAZETTEER_MB
            ),
        ),
        info(h, "start-up: gazetteer, tables and index loaded in", p.startup_ms, "ms"),
    ]
    return found + web_figures(r.web) + postgres_figures(r.postgres)


def web_figures(w: WebResult) -> list[Figure]:
    # Held only at the full size, as every other target: a --quick run has none.
    full = w.rate == WEB_RATE and w.steps >= WEB_STEPS and w.walked == w.scripts
    rate = fmt(w.rate)
    return [
        info(WEB, f"steps answered a second, {rate}/s offered", w.answered_per_second, "steps/s"),
        info(WEB, f"server time per step p50, {rate}/s offered", w.p50_ms, "ms"),
        _only_if(
            full,
            at_most(WEB, f"server time per step p99, {rate}/s offered", w.p99_ms, "ms", WEB_P99_MS),
        ),
        info(WEB, "server time per step, slowest", w.slowest_ms, "ms"),
        info(
            WEB,
            "p50 / p99 time per step in the browser, from the moment it was due",
            w.browser_p50_ms,
            f"/ {fmt(w.browser_p99_ms)} ms",
        ),
        info(WEB, "server CPU time per step", w.cpu_ms_per_step, "ms"),
        _only_if(
            full,
            at_most(
                WEB,
                f"heaviest page with its styles and scripts (of {w.walked} transcripts walked)",
                w.page_with_static_bytes / 1024,
                "KB",
                PAGE_KB,
            ),
        ),
        info(WEB, "of which web.css and web.js", w.static_bytes / 1024, "KB"),
    ]


def postgres_figures(p: PostgresResult | PostgresSkipped | None) -> list[Figure]:
    if not isinstance(p, PostgresResult):
        return []
    poll, one, two = p.loads[POLLING], p.loads[WEBHOOK_ONE], p.loads[WEBHOOK_TWO]
    full = poll.people >= PG_PEOPLE and two.people >= PG_PEOPLE
    found = [
        _only_if(
            full,
            at_least(
                PG,
                f"one instance polling: updates handled a second ({poll.people:,} people)",
                poll.throughput,
                "updates/s",
                PG_UPDATES,
            ),
        ),
    ]
    for rate, paced in p.paced:
        found.append(
            info(
                PG,
                f"one instance polling: p50 / p99 latency, {fmt(rate)}/s offered",
                paced.p50_ms,
                f"/ {fmt(paced.p99_ms)} ms",
            )
        )
    found += [
        info(PG, "one instance, webhook: updates handled a second", one.throughput, "updates/s"),
        info(
            PG,
            "two instances, webhook, round robin: updates handled a second",
            two.throughput,
            "updates/s",
        ),
        _only_if(
            full,
            at_least(
                PG,
                "two instances / one, webhook, updates handled a second",
                _ratio(two.throughput, one.throughput),
                "x",
                TWO_OVER_ONE,
            ),
        ),
    ]
    for label in RUNS:
        x = p.loads[label]
        parts = (
            f"bot {fmt(x.cpu_ms_per_update)} + PostgreSQL {fmt(x.database_cpu_ms_per_update)}"
            if label.startswith("postgres")
            else "SQLite works in the bot's process"
        )
        found.append(
            info(
                PG,
                f"CPU time per update, bot and database: {label}",
                _bot_and_database(x),
                f"ms ({parts})",
            )
        )
    found.append(
        info(
            PG,
            "each more core would add, two instances in webhook mode (by bot and database CPU "
            "time per update)",
            _ratio(1000, _bot_and_database(two)),
            "updates/s",
        )
    )
    return found


def _bot_and_database(x: LoadResult) -> float:
    """CPU time per update of the bot processes and, on PostgreSQL, the server's; the fake and
    the people are left out (Telegram's, in a deployment)."""
    if x.label.startswith("sqlite"):
        return x.cpu_ms_per_update  # SQLite works inside the bot's process
    return x.cpu_ms_per_update + x.database_cpu_ms_per_update


def _or_nan(value: float | None) -> float:
    return value if value is not None else float("nan")


def render_table(r: Results) -> str:
    others = f"other processes kept {r.others:.2f} of {r.machine.cores} cores busy meanwhile"
    lines = [table(figures(r)), ""]
    if isinstance(r.postgres, PostgresSkipped):
        lines.append(f"{PG}: skipped: {r.postgres.reason}")
    return "\n".join([*lines, f"{r.seconds:.0f} s in all; {others}"])


def table(found: list[Figure]) -> str:
    """Figures as a plain table for the terminal."""
    rows = [("section", "figure", "measured", "target", "")]
    rows += [(x.section, x.name, x.shown(), x.target, x.verdict()) for x in found]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


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


def _exits_line(x: LoadResult) -> str:
    return (
        f"{x.exits} quick exits tapped in the measured window, among {x.people:,} people: "
        f"chat clear after p50 {fmt(x.exit_ms(0.5))} ms, p99 {fmt(x.exit_ms(0.99))} ms, "
        f"slowest {fmt(x.exit_ms(1.0))} ms; {x.exits_uncleared} not clear by the end of the run."
    )


def targets_text() -> str:
    """The targets in words (the paragraph before the table)."""
    targets = ", ".join(f"{fmt(ms)} ms at {fmt(rate)}/s" for rate, ms in P99_MS_AT.items())
    return (
        f"{TARGETS_START} 2-core machine against the fake Bot API on loopback, every step "
        f"committed to disk: one process handles at least {E2E_UPDATES} updates a second, and "
        f"at least {fmt(PER_CORE_RATIO)} times the plain python-telegram-bot baseline by CPU "
        f"time per update, in the same run; p99 latency at most {targets} offered; a quick "
        f"exit clears the chat within {fmt(EXIT_MS)} ms (p99) while {EXIT_AMONG} other people "
        f"are active; resident memory at most {RSS_MB} MB under load, and at most "
        f"{MEMORY_MB} MB more for {MEMORY_STORED:,} stored conversations, live or idle; "
        f"start-up to the first `getUpdates` within {fmt(FIRST_POLL_S)} s with "
        f"{OUTAGE_IDLE:,} idle conversations to clear, and to the first `deleteMessages` "
        f"within {fmt(FIRST_DELETE_S)} s with {MEMORY_STORED:,}. The web chat, over HTTP on "
        f"loopback: each step served within {fmt(WEB_P99_MS)} ms (p99, server time) at "
        f"{fmt(WEB_RATE)} steps a second, and each step's page, with its styles and scripts, "
        f"at most {PAGE_KB} KB. On PostgreSQL, when a server answers: one instance handles "
        f"at least {PG_UPDATES} updates a second, every step committed, and two instances in "
        "webhook mode behind one address handle no fewer than one. The engine, wipe and "
        "search figures are reported for information."
    )


def _tally(verdicts: list[tuple[str, bool]]) -> str:
    """How many targets were met, from each target's (figure name, met)."""
    missed = [name for name, met in verdicts if not met]
    return f"{len(verdicts) - len(missed)} of {len(verdicts)} targets met" + (
        f"; missed: {'; '.join(missed)}." if missed else "."
    )


def _row(x: Figure) -> str:
    return f"| {x.section} | {x.name} | {x.shown()} | {x.target} | {x.verdict()} |"


def render_markdown(r: Results, quick: bool = False) -> str:
    sz, p = r.sizes, r.places
    rates = " and ".join(f"{fmt(rate)}" for rate in sz.paced_rates)
    out = [
        "# Benchmarks",
        "",
        "How fast and how small Pathways is, side by side with a plain python-telegram-bot "
        "conversation bot. This file is written by `make bench` "
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
        targets_text(),
        "",
        _tally([(x.name, x.met) for x in figures(r) if x.met is not None]),
        "",
        TABLE_HEADER,
        "| --- | --- | --- | --- | --- |",
    ]
    out += [_row(x) for x in figures(r)]
    e, s, w, sw = r.engine, r.search, r.wipe, r.sweep
    ours, exits = r.loads[THROUGHPUT], r.loads[EXITS]
    out += [
        "",
        "## How each figure is measured",
        "",
        "**a. Engine.** `Engine.step` alone (no I/O), pinned to one core, replaying the "
        f"{r.scripts} scenario transcripts of `tests/scenarios/` (on average "
        f"{r.script_updates:.1f} steps each, including `/start`), each on a fresh session, "
        f"round after round: {e.steps:,} steps in {e.seconds:.1f} s. With storage: the same "
        "steps asking of `SqliteStore` (on a SQLite file) what the Telegram channel asks for "
        "each: the step itself (load, step, count, save, commit; typed words are read by the "
        "engine within it); then, when the step goes "
        "out as new messages, a second short transaction recording their ids, and after a "
        "quick exit the wipe marked done and the farewell recorded. The short benchmarks "
        f"(engine, storage, search) run {sz.repeats} times and the best run is kept, as "
        "`timeit` does.",
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
        f"Throughput run: {ours.people:,} people at once, each pausing 0.5 to "
        "1.5 s after every reply (well inside the flood guard's 2 updates a second per chat), "
        "so that the bot is never short of work; updates answered in the "
        f"{fmt(ours.seconds)} s after {fmt(sz.warmup)} s of warm-up. Latency runs: updates "
        f"offered as a Poisson stream at {rates} a second, one run each, by "
        f"{sz.paced_people} people, each acting only once the reply to their previous update "
        "has arrived (so if the bot falls behind, fewer are offered: the offered rate measured "
        f"is shown). Many at once: {r.loads[MANY].people:,} people starting within "
        f"{fmt(sz.active_ramp)} s and taking "
        f"{'-'.join(fmt(t) for t in sz.active_think)} s over each step, as a "
        "person reading does, so that that many conversations are in flight at once. "
        "CPU times are the bot process's own (user and system, all its threads) over the "
        "measured window; requests are counted at the fake.",
        "",
        f"Quick exits: the throughput run's load ({exits.people:,} people) again, and "
        f"alongside it more people arriving, {fmt(sz.exit_rate)} a second on average (a "
        "Poisson stream), each in a new chat: `/start`, the next step of a scenario, then a "
        "tap on Quick exit. The time runs from the tap to the moment the fake shows that chat "
        "holding nothing but the bot's farewell (every earlier message deleted); a chat not "
        "clear 10 s after the run counts as never. " + _exits_line(exits) + " The run's other "
        "figures (its row below) count the other people only.",
        "",
        f"Start-up after an outage: a database with {r.outage.idle:,} conversations last "
        "active an hour ago, each with a dozen messages to delete, then the bot started on "
        "it: the time to its first `getUpdates` (when it can answer anyone) and until the "
        "last of those chats was cleared (its `deleteMessages` reached the fake). With "
        f"{sw.idle:,}: the time to the first `deleteMessages` (of those chats), then the sweep "
        f"watched for {fmt(sw.seconds)} s, with nobody else writing (as at night): "
        f"{sw.cleared:,} chats cleared.",
        "",
        "**c. Baseline.** `bench/baseline_bot.py`: a `ConversationHandler` bot with "
        "`PicklePersistence`, python-telegram-bot's defaults otherwise (its httpx transport; "
        "updates handled one at a time; the pickle written every 60 s and at shutdown, not at "
        "every step). Each step shows a text and six buttons, about as much as a Pathways "
        "step. It walks as many steps as each scenario (tap for tap, typed text for typed "
        "text) and runs under the same loads, in the same run, against the same fake, the two "
        'bots taking turns. "Per core" compares CPU time per update, which other processes '
        "on the machine do not change.",
        "",
        "| run | people | offered /s | handled /s | p50 ms | p99 ms | bot CPU ms per update "
        "| Bot API requests per update (+ getUpdates) | bot CPU ms per request "
        "| fake and people CPU ms per update | conversations finished | bot RSS MB (highest) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(_load_row(x) for x in r.loads.values()),
        "",
        "**d. Memory.** The bot's VmRSS (`/proc/<pid>/status`). Under load: the highest "
        "sampled (every 0.25 s) in any of the Pathways runs of (b). Stored conversations: a "
        "database filled with that many live conversations as the bot writes them, then the "
        f"bot started on it and {sz.memory_people} people (chats among the stored ones) "
        f"running conversations for {fmt(sz.memory_seconds)} s; RSS read afterwards. Idle "
        f"ones: the {sw.idle:,}-conversation start-up of (b), RSS sampled every 0.5 s while "
        "the sweep was watched. A whole sweep takes minutes "
        f"({fmt(sw.all_cleared_seconds)} s at the pace measured), longer than the run can "
        "wait, so the figure held to the target is projected: the growth per chat cleared "
        "(the least-squares slope over the second half of the samples) carried on to the "
        "last chat, compared with the bot with none stored.",
        "",
        "| stored conversations | RSS after start-up MB | RSS after traffic MB | start-up s |",
        "| --- | --- | --- | --- |",
        *(
            f"| {m.stored:,} | {_mb(m.rss_kib_idle):.1f} | {_mb(m.rss_kib):.1f} | "
            f"{m.start_seconds:.1f} |"
            for m in r.memory
        ),
        "",
        f"| {sw.idle:,} idle: chats cleared | "
        + " | ".join(f"{n:,}" for n, _ in _few(sw.samples))
        + " |",
        "| --- |" + " --- |" * len(_few(sw.samples)),
        "| RSS MB | " + " | ".join(f"{_mb(k):.1f}" for _, k in _few(sw.samples)) + " |",
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
        "services on average. The UK gazetteer and postcode tables are loaded here too, so "
        "an unknown place is also looked for among every UK place.",
        "",
        f"**g. Places.** `resolve_place` on the bundled directory with the whole UK gazetteer "
        f"loaded, as the chat reads a typed place: every reply of `tests/data/uk_places.csv` "
        "(postcodes in every form, area letters, towns, Welsh names, border districts, "
        "islands, misspellings) and as many made-up words (the slowest path: a near miss "
        f"looked for among every name and not found), {p.typed:,} in all, read "
        f"{r.sizes.place_rounds} times in a shuffled order. Start-up: a fresh Python process's "
        "resident memory (VmRSS) before and after it reads the gazetteer and postcode tables "
        "and builds the index.",
        "",
        web_paragraph(r.web),
        "",
    ]
    if r.postgres is not None:
        out += [*postgres_paragraph(r.postgres), ""]
    out.append(NOTES_MARK)
    if NOTES.exists():
        out += [NOTES.read_text(encoding="utf-8").rstrip(), ""]
    return "\n".join(out)


def web_paragraph(w: WebResult) -> str:
    return (
        f"{WEB_PARAGRAPH} `bench/web_bench.py`: the web chat (`web_chat_app`) served by "
        "aiohttp on 127.0.0.1 in a process of its own, with no access log, on a SQLite file "
        "as `python -m bot run` opens it. The bench wraps it in one middleware of its own, "
        "outermost, that times each request's handler and sends that back in a "
        "`Server-Timing` header: the server time of a step is the sum over its requests "
        "(reading the form, the step and its transaction, rendering the page; not parsing the "
        "request line or writing the response). The people are browsers with scripts off, "
        "each an `aiohttp.ClientSession` with its own cookie jar in the benchmark's process, "
        "playing the scenario transcripts: the first visit is `GET /chat`; a tap or typed "
        "words is `POST /chat` with the form's token and state read from the page, then the "
        "`GET /chat` its 303 leads to; Exit this page is `POST /chat/exit` (its redirect to "
        f"the exit site not followed). First every transcript is walked once ({w.walked} of "
        f"{w.scripts} to the end), weighing every page shown: its HTML as sent (the heaviest, "
        f"{w.page_bytes:,} bytes, shows `{w.page_state}`) plus `/static/web.css` and "
        f"`/static/web.js` ({w.static_bytes:,} bytes), uncompressed. Then steps are offered at "
        f"{fmt(w.rate)} a second as a Poisson stream fixed in advance (open loop: each goes "
        "to a person whose last step was answered, or to someone new when none is free), and "
        f"the {w.steps:,} offered in {fmt(w.seconds)} s after a warm-up are measured "
        f"({w.answered:,} answered, {w.failures} failures, {w.mismatches} transcripts that "
        f"did not match a page; {w.people} people). The time in the browser runs from the "
        "moment a step was due to its page read, so it includes any wait in this process. "
        f"This section's run: {w.date}; other processes kept {w.others:.2f} cores busy "
        "meanwhile."
    )


def postgres_paragraph(p: PostgresResult | PostgresSkipped) -> list[str]:
    """Section i's paragraphs: how it was measured, its runs side by side, and what more cores
    would give; or why it was skipped."""
    if isinstance(p, PostgresSkipped):
        return [
            f"{PG_PARAGRAPH} Skipped in this run ({p.date}): {p.reason}. "
            "`python -m bench --postgres-only` runs this section alone, into the report "
            "written last, once a server answers."
        ]
    sv, poll, two = p.server, p.loads[POLLING], p.loads[WEBHOOK_TWO]
    settings = ", ".join(f"`{name}` {value}" for name, value in sv.settings.items())
    rates = " and ".join(fmt(rate) for rate, _ in p.paced) or "no rate"
    reference = (
        "(b)'s throughput run on SQLite"
        if p.reference_from_b
        else "a throughput run on SQLite of its own"
    )
    cpu = (
        "and the PostgreSQL server's: the backends of the run's own connections (told apart by "
        "the `application_name` in the address the bot is given: its two pools and its "
        "leader's lock connection) and the server's background processes (WAL writer, "
        "checkpointer, background writer, autovacuum; these work for anyone using the server "
        "at the time), from `/proc/<pid>/stat` over the measured window"
        if sv.cpu_readable
        else "not the PostgreSQL server's, which is not a process of this machine"
    )
    order = " ".join("A B" if n % 2 == 0 else "B A" for n in range(p.turns))
    turns = (
        f", {p.turns} runs each, taking turns (one A, two B: {order}), so that a change in the "
        "machine's other load weighs on both alike; each figure is over all of its runs"
        if p.turns > 1
        else ""
    )
    c = _bot_and_database(two)
    per_instance = _ratio(1000, two.cpu_ms_per_update / two.instances)
    lines = [
        f"{PG_PARAGRAPH} `bench/postgres_bench.py`: the load of (b) with the bot on "
        f"{sv.version} at {sv.where}{' (this machine)' if sv.cpu_readable else ''}, given "
        "as `PATHWAYS_DATABASE_URL`, each run in a fresh schema of its own (dropped "
        f"afterwards); the server's {settings}. One instance polling, as `python -m bot run` "
        "runs on PostgreSQL with no webhook (it takes the lead, `bot/leader.py`, and polls): "
        f"the throughput run ({poll.people:,} people, the {fmt(poll.seconds)} s after the "
        f"warm-up) and a latency run at {rates} a second offered, as in (b). In webhook mode "
        "the fake keeps no update for `getUpdates`: each is handed, as it is made, to a "
        "balancer in the benchmark's process that posts it to the instances' webhooks in "
        "turn, as nginx's `upstream` does (round robin, with the secret header, on kept-alive "
        "connections, as many at once as come): one instance, and two on one schema, under "
        f"the throughput run's load{turns}. The same webhook run on SQLite, and "
        f"{reference}, are beside them. CPU time per update: the bot processes' (user and "
        f"system, all threads, summed over the instances), {cpu}. The fake, the people and "
        "the balancer (Telegram and the proxy, in a deployment) are counted apart.",
        "",
        "| run | instances | people | offered /s | handled /s | p50 ms | p99 ms "
        "| bot CPU ms per update | PostgreSQL CPU ms per update | bot and database "
        "| fake, people and balancer CPU ms per update "
        "| Bot API requests per update (+ getUpdates) | unanswered at the end | "
        + " | ".join(f"{n} cores at most /s" for n in CORES)
        + " |",
        "| --- |" + " --- |" * (12 + len(CORES)),
        *(_postgres_row(x) for x in p.loads.values()),
        "",
        "**What more cores would give.** Here the bot processes, PostgreSQL, the fake, the "
        "people and the balancer share 2 cores, so the figures above are the machine's, not "
        "the design's. With c ms of bot and database CPU time per update, N cores handle at "
        "most about N x 1000 / c updates a second (the last columns), given at least as many "
        "instances as it takes to keep them busy: each instance handles its updates on one "
        "thread, at most 1000 / b a second for b ms of its own CPU time per update. Measured "
        f"with two instances in webhook mode: c = {fmt(c)} ms, so each more core would add "
        f"about {fmt(_ratio(1000, c))} updates a second, and each instance can take about "
        f"{fmt(per_instance)} a second.",
        "",
        _postgres_logs(p)
        + f" This section's run: {p.date}, {fmt(p.seconds)} s; other processes kept "
        f"{p.others:.2f} cores busy meanwhile.",
    ]
    return lines


def _postgres_row(x: LoadResult) -> str:
    c = _bot_and_database(x)
    database = (
        fmt(x.database_cpu_ms_per_update) if x.label.startswith("postgres") else "(in the bot)"
    )
    return (
        f"| {x.label} | {x.instances} | {x.people:,} | {x.offered_rate:,.1f} | "
        f"{x.throughput:,.1f} | {fmt(x.p50_ms)} | {fmt(x.p99_ms)} | "
        f"{fmt(x.cpu_ms_per_update)} | {database} | {fmt(c)} | {fmt(x.driver_cpu_ms_per_update)} | "
        f"{fmt(x.calls_per_update)} + {fmt(x.polls_per_update)} | {x.unanswered:,} | "
        + " | ".join(fmt(n * _ratio(1000, c)) for n in CORES)
        + " |"
    )


def _postgres_logs(p: PostgresResult) -> str:
    if not p.problems:
        return (
            "The bots' logs held nothing at WARNING or above but their start-up lines, and no "
            "instance exited with an error."
        )
    found = "; ".join(
        f"{label}: {len(lines)} ({_quote(lines[0])}{', ...' if len(lines) > 1 else ''})"
        for label, lines in p.problems.items()
    )
    return f"Lines at WARNING or above in the bots' logs, besides their start-up lines: {found}."


def _quote(line: str) -> str:
    return "`" + line.replace("`", "'")[:160] + "`"


def with_web_section(markdown: str, w: WebResult) -> str:
    """A report written before with the web chat's figures and paragraph from `w` (a run of
    that section alone), its targets and their tally brought up to date, and the notes of
    bench/notes.md as they are now."""
    return _with_section(markdown, WEB, web_figures(w), [web_paragraph(w)])


def with_postgres_section(markdown: str, p: PostgresResult | PostgresSkipped) -> str:
    """A report written before with section i's figures and paragraphs from `p` (a run of
    that section alone), as `with_web_section` does for the web chat's."""
    return _with_section(markdown, PG, postgres_figures(p), postgres_paragraph(p))


_BLOCK = re.compile(r"\*\*([a-z])\. ")  # how each section's paragraphs begin


def _with_section(markdown: str, section: str, rows: list[Figure], block: list[str]) -> str:
    """The report with one section's rows of the table and its paragraphs replaced where they
    are (or put in their place by the section's letter), the targets and their tally brought
    up to date, and the notes as they are now."""
    figures_part, found, _notes = markdown.partition(NOTES_MARK)
    if not found or TABLE_HEADER not in figures_part:
        raise ValueError("not a report written by `python -m bench`")
    lines = figures_part.rstrip("\n").split("\n")
    letter = section[0]
    first = lines.index(TABLE_HEADER) + 2
    end = next((i for i in range(first, len(lines)) if not lines[i].startswith("| ")), len(lines))
    body = lines[first:end]
    mine = [i for i, line in enumerate(body) if _cells(line)[0] == section]
    at = (
        mine[0]
        if mine
        else next((i for i, line in enumerate(body) if _cells(line)[0][:1] > letter), len(body))
    )
    body = [line for line in body if _cells(line)[0] != section]
    body[at:at] = [_row(x) for x in rows]
    lines[first:end] = body
    verdicts = [(row[1], row[-1] == "met") for row in map(_cells, body) if row[-1] in _VERDICTS]
    lines = [
        targets_text()
        if line.startswith(TARGETS_START)
        else _tally(verdicts)
        if re.fullmatch(r"\d+ of \d+ targets met.*", line)
        else line
        for line in lines
    ]
    starts = [(i, m.group(1)) for i, line in enumerate(lines) if (m := _BLOCK.match(line))]
    here = next((i for i, found_letter in starts if found_letter == letter), None)
    if here is not None:
        after = next((i for i, _ in starts if i > here), len(lines))
        lines[here:after] = [*block, ""]
    else:
        later = next((i for i, found_letter in starts if found_letter > letter), len(lines))
        lines[later:later] = ["", *block, ""]
    lines = _single_blank_lines(lines)
    while lines[-1] == "":
        lines.pop()
    return with_new_notes("\n".join([*lines, "", NOTES_MARK, ""]))


_VERDICTS = ("met", "MISSED")


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def _single_blank_lines(lines: list[str]) -> list[str]:
    """No two blank lines in a row (left where a paragraph was taken out)."""
    return [line for i, line in enumerate(lines) if line or i == 0 or lines[i - 1]]


def with_new_notes(markdown: str) -> str:
    """A report written before with the notes of bench/notes.md as they are now."""
    figures_part, found, _old = markdown.partition(NOTES_MARK)
    if not found:
        raise ValueError("not a report written by `python -m bench` (no notes mark)")
    notes = NOTES.read_text(encoding="utf-8").rstrip() if NOTES.exists() else ""
    return "\n".join([figures_part + NOTES_MARK, notes, ""])


def _few(samples: tuple[tuple[int, int], ...], most: int = 7) -> list[tuple[int, int]]:
    """At most `most` samples, evenly spread, the first and last included."""
    if len(samples) <= most:
        return list(samples)
    step = (len(samples) - 1) / (most - 1)
    return [samples[round(i * step)] for i in range(most)]
