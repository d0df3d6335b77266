"""The typed-word lists, `flows/words/<locale>.yaml`: what people type instead of tapping.

Each file holds, for one language: `danger` (phrases heard anywhere in a message), `exit` (the
quick exit, typed alone), `polite` (words that may surround a way out: "exit please"),
`answers` (short answers by kind: yes, no, not_sure ...; a flow button names the kinds it
means with `means:`) and `steps` (answers particular to one question, by state and trigger).
Everything is kept folded (`bot.folding.fold`), the form typed text is compared in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.folding import fold, key, symbols

FOLDER = "words"  # under the flows folder
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, where PyYAML has it
SECTIONS = ("locale", "danger", "exit", "polite", "answers", "steps", "before_place")


class WordsError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class WordList:
    locale: str
    file: str
    danger: frozenset[str] = frozenset()  # folded phrases
    danger_symbols: frozenset[str] = frozenset()  # emoji, matched anywhere: "\U0001f198"
    exit: frozenset[str] = frozenset()
    polite: frozenset[str] = frozenset()  # single folded words
    before_place: frozenset[str] = frozenset()  # "I live in", before a place
    answers: Mapping[str, frozenset[str]] = field(default_factory=dict)
    steps: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=dict)


def _phrases(value: Any, where: str, problems: list[str]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        problems.append(f"{where}: must be a list of words or phrases")
        return []
    found = []
    for raw in value:
        if isinstance(raw, bool):  # an unquoted yes/no: YAML has turned it into true/false
            problems.append(f"{where}: '{raw}' must be quoted")
            continue
        found.append(str(raw))
    return found


def _folded(phrases: list[str], where: str, problems: list[str]) -> frozenset[str]:
    folded = set()
    for phrase in phrases:
        words = key(phrase)
        if not words:
            problems.append(f"{where}: '{phrase}' has no letters or digits")
        folded.add(words)
    return frozenset(folded)


def _kinds(value: Any, where: str, problems: list[str]) -> dict[str, frozenset[str]]:
    if not isinstance(value, Mapping):
        problems.append(f"{where}: must map each name to a list")
        return {}
    return {
        str(kind): _folded(_phrases(phrases, f"{where}.{kind}", problems), where, problems)
        for kind, phrases in value.items()
    }


def read_word_list(path: Path) -> WordList:
    """One language's list. Raises WordsError naming the file and what is wrong."""
    where = str(path)
    problems: list[str] = []
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise WordsError([f"{where}: cannot be read: {exc}"]) from exc
    if not isinstance(data, Mapping):
        raise WordsError([f"{where}: must be a mapping with {', '.join(SECTIONS)}"])
    problems.extend(f"{where}: unknown section '{key}'" for key in data if key not in SECTIONS)
    if data.get("locale") != path.stem:
        problems.append(f"{where}: 'locale' must be '{path.stem}', as the file is named")
    danger = _phrases(data.get("danger") or [], f"{where}: danger", problems)
    emoji = {phrase for phrase in danger if not fold(phrase) and symbols(phrase)}
    steps_raw = data.get("steps") or {}
    if not isinstance(steps_raw, Mapping):
        problems.append(f"{where}: steps must map each step to its buttons' words")
        steps_raw = {}
    found = WordList(
        locale=path.stem,
        file=where,
        danger=_folded([p for p in danger if p not in emoji], f"{where}: danger", problems),
        danger_symbols=frozenset(c for phrase in emoji for c in symbols(phrase)),
        exit=_folded(_phrases(data.get("exit") or [], f"{where}: exit", problems), where, problems),
        polite=frozenset(
            word
            for phrase in _phrases(data.get("polite") or [], f"{where}: polite", problems)
            for word in fold(phrase).split()
        ),
        answers=_kinds(data.get("answers") or {}, f"{where}: answers", problems),
        before_place=_folded(
            _phrases(data.get("before_place") or [], f"{where}: before_place", problems),
            where,
            problems,
        ),
        steps={
            str(state): _kinds(buttons, f"{where}: steps.{state}", problems)
            for state, buttons in steps_raw.items()
        },
    )
    if problems:
        raise WordsError(problems)
    return found


def read_word_lists(flows_dir: Path) -> dict[str, WordList]:
    """Every language's list under `flows/words/`, by locale (none when a flows folder has no
    word lists, as in small test flows: then only labels and numbers are understood)."""
    folder = flows_dir / FOLDER
    if not folder.is_dir():
        return {}
    problems: list[str] = []
    lists: dict[str, WordList] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            lists[path.stem] = read_word_list(path)
        except WordsError as exc:
            problems.extend(exc.problems)
    if "en" not in lists and not problems:
        problems.append(f"{folder / 'en.yaml'}: missing: English is always understood")
    if problems:
        raise WordsError(problems)
    return lists
