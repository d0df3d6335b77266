"""Directory files: the bundled YAML folder, and YAML or CSV files that service managers import
and export. CSV is written the way a spreadsheet reads it, and made safe to open in one."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.directory.model import Area, Service
from bot.directory.validate import (
    SERVICE_FIELDS,
    DirectoryError,
    Problem,
    area_from_record,
    area_to_record,
    check_whole,
    service_from_record,
    service_to_record,
)

MAX_FILE_BYTES = 5 * 1024 * 1024  # far more than any real directory; refuses junk early
CSV_LIST_FIELDS = ("audiences", "needs", "areas", "languages")
# A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class DirectoryData:
    areas: dict[str, Area]
    services: dict[str, Service]


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DirectoryError([f"{path}: cannot be read ({exc.strerror})"]) from exc
    if size > MAX_FILE_BYTES:
        raise DirectoryError([f"{path}: {size:,} bytes is too big (at most {MAX_FILE_BYTES:,})"])
    try:
        # utf-8-sig: spreadsheets often start a UTF-8 file with a byte-order mark.
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DirectoryError([f"{path}: is not UTF-8 text (save it as CSV UTF-8)"]) from exc


def _yaml_lists(path: Path) -> tuple[list[Any] | None, list[Any] | None]:
    try:
        data = yaml.safe_load(_read_text(path))
    except yaml.YAMLError as exc:
        raise DirectoryError([f"{path}: not valid YAML: {exc}"]) from exc
    if not isinstance(data, Mapping) or not ({"areas", "services"} & set(data)):
        raise DirectoryError([f"{path}: needs 'services:' (and/or 'areas:') with a list"])
    lists = []
    for key in ("areas", "services"):
        value = data.get(key)
        if value is not None and not isinstance(value, list):
            raise DirectoryError([f"{path}: '{key}:' must be a list of entries"])
        lists.append(value)
    return lists[0], lists[1]


def _quoted(value: str) -> bool:
    """Starts with the quote export adds: before a formula-like cell, or before a cell that
    itself starts with such a quote (so that "'=x", typed as is, survives the round trip)."""
    return len(value) > 1 and value[0] == "'" and (value[1] in FORMULA_STARTS or value[1] == "'")


def _unescape_cell(value: str) -> str:
    """Undo the quote that export puts before a formula-like cell."""
    return value[1:] if _quoted(value) else value


def _csv_records(path: Path) -> list[tuple[str, Mapping[str, Any]]]:
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    if reader.fieldnames is None or "id" not in reader.fieldnames:
        raise DirectoryError([f"{path}: the first row must name the columns, starting with id"])
    records: list[tuple[str, Mapping[str, Any]]] = []
    for number, row in enumerate(reader, start=2):  # row 1 is the header, as a spreadsheet shows
        if row.get(None):
            raise DirectoryError([f"{path}, row {number}: has more cells than there are columns"])
        cleaned = {key: _unescape_cell(value or "") for key, value in row.items() if key}
        if any(cleaned.values()):
            records.append((f"{path}, row {number}", cleaned))
    return records


def read_services(
    path: Path, areas: Mapping[str, Area], problems: list[Problem]
) -> list[tuple[str, Service]]:
    """Services from a YAML or CSV file, each with where it was read."""
    if path.suffix.lower() == ".csv":
        records = _csv_records(path)
    elif path.suffix.lower() in (".yaml", ".yml"):
        _, raw = _yaml_lists(path)
        records = [(str(path), r) for r in raw or [] if isinstance(r, Mapping)]
        if raw and len(records) != len(raw):
            problems.append(Problem(str(path), "services", "", "every entry must be a mapping"))
    else:
        raise DirectoryError([f"{path}: use a .yaml, .yml or .csv file"])
    found = []
    for where, record in records:
        service = service_from_record(record, where, areas, problems)
        if service is not None:
            found.append((where, service))
    return found


def read_areas(path: Path, problems: list[Problem]) -> dict[str, Area]:
    raw, _ = _yaml_lists(path)
    areas: dict[str, Area] = {}
    for record in raw or []:
        if not isinstance(record, Mapping):
            problems.append(Problem(str(path), "areas", "", "every entry must be a mapping"))
            continue
        area = area_from_record(record, str(path), problems)
        if area is not None:
            if area.id in areas:
                problems.append(Problem(str(path), f"area '{area.id}'", "id", "used twice"))
            areas[area.id] = area
    return areas


def read_folder(folder: Path) -> DirectoryData:
    """The bundled directory: `areas.yaml` and `services.yaml`. Raises listing every problem."""
    problems: list[Problem] = []
    areas = read_areas(folder / "areas.yaml", problems)
    services = read_services(folder / "services.yaml", areas, problems)
    check_whole(areas, services, problems)
    if problems:
        raise DirectoryError(sorted(problems))
    return DirectoryData(areas, {s.id: s for _, s in services})


def read_import(path: Path, current_areas: Mapping[str, Area]) -> DirectoryData:
    """What a service manager wants to import: a folder, or one YAML or CSV file (whose
    services may use the areas already in the directory, or areas the same file brings)."""
    if path.is_dir():
        return read_folder(path)
    problems: list[Problem] = []
    areas = dict(current_areas)
    brought: dict[str, Area] = {}
    if path.suffix.lower() in (".yaml", ".yml") and _yaml_lists(path)[0] is not None:
        brought = read_areas(path, problems)
        areas.update(brought)
    services = read_services(path, areas, problems)
    check_whole(areas, services, problems)
    if problems:
        raise DirectoryError(sorted(problems))
    return DirectoryData(brought, {s.id: s for _, s in services})


# -- writing -------------------------------------------------------------------------------------


def to_yaml(data: DirectoryData) -> str:
    document = {
        "areas": [area_to_record(a) for a in sorted(data.areas.values(), key=lambda a: a.id)],
        "services": [service_to_record(s) for s in sorted(data.services.values(), key=_by_id)],
    }
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def _by_id(service: Service) -> str:
    return service.id


def _safe_cell(value: str) -> str:
    """Make a cell inert in a spreadsheet: a leading quote stops it running as a formula
    (import removes the quote again, so a number like +44 ... survives the round trip)."""
    return "'" + value if value.startswith(FORMULA_STARTS) or _quoted(value) else value


def cell_text(field: str, value: Any) -> str:
    """A record's field as a spreadsheet cell holds it (also how the admin chat shows it)."""
    if field == "contacts":
        lines = []
        for contact in value:
            parts = [contact["kind"], contact["value"]]
            if contact.get("label"):
                parts.append(contact["label"])
            lines.append(" | ".join(parts))
        return "\n".join(lines)
    if field in CSV_LIST_FIELDS:
        return "; ".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def to_csv(services: Iterable[Service]) -> str:
    ordered = sorted(services, key=_by_id)
    locales = sorted({code for s in ordered for code in s.translations})
    columns = [f for f in SERVICE_FIELDS if f != "translations"]
    columns += [f"description_{code}" for code in locales]
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for service in ordered:
        record = service_to_record(service)
        row = [cell_text(field, record[field]) for field in columns if field in record]
        row += [service.translations.get(code, "") for code in locales]
        writer.writerow([_safe_cell(cell) for cell in row])
    return out.getvalue()
