"""Read the directory's YAML files (`directory/areas.yaml`, `directory/services.yaml`).

Problems name the file, the entry and the field, so a service manager can find and fix them.
A refuge's address is refused outright: the schema has no place for one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from bot.directory.model import AUDIENCES, CONTACT_KINDS, Area, Service
from bot.engine.model import Contact

AREA_KINDS = ("uk", "nation", "county", "local")
SERVICE_FIELDS = {
    "id",
    "name",
    "description",
    "audiences",
    "needs",
    "areas",
    "contacts",
    "hours",
    "source",
    "verified_on",
    "around_the_clock",
    "active",
}
REQUIRED_SERVICE_FIELDS = ("id", "name", "description", "audiences", "areas", "contacts", "source")
FORBIDDEN_FIELDS = {"address", "postcode", "location", "street"}


class DirectoryError(Exception):
    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def _read(path: Path, key: str, problems: list[str]) -> list[dict[str, Any]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.append(f"{path}: cannot be read: {exc}")
        return []
    entries = data.get(key) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        problems.append(f"{path}: needs a list under '{key}:'")
        return []
    good = [e for e in entries if isinstance(e, dict)]
    if len(good) != len(entries):
        problems.append(f"{path}: every item under '{key}:' must be a mapping")
    return good


def _words(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return (str(value),)


def load_areas(path: Path, problems: list[str]) -> dict[str, Area]:
    areas: dict[str, Area] = {}
    for raw in _read(path, "areas", problems):
        area_id = str(raw.get("id", ""))
        where = f"{path}: area '{area_id or '?'}'"
        if not area_id or not raw.get("name"):
            problems.append(f"{where}: needs 'id' and 'name'")
            continue
        if area_id in areas:
            problems.append(f"{where}: id used twice")
        kind = str(raw.get("kind", ""))
        if kind not in AREA_KINDS:
            problems.append(f"{where}: field 'kind' must be one of {', '.join(AREA_KINDS)}")
        areas[area_id] = Area(
            id=area_id,
            name=str(raw["name"]),
            kind=kind,
            parent=str(raw["parent"]) if raw.get("parent") else None,
            aliases=_words(raw.get("aliases")),
            postcode_districts=tuple(d.upper() for d in _words(raw.get("postcode_districts"))),
        )
    for area in areas.values():
        if area.parent and area.parent not in areas:
            problems.append(
                f"{path}: area '{area.id}': field 'parent': unknown area '{area.parent}'"
            )
    return areas


def _contacts(raw: Any, where: str, problems: list[str]) -> tuple[Contact, ...]:
    contacts: list[Contact] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict) or not item.get("value"):
            problems.append(f"{where}: field 'contacts': each needs 'kind' and 'value'")
            continue
        kind = str(item.get("kind", ""))
        if kind not in CONTACT_KINDS:
            known = ", ".join(sorted(CONTACT_KINDS))
            problems.append(f"{where}: field 'contacts': unknown kind '{kind}' (known: {known})")
            continue
        contacts.append(Contact(kind, str(item["value"]), str(item.get("label", ""))))
    if not contacts:
        problems.append(f"{where}: field 'contacts': at least one contact is needed")
    return tuple(contacts)


def _verified_on(raw: Any, where: str, problems: list[str]) -> str | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, dt.date):
        return raw.isoformat()
    try:
        return dt.date.fromisoformat(str(raw)).isoformat()
    except ValueError:
        problems.append(f"{where}: field 'verified_on': '{raw}' is not a date like 2026-11-26")
        return None


def load_services(path: Path, areas: dict[str, Area], problems: list[str]) -> dict[str, Service]:
    services: dict[str, Service] = {}
    for raw in _read(path, "services", problems):
        service_id = str(raw.get("id", ""))
        where = f"{path}: service '{service_id or '?'}'"
        for field in sorted(FORBIDDEN_FIELDS & raw.keys()):
            problems.append(
                f"{where}: field '{field}': addresses are never stored (a refuge's location "
                "must stay secret)"
            )
        for field in sorted(raw.keys() - SERVICE_FIELDS - FORBIDDEN_FIELDS):
            problems.append(f"{where}: unknown field '{field}'")
        missing = [f for f in REQUIRED_SERVICE_FIELDS if not raw.get(f)]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)}")
            continue
        if service_id in services:
            problems.append(f"{where}: id used twice")
        audiences = _words(raw["audiences"])
        for audience in audiences:
            if audience not in AUDIENCES:
                known = ", ".join(sorted(AUDIENCES))
                problems.append(
                    f"{where}: field 'audiences': unknown '{audience}' (known: {known})"
                )
        service_areas = _words(raw["areas"])
        for area in service_areas:
            if area not in areas:
                problems.append(f"{where}: field 'areas': unknown area '{area}'")
        services[service_id] = Service(
            id=service_id,
            name=str(raw["name"]),
            description=str(raw["description"]).strip(),
            audiences=audiences,
            needs=_words(raw.get("needs")),
            areas=service_areas,
            contacts=_contacts(raw["contacts"], where, problems),
            hours=str(raw.get("hours") or ""),
            source=str(raw["source"]),
            verified_on=_verified_on(raw.get("verified_on"), where, problems),
            around_the_clock=bool(raw.get("around_the_clock", False)),
            active=bool(raw.get("active", True)),
        )
    return services


def load_directory(folder: Path) -> tuple[dict[str, Area], dict[str, Service]]:
    problems: list[str] = []
    areas = load_areas(folder / "areas.yaml", problems)
    services = load_services(folder / "services.yaml", areas, problems)
    if problems:
        raise DirectoryError(problems)
    return areas, services
