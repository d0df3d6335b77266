"""The registry of named conditions, actions and input parsers that flows may use.

Flows refer to these by name; YAML never imports code. Adding one here is the only way to give
content editors a new building block, and the flow linter rejects any name not listed here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from bot.directory.model import NEEDS
from bot.directory.places import AcrossBorder
from bot.directory.start_codes import ROUTES
from bot.engine.context import Deps, Turn
from bot.engine.model import Effect

Condition = Callable[[Turn], bool]


@dataclass(frozen=True)
class Unparsed:
    """Typed text a parser could not read, and the message (flows/core.yaml) that says so."""

    message: str


Parser = Callable[[str, Deps], dict[str, str] | Unparsed]


class ArgKind(Enum):
    NONE = "none"
    STATE = "state"  # a state name, checked to exist
    LOCALE = "locale"  # a locale code, checked to be shipped


@dataclass(frozen=True)
class ActionDef:
    run: Callable[[Turn, str | None], None]
    arg: ArgKind
    help: str


# -- conditions -------------------------------------------------------------------------------


def _nation_known(turn: Turn) -> bool:
    return "nation" in turn.session.answers


def _area_known(turn: Turn) -> bool:
    return "area" in turn.session.answers


def _urgent(turn: Turn) -> bool:
    """Any answer so far that marks a serious warning sign."""
    return turn.session.answers.get("urgent") == "yes"


def _route_is(route: str) -> Condition:
    return lambda turn: turn.session.answers.get("route") == route


def _need_is(need: str) -> Condition:
    return lambda turn: turn.session.answers.get("need") == need


CONDITIONS: dict[str, Condition] = {
    "nation_known": _nation_known,
    "area_known": _area_known,
    "urgent": _urgent,
    # A route already chosen, by a deep link's start code (see directory/start_codes.yaml).
    **{f"route_is_{route}": _route_is(route) for route in ROUTES},
    # The need chosen (`set: {need: ...}`), to go on to its own page once the place is known.
    **{f"need_is_{need}": _need_is(need) for need in sorted(NEEDS)},
}

# -- actions ----------------------------------------------------------------------------------


def _wipe(turn: Turn, _arg: str | None) -> None:
    turn.effects.add(Effect.WIPE)


def _end_session(turn: Turn, _arg: str | None) -> None:
    turn.effects.add(Effect.END)


def _forget(turn: Turn, _arg: str | None) -> None:
    turn.effects.add(Effect.FORGET)


def _clear_answers(turn: Turn, _arg: str | None) -> None:
    turn.session.answers.clear()
    turn.session.return_to = None


def _forget_need(turn: Turn, _arg: str | None) -> None:
    """Once a need's own page is shown, later pages show every kind of help again."""
    turn.session.answers.pop("need", None)


def _set_locale(turn: Turn, arg: str | None) -> None:
    if arg:
        turn.session.locale = arg


def _return_to(turn: Turn, arg: str | None) -> None:
    turn.session.return_to = arg


def _remember_place(turn: Turn, _arg: str | None) -> None:
    """Before a way out: note where 'back' should return to. From one way out to another
    (help, then danger) the first place is kept, so 'back' never strands the person."""
    detours = {
        way.goto
        for way in turn.spec.ways_out.values()
        if any(call.name == "remember_place" for call in way.actions)
    }
    if turn.state in detours:
        return
    here = turn.spec.states.get(turn.state)
    turn.session.return_to = (here.back_to if here else None) or turn.state


ACTIONS: dict[str, ActionDef] = {
    "wipe": ActionDef(_wipe, ArgKind.NONE, "clear every message of the chat the channel can"),
    "end_session": ActionDef(_end_session, ArgKind.NONE, "forget the conversation entirely"),
    "forget": ActionDef(_forget, ArgKind.NONE, "erase all kept about the chat, now (/forget)"),
    "clear_answers": ActionDef(_clear_answers, ArgKind.NONE, "forget the answers given so far"),
    "forget_need": ActionDef(_forget_need, ArgKind.NONE, "forget the need chosen (on its page)"),
    "set_locale": ActionDef(_set_locale, ArgKind.LOCALE, "switch the conversation's language"),
    "return_to": ActionDef(_return_to, ArgKind.STATE, "where 'back' goes after a way out"),
    "remember_place": ActionDef(_remember_place, ArgKind.NONE, "let 'back' return here"),
}

# -- typed-input parsers ----------------------------------------------------------------------


def _place(typed: str, deps: Deps) -> dict[str, str] | Unparsed:
    """A place name or postcode, turned into an area id and its nation. The words typed are
    not kept: only the ids are returned. A place on a border, or one not known, is a question:
    which part of the UK?"""
    area = deps.directory.resolve_place(typed)
    if area is None and deps.words is not None:  # "I live in Cardiff", "Cardiff please"
        shorter = deps.words.place_words(typed)
        area = deps.directory.resolve_place(shorter) if shorter else None
    if isinstance(area, AcrossBorder):
        return Unparsed("place_border")
    if area is None:
        return Unparsed("unknown_place")
    answers = {"area": area.id}
    nation = deps.directory.nation_of(area.id)
    if nation:
        answers["nation"] = nation
    return answers


PARSERS: dict[str, Parser] = {
    "place": _place,
}
