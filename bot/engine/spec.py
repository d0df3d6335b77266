"""The immutable, validated form of `flows/*.yaml`.

Every piece remembers where it came from (file and line) so that a problem found later, by the
linter or at start-up, can point a content editor at the exact line to change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# The five ways out that every state must offer, whatever the flow files say.
REQUIRED_WAYS_OUT: tuple[str, ...] = ("exit", "danger", "help", "restart", "language")

# A destination that means "back to where the person was before a way out".
BACK = "back"

# Bare answers whose words depend on the question in some languages (Welsh answers "Yes" with
# the question's own verb: "Ydw", "Do", "Oes"): each is translated in its step's context.
ANSWERED_IN_CONTEXT: frozenset[str] = frozenset({"Yes", "No"})


def label_context(state: str, label: str) -> str | None:
    """The gettext context (msgctxt) a button label is translated in: its step, for a bare
    answer; none for every other label."""
    return state if label in ANSWERED_IN_CONTEXT else None


# `{service-id.contact-kind}` in a text: filled from the directory, never written in a flow.
PLACEHOLDER = re.compile(r"\{([a-z0-9][a-z0-9-]*)\.([a-z]+)\}")

# Short texts the channels show outside any one step. Their wording lives in flows/core.yaml.
REQUIRED_MESSAGES: tuple[str, ...] = (
    "expired",  # a stale or forged button was pressed
    "use_buttons",  # typed text where the step only has buttons
    "did_you_mean",  # typed text close to one button's words: {label}
    "unknown_place",  # a place not known: which part of the UK?
    "place_border",  # a place that may be in either of two nations: which?
    "welcome_back",  # a conversation resumed after a restart
    "idle_cleared",  # a conversation ended because it was left idle
    "auto_clear",  # the live message's note that the chat clears itself; {minutes}
    "auto_clear_web",  # the web chat's small print: forgotten when idle, the page stays
    "typed_deleted",  # said once: the person's typed messages are deleted once read
    "exit_telegram",  # after a quick exit in Telegram: what could not be removed, and how
    "exit_too_old",  # after a quick exit: {count} messages were too old to delete
)


@dataclass(frozen=True)
class Where:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class ActionCall:
    name: str
    arg: str | None
    where: Where


@dataclass(frozen=True)
class Choice:
    """One possible destination. `condition` None means "otherwise"."""

    goto: str
    condition: str | None
    negate: bool
    where: Where


@dataclass(frozen=True)
class ButtonSpec:
    trigger: str
    label: str
    choices: tuple[Choice, ...]
    answers: tuple[tuple[str, str], ...]
    actions: tuple[ActionCall, ...]
    way_out: str | None  # this button *is* a global way out, placed and worded by the step
    where: Where
    label_where: Where  # the line of the label itself, which may follow the button's first line
    # Short answers that, typed, mean this button ("yes", "not_sure"): kinds in flows/words/.
    means: tuple[str, ...] = ()


@dataclass(frozen=True)
class InputSpec:
    parser: str
    choices: tuple[Choice, ...]
    where: Where


@dataclass(frozen=True)
class ServiceQuery:
    audience: str | None
    needs: tuple[str, ...]
    ids: tuple[str, ...]
    where: Where
    needs_from: str | None = None  # an answer whose value, when given, is the need to match
    # Needs whose services come first, most local first (a specialist line), before the rest.
    first: tuple[str, ...] = ()


@dataclass(frozen=True)
class StateSpec:
    name: str  # qualified: "<flow>.<state>"
    text: str
    buttons: tuple[ButtonSpec, ...]
    input: InputSpec | None
    services: ServiceQuery | None
    actions: tuple[ActionCall, ...]  # run on entering the state
    end: bool
    back_to: str | None
    where: Where
    text_where: Where
    # The text on the web chat, where `text` gives advice true only on Telegram (long-press the
    # chat, Telegram's settings): same placeholders. The engine always replies with `text`.
    web_text: str | None = None
    web_text_where: Where | None = None

    @property
    def flow(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def is_result(self) -> bool:
        """A signposting result or an end: where a route may rest."""
        return self.services is not None or self.end


@dataclass(frozen=True)
class WayOutSpec:
    trigger: str
    label: str
    command: str
    goto: str
    as_button: bool  # shown as a button on every step, not only as a command
    actions: tuple[ActionCall, ...]
    where: Where  # the trigger's line
    label_where: Where


@dataclass(frozen=True)
class MessageSpec:
    key: str
    text: str
    where: Where


@dataclass(frozen=True)
class FlowSpec:
    states: Mapping[str, StateSpec]
    start: str
    ways_out: Mapping[str, WayOutSpec]
    messages: Mapping[str, MessageSpec]
    files: tuple[str, ...] = field(default=())

    def state(self, name: str) -> StateSpec:
        return self.states[name]

    def texts(self) -> list[tuple[str, Where]]:
        """Every text a person may read, with where it is written (for lint and translation)."""
        found: list[tuple[str, Where]] = []
        for state in self.states.values():
            found.append((state.text, state.text_where))
            if state.web_text is not None and state.web_text_where is not None:
                found.append((state.web_text, state.web_text_where))
            found.extend((button.label, button.where) for button in state.buttons)
        found.extend((way.label, way.where) for way in self.ways_out.values())
        found.extend((message.text, message.where) for message in self.messages.values())
        return found

    def message(self, key: str) -> str:
        return self.messages[key].text
