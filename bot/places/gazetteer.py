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


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The great-circle distance between two (latitude, longitude) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


@dataclass(frozen=True, slots=True)
class _Place:
    name: str
    nation: str
    latitude: float
    longitude: float
    population: int
    names: tuple[str, ...]  # folded: its own name first, then its other names


def read_rows(lines: Iterable[str]) -> Iterator[_Place]:
    """Each place in the file, with its names folded."""
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        name, nation, latitude, longitude, population, others = line.rstrip("\n").split("\t")
        folded = (fold(name), *(fold(other) for other in others.split("|") if other))
        yield _Place(name, nation, float(latitude), float(longitude), int(population), folded)


class Gazetteer:
    """Kept small: one record a place, and for each name only the number of its place (the
    gazetteer is in every running bot's memory)."""

    def __init__(self, places: Iterable[_Place]) -> None:
        rows = list(places)
        # The place each name is best known as: a place's own name before another place's
        # other name, then the larger place.
        best: dict[str, tuple[bool, int, int]] = {}
        for number, place in enumerate(rows):
            for position, name in enumerate(place.names):
                rank = (position == 0, place.population, -number)
                if name and (name not in best or rank > best[name]):
                    best[name] = rank
        self._places = {name: -rank[2] for name, rank in best.items()}
        # Names shared by places of a like size in other nations: the nations to ask between.
        self._shared: dict[str, tuple[str, ...]] = {}
        for place in rows:
            for position, name in enumerate(place.names):
                own, population, number = best.get(name, (False, 0, 0))
                first = rows[-number]
                large = population * SHARED_NAME_SHARE <= place.population
                if (position == 0) == own and large and place.nation != first.nation:
                    self._shared[name] = tuple(
                        sorted({*self._shared.get(name, (first.nation,)), place.nation})
                    )
        # Near misses are looked for among places' own names: the names people type from
        # memory. Other names count only when typed exactly.
        self._fuzzy = sorted({place.names[0] for place in rows if place.names[0]})
        # What a found place is shown as; the rest of each row is not needed again.
        self._rows = [(p.name, p.nation, p.latitude, p.longitude) for p in rows]

    def __len__(self) -> int:
        return len(self._places)

    def names(self) -> Iterable[str]:
        """Every folded name the gazetteer knows."""
        return self._places.keys()

    def find(self, folded: str) -> GazetteerPlace | None:
        """The place a folded name stands for, exactly."""
        number = self._places.get(folded)
        if number is None:
            return None
        name, nation, latitude, longitude = self._rows[number]
        return GazetteerPlace(name, self._shared.get(folded, (nation,)), latitude, longitude)

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
