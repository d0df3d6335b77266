"""(f) Directory search over a synthetic national directory: 5,000 services in 500 areas.

The areas are the UK, its 4 nations, 45 counties and 450 local areas (towns with aliases and
postcode districts); services are mostly local, some county-wide, a few national, with the
opening hours real services have. Two questions are timed, as a person's step asks them:

- `find(audience, needs, area, at)`: the services that fit, most local first, open first;
- `resolve_place(typed)`: a typed place (town, alias, postcode, district, a near miss, or a
  place the directory does not know) as an area.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import timedelta

from bot.directory.hours import parse_hours
from bot.directory.index import DirectoryIndex
from bot.directory.model import NATIONS, NEEDS, Area, Service
from bot.engine.model import Contact

from .common import BENCH_MOMENT, percentile

AUDIENCES = ("victim", "friend", "professional", "own_behaviour")
HOURS = (
    "24/7",
    "Mon-Fri 09:00-17:00",
    "Mon-Fri 09:00-17:00; closed on bank holidays",
    "Mon-Thu 10:00-20:30; Fri 10:00-16:30",
    "Mon-Fri 08:00-20:00; Sat 10:00-14:00; closed on bank holidays",
    "Tue, Thu 18:00-02:00",
    "",
)
_ONSETS = ("b", "br", "c", "ch", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "st", "t")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ou")
_ENDS = ("ton", "ford", "ley", "bury", "wick", "ham", "field", "by", "mouth", "stead")


@dataclass(frozen=True)
class Directory:
    areas: dict[str, Area]
    services: dict[str, Service]
    locals: tuple[Area, ...]
    counties: tuple[Area, ...]


def _place_name(rnd: random.Random, taken: set[str]) -> str:
    while True:
        syllables = rnd.randint(1, 2)
        stem = "".join(rnd.choice(_ONSETS) + rnd.choice(_VOWELS) for _ in range(syllables))
        name = (stem + rnd.choice(_ENDS)).capitalize()
        if name not in taken:
            taken.add(name)
            return name


def _letters(number: int) -> str:
    return chr(ord("A") + number // 26) + chr(ord("A") + number % 26)


def synthetic_directory(
    services: int = 5000, counties: int = 45, per_county: int = 10, seed: int = 10
) -> Directory:
    """`4 + 1 + counties * (1 + per_county)` areas (500 by default) and `services` services."""
    rnd = random.Random(seed)
    names: set[str] = {"United Kingdom", "England", "Wales", "Scotland", "Northern Ireland"}
    areas: dict[str, Area] = {"uk": Area("uk", "United Kingdom", "uk", None, ("UK",))}
    for nation in NATIONS:
        areas[nation] = Area(nation, nation.replace("-", " ").title(), "nation", "uk")
    county_list: list[Area] = []
    local_list: list[Area] = []
    for c in range(counties):
        nation = NATIONS[0] if c < counties * 0.8 else NATIONS[1 + c % 3]
        county = Area(f"county-{c}", _place_name(rnd, names) + "shire", "county", nation)
        county_list.append(county)
        areas[county.id] = county
        prefix = _letters(c)
        for n in range(per_county):
            districts = (f"{prefix}{2 * n + 1}", f"{prefix}{2 * n + 2}")
            alias = _place_name(rnd, names)
            local = Area(
                f"local-{c}-{n}", _place_name(rnd, names), "local", county.id, (alias,), districts
            )
            local_list.append(local)
            areas[local.id] = local
    needs = sorted(NEEDS)
    found: dict[str, Service] = {}
    hours = [parse_hours(text) for text in HOURS]
    for number in range(services):
        roll = number % 100
        where: tuple[str, ...]
        if roll < 2:  # national: a nation's lines and UK-wide services
            where = (rnd.choice(("uk", *NATIONS)),)
        elif roll < 10:
            where = (rnd.choice(county_list).id,)
        else:  # local, sometimes covering a neighbouring area too
            where = tuple({rnd.choice(local_list).id for _ in range(rnd.choice((1, 1, 1, 2)))})
        audiences = tuple(sorted(set(rnd.sample(AUDIENCES, rnd.randint(1, 3)))))
        found[f"service-{number}"] = Service(
            id=f"service-{number}",
            name=f"{_place_name(rnd, names)} Support {number}",
            description="Free, confidential support for anyone experiencing domestic abuse.",
            audiences=audiences,
            needs=tuple(sorted(rnd.sample(needs, rnd.randint(1, 4)))),
            areas=where,
            contacts=(Contact("phone", f"0800 {number:06d}", "Call free"),),
            source="synthetic",
            verified_on="2026-11-01",
            hours=rnd.choice(hours),
            nation_helpline=roll == 0 and where[0] in NATIONS,
        )
    return Directory(areas, found, tuple(local_list), tuple(county_list))


@dataclass(frozen=True)
class SearchResult:
    areas: int
    services: int
    build_ms: float
    find_p50_us: float
    find_p99_us: float
    find_results: float  # services returned, on average
    place_p50_us: float
    place_p99_us: float
    place_kinds: dict[str, tuple[float, float]]  # kind -> (p50, p99) in microseconds
    both_p99_us: float  # a typed place, then the search: what one step asks
    queries: int


def _misspell(rnd: random.Random, name: str) -> str:
    at = rnd.randrange(1, len(name) - 1)
    return name[:at] + name[at + 1 :]


def run(queries: int = 5000, seed: int = 11, services: int = 5000) -> SearchResult:
    directory = synthetic_directory(services=services)
    started = time.perf_counter()
    index = DirectoryIndex(directory.areas, directory.services)
    build_ms = (time.perf_counter() - started) * 1000
    rnd = random.Random(seed)
    needs = sorted(NEEDS)
    clock = time.perf_counter_ns
    # Warm up as a running bot is: bank holidays of every nation loaded, code paths taken.
    for area in (None, *NATIONS, directory.counties[0].id, directory.locals[0].id):
        for day in range(8):
            index.find("victim", ("talk",), area, BENCH_MOMENT + timedelta(days=day))
    for typed in ("Atlantis", directory.locals[0].name, "ab1 2cd"):
        index.resolve_place(typed)
    finds: list[int] = []
    returned = 0
    places: dict[str, list[int]] = {}
    both: list[int] = []
    for _number in range(queries):
        roll = rnd.random()
        area = (
            rnd.choice(directory.locals).id
            if roll < 0.8
            else rnd.choice(directory.counties).id
            if roll < 0.9
            else rnd.choice(NATIONS)
            if roll < 0.95
            else None
        )
        audience = rnd.choice(AUDIENCES)
        need = (rnd.choice(needs),)
        at = BENCH_MOMENT + timedelta(minutes=rnd.randrange(7 * 24 * 60))
        before = clock()
        found = index.find(audience, need, area, at)
        finds.append(clock() - before)
        returned += len(found)

        local = rnd.choice(directory.locals)
        kind, typed = rnd.choice(
            (
                ("town", local.name),
                ("alias", local.aliases[0].lower()),
                ("postcode", f"{local.postcode_districts[0]} 3EQ"),
                ("district", local.postcode_districts[-1].lower()),
                ("near miss", _misspell(rnd, local.name)),
                ("unknown", "Atlantis"),
            )
        )
        before = clock()
        resolved = index.resolve_place(typed)
        middle = clock()
        index.find(audience, need, resolved.id if isinstance(resolved, Area) else None, at)
        after = clock()
        places.setdefault(kind, []).append(middle - before)
        both.append(after - before)
    every_place = [t for times in places.values() for t in times]
    return SearchResult(
        areas=len(directory.areas),
        services=len(directory.services),
        build_ms=build_ms,
        find_p50_us=percentile(finds, 0.5) / 1000,
        find_p99_us=percentile(finds, 0.99) / 1000,
        find_results=returned / queries,
        place_p50_us=percentile(every_place, 0.5) / 1000,
        place_p99_us=percentile(every_place, 0.99) / 1000,
        place_kinds={
            kind: (percentile(times, 0.5) / 1000, percentile(times, 0.99) / 1000)
            for kind, times in sorted(places.items())
        },
        both_p99_us=percentile(both, 0.99) / 1000,
        queries=queries,
    )


if __name__ == "__main__":
    result = run()
    print(result)
