"""Turn directory records (from YAML, a spreadsheet's CSV, or the database) into checked
services and areas, and back.

Every problem names where it is (file, and row for CSV), the entry and the field, so a
service manager can find and fix it. A refuge's address is refused outright: the schema has
no place for one, because a refuge's location must stay secret.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from babel import Locale, UnknownLocaleError
from phonenumbers import shortnumberinfo

from bot.directory.hours import HoursError, parse_hours
from bot.directory.model import (
    AREA_KINDS,
    AUDIENCES,
    CONTACT_KINDS,
    NEEDS,
    Area,
    Service,
)
from bot.engine.model import Contact

SERVICE_FIELDS = (
    "id",
    "name",
    "description",
    "audiences",
    "needs",
    "areas",
    "contacts",
    "hours",
    "hours_note",
    "languages",
    "source",
    "verified_on",
    "nation_helpline",
    "active",
    "translations",
)
REQUIRED_SERVICE_FIELDS = ("id", "name", "description", "audiences", "areas", "contacts", "source")
AREA_FIELDS = (
    "id",
    "name",
    "kind",
    "parent",
    "aliases",
    "postcode_districts",
    "centre",
    "radius_km",
)
MAX_RADIUS_KM = 100.0  # an area's circle: wide enough for a county, never a nation
# Anything that would place a service on a map. Refuges must never be findable.
FORBIDDEN_FIELDS = frozenset({"address", "postcode", "location", "street", "latitude", "longitude"})
ID_FORMAT = re.compile(r"^[a-z0-9][a-z0-9-]*$")
EMAIL_FORMAT = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
DISTRICT_FORMAT = re.compile(r"^[A-Z]{1,2}[0-9][0-9A-Z]?$")
# The longest each text may be, in characters. A service's card must fit one Telegram message
# (4,096 characters) with room for its contacts and hours, and stay quick to read on a phone.
MAX_LENGTHS = {
    "name": 100,
    "description": 1000,
    "hours_note": 300,
    "source": 300,
}
MAX_LABEL = 60  # a contact's label, like "Call free"
TRUE_WORDS = {"true", "yes", "1", "y"}
FALSE_WORDS = {"false", "no", "0", "n", ""}


@dataclass(frozen=True, order=True)
class Problem:
    where: str  # the file, with the row for a spreadsheet
    entry: str  # "service 'galop'", "area 'wales'"
    field: str  # "" when the problem is with the entry as a whole
    message: str

    def __str__(self) -> str:
        field = f": field '{self.field}'" if self.field else ""
        return f"{self.where}: {self.entry}{field}: {self.message}"


class DirectoryError(Exception):
    """The directory data cannot be used. `problems` lists every reason."""

    def __init__(self, problems: Iterable[Problem | str]) -> None:
        self.problems = [str(p) for p in problems]
        super().__init__("\n".join(self.problems))


# -- reading values that may come from YAML (typed) or CSV (text) ---------------------------


def words(value: Any) -> tuple[str, ...]:
    """A list from YAML, or "a; b" / "a, b" from a spreadsheet cell."""
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(part.strip() for part in re.split(r"[;,]", str(value)) if part.strip())


def flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    return None


def text_of(value: Any) -> str:
    return "" if value is None else str(value).strip()


class _Checker:
    def __init__(self, where: str, entry: str, problems: list[Problem]) -> None:
        self.where = where
        self.entry = entry
        self.problems = problems

    def __call__(self, field: str, message: str) -> None:
        self.problems.append(Problem(self.where, self.entry, field, message))


def _phone(value: str) -> bool:
    try:
        number = phonenumbers.parse(value, "GB")
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number) or shortnumberinfo.is_valid_short_number(number)


def _https(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme == "https" and bool(parts.netloc) and " " not in value


def _contact_items(raw: Any) -> list[Mapping[str, Any]]:
    """Contacts as a YAML list of mappings, or spreadsheet lines "kind | value | label"."""
    if isinstance(raw, list):
        return [item if isinstance(item, Mapping) else {"value": item} for item in raw]
    items: list[Mapping[str, Any]] = []
    for line in str(raw or "").splitlines():
        if line.strip():
            kind, _, rest = line.partition("|")
            value, _, label = rest.partition("|")
            items.append({"kind": kind.strip(), "value": value.strip(), "label": label.strip()})
    return items


def _contacts(raw: Any, check: _Checker) -> tuple[Contact, ...]:
    contacts: list[Contact] = []
    for item in _contact_items(raw):
        kind, value = text_of(item.get("kind")), text_of(item.get("value"))
        label = text_of(item.get("label"))
        if len(label) > MAX_LABEL:
            check(
                "contacts",
                f"the label '{label[:20]}...' is {len(label)} characters; {MAX_LABEL} at most",
            )
            continue
        if kind not in CONTACT_KINDS:
            known = ", ".join(sorted(CONTACT_KINDS))
            check("contacts", f"unknown kind '{kind}' (use one of: {known})")
            continue
        if not value:
            check("contacts", f"a '{kind}' contact has no value")
            continue
        if kind in ("phone", "text") and not _phone(value):
            check("contacts", f"'{value}' is not a valid UK phone number")
            continue
        if kind == "email" and not EMAIL_FORMAT.match(value):
            check("contacts", f"'{value}' is not an e-mail address")
            continue
        if kind in ("web", "webchat") and not _https(value):
            check("contacts", f"'{value}' must be a full https:// web address")
            continue
        if kind == "keypad" and not re.fullmatch(r"[0-9*#]{1,4}", value):
            check("contacts", f"'{value}' is not a key or keys to press, like 55")
            continue
        contacts.append(Contact(kind, value, label))
    if not contacts and not any(p.field == "contacts" for p in check.problems):
        check("contacts", "at least one contact is needed")
    return tuple(contacts)


def _within(field: str, value: str, limit: int, check: _Checker) -> None:
    if len(value) > limit:
        check(field, f"{len(value):,} characters; {limit:,} at most, so the card fits a message")


def _date(raw: Any, check: _Checker) -> str | None:
    if raw is None or text_of(raw) in ("", "null", "none", "never"):
        return None
    if isinstance(raw, dt.date):
        return raw.isoformat()
    try:
        return dt.date.fromisoformat(text_of(raw)).isoformat()
    except ValueError:
        check("verified_on", f"'{raw}' is not a date like 2026-11-26 (or leave it empty)")
        return None


def _languages(raw: Any, check: _Checker, field: str = "languages") -> tuple[str, ...]:
    found = []
    for code in words(raw):
        try:
            Locale.parse(code.replace("-", "_"))
        except (UnknownLocaleError, ValueError):
            check(field, f"'{code}' is not a language code like en, cy or pl")
            continue
        found.append(code)
    return tuple(found)


def _translations(raw: Any, check: _Checker) -> dict[str, str]:
    if raw in (None, ""):
        return {}
    if not isinstance(raw, Mapping):
        check("translations", "must map language codes to descriptions")
        return {}
    codes = _languages(list(raw), check, "translations")
    return {code: text_of(raw[code]) for code in codes if text_of(raw[code])}


def service_from_record(
    raw: Mapping[str, Any], where: str, known_areas: Iterable[str], problems: list[Problem]
) -> Service | None:
    service_id = text_of(raw.get("id"))
    check = _Checker(where, f"service '{service_id or '?'}'", problems)
    for field in sorted(FORBIDDEN_FIELDS & set(raw)):
        if text_of(raw.get(field)):
            check(field, "addresses are never stored: a refuge's location must stay secret")
    extra = [f for f in raw if f not in SERVICE_FIELDS and f not in FORBIDDEN_FIELDS]
    for field in sorted(str(f) for f in extra if not str(f).startswith("description_")):
        check(field, "unknown field")
    missing = [f for f in REQUIRED_SERVICE_FIELDS if not text_of(raw.get(f))]
    if missing:
        check("", "missing " + ", ".join(missing))
        return None
    if not ID_FORMAT.match(service_id):
        check("id", f"'{service_id}' must use only a-z, 0-9 and -")
    for field, limit in MAX_LENGTHS.items():
        _within(field, text_of(raw.get(field)), limit, check)
    audiences = words(raw.get("audiences"))
    for audience in audiences:
        if audience not in AUDIENCES:
            check("audiences", f"unknown '{audience}' (use: {', '.join(sorted(AUDIENCES))})")
    needs = words(raw.get("needs"))
    for need in needs:
        if need not in NEEDS:
            check("needs", f"unknown '{need}' (use: {', '.join(sorted(NEEDS))})")
    areas = words(raw.get("areas"))
    known = set(known_areas)
    for area in areas:
        if area not in known:
            check("areas", f"unknown area '{area}'")
    try:
        hours = parse_hours(text_of(raw.get("hours")))
    except HoursError as exc:
        check("hours", str(exc))
        hours = parse_hours("")
    active = flag(raw.get("active", True))
    if active is None:
        check("active", "must be true or false")
    helpline = flag(raw.get("nation_helpline", False))
    if helpline is None:
        check("nation_helpline", "must be true or false")
    # Spreadsheets carry translations as description_cy, description_pl ... columns.
    translations = (
        dict(raw.get("translations") or {}) if isinstance(raw.get("translations"), Mapping) else {}
    )
    for column, value in raw.items():
        if str(column).startswith("description_") and text_of(value):
            translations[str(column).removeprefix("description_")] = text_of(value)
    for language, translated in translations.items():
        _within(f"description_{language}", text_of(translated), MAX_LENGTHS["description"], check)
    return Service(
        id=service_id,
        name=text_of(raw["name"]),
        description=text_of(raw["description"]),
        audiences=audiences,
        needs=needs,
        areas=areas,
        contacts=_contacts(raw.get("contacts"), check),
        source=text_of(raw["source"]),
        verified_on=_date(raw.get("verified_on"), check),
        hours=hours,
        hours_note=text_of(raw.get("hours_note")),
        languages=_languages(raw.get("languages"), check),
        nation_helpline=bool(helpline),
        active=active is not False,
        translations=_translations(translations, check),
    )


def area_from_record(raw: Mapping[str, Any], where: str, problems: list[Problem]) -> Area | None:
    area_id = text_of(raw.get("id"))
    check = _Checker(where, f"area '{area_id or '?'}'", problems)
    for field in sorted(str(f) for f in raw if f not in AREA_FIELDS):
        check(field, "unknown field")
    if not area_id or not text_of(raw.get("name")):
        check("", "needs 'id' and 'name'")
        return None
    if not ID_FORMAT.match(area_id):
        check("id", f"'{area_id}' must use only a-z, 0-9 and -")
    kind = text_of(raw.get("kind"))
    if kind not in AREA_KINDS:
        check("kind", f"must be one of {', '.join(AREA_KINDS)}")
    districts = tuple(d.upper().replace(" ", "") for d in words(raw.get("postcode_districts")))
    for district in districts:
        if not DISTRICT_FORMAT.match(district):
            check("postcode_districts", f"'{district}' is not a postcode district like MK9")
    centre, radius = _circle(raw, check)
    return Area(
        id=area_id,
        name=text_of(raw["name"]),
        kind=kind,
        parent=text_of(raw.get("parent")) or None,
        aliases=words(raw.get("aliases")),
        postcode_districts=districts,
        centre=centre,
        radius_km=radius,
    )


def _circle(
    raw: Mapping[str, Any], check: _Checker
) -> tuple[tuple[float, float] | None, float | None]:
    """An area's optional circle: `centre: [latitude, longitude]` in the UK, and `radius_km`.
    Places in the gazetteer inside it belong to the area, so no village need be listed."""
    centre_raw, radius_raw = raw.get("centre"), raw.get("radius_km")
    if centre_raw in (None, "") and radius_raw in (None, ""):
        return None, None
    parts = words(centre_raw) if not isinstance(centre_raw, list | tuple) else centre_raw
    try:
        latitude, longitude = (float(part) for part in parts)
        radius = float(str(radius_raw))
    except (TypeError, ValueError):
        check("centre", "needs `centre: [latitude, longitude]` and `radius_km` together")
        return None, None
    if not (49.0 <= latitude <= 61.5 and -8.7 <= longitude <= 2.0):
        check("centre", f"{latitude}, {longitude} is not in the UK (latitude, longitude)")
        return None, None
    if not 0 < radius <= MAX_RADIUS_KM:
        check("radius_km", f"must be more than 0 and at most {MAX_RADIUS_KM:g}")
        return None, None
    return (latitude, longitude), radius


def check_whole(
    areas: Mapping[str, Area], services: Iterable[tuple[str, Service]], problems: list[Problem]
) -> None:
    """Checks across entries: parents that exist, no loops, unique service ids."""
    for area in areas.values():
        if area.parent and area.parent not in areas:
            problems.append(
                Problem("areas", f"area '{area.id}'", "parent", f"unknown area '{area.parent}'")
            )
    seen: dict[str, str] = {}
    for where, service in services:
        if service.id in seen:
            problems.append(
                Problem(where, f"service '{service.id}'", "id", f"also used in {seen[service.id]}")
            )
        seen.setdefault(service.id, where)


# -- back to records (YAML, CSV, database) ------------------------------------------------------


def service_to_record(service: Service) -> dict[str, Any]:
    """The canonical form of a service: what export writes and the database keeps."""
    record: dict[str, Any] = {
        "id": service.id,
        "name": service.name,
        "description": service.description,
        "audiences": list(service.audiences),
        "needs": list(service.needs),
        "areas": list(service.areas),
        "contacts": [
            {"kind": c.kind, "value": c.value, **({"label": c.label} if c.label else {})}
            for c in service.contacts
        ],
        "hours": service.hours.text,
        "hours_note": service.hours_note,
        "languages": list(service.languages),
        "source": service.source,
        "verified_on": service.verified_on,
        "nation_helpline": service.nation_helpline,
        "active": service.active,
        "translations": dict(sorted(service.translations.items())),
    }
    return record


def area_to_record(area: Area) -> dict[str, Any]:
    return {
        "id": area.id,
        "name": area.name,
        "kind": area.kind,
        "parent": area.parent,
        "aliases": list(area.aliases),
        "postcode_districts": list(area.postcode_districts),
        **(
            {"centre": list(area.centre), "radius_km": area.radius_km}
            if area.centre is not None
            else {}
        ),
    }
