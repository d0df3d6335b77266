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
    VERIFIED_HOW,
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
    # Later additions go last, so a spreadsheet laid out before them still reads the same.
    "verified_how",
    "translations",
    "hours_note_translations",
)
# What a contact may hold. In a spreadsheet cell a contact is one line,
# "kind | value | label | cy: label in Welsh | pl: ...".
CONTACT_FIELDS = ("kind", "value", "label", "label_translations")
# Translated texts: the record's field, and the prefix of a spreadsheet's column per language
# (description_cy, hours_note_pl ...).
TRANSLATED_FIELDS = {"translations": "description", "hours_note_translations": "hours_note"}
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
    """Contacts as a YAML list of mappings, or spreadsheet lines
    "kind | value | label | cy: label in Welsh | pl: ...". A part after the label that is not
    "code: text" is kept under its own words as a key, so it is reported as unknown."""
    if isinstance(raw, list):
        return [item if isinstance(item, Mapping) else {"value": item} for item in raw]
    items: list[Mapping[str, Any]] = []
    for line in str(raw or "").splitlines():
        if not line.strip():
            continue
        kind, value, label, *rest = [part.strip() for part in line.split("|")] + ["", ""]
        item: dict[str, Any] = {"kind": kind, "value": value, "label": label}
        translations: dict[str, str] = {}
        for part in filter(None, rest):
            code, colon, text = part.partition(":")
            if colon and code.strip() and " " not in code.strip():
                translations[code.strip()] = text.strip()
            else:
                item[part] = None
        if translations:
            item["label_translations"] = translations
        items.append(item)
    return items


def _unknown_keys(item: Mapping[str, Any], spreadsheet: bool, check: _Checker) -> bool:
    """Report each key a contact may not hold; True when there were any."""
    unknown = [str(key) for key in item if key not in CONTACT_FIELDS]
    contact = f"the '{text_of(item.get('kind'))}' contact '{text_of(item.get('value'))}'"
    for key in unknown:
        if spreadsheet:
            hint = "after the label, write only translations like 'cy: Ffoniwch am ddim'"
        elif item[key] is None:
            # `{kind: text, value: "999", label: Text, after registering}`: the comma ended
            # the label and made the rest a key of its own.
            hint = "if it is part of the label, put the whole label in quotes"
        else:
            hint = f"use: {', '.join(CONTACT_FIELDS)}"
        check("contacts", f"{contact} has an unknown key '{key}' ({hint})")
    return bool(unknown)


def _label_translations(
    raw: Any, label: str, check: _Checker
) -> tuple[tuple[str, str], ...] | None:
    """A contact's label in other languages, sorted by code; None when it cannot be used."""
    if raw in (None, "", {}):
        return ()
    if not isinstance(raw, Mapping):
        check("contacts", "label_translations must map language codes to labels")
        return None
    if not label:
        check("contacts", "label_translations need the label in English too ('label')")
        return None
    given = {str(code): text for code, text in raw.items()}
    before = len(check.problems)
    codes = _languages(list(given), check, "contacts")
    found = {code: text_of(given[code]) for code in codes if text_of(given[code])}
    for code, text in found.items():
        if len(text) > MAX_LABEL:
            check(
                "contacts",
                f"the label in '{code}' '{text[:20]}...' is {len(text)} characters; "
                f"{MAX_LABEL} at most",
            )
    return tuple(sorted(found.items())) if len(check.problems) == before else None


def _contacts(raw: Any, check: _Checker) -> tuple[Contact, ...]:
    contacts: list[Contact] = []
    spreadsheet = not isinstance(raw, list)
    for item in _contact_items(raw):
        if _unknown_keys(item, spreadsheet, check):
            continue
        kind, value = text_of(item.get("kind")), text_of(item.get("value"))
        label = text_of(item.get("label"))
        if len(label) > MAX_LABEL:
            check(
                "contacts",
                f"the label '{label[:20]}...' is {len(label)} characters; {MAX_LABEL} at most",
            )
            continue
        translated = _label_translations(item.get("label_translations"), label, check)
        if translated is None:
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
        contacts.append(Contact(kind, value, label, translated))
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


def _translations(raw: Any, check: _Checker, field: str = "translations") -> dict[str, str]:
    if raw in (None, ""):
        return {}
    if not isinstance(raw, Mapping):
        what = "descriptions" if field == "translations" else "notes"
        check(field, f"must map language codes to {what}")
        return {}
    codes = _languages([str(code) for code in raw], check, field)
    return {code: text_of(raw[code]) for code in codes if text_of(raw[code])}


def _translated(raw: Mapping[str, Any], field: str, check: _Checker) -> dict[str, str]:
    """A text's translations: a YAML mapping (`translations`, `hours_note_translations`), or a
    spreadsheet's columns, one per language (`description_cy`, `hours_note_cy` ...)."""
    prefix = TRANSLATED_FIELDS[field] + "_"
    given = raw.get(field)
    if given not in (None, "") and not isinstance(given, Mapping):
        _translations(given, check, field)  # says what is wrong with it
        given = None
    translations: dict[str, Any] = {str(k): v for k, v in (given or {}).items()}
    for column, value in raw.items():
        name = str(column)
        if name.startswith(prefix) and name not in SERVICE_FIELDS and text_of(value):
            translations[name.removeprefix(prefix)] = text_of(value)
    limit = MAX_LENGTHS[TRANSLATED_FIELDS[field]]
    for language, translated in translations.items():
        _within(f"{prefix}{language}", text_of(translated), limit, check)
    return _translations(translations, check, field)


def _verified_how(raw: Mapping[str, Any], verified_on: str | None, check: _Checker) -> str:
    how = text_of(raw.get("verified_how")).lower() or VERIFIED_HOW[0]
    if how not in VERIFIED_HOW:
        check(
            "verified_how",
            f"'{how}' must be 'source' (the date it was read in the source) or 'service' "
            "(the date the service itself confirmed it)",
        )
        return VERIFIED_HOW[0]
    if how == "service" and verified_on is None:
        check("verified_how", "'service' needs the date it was confirmed, in verified_on")
    return how


def service_from_record(
    raw: Mapping[str, Any], where: str, known_areas: Iterable[str], problems: list[Problem]
) -> Service | None:
    service_id = text_of(raw.get("id"))
    check = _Checker(where, f"service '{service_id or '?'}'", problems)
    for field in sorted(FORBIDDEN_FIELDS & set(raw)):
        if text_of(raw.get(field)):
            check(field, "addresses are never stored: a refuge's location must stay secret")
    extra = [str(f) for f in raw if f not in SERVICE_FIELDS and f not in FORBIDDEN_FIELDS]
    columns = tuple(f"{prefix}_" for prefix in TRANSLATED_FIELDS.values())
    for field in sorted(f for f in extra if not f.startswith(columns)):
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
    hours_note = text_of(raw.get("hours_note"))
    hours_note_translations = _translated(raw, "hours_note_translations", check)
    if hours_note_translations and not hours_note:
        check("hours_note_translations", "translations of a note need the note in English")
    verified_on = _date(raw.get("verified_on"), check)
    return Service(
        id=service_id,
        name=text_of(raw["name"]),
        description=text_of(raw["description"]),
        audiences=audiences,
        needs=needs,
        areas=areas,
        contacts=_contacts(raw.get("contacts"), check),
        source=text_of(raw["source"]),
        verified_on=verified_on,
        hours=hours,
        hours_note=hours_note,
        languages=_languages(raw.get("languages"), check),
        nation_helpline=bool(helpline),
        active=active is not False,
        translations=_translated(raw, "translations", check),
        hours_note_translations=hours_note_translations,
        verified_how=_verified_how(raw, verified_on, check),
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
        "contacts": [_contact_record(c) for c in service.contacts],
        "hours": service.hours.text,
        "hours_note": service.hours_note,
        "languages": list(service.languages),
        "source": service.source,
        "verified_on": service.verified_on,
        "nation_helpline": service.nation_helpline,
        "active": service.active,
        "verified_how": service.verified_how,
        "translations": dict(sorted(service.translations.items())),
        "hours_note_translations": dict(sorted(service.hours_note_translations.items())),
    }
    return record


def _contact_record(contact: Contact) -> dict[str, Any]:
    record: dict[str, Any] = {"kind": contact.kind, "value": contact.value}
    if contact.label:
        record["label"] = contact.label
    if contact.label_translations:
        record["label_translations"] = dict(contact.label_translations)
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
