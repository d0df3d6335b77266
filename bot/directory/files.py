"""Directory files: the bundled YAML folder, and YAML or CSV files that service managers import
and export. CSV is written the way a spreadsheet reads it, and made safe to open in one.

A file to import is read within limits, whoever sent it: a regular file only (never a device,
a pipe or a folder), at most `MAX_FILE_BYTES` whatever size it reports, at most `MAX_ENTRIES`
services (or areas), and YAML without aliases (a few hundred bytes of nested aliases can stand
for millions of values) or deep nesting. Reading takes a while for a big file: callers that
serve people meanwhile run it in a thread (`asyncio.to_thread`)."""

from __future__ import annotations

import csv
import io
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.directory.model import Area, Service
from bot.directory.validate import (
    SERVICE_FIELDS,
    TRANSLATED_FIELDS,
    DirectoryError,
    Problem,
    area_from_record,
    area_to_record,
    check_whole,
    service_from_record,
    service_to_record,
)

MAX_FILE_BYTES = 5 * 1024 * 1024  # far more than any real directory; refuses junk early
MAX_ENTRIES = 5_000  # services (or areas) in one file: hundreds of times the real directory
MAX_DEPTH = 20  # how deeply YAML may nest; a directory file needs 5 levels
# Opened without waiting (a pipe put in the file's place must not hold the reader) and
# without becoming a terminal's controlling process.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a pipe"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)
# libyaml's loader when PyYAML has it (several times faster), else PyYAML's own.
_YAML_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)
CSV_LIST_FIELDS = ("audiences", "needs", "areas", "languages")
# A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class DirectoryData:
    areas: dict[str, Area]
    services: dict[str, Service]


def _too_big(path: Path, size: int | None = None) -> DirectoryError:
    told = f"{size:,} bytes" if size is not None else f"more than {MAX_FILE_BYTES:,} bytes"
    return DirectoryError([f"{path}: {told} is too big (at most {MAX_FILE_BYTES:,})"])


def _check_kind(path: Path, info: os.stat_result) -> None:
    if stat.S_ISREG(info.st_mode):
        return
    kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
    raise DirectoryError([f"{path}: is {kind}, not a file; give the path of a .yaml or .csv file"])


def _read_bytes(path: Path) -> bytes:
    """A regular file (or a link to one), never more than `MAX_FILE_BYTES` of it whatever size
    it reports. A device, pipe or folder is refused before it is opened, and what was opened
    is checked again (in case the path changed in between)."""
    try:
        info = path.stat()
        _check_kind(path, info)
        if info.st_size > MAX_FILE_BYTES:
            raise _too_big(path, info.st_size)
        descriptor = os.open(path, _OPEN_FLAGS)
        with open(descriptor, "rb") as file:
            _check_kind(path, os.fstat(file.fileno()))
            content = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise DirectoryError([f"{path}: cannot be read ({exc.strerror or exc})"]) from exc
    if len(content) > MAX_FILE_BYTES:
        raise _too_big(path)
    return content


def _read_text(path: Path) -> str:
    try:
        # utf-8-sig: spreadsheets often start a UTF-8 file with a byte-order mark.
        return _read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DirectoryError([f"{path}: is not UTF-8 text (save it as CSV UTF-8)"]) from exc


def _yaml_problem(path: Path, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or not problem:
        return f"{path}: not valid YAML: {exc}"
    return f"{path}, line {mark.line + 1}: not valid YAML: {problem}"


def _check_yaml_events(path: Path, text: str) -> None:
    """Refuse aliases and deep nesting before anything is built: a few hundred bytes of nested
    aliases can stand for millions of values. (Scanning the events is quick next to loading.)"""
    depth = 0
    for event in yaml.parse(text, Loader=_YAML_LOADER):
        mark = event.start_mark
        line = mark.line + 1 if mark is not None else "?"
        if isinstance(event, yaml.AliasEvent):
            raise DirectoryError(
                [
                    f"{path}, line {line}: uses the YAML alias *{event.anchor}; aliases are not "
                    "allowed in a directory file: write each entry out in full"
                ]
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise DirectoryError(
                    [f"{path}, line {line}: nested more than {MAX_DEPTH} levels deep"]
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _load_yaml(path: Path) -> Any:
    text = _read_text(path)
    try:
        _check_yaml_events(path, text)
        return yaml.load(text, Loader=_YAML_LOADER)  # a safe loader: plain data only
    except yaml.YAMLError as exc:
        raise DirectoryError([_yaml_problem(path, exc)]) from exc


def _too_many(where: str, what: str, count: int | None = None) -> DirectoryError:
    told = f"{count:,}" if count is not None else f"more than {MAX_ENTRIES:,}"
    return DirectoryError(
        [
            f"{where}: {told} {what} in one file; at most {MAX_ENTRIES:,} are allowed: "
            "split it into smaller files"
        ]
    )


def _yaml_lists(path: Path) -> tuple[list[Any] | None, list[Any] | None]:
    data = _load_yaml(path)
    if not isinstance(data, Mapping) or not ({"areas", "services"} & set(data)):
        raise DirectoryError([f"{path}: needs 'services:' (and/or 'areas:') with a list"])
    lists = []
    for key in ("areas", "services"):
        value = data.get(key)
        if value is not None and not isinstance(value, list):
            raise DirectoryError([f"{path}: '{key}:' must be a list of entries"])
        if value is not None and len(value) > MAX_ENTRIES:
            raise _too_many(str(path), key, len(value))
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
    number = 0  # the row last read; row 1 is the header, as a spreadsheet shows
    records: list[tuple[str, Mapping[str, Any]]] = []
    try:
        if reader.fieldnames is None or "id" not in reader.fieldnames:
            raise DirectoryError([f"{path}: the first row must name the columns, starting with id"])
        number = 1
        for number, row in enumerate(reader, start=2):
            if row.get(None):
                raise DirectoryError(
                    [f"{path}, row {number}: has more cells than there are columns"]
                )
            cleaned = {key: _unescape_cell(value or "") for key, value in row.items() if key}
            if any(cleaned.values()):
                if len(records) == MAX_ENTRIES:
                    raise _too_many(f"{path}, row {number}", "services")
                records.append((f"{path}, row {number}", cleaned))
    except csv.Error as exc:
        raise DirectoryError([f"{path}, row {number + 1}: cannot be read as CSV ({exc})"]) from exc
    return records


def _services_from(
    records: list[tuple[str, Mapping[str, Any]]],
    areas: Mapping[str, Area],
    problems: list[Problem],
) -> list[tuple[str, Service]]:
    found = []
    for where, record in records:
        service = service_from_record(record, where, areas, problems)
        if service is not None:
            found.append((where, service))
    return found


def _yaml_services(
    path: Path, raw: list[Any] | None, problems: list[Problem]
) -> list[tuple[str, Mapping[str, Any]]]:
    records = [(str(path), r) for r in raw or [] if isinstance(r, Mapping)]
    if raw and len(records) != len(raw):
        problems.append(Problem(str(path), "services", "", "every entry must be a mapping"))
    return records


def read_services(
    path: Path, areas: Mapping[str, Area], problems: list[Problem]
) -> list[tuple[str, Service]]:
    """Services from a YAML or CSV file, each with where it was read."""
    if path.suffix.lower() == ".csv":
        records = _csv_records(path)
    elif path.suffix.lower() in (".yaml", ".yml"):
        records = _yaml_services(path, _yaml_lists(path)[1], problems)
    else:
        raise DirectoryError([f"{path}: use a .yaml, .yml or .csv file"])
    return _services_from(records, areas, problems)


def read_areas(path: Path, problems: list[Problem]) -> dict[str, Area]:
    return _areas_from(path, _yaml_lists(path)[0], problems)


def _areas_from(path: Path, raw: list[Any] | None, problems: list[Problem]) -> dict[str, Area]:
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
    services may use the areas already in the directory, or areas the same file brings).
    Within the limits above; slow for a big file, so run it in a thread where people wait."""
    if path.is_dir():
        return read_folder(path)
    problems: list[Problem] = []
    areas = dict(current_areas)
    brought: dict[str, Area] = {}
    suffix = path.suffix.lower()
    if suffix == ".csv":
        records = _csv_records(path)
    elif suffix in (".yaml", ".yml"):
        raw_areas, raw_services = _yaml_lists(path)  # read once, for both lists
        if raw_areas is not None:
            brought = _areas_from(path, raw_areas, problems)
            areas.update(brought)
        records = _yaml_services(path, raw_services, problems)
    else:
        raise DirectoryError([f"{path}: use a .yaml, .yml or .csv file"])
    services = _services_from(records, areas, problems)
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
            translated = contact.get("label_translations") or {}
            parts += [f"{code}: {text}" for code, text in translated.items()]
            lines.append(" | ".join(parts))
        return "\n".join(lines)
    if field in CSV_LIST_FIELDS:
        return "; ".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def to_csv(services: Iterable[Service]) -> str:
    """One row per service. Translated texts get a column per language (description_cy,
    hours_note_cy ...); a contact's translated labels stay on its line of the contacts cell."""
    ordered = sorted(services, key=_by_id)
    records = [service_to_record(service) for service in ordered]
    columns = [f for f in SERVICE_FIELDS if f not in TRANSLATED_FIELDS]
    translated: list[tuple[str, str]] = []  # (record field, language) for each extra column
    for field, prefix in TRANSLATED_FIELDS.items():
        for code in sorted({code for record in records for code in record[field]}):
            columns.append(f"{prefix}_{code}")
            translated.append((field, code))
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for record in records:
        row = [cell_text(field, record[field]) for field in columns if field in record]
        row += [record[field].get(code, "") for field, code in translated]
        writer.writerow([_safe_cell(cell) for cell in row])
    return out.getvalue()
