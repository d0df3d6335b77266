"""Run every benchmark, print a table and write docs/benchmarks.md (`make bench`).

python -m bench              # the full run, a few minutes
python -m bench --quick      # tiny sizes, seconds: checks that everything still runs
python -m bench --out FILE   # write the report elsewhere (--out - : print only)
python -m bench --notes-only # put bench/notes.md, as it is now, into the report written last
python -m bench --web-only   # run the web chat's section alone, into the report written last
python -m bench --postgres-only  # run section i (PostgreSQL) alone, into the report written last

Section i runs on PATHWAYS_BENCH_DATABASE_URL (else PATHWAYS_TEST_DATABASE_URL, else the local
test server, postgresql://postgres@127.0.0.1:5432/test); it is skipped, saying why, when no
PostgreSQL server answers there.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from . import (
    e2e,
    engine_bench,
    memory_bench,
    places_bench,
    postgres_bench,
    search_bench,
    storage_bench,
    web_bench,
    wipe_bench,
)
from .common import ROOT
from .machine import LoadMeter, describe
from .report import (
    BASELINE,
    EXITS,
    MANY,
    THROUGHPUT,
    Results,
    paced_label,
    postgres_figures,
    render_markdown,
    render_table,
    table,
    web_figures,
    with_new_notes,
    with_postgres_section,
    with_web_section,
)
from .scenarios import load_scripts
from .sizes import FULL, QUICK, Sizes
from .web_bench import FULL_WEB, QUICK_WEB, WebSizes


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(sizes: Sizes, web_sizes: WebSizes, workdir: Path) -> Results:
    meter = LoadMeter()
    machine = describe()
    _say("engine ...")
    # The short benchmarks run `repeats` times and keep their best run, as timeit does:
    # another process taking the core for a moment only ever makes a run slower.
    engine = max(
        (engine_bench.run(min_seconds=sizes.engine_seconds) for _ in range(sizes.repeats)),
        key=lambda result: result.steps_per_second,
    )
    _say("engine with storage ...")
    storage = max(
        (
            storage_bench.run(workdir / f"storage-{n}", min_seconds=sizes.engine_seconds)
            for n in range(sizes.repeats)
        ),
        key=lambda result: result.steps_per_second,
    )
    _say("directory search ...")
    search = min(
        (
            search_bench.run(queries=sizes.search_queries, services=sizes.search_services)
            for _ in range(sizes.repeats)
        ),
        key=lambda result: result.both_p99_us,
    )
    _say("typed places, the whole UK gazetteer ...")
    places = min(
        (places_bench.run(rounds=sizes.place_rounds) for _ in range(sizes.repeats)),
        key=lambda result: result.p99_us,
    )
    _say("wipe ...")
    wipe = wipe_bench.run(messages=sizes.wipe_messages, rounds=sizes.wipe_rounds)
    _say(f"web chat: {web_sizes.rate:g} steps a second ...")
    web = web_bench.run(workdir / "web", web_sizes)

    scripts = load_scripts()
    mirrored = [e2e.mirror(script) for script in scripts]
    loads: dict[str, e2e.LoadResult] = {}
    # The two bots take turns, so that a change in the machine's other load hits both alike.
    runs: list[tuple[str, str, float | None]] = [
        (THROUGHPUT, THROUGHPUT, None),
        (BASELINE, BASELINE, None),
    ]
    for paced in sizes.paced_rates:
        runs += [(kind, paced_label(kind, paced), paced) for kind in (THROUGHPUT, BASELINE)]
    for kind, label, rate in runs:
        _say(f"end to end: {label} ...")
        # A saturated bot has a queue left at the end: it is stopped without waiting long.
        with e2e.running(kind, workdir / _folder(label), grace=5.0) as (fake, bot):
            loads[label] = e2e.load(
                label,
                fake,
                bot,
                scripts if kind == THROUGHPUT else mirrored,
                people=sizes.people if rate is None else sizes.paced_people,
                seconds=sizes.seconds,
                warmup=sizes.warmup,
                rate=rate,
                drain=0.0 if rate is None else 5.0,
            )
    _say(f"end to end: {MANY} ...")
    with e2e.running("pathways", workdir / "at-once", grace=5.0) as (fake, bot):
        loads[MANY] = e2e.load(
            MANY,
            fake,
            bot,
            scripts,
            people=sizes.active_people,
            seconds=sizes.active_seconds,
            warmup=sizes.warmup,
            think=sizes.active_think,
            ramp=sizes.active_ramp,
            drain=0.0,
        )
    _say(f"end to end: {EXITS} ...")
    with e2e.running("pathways", workdir / "exits", grace=5.0) as (fake, bot):
        loads[EXITS] = e2e.load(
            EXITS,
            fake,
            bot,
            scripts,
            people=sizes.people,
            seconds=sizes.seconds,
            warmup=sizes.warmup,
            exit_rate=sizes.exit_rate,
            drain=0.0,
        )
    _say("end to end on PostgreSQL ...")
    postgres = postgres_bench.run(
        sizes, workdir / "postgres", scripts, reference=loads[THROUGHPUT], say=_say
    )
    memory = []
    for stored in sizes.memory_sizes:
        _say(f"memory: {stored:,} stored conversations ...")
        memory.append(
            memory_bench.measure(
                stored,
                workdir / f"memory-{stored}",
                scripts,
                people=sizes.memory_people,
                seconds=sizes.memory_seconds,
            )
        )
    _say(f"start-up after an outage: {sizes.outage_idle:,} idle conversations ...")
    outage = memory_bench.outage(sizes.outage_idle, workdir / "outage")
    _say(f"start-up after an outage: {sizes.sweep_idle:,} idle conversations, the sweep ...")
    sweep = memory_bench.sweep(sizes.sweep_idle, workdir / "sweep", seconds=sizes.sweep_seconds)
    return Results(
        machine=machine,
        sizes=sizes,
        engine=engine,
        storage=storage,
        search=search,
        places=places,
        wipe=wipe,
        loads=loads,
        memory=memory,
        outage=outage,
        sweep=sweep,
        web=web,
        scripts=len(scripts),
        script_updates=sum(s.updates for s in scripts) / len(scripts),
        others=meter.others(),
        seconds=meter.seconds(),
        postgres=postgres,
    )


def _folder(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a check, not figures")
    parser.add_argument(
        "--out",
        default=str(ROOT / "docs" / "benchmarks.md"),
        help="where to write the report ('-' to only print the table)",
    )
    parser.add_argument(
        "--notes-only",
        action="store_true",
        help="run nothing: only bring the report's notes up to date with bench/notes.md",
    )
    parser.add_argument(
        "--web-only",
        action="store_true",
        help="run only the web chat's section and put its figures into the report written last",
    )
    parser.add_argument(
        "--postgres-only",
        action="store_true",
        help="run only section i (PostgreSQL) and put its figures into the report written last",
    )
    args = parser.parse_args(argv)
    if args.postgres_only:
        return _postgres_only(QUICK if args.quick else FULL, "-" if args.quick else args.out)
    if args.web_only:
        # A quick run's figures are only printed: they would pass for real ones in the report.
        return _web_only(QUICK_WEB if args.quick else FULL_WEB, "-" if args.quick else args.out)
    if args.notes_only:
        out = Path(args.out)
        out.write_text(with_new_notes(out.read_text(encoding="utf-8")), encoding="utf-8")
        _say(f"wrote the notes into {out}")
        return 0
    sizes = QUICK if args.quick else FULL
    started = time.monotonic()
    (ROOT / "var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-", dir=ROOT / "var") as folder:
        results = run(sizes, QUICK_WEB if args.quick else FULL_WEB, Path(folder))
    print(render_table(results))
    if args.out != "-":
        Path(args.out).write_text(render_markdown(results, quick=args.quick), encoding="utf-8")
        _say(f"wrote {args.out}")
    _say(f"took {time.monotonic() - started:.0f} s")
    return 0


def _web_only(sizes: WebSizes, out: str) -> int:
    _say(f"web chat: {sizes.rate:g} steps a second ...")
    (ROOT / "var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-", dir=ROOT / "var") as folder:
        result = web_bench.run(Path(folder), sizes)
    print(table(web_figures(result)))
    _write_section(out, lambda report: with_web_section(report, result), "the web chat's")
    return 0


def _write_section(out: str, update: Callable[[str], str], whose: str) -> None:
    """Put one section's new figures into the report at `out` (unless printing only, "-")."""
    if out != "-":
        path = Path(out)
        path.write_text(update(path.read_text(encoding="utf-8")), encoding="utf-8")
        _say(f"wrote {whose} figures into {out}")


def _postgres_only(sizes: Sizes, out: str) -> int:
    """Section i alone, with a SQLite throughput run of its own to compare with."""
    started = time.monotonic()
    (ROOT / "var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-", dir=ROOT / "var") as folder:
        result = postgres_bench.run(sizes, Path(folder), load_scripts(), say=_say)
    if isinstance(result, postgres_bench.PostgresSkipped):
        # Asked for this section alone: the figures of an earlier run are left as they are
        # (the reason has been said).
        return 1
    print(table(postgres_figures(result)))
    _write_section(out, lambda report: with_postgres_section(report, result), "section i's")
    _say(f"took {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
