"""Logging that never carries a secret, a chat id or a person's words.

The code logs event kinds and error types only. This module is the second line, on every
handler, so on every logger's records:

- Records from other libraries (python-telegram-bot, aiohttp, APScheduler, asyncio...) keep
  their logger, level and place in the code, and the kinds of exception they carry; their
  words, arguments and tracebacks are withheld. Those can hold anything: python-telegram-bot
  logs a whole update it cannot read, with the person's words and name, and an exception's
  message or a traceback can quote the data that caused it.
- Pathways' own records (the `bot` loggers) are kept, with anything that slipped through
  redacted: the bot token and other secrets, chat ids and other long numbers.

HTTP loggers are quietened as well (httpx logs every request URL, and the URL contains the bot
token).
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable

REDACTED = "[redacted]"
OURS = "bot"  # the loggers of Pathways' own code: bot, bot.channels.telegram.app...
_WITHHELD = "pathways_withheld"
_TOKEN_SHAPE = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}\b")
_CHAT_ID = re.compile(r"((?:chat_id|chat|user_id|from_id|\"id\")[\"']?\s*[:=]\s*)-?\d{5,}")
_LONG_NUMBER = re.compile(r"-?\b\d{7,}\b")


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        text = _TOKEN_SHAPE.sub(REDACTED, text)
        text = _CHAT_ID.sub(lambda m: m.group(1) + REDACTED, text)
        return _LONG_NUMBER.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.redact("".join(traceback.format_exception(*record.exc_info)))
            record.exc_info = None
        return True


class WithholdingFilter(logging.Filter):
    """Keeps what another library's record says only as far as it cannot hold content: its
    logger, level and place in the code, and the kinds of the exceptions it carries."""

    def filter(self, record: logging.LogRecord) -> bool:
        if is_ours(record.name) or getattr(record, _WITHHELD, False):
            return True
        words = f"(details withheld) at {record.filename}:{record.lineno} in {record.funcName}"
        if record.exc_info and record.exc_info[1] is not None:
            words += f"; {_kinds(record.exc_info[1])}"
        record.msg, record.args = words, None
        record.exc_info = record.exc_text = record.stack_info = None
        setattr(record, _WITHHELD, True)  # a second handler sees the same record
        return True


def is_ours(logger: str) -> bool:
    return logger == OURS or logger.startswith(OURS + ".")


def _kinds(exc: BaseException) -> str:
    """The exception's type and those of its causes ("NetworkError from ClientOSError")."""
    kinds: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(kinds) < 5:
        seen.add(id(current))
        kinds.append(type(current).__name__)
        if current.__cause__ is not None or current.__suppress_context__:
            current = current.__cause__
        else:
            current = current.__context__
    return " from ".join(kinds)


def configure(level: int = logging.WARNING, secrets: Iterable[str] = ()) -> RedactingFilter:
    """Set up logging once at start-up. Returns the redacting filter so tests can see what it
    hides."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "telegram.request", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    withholder, redactor = WithholdingFilter(), RedactingFilter(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(withholder)  # first: the redactor then sees only what is kept
        handler.addFilter(redactor)
    return redactor
