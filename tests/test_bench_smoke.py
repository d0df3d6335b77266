"""The benchmarks (bench/, `make bench`) still run: every part once, at a tiny size.

Nothing here looks at a timing: figures are for docs/benchmarks.md, never for tests.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from bench import (
    e2e,
    engine_bench,
    memory_bench,
    places_bench,
    search_bench,
    storage_bench,
    web_bench,
    wipe_bench,
)
from bench.machine import LoadMeter, describe
from bench.report import (
    BASELINE,
    EXITS,
    MANY,
    THROUGHPUT,
    Results,
    figures,
    paced_label,
    render_markdown,
    render_table,
    web_figures,
    with_web_section,
)
from bench.scenarios import load_scripts
from bench.sizes import QUICK


def test_every_benchmark_runs_and_reports(tmp_path: Path) -> None:
    meter = LoadMeter()
    engine = engine_bench.run(min_seconds=0.0, max_rounds=1)
    scripts = load_scripts()
    assert engine.steps == sum(s.updates for s in scripts)
    storage = storage_bench.run(tmp_path / "storage", min_seconds=0.0)
    assert storage.steps == engine.steps
    search = search_bench.run(queries=20, services=300)
    assert search.areas == 500 and search.services == 300
    places = places_bench.run(rounds=1)
    assert places.typed > 1000 and places.startup_kib > 0
    wipe = wipe_bench.run(messages=6, rounds=1)
    assert wipe.left == 0 and wipe.refused == 0
    web = web_bench.run(tmp_path / "web", web_bench.WebSizes(rate=20.0, seconds=0.5, warmup=0.0))
    # Every transcript walked to its end over HTTP, each page weighed, then the paced steps.
    assert web.walked == web.scripts == len(scripts)
    assert web.failures == 0 and web.mismatches == 0
    assert web.answered > 0 and web.page_bytes > 0 and web.static_bytes > 0

    loads = {}
    for kind in (THROUGHPUT, BASELINE):
        plays = scripts if kind == THROUGHPUT else [e2e.mirror(s) for s in scripts]
        with e2e.running(kind, tmp_path / kind, grace=5.0) as (fake, bot):
            # Pathways also gets people doing a quick exit alongside, quick to reach it.
            result = e2e.load(
                kind,
                fake,
                bot,
                plays,
                people=2,
                seconds=1.0 if kind == THROUGHPUT else 0.5,
                warmup=0.0,
                think=(0.05, 0.1),
                exit_rate=6.0 if kind == THROUGHPUT else 0.0,
            )
        assert result.handled > 0 and result.mismatches == 0 and result.refused == 0
        loads[kind] = result
    exits = loads[THROUGHPUT]
    # Each quick exit's chat ended up holding the farewell only (the fake saw it so).
    assert exits.exits > 0 and exits.exits_uncleared == 0
    memory_bench.fill(tmp_path / "filled.db", 25)
    with sqlite3.connect(tmp_path / "filled.db") as conn:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (25,)

    # Start-up on idle conversations: every one cleared, then the sweep watched (there are
    # too few here to watch it at work for long).
    outage = memory_bench.outage(3, tmp_path / "outage", timeout=30.0)
    assert outage.cleared_seconds is not None
    sweep = memory_bench.sweep(5, tmp_path / "sweep", seconds=0.1, timeout=30.0)
    assert sweep.first_delete_seconds is not None and sweep.cleared >= 1 and sweep.samples
    stored = memory_bench.MemoryResult(0, 1000, 900, 1.0, loads[THROUGHPUT].handled)
    sizes = dataclasses.replace(QUICK, paced_rates=(5.0,))
    results = Results(
        machine=describe(),
        sizes=sizes,
        engine=engine,
        storage=storage,
        search=search,
        places=places,
        wipe=wipe,
        loads={
            THROUGHPUT: loads[THROUGHPUT],
            BASELINE: loads[BASELINE],
            paced_label(THROUGHPUT, 5.0): loads[THROUGHPUT],
            paced_label(BASELINE, 5.0): loads[BASELINE],
            MANY: loads[THROUGHPUT],
            EXITS: exits,
        },
        memory=[stored, memory_bench.MemoryResult(25, 1010, 900, 1.0, 1)],
        outage=outage,
        sweep=sweep,
        web=web,
        scripts=len(scripts),
        script_updates=engine.steps / len(scripts),
        others=meter.others(),
        seconds=meter.seconds(),
    )
    table = render_table(results)
    assert "updates handled a second" in table
    assert "quick exit until the chat is clear, p99" in table
    assert "start-up with 5 conversations left idle: first deleteMessages" in table
    assert "start-up with 3 conversations left idle: all cleared" in table
    assert "typed place read: p99, whole gazetteer" in table
    assert "server time per step p99, 20/s offered" in table
    markdown = render_markdown(results, quick=True)
    assert markdown.startswith("# Benchmarks")
    # At these sizes no figure is held to a target: a target names the size it holds for.
    assert all(f.met is None for f in figures(results))

    # The web section run alone (--web-only) goes into a report written before: its rows and
    # paragraph replaced, the tally of targets counted again.
    assert with_web_section(markdown, web) == markdown
    full = dataclasses.replace(web, rate=50.0, steps=1000, p99_ms=25.5)
    updated = with_web_section(markdown, full)
    rows = [line for line in updated.splitlines() if line.startswith("| h. web chat |")]
    assert len(rows) == len(web_figures(full))
    assert "| server time per step p99, 50/s offered | 25.5 ms | <= 20 ms | MISSED |" in updated
    assert "1 of 2 targets met; missed: server time per step p99, 50/s offered." in updated
    assert updated.count("**h. Web chat.**") == 1
