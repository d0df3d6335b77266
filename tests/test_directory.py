"""The directory: every validation error, files, search, open now, and the bundled facts."""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import bundled_directory
from bot.directory.files import read_folder, read_import, read_services, to_csv, to_yaml
from bot.directory.index import DirectoryIndex
from bot.directory.validate import DirectoryError
from tests.conftest import DIRECTORY

AREAS = """
areas:
  - {id: uk, name: United Kingdom, kind: uk}
  - {id: england, name: England, kind: nation, parent: uk}
"""

GOOD_SERVICE = """
  - id: helpline
    name: A helpline
    description: Someone to talk to.
    audiences: [victim]
    needs: [talk]
    areas: [england]
    contacts:
      - {kind: phone, value: "0808 2000 247"}
    hours: Mon-Fri 10:00-16:00
    source: refuge.org.uk
    verified_on: 2026-11-26
"""


def folder(tmp_path: Path, services: str, areas: str = AREAS) -> Path:
    (tmp_path / "areas.yaml").write_text(areas)
    (tmp_path / "services.yaml").write_text("services:\n" + services)
    return tmp_path


def problems_of(tmp_path: Path, services: str, areas: str = AREAS) -> list[str]:
    with pytest.raises(DirectoryError) as caught:
        read_folder(folder(tmp_path, services, areas))
    return caught.value.problems


@pytest.fixture(scope="module")
def index() -> DirectoryIndex:
    return bundled_directory(DIRECTORY)


# -- validation ----------------------------------------------------------------------------------


def test_a_good_file_loads(tmp_path: Path) -> None:
    data = read_folder(folder(tmp_path, GOOD_SERVICE))
    assert data.services["helpline"].verified_on == "2026-11-26"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("areas: [england]", "areas: [wessex]", "field 'areas': unknown area 'wessex'"),
        ("audiences: [victim]", "audiences: [victims]", "field 'audiences': unknown 'victims'"),
        ("needs: [talk]", "needs: [chat]", "field 'needs': unknown 'chat'"),
        ("2026-11-26", "last week", "field 'verified_on': 'last week' is not a date"),
        ('{kind: phone, value: "0808 2000 247"}', '{kind: fax, value: "1"}', "unknown kind 'fax'"),
        ('value: "0808 2000 247"', 'value: "0808 2000"', "'0808 2000' is not a valid UK phone"),
        ("kind: phone, ", "kind: email, ", "'0808 2000 247' is not an e-mail address"),
        ("kind: phone, ", "kind: web, ", "must be a full https:// web address"),
        ("Mon-Fri 10:00-16:00", "Mnday 10:00-16:00", "field 'hours': unknown day 'Mnday'"),
        ("id: helpline", "id: Help Line", "field 'id': 'Help Line' must use only"),
        ("    source: refuge.org.uk\n", "", "missing source"),
    ],
)
def test_every_problem_names_file_entry_and_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in GOOD_SERVICE
    found = problems_of(tmp_path, GOOD_SERVICE.replace(old, new))
    services = str(tmp_path / "services.yaml")
    assert any(p.startswith(services) and message in p for p in found), found


def test_an_http_address_is_refused(tmp_path: Path) -> None:
    line = '      - {kind: phone, value: "0808 2000 247"}\n'
    bad = GOOD_SERVICE.replace(line, line + '      - {kind: web, value: "http://example.org"}\n')
    assert any("must be a full https:// web address" in p for p in problems_of(tmp_path, bad))


def test_a_refuge_address_is_refused(tmp_path: Path) -> None:
    found = problems_of(tmp_path, GOOD_SERVICE + "    address: 1 Secret Road\n")
    assert any("field 'address': addresses are never stored" in p for p in found)


def test_unknown_fields_are_named(tmp_path: Path) -> None:
    found = problems_of(tmp_path, GOOD_SERVICE + "    opening: always\n")
    assert any("field 'opening': unknown field" in p for p in found)


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    assert any("also used in" in p for p in problems_of(tmp_path, GOOD_SERVICE + GOOD_SERVICE))


def test_an_area_with_an_unknown_parent_is_refused(tmp_path: Path) -> None:
    areas = AREAS + "  - {id: town, name: Town, kind: local, parent: atlantis}\n"
    assert any("unknown area 'atlantis'" in p for p in problems_of(tmp_path, GOOD_SERVICE, areas))


def test_a_bad_postcode_district_is_refused(tmp_path: Path) -> None:
    areas = AREAS + "  - {id: town, name: Town, kind: local, parent: england, "
    areas += "postcode_districts: [MK9, 99X]}\n"
    assert any("'99X' is not a postcode district" in p for p in problems_of(tmp_path, "", areas))


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    bad = GOOD_SERVICE.replace("areas: [england]", "areas: [x]").replace("[victim]", "[y]")
    assert len(problems_of(tmp_path, bad)) >= 2


# -- files ---------------------------------------------------------------------------------------


def test_the_bundled_directory_is_valid_and_every_entry_has_a_source(
    index: DirectoryIndex,
) -> None:
    for service in index.services():
        assert service.source and service.contacts, service.id


def test_csv_round_trip_is_identical(tmp_path: Path, index: DirectoryIndex) -> None:
    services = {s.id: s for s in index.services()}
    first = tmp_path / "one.csv"
    first.write_text(to_csv(services.values()), newline="")
    areas = {a.id: a for a in index.areas()}
    again = read_import(first, areas).services
    assert again == services
    second = tmp_path / "two.csv"
    second.write_text(to_csv(again.values()), newline="")
    assert first.read_bytes() == second.read_bytes()


def test_yaml_round_trip_is_identical(tmp_path: Path, index: DirectoryIndex) -> None:
    data = read_folder(DIRECTORY)
    path = tmp_path / "all.yaml"
    path.write_text(to_yaml(data))
    again = read_import(path, {})
    assert again.services == data.services and again.areas == data.areas


def test_csv_cells_that_would_run_as_formulas_are_made_inert(
    tmp_path: Path, index: DirectoryIndex
) -> None:
    fmu = index.service("forced-marriage-unit")
    assert fmu is not None
    text = to_csv([fmu])
    assert "'+44 20 7008 0151" not in text  # the number sits inside a multi-line cell
    sneaky = GOOD_SERVICE.replace("Someone to talk to.", '=HYPERLINK("http://x")')
    data = read_folder(folder(tmp_path, sneaky))
    assert "'=HYPERLINK" in to_csv(data.services.values())


def test_a_bad_csv_row_is_named_by_its_row(tmp_path: Path, index: DirectoryIndex) -> None:
    text = to_csv(index.services()).splitlines(keepends=True)
    header = text[0]
    rows = to_csv([s for s in index.services() if s.id == "samaritans"]).splitlines(True)[1:]
    broken = [r.replace("116 123", "116 12") for r in rows]
    path = tmp_path / "bad.csv"
    path.write_text(header + "".join(broken), newline="")
    with pytest.raises(DirectoryError) as caught:
        read_import(path, {a.id: a for a in index.areas()})
    assert any(
        f"{path}, row 2: service 'samaritans': field 'contacts': '116 12'" in p
        for p in caught.value.problems
    )


# -- search --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "area"),
    [
        ("MK9 3EQ", "milton-keynes"),
        ("mk93eq", "milton-keynes"),
        ("mk9", "milton-keynes"),
        ("Bletchley", "milton-keynes"),
        ("Bletchly", "milton-keynes"),
        ("wales", "wales"),
        ("Cymru", "wales"),
        ("  Northern   Ireland ", "northern-ireland"),
    ],
)
def test_places_resolve_to_areas(index: DirectoryIndex, typed: str, area: str) -> None:
    found = index.resolve_place(typed)
    assert found is not None and found.id == area


@pytest.mark.parametrize("typed", ["Atlantis", "", "999", "UKX", "ZZ9 9ZZ"])
def test_unknown_places_resolve_to_nothing(index: DirectoryIndex, typed: str) -> None:
    assert index.resolve_place(typed) is None


def test_local_then_nation_then_uk(index: DirectoryIndex) -> None:
    ids = [s.id for s in index.find("victim", ("talk",), "milton-keynes")]
    assert ids.index("mk-act") < ids.index("national-domestic-abuse-helpline")
    assert "live-fear-free" not in ids


def test_the_nation_line_is_always_there_even_for_another_need(index: DirectoryIndex) -> None:
    ids = [s.id for s in index.find("victim", ("men",), "wales")]
    assert "live-fear-free" in ids and "mens-advice-line" in ids


def test_nothing_found_still_gives_the_national_lines(index: DirectoryIndex) -> None:
    ids = [s.id for s in index.find("own_behaviour", ("housing",), "scotland")]
    assert ids == ["scotland-domestic-abuse-helpline"]


WEEKDAY_10AM = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # a Wednesday
SUNDAY_2AM = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
CHRISTMAS_10AM = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)  # a Friday, and a bank holiday


def test_open_now_at_fixed_times(index: DirectoryIndex) -> None:
    fmu, helpline = index.service("forced-marriage-unit"), index.service("samaritans")
    assert fmu is not None and helpline is not None
    assert index.open_now(fmu, WEEKDAY_10AM) is True
    assert index.open_now(fmu, SUNDAY_2AM) is False
    assert index.open_now(helpline, SUNDAY_2AM) is True
    karma = index.service("karma-nirvana")
    assert karma is not None and index.open_now(karma, WEEKDAY_10AM) is None


def test_a_bank_holiday_closes_a_service_that_says_so(tmp_path: Path) -> None:
    service = GOOD_SERVICE.replace(
        "Mon-Fri 10:00-16:00", "Mon-Fri 10:00-16:00; closed on bank holidays"
    )
    data = read_folder(folder(tmp_path, service))
    index = DirectoryIndex(data.areas, data.services)
    helpline = index.service("helpline")
    assert helpline is not None
    assert index.open_now(helpline, datetime(2026, 12, 24, 10, 0, tzinfo=UTC)) is True
    assert index.open_now(helpline, CHRISTMAS_10AM) is False


def test_open_services_rank_before_closed_ones_at_the_same_level(index: DirectoryIndex) -> None:
    at_night = [s.id for s in index.find("victim", ("honour",), "england", SUNDAY_2AM)]
    by_day = [s.id for s in index.find("victim", ("honour",), "england", WEEKDAY_10AM)]
    # The government unit keeps office hours; Karma Nirvana's hours are not known (not closed).
    assert at_night.index("forced-marriage-unit") > at_night.index("karma-nirvana")
    assert by_day.index("forced-marriage-unit") < by_day.index("karma-nirvana")


# -- files within limits ---------------------------------------------------------------------

# Seven levels of ten aliases each: about 600 bytes standing for ten million strings.
LAUGHS = (
    'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    + "".join(
        f"{name}: &{name} [{', '.join([f'*{before}'] * 10)}]\n"
        for before, name in zip("abcdef", "bcdefg", strict=True)
    )
    + "services:\n  - id: laughs\n    name: *g\n"
)


@pytest.fixture(params=["libyaml", "pure"])
def yaml_loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both YAML loaders the reader may use: libyaml's when PyYAML has it, else its own."""
    import yaml

    from bot.directory import files

    if request.param == "libyaml":
        if not hasattr(yaml, "CSafeLoader"):
            pytest.skip("PyYAML without libyaml")
        monkeypatch.setattr(files, "_YAML_LOADER", yaml.CSafeLoader)
    else:
        monkeypatch.setattr(files, "_YAML_LOADER", yaml.SafeLoader)
    return str(request.param)


def problems_reading(path: Path) -> list[str]:
    with pytest.raises(DirectoryError) as caught:
        read_import(path, {})
    return caught.value.problems


def test_yaml_aliases_are_refused_before_anything_is_built(
    tmp_path: Path, yaml_loader: str
) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(LAUGHS)
    assert len(LAUGHS.encode()) < 700
    assert problems_reading(path) == [
        f"{path}, line 2: uses the YAML alias *a; aliases are not allowed in a directory "
        "file: write each entry out in full"
    ]


def test_yaml_nested_deeper_than_a_directory_needs_is_refused(
    tmp_path: Path, yaml_loader: str
) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("services:\n  - id: deep\n    name: " + "[" * 25 + "]" * 25 + "\n")
    assert problems_reading(path) == [f"{path}, line 3: nested more than 20 levels deep"]
    # Far deeper: refused as quickly (libyaml has a limit of its own), never a RecursionError.
    path.write_text("services:\n  - id: deep\n    name: " + "[" * 50_000 + "]" * 50_000 + "\n")
    (problem,) = problems_reading(path)
    assert problem.startswith(f"{path}, line 3: ") and "nest" in problem


def test_a_yaml_mistake_names_the_file_and_line(tmp_path: Path, yaml_loader: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("services:\n  - id: x\n   name: y\n")
    (problem,) = problems_reading(path)
    assert problem.startswith(f"{path}, line 3: not valid YAML: ")


def test_more_services_than_a_file_may_hold_are_refused(tmp_path: Path) -> None:
    from bot.directory.files import MAX_ENTRIES

    sheet = tmp_path / "many.csv"
    sheet.write_text("id,name\n" + "x,y\n" * (MAX_ENTRIES + 1))
    assert problems_reading(sheet) == [
        f"{sheet}, row {MAX_ENTRIES + 2}: more than 5,000 services in one file; at most "
        "5,000 are allowed: split it into smaller files"
    ]
    listed = tmp_path / "many.yaml"
    listed.write_text("services:\n" + "  - {}\n" * (MAX_ENTRIES + 1))
    assert problems_reading(listed) == [
        f"{listed}: 5,001 services in one file; at most 5,000 are allowed: split it into "
        "smaller files"
    ]


def test_a_csv_cell_too_long_to_read_is_refused_plainly(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text("id,name\nx," + "y" * 200_000 + "\n")
    (problem,) = problems_reading(path)
    assert problem.startswith(f"{path}, row 2: cannot be read as CSV (field larger than")


@contextlib.contextmanager
def unblocked_after_a_while(pipe: Path) -> Iterator[None]:
    """Should a broken reader wait on `pipe` for a writer, one comes after a while and writes
    nothing: the reader gets an empty file and the test fails, instead of hanging."""

    def unblock() -> None:
        with contextlib.suppress(OSError):  # nobody is waiting: nothing to do
            os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))

    watchdog = threading.Timer(30, unblock)
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    """A device or a pipe would be read for ever (or waited on for ever): refused before
    anything is read. (/dev/zero is tried through the CLI, in a process with a memory limit.)"""
    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    device = tmp_path / "device.yaml"
    device.symlink_to("/dev/null")
    folder_named_like_a_file = tmp_path / "folder.yaml"
    folder_named_like_a_file.mkdir()
    for path, kind in ((pipe, "a pipe"), (device, "a device")):
        with unblocked_after_a_while(pipe):
            assert problems_reading(path) == [
                f"{path}: is {kind}, not a file; give the path of a .yaml or .csv file"
            ]
    with pytest.raises(DirectoryError) as caught:
        read_services(folder_named_like_a_file, {}, [])
    assert caught.value.problems == [
        f"{folder_named_like_a_file}: is a folder, not a file; give the path of a .yaml or "
        ".csv file"
    ]
    real = tmp_path / "real.yaml"
    real.write_text(to_yaml(read_folder(DIRECTORY)))
    linked = tmp_path / "linked.yaml"
    linked.symlink_to(real)
    assert read_import(linked, {}).services == read_folder(DIRECTORY).services


def test_no_more_than_the_limit_is_read_whatever_size_a_file_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.directory.files import MAX_FILE_BYTES

    path = tmp_path / "grows.csv"
    path.write_bytes(b"id,name\n" + b"x" * MAX_FILE_BYTES)
    real_stat = Path.stat

    def reports_nothing(self: Path, *, follow_symlinks: bool = True) -> os.stat_result:
        found = real_stat(self, follow_symlinks=follow_symlinks)
        if self != path:
            return found
        fields = list(found)
        fields[stat.ST_SIZE] = 0  # as /proc files, or a file still being written, report
        return os.stat_result(fields)

    monkeypatch.setattr(Path, "stat", reports_nothing)
    assert path.stat().st_size == 0
    assert problems_reading(path) == [
        f"{path}: more than 5,242,880 bytes is too big (at most 5,242,880)"
    ]
