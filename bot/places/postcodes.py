"""Which nation a UK postcode is in: from its area letters, and by district near the borders.

Read once from `data/postcode_areas.csv` (the public table of Royal Mail postcode areas, each
with its nation; `england+wales` for an area across a border; `other` outside the four nations)
and `data/border_districts.csv` (each district of a border area, with its nation, or `ask`
where the district itself crosses the border). See docs/places.md.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).parent / "data"
AREAS_FILE = DATA / "postcode_areas.csv"
DISTRICTS_FILE = DATA / "border_districts.csv"
NATIONS = ("england", "wales", "scotland", "northern-ireland")
ASK = "ask"  # a district that itself lies across a border

# Without spaces: the outward code (area letters, a digit, then a digit or a letter), then,
# for a full postcode, the inward code (a digit and two letters).
_FULL = re.compile(r"^([a-z]{1,2}[0-9][0-9a-z]?)([0-9][a-z]{2})$")
_OUTWARD = re.compile(r"^([a-z]{1,2})([0-9][0-9a-z]?)$")
_AREA = re.compile(r"^[a-z]{1,2}$")


@dataclass(frozen=True)
class PostcodePlace:
    area: str  # the area letters, in capitals: "CH"
    district: str | None  # the outward code, in capitals, when one was typed: "CH5"
    nations: tuple[str, ...]  # one nation; several to ask between; none outside the four


class Postcodes:
    def __init__(self, areas: dict[str, str], districts: dict[str, str]) -> None:
        # Each area's nations: one, several across a border (to ask between), or none.
        self._areas = {
            area: tuple(sorted(n for n in nation.split("+") if n in NATIONS))
            for area, nation in areas.items()
        }
        self._districts = districts

    def areas(self) -> dict[str, tuple[str, ...]]:
        return dict(self._areas)

    def read(self, folded: str) -> PostcodePlace | None:
        """A full postcode ("cf10 1aa"), an outward code ("eh1") or area letters ("bt"), in
        folded form; None when it is not one, or names no known area."""
        compact = folded.replace(" ", "")
        full = _FULL.match(compact)
        outward = full.group(1) if full else compact
        parts = _OUTWARD.match(outward)
        if parts:
            area, district = parts.group(1).upper(), outward.upper()
        elif _AREA.match(compact) and " " not in folded:
            area, district = compact.upper(), None
        else:
            return None
        if area not in self._areas:
            return None
        return PostcodePlace(area, district, self._nations(area, district))

    def _nations(self, area: str, district: str | None) -> tuple[str, ...]:
        """None for the Channel Islands, the Isle of Man, forces and non-geographic codes."""
        nations = self._areas[area]
        found = self._districts.get(district or "") if len(nations) > 1 else None
        return (found,) if found in NATIONS else nations


def _read_csv(path: Path, key: str) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as lines:
        rows = csv.DictReader(line for line in lines if not line.startswith("#"))
        return {
            row[key].strip().upper(): row["nation"].strip().lower()
            for row in rows
            if row.get(key, "").strip()
        }


@cache
def uk_postcodes(areas: Path = AREAS_FILE, districts: Path = DISTRICTS_FILE) -> Postcodes:
    """The postcode tables, read once per process."""
    return Postcodes(_read_csv(areas, "area"), _read_csv(districts, "district"))
