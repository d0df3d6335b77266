"""(g) Typed places with the whole UK gazetteer loaded, and what loading it costs.

- Resolution: every reply in tests/data/uk_places.csv (postcodes, area letters, towns, Welsh
  names, border districts, islands, misspellings, Milton Keynes) and, as many again, places the
  gazetteer does not know (made-up words, for the slowest path: a near miss looked for and not
  found), read by `DirectoryIndex.resolve_place` on the bundled directory, as the chat does.
- Start-up: a fresh Python process's resident memory before and after it reads the gazetteer
  and the postcode tables and builds the bundled directory's index, and how long that took.
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass

from bot.directory.files import read_folder
from bot.directory.index import DirectoryIndex

from .common import ROOT, percentile

TABLE = ROOT / "tests" / "data" / "uk_places.csv"

# Run in a fresh process, so nothing else this benchmark loaded is counted.
_STARTUP = """
import json, time
from pathlib import Path

def rss_kib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

import bot.directory.index, bot.directory.files  # the code, loaded in any case
before = rss_kib()
started = time.perf_counter()
data = bot.directory.files.read_folder(Path("directory"))
index = bot.directory.index.DirectoryIndex(data.areas, data.services)
index.resolve_place("Glasgow")
seconds = time.perf_counter() - started
print(json.dumps({"before": before, "after": rss_kib(), "seconds": seconds}))
"""


@dataclass(frozen=True)
class PlacesResult:
    typed: int
    reads: int  # typed places read in all, the sample the percentiles are of
    p50_us: float
    p99_us: float
    slowest_us: float
    startup_kib: int  # resident memory the gazetteer, tables and index added
    startup_ms: float


def _made_up(rnd: random.Random) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return "".join(rnd.choice(letters) for _ in range(rnd.randint(4, 14))).capitalize()


def run(rounds: int = 20, seed: int = 5) -> PlacesResult:
    data = read_folder(ROOT / "directory")
    index = DirectoryIndex(data.areas, data.services)
    rnd = random.Random(seed)
    table = [row["typed"] for row in csv.DictReader(TABLE.open(encoding="utf-8"))]
    typed = table + [_made_up(rnd) for _ in table]
    for text in typed:  # warm: the first call of each path loads what it needs
        index.resolve_place(text)
    times: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        rnd.shuffle(typed)
        for text in typed:
            before = clock()
            index.resolve_place(text)
            times.append(clock() - before)
    out = subprocess.run(
        [sys.executable, "-c", _STARTUP], cwd=ROOT, capture_output=True, text=True, check=True
    )
    startup = json.loads(out.stdout.strip().splitlines()[-1])
    return PlacesResult(
        typed=len(typed),
        reads=len(times),
        p50_us=percentile(times, 0.5) / 1000,
        p99_us=percentile(times, 0.99) / 1000,
        slowest_us=max(times) / 1000,
        startup_kib=int(startup["after"]) - int(startup["before"]),
        startup_ms=float(startup["seconds"]) * 1000,
    )
