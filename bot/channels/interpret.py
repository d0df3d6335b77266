"""What a typed message is, before the engine reads it: a command, a way out, or words.

Shared by every channel, so that "/exit", "quit" or "he is hurting me" work the same
everywhere, and so a channel can tell a quick exit or danger from the update alone (to put it
before everything else). The engine reads the rest (buttons' words, places) at the step the
person is on, in their language.
"""

from __future__ import annotations

from bot.engine.model import Event
from bot.engine.spec import FlowSpec
from bot.words.reader import TypedReader


def start_payload(text: str) -> str | None:
    """The start code of a deep link ("/start mk" when opened from a poster), if any."""
    words = text.strip().split()
    if len(words) == 2 and words[0].split("@", 1)[0].lower() == "/start":
        return words[1]
    return None


def interpret(text: str, spec: FlowSpec, words: TypedReader | None) -> Event:
    """The event that typed `text` stands for."""
    typed = text.strip()
    if typed.startswith("/"):
        command = typed[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if len(typed) > 1 else ""
        for way in spec.ways_out.values():
            if way.command == command:
                return Event.button(way.trigger)
        return Event.typed(typed)
    trigger = words.way_out(typed) if words is not None else None
    return Event.button(trigger) if trigger is not None else Event.typed(typed)
