"""What a typed message means: a command, a button's words, or text for the step to read.

Shared by every channel, so that typing "exit" or "/danger" works the same everywhere.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from bot.engine.model import Button, Event
from bot.engine.spec import FlowSpec
from bot.i18n import Translator

_NOT_WORDS = re.compile(r"[^\w]+")


def _fold(text: str) -> str:
    """Lower case, no accents or punctuation: "I\u2019m in danger!" matches "im in danger"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_WORDS.sub(" ", plain).strip()


def start_payload(text: str) -> str | None:
    """The start code of a deep link ("/start mk" when opened from a poster), if any."""
    words = text.strip().split()
    if len(words) == 2 and words[0].split("@", 1)[0].lower() == "/start":
        return words[1]
    return None


def interpret(
    text: str, state: str | None, buttons: Sequence[Button], spec: FlowSpec, tr: Translator
) -> Event:
    """The event that typed `text` stands for, on the step `state` offering `buttons`."""
    words = text.strip()
    if words.startswith("/"):
        command = words[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if len(words) > 1 else ""
        for way in spec.ways_out.values():
            if way.command == command:
                return Event.button(way.trigger)
        return Event.typed(words)
    folded = _fold(words)
    if not folded:
        return Event.typed(words)
    # The ways out work everywhere by their words, in English and in the person's language,
    # and "exit" alone always means the quick exit.
    for way in spec.ways_out.values():
        names = {_fold(tr.gettext(way.label)), _fold(way.label)}
        if way.trigger == "exit":
            names.add("exit")
        if folded in names:
            return Event.button(way.trigger)
    for button in buttons:
        if folded in {_fold(tr.gettext(button.label)), _fold(button.label)}:
            return Event.button(button.trigger, None if button.way_out else state)
    return Event.typed(words)
