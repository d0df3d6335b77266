"""The UK gazetteer in memory: every place of 500 or more people, by every name it goes by.

Read once from `data/gb_places.tsv` (see `bot/places/build.py` and docs/places.md). A name
means the place best known by it: a place's own name before another place's other name, then
the larger place. When places of a like size in different nations share a name, the name
stands for both nations, and the person is asked which.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rapidfuzz import fuzz, process

from bot.folding import fold

PLACES_FILE = Path(__file__).parent / "data" / "gb_places.tsv"
# A place with a shared name counts only if it has at least this share of the people of the
# largest place of that name: "Newport" is the city in Wales (150,000), not one of the English
# towns (25,000 at most); "Broughton" is several villages, in three nations.
SHARED_NAME_SHARE = 0.25
FUZZY_CUTOFF = 80.0  # rapidfuzz's ratio, 0-100: "Glasow" finds Glasgow; "Atlantis" finds nothing
EARTH_RADIUS_KM = 6371.0
OUTSIDE_UK = "other"  # the nation of places in Ireland, the Isle of Man and the Channel Islands


@dataclass(frozen=True)
class GazetteerPlace:
    name: str  # its own name ("Cardiff", when "Caerdydd" was typed)
    # One nation; several when the name is shared across nations; "other" outside the UK.
    nations: tuple[str, ...]
    latitude: float
    longitude: float


@dataclass(frozen=True)
class _Entry:
    name: str  # the name this entry is known by: the place's own, or one of its others
    place: str  # the place's own name
    nation: str
    latitude: float
    longitude: float
    population: int
    own_name: bool


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The great-circle distance between two (latitude, longitude) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def read_rows(lines: Iterable[str]) -> Iterator[_Entry]:
    """Each name of each place in the file (its own name first, then its other names)."""
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        name, nation, latitude, longitude, population, others = line.rstrip("\n").split("\t")
        where = (nation, float(latitude), float(longitude), int(population))
        yield _Entry(name, name, *where, own_name=True)
        for other in filter(None, others.split("|")):
            yield _Entry(other, name, *where, own_name=False)


class Gazetteer:
    def __init__(self, entries: Iterable[_Entry]) -> None:
        by_name: dict[str, list[_Entry]] = {}
        for entry in entries:
            by_name.setdefault(fold(entry.name), []).append(entry)
        self._places = {name: self._best(found) for name, found in by_name.items() if name}
        # Near misses are looked for among places' own names, in the Latin alphabet: the names
        # people type from memory. Other names count only when typed exactly.
        self._fuzzy = sorted(
            {fold(e.name) for found in by_name.values() for e in found if e.own_name}
        )

    @staticmethod
    def _best(found: list[_Entry]) -> GazetteerPlace:
        found.sort(key=lambda e: (e.own_name, e.population), reverse=True)
        best = found[0]
        nations = [best.nation]
        for other in found[1:]:
            alike = other.own_name == best.own_name
            large = other.population >= best.population * SHARED_NAME_SHARE
            if alike and large and other.nation not in nations:
                nations.append(other.nation)
        return GazetteerPlace(best.place, tuple(sorted(nations)), best.latitude, best.longitude)

    def __len__(self) -> int:
        return len(self._places)

    def names(self) -> Iterable[str]:
        """Every folded name the gazetteer knows."""
        return self._places.keys()

    def find(self, folded: str) -> GazetteerPlace | None:
        """The place a folded name stands for, exactly."""
        return self._places.get(folded)

    def closest(self, folded: str) -> tuple[str, float] | None:
        """The place name nearest a misspelling, with its score (0-100), if any is close."""
        found = process.extractOne(
            folded, self._fuzzy, scorer=fuzz.ratio, processor=None, score_cutoff=FUZZY_CUTOFF
        )
        return (found[0], found[1]) if found else None


@cache
def uk_gazetteer(path: Path = PLACES_FILE) -> Gazetteer:
    """The gazetteer, read once per process."""
    with path.open(encoding="utf-8") as lines:
        return Gazetteer(read_rows(lines))
