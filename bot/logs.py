"""Logging that never carries a secret, a chat id or a person's words.

The code logs event kinds and error types only. This module is the second line: quiet HTTP
loggers (httpx logs every request URL, and the URL contains the bot token) and a filter on
every handler that redacts anything that slipped through.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable

REDACTED = "[redacted]"
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


def configure(level: int = logging.WARNING, secrets: Iterable[str] = ()) -> RedactingFilter:
    """Set up logging once at start-up. Returns the filter so tests can see what it hides."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "telegram.request", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    redactor = RedactingFilter(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    return redactor
