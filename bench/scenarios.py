"""The realistic mix: the 25 scenario transcripts in tests/scenarios/, as scripts of actions.

A script is what one person does in one conversation: `/start`, then each tap (by the
button's words) or typed text of the transcript. The engine benchmark turns each script into
engine events once; the end-to-end benchmark plays them against the running bot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from bot.app import Parts
from bot.channels.interpret import interpret
from bot.engine.model import Event
from bot.i18n import translator

from .common import LOCALES, SCENARIOS

Kind = Literal["tap", "type"]


@dataclass(frozen=True)
class Action:
    kind: Kind
    words: str  # the button's label, or the text typed


@dataclass(frozen=True)
class Script:
    name: str
    actions: tuple[Action, ...]  # the first is always typing /start

    @property
    def updates(self) -> int:
        return len(self.actions)


def load_scripts(folder: Path = SCENARIOS) -> list[Script]:
    scripts = []
    for path in sorted(folder.glob("*.yaml")):
        raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        actions = [Action("type", "/start")]
        for step in raw["steps"]:
            if "tap" in step:
                actions.append(Action("tap", str(step["tap"])))
            else:
                actions.append(Action("type", str(step["type"])))
        scripts.append(Script(path.stem, tuple(actions)))
    return scripts


def engine_events(parts: Parts, script: Script) -> list[Event]:
    """The engine events a script stands for, found by walking it once through the engine
    (a tap becomes the pressed button of the step it was shown on, typed words are read as
    the channels read them)."""
    engine, tr = parts.engine, translator("en", LOCALES)
    session = engine.new_session("compile")
    events: list[Event] = []
    reply = None
    for action in script.actions:
        if action.kind == "type":
            event = interpret(action.words, parts.spec, parts.words)
        else:
            assert reply is not None, f"{script.name}: a tap before the first step"
            button = next((b for b in reply.buttons if tr.gettext(b.label) == action.words), None)
            if button is None:
                raise LookupError(f"{script.name}: no button {action.words!r} on {reply.state}")
            event = Event.button(button.trigger, None if button.way_out else reply.state)
        events.append(event)
        reply = engine.step(session, event)
    return events
