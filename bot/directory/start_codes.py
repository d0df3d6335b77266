"""Start codes for deep links: `https://t.me/<bot>?start=<code>` (or the web chat's
`<address>?start=<code>`) opens the conversation set to an area and, optionally, a route. Kept
as data beside the directory, checked like it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import yaml

from bot.directory.validate import DirectoryError, Problem, text_of

# What Telegram allows in a start parameter.
CODE_FORMAT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ROUTES = ("victim", "friend", "professional", "own_behaviour", "learn")
FILE_NAME = "start_codes.yaml"


@dataclass(frozen=True)
class StartCode:
    code: str
    area: str
    route: str | None = None
    note: str = ""


def link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username.lstrip('@')}?start={code}"


def web_link(chat_address: str, code: str) -> str:
    """The web chat's deep link: `chat_address` with `start=<code>` in its query. The rest of
    the query is kept; a `start` already there is replaced, as the chat reads only one."""
    parts = urlsplit(chat_address)
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if name != "start"
    ]
    query.append(("start", code))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def read_start_codes(folder: Path, known_areas: Mapping[str, Any]) -> dict[str, StartCode]:
    """The codes in `folder/start_codes.yaml` (none when there is no such file)."""
    path = folder / FILE_NAME
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DirectoryError([f"{path}: cannot be read: {exc}"]) from exc
    entries = data.get("codes") if isinstance(data, Mapping) else None
    if not isinstance(entries, list):
        raise DirectoryError([f"{path}: needs 'codes:' with a list"])
    problems: list[Problem] = []
    codes: dict[str, StartCode] = {}
    for raw in entries:
        if not isinstance(raw, Mapping):
            problems.append(Problem(str(path), "codes", "", "every entry must be a mapping"))
            continue
        code = text_of(raw.get("code"))
        entry = f"code '{code or '?'}'"

        def problem(field: str, message: str, entry: str = entry) -> None:
            problems.append(Problem(str(path), entry, field, message))

        for field in sorted(str(f) for f in raw if f not in ("code", "area", "route", "note")):
            problem(field, "unknown field")
        if not CODE_FORMAT.match(code):
            problem("code", "must be 1 to 64 of A-Z, a-z, 0-9, _ and -")
        elif code in codes:
            problem("code", "used twice")
        area = text_of(raw.get("area"))
        if area not in known_areas:
            problem("area", f"unknown area '{area}'")
        route = text_of(raw.get("route")) or None
        if route is not None and route not in ROUTES:
            problem("route", f"unknown route '{route}' (use one of: {', '.join(ROUTES)})")
        codes[code] = StartCode(code, area, route, text_of(raw.get("note")))
    if problems:
        raise DirectoryError(problems)
    return codes
