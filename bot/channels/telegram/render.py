"""Replies as Telegram messages: escaped HTML, split to Telegram's limits, inline keyboards.

All text from flows and the directory is escaped, so a `<`, `>` or `&` in a service's
description shows literally and can never inject markup.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode

from bot.channels.cards import card_lines
from bot.engine.model import Button, Event, Reply, ServiceCard, Text
from bot.i18n import Translator

MAX_TEXT = 4096  # characters after entity parsing
# What every message is sent with, and what an edit of its text takes of that (an edit has no
# protect_content: the message keeps it). Given per call, never as python-telegram-bot's
# `Defaults`, which would add them to calls that do not take them.
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
SEND = {"parse_mode": ParseMode.HTML, "protect_content": True, "link_preview_options": NO_PREVIEW}
EDIT_TEXT = {"parse_mode": ParseMode.HTML, "link_preview_options": NO_PREVIEW}
MAX_CALLBACK_BYTES = 64
WAY_OUT_PREFIX = "w"
STEP_PREFIX = "s"


def callback_data(state: str, button: Button) -> str:
    """A way out works from any message, whatever its age; a step's button only on its step."""
    if button.way_out:
        return f"{WAY_OUT_PREFIX}:{button.trigger}"
    return f"{STEP_PREFIX}:{state}:{button.trigger}"


def parse_callback(data: str | None) -> Event | None:
    """The event a button press stands for, or None for data this bot never sent."""
    if not data:
        return None
    parts = data.split(":")
    if parts[0] == WAY_OUT_PREFIX and len(parts) == 2 and parts[1]:
        return Event.button(parts[1])
    if parts[0] == STEP_PREFIX and len(parts) == 3 and parts[1] and parts[2]:
        return Event.button(parts[2], from_state=parts[1])
    return None


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split plain text into pieces of at most `limit` characters: at a paragraph break, a
    line break, the end of a sentence or a space, the first of these in the second half of
    the piece, and only as a last resort mid-word."""
    return _split(text, limit, lambda window: _best_cut(window, range(len(window))))


def split_html(text: str, limit: int = MAX_TEXT) -> list[str]:
    """`split_text` for HTML: never inside a tag, an entity (`&amp;`) or an element
    (`<b>...</b>`), unless one element is longer than a message (the admin chat bolds only
    short labels)."""
    return _split(text, limit, lambda window: _best_cut(window, _outside_markup(window)))


def _split(text: str, limit: int, cut_of: Callable[[str], int]) -> list[str]:
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = cut_of(rest[:limit]) or limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


# Where a piece may end, best first: after a paragraph, a line, a sentence, a word.
_BREAKS = ("\n\n", "\n", ". ", " ")


def _best_cut(window: str, allowed: Iterable[int]) -> int:
    """The latest allowed position of the best kind of break, preferring one that keeps the
    piece at least half full; 0 when there is none."""
    latest = dict.fromkeys(_BREAKS, 0)
    for index in allowed:
        for kind in _BREAKS:
            if window.startswith(kind, index):
                latest[kind] = index + (1 if kind == ". " else 0)
                break
    half = len(window) // 2
    good = [latest[kind] for kind in _BREAKS if latest[kind] >= half]
    return good[0] if good else max(latest.values())


def _outside_markup(window: str) -> Iterator[int]:
    """Positions in `window` outside every tag, entity and element."""
    in_tag = in_entity = False
    open_elements = 0
    for index, char in enumerate(window):
        if char == "<":
            in_tag = True
            open_elements += -1 if window.startswith("</", index) else 1
        elif char == ">":
            in_tag = False
        elif char == "&":
            in_entity = True
        elif char == ";" and in_entity:
            in_entity = False
        elif not (in_tag or in_entity or open_elements):
            yield index


def keyboard(state: str, buttons: Sequence[Button], tr: Translator) -> InlineKeyboardMarkup | None:
    """The step's own choices one to a row, then the ways out side by side on the last row."""
    if not buttons:
        return None
    rows = [
        [InlineKeyboardButton(tr.label(b), callback_data=callback_data(state, b))]
        for b in buttons
        if not b.everywhere
    ]
    ways = [
        InlineKeyboardButton(tr.label(b), callback_data=callback_data(state, b))
        for b in buttons
        if b.everywhere
    ]
    if ways:
        rows.append(ways)
    return InlineKeyboardMarkup(rows)


def card_html(card: ServiceCard, tr: Translator) -> list[str]:
    """A service's card as one message, or more if it is too long for one (split as plain
    text, then escaped, so no piece is cut inside an entity); the name in bold."""
    name, *details = card_lines(card, tr)
    pieces = split_text("\n".join([name, *details]))
    html_pieces = [escape(piece) for piece in pieces]
    if pieces and pieces[0].startswith(name):
        html_pieces[0] = f"<b>{escape(name)}</b>{escape(pieces[0][len(name) :])}"
    return html_pieces


@dataclass(frozen=True)
class Rendered:
    """What to send for one reply: the step's text in one or more pieces, then the cards.
    The keyboard goes on the last message sent."""

    step: tuple[str, ...]
    cards: tuple[str, ...]
    keyboard: InlineKeyboardMarkup | None

    @cached_property
    def digest(self) -> str:
        """A fingerprint of what the messages would show, to skip edits that change nothing."""
        # The buttons' words and data, not `to_json()`: serialising the whole keyboard cost
        # a few per cent of the bot's CPU time (docs/benchmarks.md).
        rows = self.keyboard.inline_keyboard if self.keyboard else ()
        markup = "\x01".join(
            "\x02".join(f"{b.text}\x03{b.callback_data}" for b in row) for row in rows
        )
        content = "\x00".join([*self.step, *self.cards, markup])
        return hashlib.blake2b(content.encode(), digest_size=16).hexdigest()

    @property
    def single(self) -> bool:
        """One message only, so it can replace the previous step in place."""
        return len(self.step) == 1 and not self.cards


def render(reply: Reply, tr: Translator, footer: Text | None = None) -> Rendered:
    paragraphs = [tr.render(n) for n in reply.notices] + [tr.render(reply.text)]
    pieces = split_text("\n\n".join(paragraphs))
    step = [escape(piece) for piece in pieces]
    if footer is not None and step:
        note = f"\n\n<i>{escape(tr.render(footer))}</i>"
        if len(pieces[-1]) + len(tr.render(footer)) + 2 <= MAX_TEXT:
            step[-1] += note
        else:
            step.append(note.strip())
    cards = tuple(piece for card in reply.cards for piece in card_html(card, tr))
    return Rendered(tuple(step), cards, keyboard(reply.state, reply.buttons, tr))
