"""The terminal chat: the same engine and storage as Telegram, with numbered options.

It works interactively and with piped input (one input per line), so whole conversations can
be scripted: `printf '2\\n1\\n' | python -m bot console`. Its quick exit clears the screen and
the terminal's scrollback, and ends the program.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from bot.channels.cards import card_lines
from bot.channels.interpret import interpret
from bot.conversation import Conversations
from bot.engine.model import Event, Reply
from bot.engine.spec import FlowSpec
from bot.i18n import Translator, _, translator
from bot.words.reader import TypedReader

CHAT_KEY = "console"
# Erase the scrollback (3J), move home (H), erase the screen (2J).
CLEAR_SCREEN = "\033[3J\033[H\033[2J"
WIDTH = 78

ReadLine = Callable[[], Awaitable[str | None]]


def stdin_reader(interactive: bool) -> ReadLine:
    """Read one line without blocking the event loop. None at the end of input."""

    async def read() -> str | None:
        if interactive:
            try:
                return await asyncio.to_thread(input, "> ")
            except EOFError:
                return None
        line = await asyncio.to_thread(sys.stdin.readline)
        return line.rstrip("\r\n") if line else None

    return read


class ConsoleChat:
    def __init__(
        self,
        conversations: Conversations,
        spec: FlowSpec,
        words: TypedReader | None,
        locales_dir: Path,
        out: TextIO,
        interactive: bool,
        locale: str = "en",
    ) -> None:
        self.conversations = conversations
        self.spec = spec
        self.words = words
        self.locales_dir = locales_dir
        self.out = out
        self.interactive = interactive
        self.locale = locale
        self.last: Reply | None = None

    def _tr(self) -> Translator:
        return translator(self.locale, self.locales_dir)

    def _print(self, text: str = "") -> None:
        for line in text.split("\n"):
            wrapped = textwrap.wrap(line, WIDTH, break_on_hyphens=False) or [""]
            self.out.write("\n".join(wrapped) + "\n")
        self.out.flush()

    def show(self, reply: Reply, locale: str) -> None:
        self.locale = locale
        tr = self._tr()
        for notice in reply.notices:
            self._print(tr.render(notice))
            self._print()
        self._print(tr.render(reply.text))
        for card in reply.cards:
            self._print()
            lines = card_lines(card, tr)
            self._print("  * " + lines[0])
            for line in lines[1:]:
                self._print("    " + line)
        if reply.buttons:
            self._print()
            for number, button in enumerate(reply.buttons, start=1):
                self._print(f"  {number}. {tr.label(button)}")
        if reply.accepts_text:
            self._print(tr.gettext(_("(You can also type your answer.)")))
        self._print()
        self.last = reply

    def _event(self, line: str) -> Event:
        # A number is the option shown with it: the options just printed, even if the
        # conversation has moved on since (the engine then says the option has expired).
        words = line.strip()
        if self.last is not None and words.isdigit() and 1 <= int(words) <= len(self.last.buttons):
            button = self.last.buttons[int(words) - 1]
            return Event.button(button.trigger, None if button.way_out else self.last.state)
        return interpret(words, self.spec, self.words)

    def _wipe(self) -> None:
        if self.interactive:
            self.out.write(CLEAR_SCREEN)
            self.out.flush()

    async def _send(self, event: Event) -> bool:
        """Handle one event and show the reply. False when the conversation has ended."""
        reply = (await self.conversations.handle(CHAT_KEY, event, self.locale)).reply
        if reply.wipes:
            self._wipe()
        self.show(reply, reply.locale)
        return not reply.ends_session

    async def begin(self, start_code: str | None = None) -> bool:
        """Show where the conversation is: the start, or the saved step after a restart.
        With a start code (as from a poster's link), a new conversation set up by it."""
        tr = self._tr()
        self._print(
            tr.gettext(
                _(
                    "Pathways terminal chat. Type the number of an option, or its words. "
                    "Commands: /exit clears and closes, /danger, /help, /start, /language."
                )
            )
        )
        self._print()
        return await self._send(Event.start(start_code) if start_code else Event.resume())

    async def enter(self, line: str) -> bool:
        """One line from the person. False when the conversation has ended."""
        if not self.interactive:
            self._print(f"> {line}")
        if not line.strip():
            return True
        return await self._send(self._event(line))

    async def run(self, read: ReadLine, start_code: str | None = None) -> int:
        if not await self.begin(start_code):
            return 0
        while (line := await read()) is not None:
            if not await self.enter(line):
                break
        return 0
