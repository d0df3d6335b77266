"""A Babel extractor for `flows/*.yaml`, and the template extraction the tests compare against.

The flows' English text is the gettext msgid, so `pybabel extract -F babel.cfg` has to read the
YAML as well as the code. The extractor reads the flows with the engine's own loader
(`bot.engine.flows.load_flows`), and each text's file and line from the spec's `Where`, so each
msgid is exactly the string the engine looks up. It is registered as the `pathways_flows` entry
point in the `babel.extractors` group.

Each text carries a translator comment saying where it is shown and what to keep, because a
translator sees one string at a time and "Yes" after "Are you afraid?" is not the same word in
every language as "Yes" after "Have they ever choked you?".
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir, extract_python
from babel.messages.frontend import parse_mapping_cfg

from bot.channels.web.pages import EXIT_LABEL
from bot.engine.flows import display_path, load_flows
from bot.engine.spec import PLACEHOLDER, FlowSpec, StateSpec, label_context

# (line, function name, message, translator comments): what Babel expects of an extractor.
# (line, function, message, comments); the message is (context, msgid) for "pgettext".
Extracted = tuple[int, str | None, str | tuple[str, str], list[str]]

MAPPING_FILE = "babel.cfg"
TEMPLATE = Path("locales") / "messages.pot"

# Words that stay as they are in every language: names of schemes, services and codes that a
# person may need to say or recognise (a pharmacist knows "ANI", not a translation of it).
PROTECTED_TERMS: tuple[str, ...] = (
    "ANI",
    "emergencySMS",
    "Clare's Law",
    "Crimestoppers",
    "IDVA",
    "MARAC",
    "MK9",
    "Telegram",
    "LGBT+",
    "FGM",
)

_MESSAGE_PARAM = re.compile(r"\{[a-z_]+\}")
_EMERGENCY_STATES = frozenset({"core.emergency"})

# When each of flows/core.yaml's short messages is shown (the keys are REQUIRED_MESSAGES).
MESSAGE_ROLES: Mapping[str, str] = {
    "expired": "shown when an old button is pressed, above the current step",
    "use_buttons": "shown when someone types where the step only has buttons",
    "did_you_mean": "shown when typed words were close to a button's: {label} is that button",
    "unknown_place": "shown when a typed place is not known, above the step's nation buttons",
    "place_border": "shown when a typed place may be in either of two nations",
    "welcome_back": "shown when a saved conversation carries on",
    "idle_cleared": "shown when a chat left idle was cleared",
    "auto_clear": "small print under every step",
    "auto_clear_web": "small print under every step of the web chat (not on Telegram); "
    '"Exit this page" is that button\'s own translation',
    "typed_deleted": "said once, after the person's first typed message is deleted",
    "exit_telegram": "after a quick exit on Telegram: how to remove the chat from the list",
    "exit_too_old": "after a quick exit, when some messages were too old to delete",
}

# Where the strings marked with _() in the code are shown, by file; and a note for the ones a
# translator could not place from the words alone.
CODE_PLACES: Mapping[str, str] = {
    "cards.py": "on a service card",
    "console.py": "in the terminal chat only (not on Telegram)",
    "hours.py": "opening hours on a service card",
    "pages.py": "on the web chat's pages only (not on Telegram)",
}
CODE_NOTES: Mapping[str, str] = {
    "Phone": "label before a phone number",
    "Text": "label before a number to send a text message (SMS) to",
    "Email": "label before an e-mail address",
    "Website": "label before a web address",
    "Webchat": "label before the address of a web chat",
    "Press": "label before the key to press during a call (e.g. 55)",
    "{days}, {times}": 'e.g. "Monday to Friday, 10:00 to 16:00"',
    "{previous}. {next}": "joins two sentences about opening hours",
    "{first} to {last}": 'a run of days, e.g. "Monday to Friday"; day names come from '
    "Babel in the nominative, so a dash may read better than a word that changes them",
    "{start} to {end}": 'opening and closing times, e.g. "10:00 to 16:00"',
    "{start} to {end} the next day": 'times past midnight, e.g. "20:00 to 02:00 the next day"',
    "{items}, {item}": "adds one more item to a list",
    "{items} and {last}": "adds the last item to a list",
}


def _keep_note(text: str) -> str:
    """What the translator must carry over unchanged."""
    notes: list[str] = []
    placeholders = sorted(set(PLACEHOLDER.findall(text)))
    if placeholders:
        names = ", ".join("{" + ".".join(p) + "}" for p in placeholders)
        notes.append(f"keep {names} exactly: the directory fills in the number or address")
    params = sorted(set(_MESSAGE_PARAM.findall(text)))
    if params:
        notes.append(f"keep {', '.join(params)} exactly: the code fills in a number")
    terms = [t for t in PROTECTED_TERMS if t in text]
    if terms:
        notes.append(f"keep {', '.join(terms)} in English")
    return "; ".join(notes)


def _comment(where: str, what: str, text: str, hint: str = "") -> list[str]:
    parts = [f"{where} {what}"]
    if hint:
        parts.append(hint)
    keep = _keep_note(text)
    if keep:
        parts.append(keep)
    return ["; ".join(parts)]


def _state_hint(qualified: str, text: str) -> str:
    if qualified in _EMERGENCY_STATES:
        return (
            "EMERGENCY TEXT: the meaning must stay exact (call 999; on a mobile, press 55 when "
            "asked; on a landline, stay on the line; 55 does not give your location; text 999 "
            "only after registering with emergencySMS, by texting 'register' to 999; ask for "
            "ANI at a pharmacy that takes part)"
        )
    if text.rstrip().endswith("?"):
        return "a question; keep it gentle, short and plain"
    return "what the person reads at this step; plain, warm words"


def _web_hint(qualified: str, text: str) -> str:
    hint = _state_hint(qualified, text)
    if EXIT_LABEL in text:
        # The web chat's quick exit, at the top of every page: named as the page names it.
        hint += f'; "{EXIT_LABEL}" is the button at the top of the page: use its translation'
    return hint


def _button_labels(state: StateSpec, shown: str, question: str | None) -> Iterator[Extracted]:
    for button in state.buttons:
        line = button.label_where.line
        where = f"{shown}:{line} state {state.name}:"
        if any(action.name == "set_locale" for action in button.actions):
            comment = [
                f"{where} a language's name in that language, in the language menu; "
                "copy it unchanged so people can find their own language"
            ]
            yield line, None, button.label, comment
            continue
        answers = f'answers "{question}"' if question else "a short button"
        comment = _comment(where, "button label", button.label, answers)
        context = label_context(state.name, button.label)
        if context is None:
            yield line, None, button.label, comment
        else:  # its own entry per question, so each can be answered as that question asks
            yield line, "pgettext", (context, button.label), comment


def _states(spec: FlowSpec, file: str, shown: str) -> Iterator[Extracted]:
    for state in spec.states.values():
        if state.where.file != file:
            continue
        text, line = state.text, state.text_where.line
        where = f"{shown}:{line} state {state.name}:"
        yield line, None, text, _comment(where, "text", text, _state_hint(state.name, text))
        if state.web_text is not None and state.web_text_where is not None:
            web_line = state.web_text_where.line
            yield (
                web_line,
                None,
                state.web_text,
                _comment(
                    f"{shown}:{web_line} state {state.name}:",
                    "text on the web chat only (not on Telegram)",
                    state.web_text,
                    _web_hint(state.name, state.web_text),
                ),
            )
        question = text if text.endswith("?") and "\n" not in text else None
        yield from _button_labels(state, shown, question)


def _settings(spec: FlowSpec, file: str, shown: str) -> Iterator[Extracted]:
    for trigger, way in spec.ways_out.items():
        if way.label_where.file != file:
            continue
        line = way.label_where.line
        on_every = "a button on every message" if way.as_button else "typed as a command or words"
        where = f"{shown}:{line} way out '{trigger}':"
        hint = f"{on_every}; keep it very short"
        yield line, None, way.label, _comment(where, "label", way.label, hint)
    for key, message in spec.messages.items():
        if message.where.file != file:
            continue
        line = message.where.line
        where = f"{shown}:{line} message '{key}':"
        role = MESSAGE_ROLES.get(key, "a short notice shown outside any step")
        yield line, None, message.text, _comment(where, role, message.text)


@lru_cache(maxsize=4)
def _load(directory: Path, stamp: tuple[tuple[str, int, int], ...]) -> FlowSpec:
    del stamp  # only part of the cache key: a folder whose files changed is read again
    return load_flows(directory)


def _flows_of(path: Path) -> FlowSpec:
    """The flows of the folder `path` is in, read once for all its files: Babel hands the
    extractor one file at a time, but a flow file is only valid beside the others."""
    directory = path.parent
    stats = [(f.name, f.stat()) for f in sorted(directory.glob("*.yaml"))]
    return _load(directory, tuple((name, s.st_mtime_ns, s.st_size) for name, s in stats))


def extract_flows(
    fileobj: IO[bytes],
    keywords: Collection[str],
    comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[Extracted]:
    """Babel extractor: every text a person may read in one flow file, with its context.

    The texts and their lines come from `load_flows` (so each msgid is exactly the string the
    engine looks up); `fileobj` only names the file, which is read with its folder."""
    del keywords, comment_tags, options  # YAML has no function calls or code comments to match
    name = getattr(fileobj, "name", None)
    if not isinstance(name, str):
        raise ValueError("extract_flows needs a flow file on disk: it reads the whole folder")
    path = Path(name)
    spec = _flows_of(path)
    file = display_path(path)  # how the loader's Where names this file
    # `flows/victim.yaml` whatever the working directory, so the template does not depend on it.
    shown = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
    found = [*_settings(spec, file, shown), *_states(spec, file, shown)]
    yield from sorted(found, key=lambda item: item[0])


def extract_code(
    fileobj: IO[bytes],
    keywords: Collection[str],
    comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[tuple[int, str | None, Any, list[str]]]:
    """Babel's Python extractor, with a comment saying where each string is shown."""
    # The `#:` line already says where in the code; the comment says where a person sees it.
    place = CODE_PLACES.get(Path(str(getattr(fileobj, "name", ""))).name)
    found: Iterator[Any] = extract_python(
        fileobj,
        dict.fromkeys(keywords),
        comment_tags,
        dict(options),  # type: ignore[arg-type]
    )
    for line, funcname, message, comments in found:
        text = message if isinstance(message, str) else ""
        notes = [place, CODE_NOTES.get(text)]
        if "{" in text:
            notes.append("keep each {name} exactly; the code fills it in, and it may move")
        yield line, funcname, message, [*list(comments), "; ".join(n for n in notes if n)]


def extract_template(root: Path) -> Catalog:
    """What `pybabel extract -F babel.cfg -o locales/messages.pot .` finds from `root`, in
    memory: the messages, their locations and their translator comments."""
    with (root / MAPPING_FILE).open(encoding="utf-8") as mapping:
        method_map, options_map = parse_mapping_cfg(mapping, MAPPING_FILE)  # type: ignore[no-untyped-call]
    catalog = Catalog(fuzzy=False)
    found = extract_from_dir(
        str(root), method_map, options_map, keywords=DEFAULT_KEYWORDS, comment_tags=()
    )
    for filename, lineno, message, comments, context in found:
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog
