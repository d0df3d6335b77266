"""Places anywhere in the UK: tests/data/uk_places.csv (every postcode area, the largest towns,
Welsh and other names, border districts, islands, misspellings, and Milton Keynes), and the
pieces behind it: the postcode tables, the gazetteer and its builder, an area's circle."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from bot.directory.index import DirectoryIndex
from bot.directory.model import Area
from bot.directory.places import AcrossBorder, PlaceFinder
from bot.directory.validate import DirectoryError
from bot.places.build import rows, write
from bot.places.gazetteer import Gazetteer, read_rows, uk_gazetteer
from bot.places.postcodes import AREAS_FILE, uk_postcodes
from tests.conftest import DIRECTORY

TABLE = Path(__file__).parent / "data" / "uk_places.csv"
PLACES = list(csv.DictReader(TABLE.open(encoding="utf-8")))
NATIONS = ("england", "wales", "scotland", "northern-ireland")


@pytest.fixture(scope="module")
def index() -> DirectoryIndex:
    from bot.directory.files import read_folder

    data = read_folder(DIRECTORY)
    return DirectoryIndex(data.areas, data.services)


def answer(index: DirectoryIndex, typed: str) -> str:
    """What the chat does with a typed place: an area or nation id, or "ask"."""
    found = index.resolve_place(typed)
    if found is None or isinstance(found, AcrossBorder):
        return "ask"
    return found.id if found.kind == "local" else index.nation_of(found.id) or found.id


def test_the_table_covers_what_the_issue_asks() -> None:
    assert len(PLACES) >= 200
    typed = {row["typed"].upper() for row in PLACES}
    areas = {line.split(",")[0] for line in AREAS_FILE.read_text().splitlines()[1:]}
    areas.discard("area")
    missing = {a for a in areas if not a.startswith("#") and a not in typed}
    assert missing == set(), "every postcode area typed alone"
    expected = {row["expected"] for row in PLACES}
    assert {*NATIONS, "ask", "milton-keynes"} <= expected


@pytest.mark.parametrize("row", PLACES, ids=[f"{r['typed']}->{r['expected']}" for r in PLACES])
def test_place(index: DirectoryIndex, row: dict[str, str]) -> None:
    assert answer(index, row["typed"]) == row["expected"], row["note"]


def test_a_border_district_asks_between_its_nations(index: DirectoryIndex) -> None:
    assert index.resolve_place("CH4 8AB") == AcrossBorder(("england", "wales"))
    assert index.resolve_place("TD15") == AcrossBorder(("england", "scotland"))
    assert index.resolve_place("CH5") == index.area("wales")


def test_a_name_shared_by_places_of_like_size_in_two_nations_is_asked_about() -> None:
    assert uk_gazetteer().find("broughton") is not None
    found = uk_gazetteer().find("broughton")
    assert found is not None and len(found.nations) > 1
    # A much larger place wins its name: Newport is the city in Wales.
    newport = uk_gazetteer().find("newport")
    assert newport is not None and newport.nations == ("wales",)


def test_places_outside_the_uk_are_asked_about(index: DirectoryIndex) -> None:
    for typed in ("Dublin", "Isle of Man", "Jersey", "JE2 3AB", "IM1"):
        assert answer(index, typed) == "ask", typed


def test_postcodes_in_every_form() -> None:
    postcodes = uk_postcodes()
    for typed, district in [
        ("sw1a1aa", "SW1A"),
        ("sw1a 1aa", "SW1A"),
        ("ch11aa", "CH1"),
        ("eh1", "EH1"),
    ]:
        found = postcodes.read(typed)
        assert found is not None and found.district == district, typed
    assert postcodes.read("bt") is not None
    for not_a_postcode in ("ayr", "zz9 9zz", "12345", "no", "st andrews"):
        assert postcodes.read(not_a_postcode) is None, not_a_postcode


def test_an_areas_circle_takes_in_places_it_does_not_list() -> None:
    england = Area("england", "England", "nation", None)
    bedford = Area("bedford", "Bedford", "local", "england", centre=(52.136, -0.467), radius_km=8)
    areas = {a.id: a for a in (england, bedford)}
    finder = PlaceFinder(areas, lambda a: "england")
    assert finder.find("Kempston") == bedford  # in the gazetteer, 4 km from the centre
    assert finder.find("Luton") == england  # 30 km away


@pytest.mark.parametrize(
    ("centre", "radius", "problem"),
    [
        ("[40.0, 2.0]", "5", "is not in the UK"),
        ("[52.0, -0.7]", "500", "at most"),
        ("[52.0]", "5", "together"),
    ],
)
def test_a_bad_circle_is_refused(tmp_path: Path, centre: str, radius: str, problem: str) -> None:
    from bot.directory.files import read_folder

    folder = tmp_path / "directory"
    folder.mkdir()
    for name in ("services.yaml", "start_codes.yaml"):
        (folder / name).write_text((DIRECTORY / name).read_text())
    areas = (DIRECTORY / "areas.yaml").read_text()
    areas = areas.replace("centre: [52.0406, -0.7594]", f"centre: {centre}")
    areas = areas.replace("radius_km: 7", f"radius_km: {radius}")
    (folder / "areas.yaml").write_text(areas)
    with pytest.raises(DirectoryError, match=problem):
        read_folder(folder)


def test_the_builder_keeps_what_people_type_and_nothing_else() -> None:
    cities = [
        {
            "name": "Cardiff",
            "countrycode": "GB",
            "admin1code": "WLS",
            "latitude": 51.48,
            "longitude": -3.18,
            "population": 372089,
            "alternatenames": ["CWL", "Caerdydd", "kadifu", "Кардифф", "كارديف", "Cardiff", "C2"],
        },
        {"name": "Dublin", "countrycode": "IE", "latitude": 53.3, "longitude": -6.2},
        {"name": "Paris", "countrycode": "FR", "latitude": 48.8, "longitude": 2.3},
        {"name": "Akrotiri", "countrycode": "GB", "admin1code": "", "latitude": 34.6},
    ]
    found = rows(cities)
    assert [(r[0], r[1]) for r in found] == [("Cardiff", "wales"), ("Dublin", "other")]
    assert found[0][5] == ["Caerdydd", "كارديف"]  # no codes, transliterations or repeats
    out = io.StringIO()
    write(found, out, "a test")
    gazetteer = Gazetteer(read_rows(out.getvalue().splitlines(keepends=True)))
    assert "CC BY 4.0" in out.getvalue()
    cardiff = gazetteer.find("caerdydd")
    assert cardiff is not None and cardiff.name == "Cardiff" and cardiff.nations == ("wales",)


def test_the_shipped_gazetteer_is_whole() -> None:
    gazetteer = uk_gazetteer()
    assert len(gazetteer) > 10_000  # names, own and other, of about 6,500 places
    for name, nation in [
        ("glasgow", "scotland"),
        ("caerdydd", "wales"),
        ("derry", "northern-ireland"),
    ]:
        found = gazetteer.find(name)
        assert found is not None and found.nations == (nation,)
