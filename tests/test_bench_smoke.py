"""The benchmarks (bench/, `make bench`) still run: every part once, at a tiny size.

Nothing here looks at a timing: figures are for docs/benchmarks.md, never for tests.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bench import e2e, engine_bench, memory_bench, search_bench, storage_bench, wipe_bench
from bench.machine import LoadMeter, describe
from bench.report import Results, figures, render_markdown, render_table
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
    wipe = wipe_bench.run(messages=6, rounds=1)
    assert wipe.left == 0 and wipe.refused == 0

    loads = {}
    for kind in ("pathways", "baseline"):
        plays = scripts if kind == "pathways" else [e2e.mirror(s) for s in scripts]
        with e2e.running(kind, tmp_path / kind, grace=5.0) as (fake, bot):
            result = e2e.load(kind, fake, bot, plays, people=2, seconds=1.0, warmup=0.0)
        assert result.handled > 0 and result.mismatches == 0 and result.refused == 0
        loads[kind] = result
    memory_bench.fill(tmp_path / "filled.db", 25)
    with sqlite3.connect(tmp_path / "filled.db") as conn:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (25,)

    outage = memory_bench.outage(3, tmp_path / "outage", timeout=30.0)
    assert outage.cleared_seconds is not None  # every idle chat was cleared
    stored = memory_bench.MemoryResult(0, 1000, 900, 1.0, loads["pathways"].handled)
    results = Results(
        machine=describe(),
        sizes=QUICK,
        engine=engine,
        storage=storage,
        search=search,
        wipe=wipe,
        loads={
            "pathways": loads["pathways"],
            "baseline": loads["baseline"],
            "pathways paced": loads["pathways"],
            "baseline paced": loads["baseline"],
            "pathways, many at once": loads["pathways"],
        },
        memory=[stored, memory_bench.MemoryResult(25, 1010, 900, 1.0, 1)],
        outage=outage,
        scripts=len(scripts),
        script_updates=engine.steps / len(scripts),
        others=meter.others(),
        seconds=meter.seconds(),
    )
    assert any(f.met is not None for f in figures(results))
    assert "steps a second, one core" in render_table(results)
    assert render_markdown(results, quick=True).startswith("# Benchmarks")
    assert "start-up with 3 conversations left idle: all cleared" in render_table(results)
