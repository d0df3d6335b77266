"""What a step may use and change while it runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.directory.model import DirectoryQueries
from bot.directory.start_codes import StartCode
from bot.engine.model import Effect, Session, Text
from bot.engine.spec import FlowSpec
from bot.words.reader import TypedReader

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Deps:
    """The engine's only windows on the world: directory queries and the time."""

    directory: DirectoryQueries
    clock: Clock
    locales: tuple[str, ...] = ("en",)
    # Deep-link codes (posters, cards): a conversation started with one is set to its area
    # and, optionally, its route.
    start_codes: Mapping[str, StartCode] = field(default_factory=dict)
    # What typed words mean (flows/words/); without it, only a step's parser reads typing.
    words: TypedReader | None = None


@dataclass
class Turn:
    """The model a shared `transitions` machine moves for one step.

    `state` is the attribute the machine reads and writes; the rest is what conditions and
    actions see. A Turn lives for one call of `step` and is then thrown away.
    """

    state: str
    session: Session
    deps: Deps
    spec: FlowSpec
    effects: set[Effect] = field(default_factory=set)
    notices: list[Text] = field(default_factory=list)
    parsed: dict[str, str] = field(default_factory=dict)  # structured result of typed input
    suggested: str | None = None  # a button asked about ("Did you mean ...?"): shown first
    entered: bool = False  # a transition ran, so the (new) state's entry actions are due
