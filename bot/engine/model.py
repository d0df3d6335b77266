"""The neutral records that pass between channels, the engine and the store.

Nothing here knows about Telegram or SQLite. A `Session` is the whole of what is kept about a
conversation while it lives; an `Event` is what the person did; a `Reply` is what to show next.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from bot.directory.hours import Hours


class EventKind(Enum):
    START = "start"  # a new conversation, or /start
    BUTTON = "button"  # a button pressed (Telegram callback, console number or words)
    TEXT = "text"  # free text typed where the step asks for it
    RESUME = "resume"  # show the current step again, e.g. after a restart


@dataclass(frozen=True)
class Event:
    kind: EventKind
    trigger: str = ""
    # The state the button was shown in. A button from another state is stale and changes nothing.
    from_state: str | None = None
    # Typed text. It is parsed into structured answers and never stored.
    text: str = field(default="", repr=False)

    @classmethod
    def start(cls, code: str = "") -> Event:
        """A new conversation; `code` is a deep link's start code, if it came with one."""
        return cls(EventKind.START, trigger=code)

    @classmethod
    def button(cls, trigger: str, from_state: str | None = None) -> Event:
        return cls(EventKind.BUTTON, trigger=trigger, from_state=from_state)

    @classmethod
    def typed(cls, text: str) -> Event:
        return cls(EventKind.TEXT, text=text)

    @classmethod
    def resume(cls) -> Event:
        return cls(EventKind.RESUME)


@dataclass(frozen=True)
class Tracked:
    """A message of the conversation (the bot's or the person's) that a wipe must remove."""

    message_id: int
    sent_at: int  # unix seconds, as the chat's server dated it: deletion ends at 48 hours
    # Already deleted (the person's typed words, once read): kept only because no reply can
    # have an id below it, so a wipe's run of ids starts no later than the first reply.
    gone: bool = False

    def encoded(self) -> list[int]:
        return [self.message_id, self.sent_at, 1] if self.gone else [self.message_id, self.sent_at]

    @staticmethod
    def decoded(raw: object) -> Tracked | None:
        if not isinstance(raw, list) or len(raw) < 2:
            return None
        return Tracked(int(raw[0]), int(raw[1]), len(raw) > 2 and bool(raw[2]))


@dataclass
class Session:
    """What is kept about one conversation, and only while it lives.

    `answers` holds structured choices that routing needs (a route, a nation, an area id),
    never anything the person typed. `messages` are the ids a wipe must delete; `flags` note
    one-off explanations already given (so they are not repeated).
    """

    chat_key: str
    state: str
    locale: str = "en"
    answers: dict[str, str] = field(default_factory=dict)
    return_to: str | None = None
    messages: list[Tracked] = field(default_factory=list)
    live_message_id: int | None = None
    flags: list[str] = field(default_factory=list)
    updated_at: datetime | None = None

    def answers_json(self) -> str:
        return json.dumps(self.answers, sort_keys=True, separators=(",", ":"))

    def messages_json(self) -> str:
        return json.dumps([m.encoded() for m in self.messages], separators=(",", ":"))

    def flags_json(self) -> str:
        return json.dumps(sorted(set(self.flags)), separators=(",", ":"))

    @staticmethod
    def decode_answers(raw: str) -> dict[str, str]:
        value: Any = json.loads(raw or "{}")
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}

    @staticmethod
    def decode_messages(raw: str) -> list[Tracked]:
        value: Any = json.loads(raw or "[]")
        if not isinstance(value, list):
            return []
        return [m for m in map(Tracked.decoded, value) if m is not None]

    @staticmethod
    def decode_flags(raw: str) -> list[str]:
        value: Any = json.loads(raw or "[]")
        return [str(v) for v in value] if isinstance(value, list) else []


@dataclass(frozen=True)
class Text:
    """A text to show: an English source string (the gettext msgid) and the values of its
    `{service.contact}` placeholders, already looked up in the directory."""

    msgid: str
    values: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Button:
    trigger: str
    label: str  # English source text (msgid)
    way_out: bool = False  # a global way out (exit, danger ...): valid from any message
    everywhere: bool = False  # added to every step (rather than placed by the step itself)
    context: str | None = None  # the gettext context its label is translated in, if any


@dataclass(frozen=True)
class Contact:
    kind: str  # phone, text, email, web, webchat, keypad
    value: str
    label: str = ""  # in English; empty: the card names the kind ("Phone", "Text" ...)
    # The label in other languages, as (locale code, label) pairs sorted by code.
    label_translations: tuple[tuple[str, str], ...] = ()

    def labelled(self, locale: str) -> str:
        """The label in `locale` where the directory has it, else the English one."""
        return next((text for code, text in self.label_translations if code == locale), self.label)


@dataclass(frozen=True)
class ServiceCard:
    """One service, as a person sees it. Every detail comes from the directory."""

    service_id: str
    name: str
    description: str  # in the conversation's language where the directory has it
    contacts: tuple[Contact, ...]  # labels in the conversation's language, likewise
    hours: Hours
    source: str
    verified_on: str | None  # ISO date, or None when nobody has checked it yet
    hours_note: str = ""  # in the conversation's language where the directory has it
    open_now: bool | None = None  # None when the hours are not known
    # How `verified_on` was checked: "source" (read in `source`), "service" (with the service).
    verified_how: str = "source"


class Effect(Enum):
    WIPE = "wipe"  # remove every trace of the conversation the channel can remove
    END = "end"  # end the session: nothing about it is kept afterwards
    FORGET = "forget"  # erase everything kept about the chat now, even what waits to be wiped


@dataclass(frozen=True)
class Reply:
    state: str
    notices: tuple[Text, ...]  # short lines shown before the step, e.g. "that button has expired"
    text: Text
    buttons: tuple[Button, ...]
    cards: tuple[ServiceCard, ...] = ()
    effects: frozenset[Effect] = frozenset()
    accepts_text: bool = False  # the step reads typed text (for example a place name)
    locale: str = "en"  # the conversation's language, to render the reply in

    @property
    def ends_session(self) -> bool:
        return Effect.END in self.effects

    @property
    def wipes(self) -> bool:
        return Effect.WIPE in self.effects

    @property
    def forgets(self) -> bool:
        return Effect.FORGET in self.effects
