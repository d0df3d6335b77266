"""The bundled directory and its loader: facts with sources, problems named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.directory.loader import DirectoryError, load_directory
from bot.directory.memory import MemoryDirectory
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
    areas: [england]
    contacts:
      - {kind: phone, value: "0808 2000 247"}
    source: refuge.org.uk
    verified_on: 2026-11-26
"""


def folder(tmp_path: Path, services: str) -> Path:
    (tmp_path / "areas.yaml").write_text(AREAS)
    (tmp_path / "services.yaml").write_text("services:\n" + services)
    return tmp_path


def test_every_bundled_service_has_a_source_and_a_contact() -> None:
    directory = MemoryDirectory.from_folder(DIRECTORY)
    for service in directory.services():
        assert service.source and service.contacts, service.id


def test_a_good_file_loads(tmp_path: Path) -> None:
    _, services = load_directory(folder(tmp_path, GOOD_SERVICE))
    assert services["helpline"].verified_on == "2026-11-26"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("    areas: [england]", "field 'areas': unknown area 'wessex'"),
        ("    audiences: [victim]", "field 'audiences': unknown 'victims'"),
        ("    verified_on: 2026-11-26", "field 'verified_on': 'last week' is not a date"),
        ('      - {kind: phone, value: "0808 2000 247"}', "field 'contacts': unknown kind 'fax'"),
    ],
)
def test_problems_name_file_entry_and_field(tmp_path: Path, change: str, message: str) -> None:
    replacement = {
        "    areas: [england]": "    areas: [wessex]",
        "    audiences: [victim]": "    audiences: [victims]",
        "    verified_on: 2026-11-26": "    verified_on: last week",
        '      - {kind: phone, value: "0808 2000 247"}': '      - {kind: fax, value: "1"}',
    }[change]
    with pytest.raises(DirectoryError) as caught:
        load_directory(folder(tmp_path, GOOD_SERVICE.replace(change, replacement)))
    assert any(
        p.startswith(f"{tmp_path / 'services.yaml'}: service 'helpline': {message}")
        for p in caught.value.problems
    ), caught.value.problems


def test_a_refuge_address_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DirectoryError) as caught:
        load_directory(folder(tmp_path, GOOD_SERVICE + "    address: 1 Secret Road\n"))
    assert "field 'address': addresses are never stored" in str(caught.value)


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DirectoryError, match="id used twice"):
        load_directory(folder(tmp_path, GOOD_SERVICE + GOOD_SERVICE))


@pytest.mark.parametrize(
    ("typed", "area"),
    [
        ("MK9 3EQ", "milton-keynes"),
        ("mk9", "milton-keynes"),
        ("Bletchley", "milton-keynes"),
        ("wales", "wales"),
        ("Cymru", "wales"),
        ("  Northern   Ireland ", "northern-ireland"),
    ],
)
def test_places_resolve_to_areas(typed: str, area: str) -> None:
    found = MemoryDirectory.from_folder(DIRECTORY).resolve_place(typed)
    assert found is not None and found.id == area


@pytest.mark.parametrize("typed", ["MK18", "Atlantis", "", "999"])
def test_unknown_places_resolve_to_nothing(typed: str) -> None:
    assert MemoryDirectory.from_folder(DIRECTORY).resolve_place(typed) is None


def test_local_services_come_before_national_ones() -> None:
    directory = MemoryDirectory.from_folder(DIRECTORY)
    ids = [s.id for s in directory.find("victim", ("talk",), "milton-keynes")]
    assert ids.index("mk-act") < ids.index("national-domestic-abuse-helpline")
    assert "live-fear-free" not in ids
