"""What the real Bot API accepts: the published schema plus the limits stated only in prose.

The fake server must refuse what Telegram refuses, or an offline test passes while the real
bot fails in production. These rules live apart from the HTTP plumbing so they can be read,
and reasoned about, on their own.

The schema (`bot-api.json`, Bot API 10.1) is a copy from the telegram-bot-api-spec project
(MIT licence, `LICENSE-bot-api-spec` beside it).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SCHEMA_PATH = Path(__file__).with_name("bot-api.json")

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER = 200
MAX_DELETE_IDS = 100

# Fields of InlineKeyboardButton that give a button its action; exactly one must be present.
BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


class RequestError(Exception):
    """A request the real server would refuse: the HTTP status and Telegram's description.

    `refused` marks the bot's own mistakes (schema and limit checks), as opposed to conditions
    the bot cannot know in advance (a user who blocked it, flood control).
    """

    def __init__(self, status: int, description: str, *, refused: bool | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.refused = status == 400 if refused is None else refused


def bad_request(detail: str) -> RequestError:
    """A 400 with Telegram's "Bad Request: " prefix, which PTB strips before raising."""
    return RequestError(400, f"Bad Request: {detail}")


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart request: an `InputFile` as it arrives on the wire."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class _Mismatch:
    """Why a value does not fit a type; `deep` errors come from inside a matching shape."""

    message: str
    deep: bool = False
    score: int = 0


class Schema:
    """The Bot API methods and types, with decoding and type checking of request parameters."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.version: str = str(data.get("version", "?"))
        self.methods: dict[str, dict[str, Any]] = dict(data["methods"])
        self.types: dict[str, dict[str, Any]] = dict(data["types"])
        # Telegram matches method names case-insensitively ("sendmessage" works).
        self._by_lower = {name.lower(): name for name in self.methods}

    @classmethod
    def load(cls, path: Path = SCHEMA_PATH) -> Schema:
        """Read the schema; a missing copy is a broken checkout, so fail loudly, never skip."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"The Bot API schema is missing at {path}. Copy it from "
                "../shared/telegram/bot-api.json (with LICENSE-bot-api-spec) into tests/fakebot/."
            ) from exc
        return cls(json.loads(text))

    def canonical(self, method: str) -> str | None:
        """The schema's spelling of a method name, or None if the Bot API has no such method."""
        return self._by_lower.get(method.lower())

    def fields(self, method: str) -> list[dict[str, Any]]:
        return list(self.methods[method].get("fields", []))

    def returns(self, method: str) -> list[str]:
        return list(self.methods[method].get("returns", []))

    # -- decoding ---------------------------------------------------------------------------

    def decode(self, method: str, raw: Mapping[str, object]) -> dict[str, Any]:
        """Turn form values back into JSON values, the way the real server reads them.

        Clients (PTB among them) send strings raw and JSON-encode everything else, so a field
        whose only type is String keeps its raw text; any other field is JSON-decoded, falling
        back to the raw text when that is not JSON or when only the text fits the field
        (a file_id such as "123" for an `InputFile or String` field).
        """
        types_by_name = {f["name"]: list(f["types"]) for f in self.fields(method)}
        decoded: dict[str, Any] = {}
        for name, value in raw.items():
            if not isinstance(value, str):
                decoded[name] = value
                continue
            types = types_by_name.get(name)
            if types == ["String"]:
                decoded[name] = value
                continue
            candidates: list[Any] = []
            with contextlib.suppress(ValueError):
                candidates.append(json.loads(value))
            if not candidates or types is None or "String" in types:
                candidates.append(value)
            if types is not None:
                fitting = [c for c in candidates if self._check(c, types, name) is None]
                decoded[name] = fitting[0] if fitting else candidates[0]
            else:
                decoded[name] = candidates[0]
        return decoded

    # -- type checking ----------------------------------------------------------------------

    def validate(self, method: str, params: Mapping[str, Any]) -> None:
        """Refuse missing required parameters, values of the wrong type (recursively), and
        parameters the method does not take.

        Telegram itself ignores unknown parameters today; a strict server that refuses them
        catches a bot sending what a method does not take (python-telegram-bot's `Defaults`
        adding `protect_content` to an edit, say).
        """
        known = {spec["name"] for spec in self.fields(method)}
        for name in sorted(set(params) - known):
            raise bad_request(f'method {method} has no parameter "{name}"')
        for spec in self.fields(method):
            name = spec["name"]
            if name not in params:
                if spec["required"]:
                    raise bad_request(f'parameter "{name}" is required')
                continue
            mismatch = self._check(params[name], spec["types"], name)
            if mismatch is not None:
                raise bad_request(mismatch.message)

    def type_error(self, value: Any, types: Sequence[str], path: str) -> str | None:
        """The description of why `value` does not fit `types`, or None if it fits."""
        mismatch = self._check(value, types, path)
        return None if mismatch is None else mismatch.message

    def _check(self, value: Any, types: Sequence[str], path: str) -> _Mismatch | None:
        """Accept if any alternative of a union fits; otherwise report the closest miss."""
        misses: list[_Mismatch] = []
        for type_name in types:
            miss = self._check_one(value, type_name, path)
            if miss is None:
                return None
            misses.append(miss)
        deep = [m for m in misses if m.deep]
        if deep:
            # The value had the shape of some alternative (e.g. an object with inline_keyboard);
            # the error inside that alternative is the useful one.
            return max(deep, key=lambda m: m.score)
        return _Mismatch(f'field "{path}" must be of type {" or ".join(types)}')

    def _check_one(self, value: Any, type_name: str, path: str) -> _Mismatch | None:
        shallow = _Mismatch(f'field "{path}" must be of type {type_name}')
        if type_name.startswith("Array of "):
            inner = type_name.removeprefix("Array of ")
            if not isinstance(value, list):
                return shallow
            for index, item in enumerate(value):
                miss = self._check(item, [inner], f"{path}[{index}]")
                if miss is not None:
                    return _Mismatch(miss.message, deep=True, score=miss.score + 1)
            return None
        scalar = _SCALARS.get(type_name)
        if scalar is not None:
            return None if scalar(value) else shallow
        if type_name == "InputFile":
            return None if isinstance(value, UploadedFile) else shallow
        spec = self.types.get(type_name)
        if spec is None:
            return None  # a type the schema does not describe: nothing to hold it to
        if "subtypes" in spec and "fields" not in spec:
            miss = self._check(value, spec["subtypes"], path)
            if miss is not None and not miss.deep:
                return shallow
            return miss
        if not isinstance(value, dict):
            return shallow
        fields = spec.get("fields", [])
        known = {f["name"] for f in fields}
        score = sum(1 for key in value if key in known)
        for field_spec in fields:
            name = field_spec["name"]
            if name not in value:
                if field_spec["required"]:
                    return _Mismatch(f'field "{path}.{name}" is required', deep=True, score=score)
                continue
            miss = self._check(value[name], field_spec["types"], f"{path}.{name}")
            if miss is not None:
                return _Mismatch(miss.message, deep=True, score=score)
        return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_SCALARS: dict[str, Any] = {
    "Integer": _is_int,
    "Float": lambda v: _is_int(v) or isinstance(v, float),
    "String": lambda v: isinstance(v, str),
    "Boolean": lambda v: isinstance(v, bool),
    "True": lambda v: v is True,
}


@cache
def default_schema() -> Schema:
    """The schema copy beside this module, parsed once per test session."""
    return Schema.load()


# -- limits stated in prose ---------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Telegram measures entity offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def check_text(
    text: str, parse_mode: str | None, *, limit: int, too_long: str, empty: str | None
) -> tuple[str, list[dict[str, Any]]]:
    """Parse `text` as Telegram would and enforce its length: returns (plain text, entities).

    Length counts characters after entity parsing (tags removed, entities unescaped). `empty`
    is the description for blank text, or None where blank is allowed (captions).
    """
    mode = (parse_mode or "").lower()
    if mode == "html":
        plain, entities = parse_html(text)
    elif mode in ("", "markdown", "markdownv2"):
        # Markdown is not parsed here; its length is counted on the raw text.
        plain, entities = text, []
    else:
        raise bad_request("unsupported parse_mode")
    if empty is not None and not plain.strip():
        raise bad_request(empty)
    if len(plain) > limit:
        raise bad_request(too_long)
    return plain, entities


def check_inline_keyboard(markup: Any) -> None:
    """Enforce button rules the schema cannot express (callback_data size, one action each)."""
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        return
    for button in _buttons(markup["inline_keyboard"]):
        actions = [name for name in BUTTON_ACTIONS if name in button]
        if not actions:
            raise bad_request(
                "can't parse inline keyboard button: Text buttons are unallowed in the inline "
                "keyboard"
            )
        data = button.get("callback_data")
        if data is not None and not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")
        url = button.get("url")
        if url is not None and not _is_button_url(url):
            raise bad_request("BUTTON_URL_INVALID")


def _buttons(rows: Any) -> Iterator[dict[str, Any]]:
    for row in rows:
        for button in row:
            if isinstance(button, dict):
                yield button


def _is_button_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return bool(parts.netloc)
    return parts.scheme == "tg"


# -- HTML parse mode ----------------------------------------------------------------------

_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_START_TAG = re.compile(
    r"<([A-Za-z][A-Za-z0-9-]*)"
    r"((?:\s+[A-Za-z][A-Za-z0-9_-]*(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'<>=`]+))?)*)"
    r"\s*>"
)
_END_TAG = re.compile(r"</([A-Za-z][A-Za-z0-9-]*)\s*>")
_ATTRIBUTE = re.compile(
    r"([A-Za-z][A-Za-z0-9_-]*)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'<>=`]+)))?"
)
_ENTITY = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9A-Fa-f]{1,6})|([A-Za-z]+));")


class _OpenTag:
    """A start tag waiting for its end tag, with where its entity begins."""

    def __init__(self, name: str, attributes: dict[str, str], start: int) -> None:
        self.name = name
        self.attributes = attributes
        self.start = start


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram's HTML subset strictly: returns (plain text, entities).

    Refuses unknown tags, unbalanced tags and a bare `<` or `&` (the real server is at least
    this strict about tags; being strict about `&` as well catches text that was not escaped).
    """
    plain: list[str] = []
    entities: list[dict[str, Any]] = []
    stack: list[_OpenTag] = []
    position = 0  # current length of the plain text in UTF-16 code units
    i = 0
    while i < len(text):
        char = text[i]
        if char == "<":
            if text.startswith("</", i):
                match = _END_TAG.match(text, i)
                if match is None:
                    raise _entity_error(f"Unclosed end tag at byte offset {_byte(text, i)}")
                name = match.group(1).lower()
                if not stack:
                    raise _entity_error(f"Unexpected end tag at byte offset {_byte(text, i)}")
                top = stack.pop()
                if top.name != name:
                    raise _entity_error(
                        f'Unmatched end tag at byte offset {_byte(text, i)}, expected "</'
                        f'{top.name}>", found "</{name}>"'
                    )
                _close(top, position, stack, entities)
                i = match.end()
                continue
            match = _START_TAG.match(text, i)
            if match is None:
                raise _entity_error(
                    f'Unexpected "<" at byte offset {_byte(text, i)}: write it as &lt;'
                )
            name = match.group(1).lower()
            if name not in _HTML_TAGS:
                raise _entity_error(
                    f'Unsupported start tag "{name}" at byte offset {_byte(text, i)}'
                )
            attributes = _attributes(match.group(2))
            if name == "span" and attributes.get("class") != "tg-spoiler":
                raise _entity_error(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {_byte(text, i)}'
                )
            if name == "tg-emoji" and not attributes.get("emoji-id"):
                raise _entity_error(
                    f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {_byte(text, i)}'
                )
            stack.append(_OpenTag(name, attributes, position))
            i = match.end()
            continue
        if char == "&":
            match = _ENTITY.match(text, i)
            if match is None:
                raise _entity_error(
                    f'Unescaped "&" at byte offset {_byte(text, i)}: write it as &amp;'
                )
            decoded = _decode_entity(match)
            if decoded is None:
                raise _entity_error(
                    f'Unsupported HTML entity "{match.group(0)}" at byte offset {_byte(text, i)}'
                )
            plain.append(decoded)
            position += utf16_len(decoded)
            i = match.end()
            continue
        plain.append(char)
        position += utf16_len(char)
        i += 1
    if stack:
        raise _entity_error(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(plain), entities


def _close(
    tag: _OpenTag, position: int, stack: list[_OpenTag], entities: list[dict[str, Any]]
) -> None:
    length = position - tag.start
    language = tag.attributes.get("class", "")
    if tag.name == "code" and stack and stack[-1].name == "pre":
        # <pre><code class="language-x"> is one pre entity carrying the language.
        if language.startswith("language-"):
            stack[-1].attributes["language"] = language.removeprefix("language-")
        return
    if length <= 0:
        return
    entity: dict[str, Any] = {"type": _HTML_TAGS[tag.name], "offset": tag.start, "length": length}
    if tag.name == "a":
        entity["url"] = tag.attributes.get("href", "")
    elif tag.name == "pre" and tag.attributes.get("language"):
        entity["language"] = tag.attributes["language"]
    elif tag.name == "blockquote" and "expandable" in tag.attributes:
        entity["type"] = "expandable_blockquote"
    elif tag.name == "tg-emoji":
        entity["custom_emoji_id"] = tag.attributes["emoji-id"]
    entities.append(entity)


def _attributes(source: str) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(source):
        name = match.group(1).lower()
        value = next((g for g in match.groups()[1:] if g is not None), "")
        attributes[name] = unescape(value)
    return attributes


def _decode_entity(match: re.Match[str]) -> str | None:
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        return _NAMED_ENTITIES.get(name)
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def _byte(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _entity_error(detail: str) -> RequestError:
    return bad_request(f"can't parse entities: {detail}")
