"""Updates python-telegram-bot cannot read: counted, skipped, and logged without their content.

python-telegram-bot reads every update into its `Update` class, and reading raises when a
field it requires is missing or of another type: a poll without `allows_revoting`, as an
older Bot API server sends it, say, or a message without a date. Left alone, one such update
stops the bot. With long polling, `Bot.get_updates` raises for the whole batch, so the offset
never moves past it: the same batch comes back at every poll, no one is answered, and each
time python-telegram-bot logs the batch, with the person's words and name, at CRITICAL. With
the webhook, the request fails and Telegram sends the update again, and again.

So an update that cannot be read is skipped instead, before python-telegram-bot sees it:

- in a getUpdates answer (`AiohttpRequest` calls `without_unreadable` on it), it is replaced
  by its `update_id` alone: a valid update that no handler matches, which moves the offset on;
- from the webhook (`read`), it is dropped, and the webhook answers 200 as for any update.

Either way it is counted, and a warning says so with the kind of update and of failure only.
"""

from __future__ import annotations

import json
import logging
from typing import Final

from telegram import Bot, Update

log = logging.getLogger(__name__)

_KINDS: Final = frozenset(str(kind) for kind in Update.ALL_TYPES)


class _Count:
    skipped = 0


def skipped() -> int:
    """How many updates this process has skipped because they could not be read."""
    return _Count.skipped


def read(data: object, bot: Bot | None = None) -> Update | None:
    """The update, or None (counted and logged) if python-telegram-bot cannot read it."""
    try:
        if not isinstance(data, dict):
            raise TypeError("an update is a JSON object")
        return Update.de_json(data, bot)
    except Exception as exc:  # whatever reading it raised: the update is skipped either way
        _skip(data, exc)
        return None


def without_unreadable(payload: bytes) -> bytes:
    """A getUpdates answer with each update python-telegram-bot cannot read reduced to its
    `update_id`; the answer itself, untouched, when every update can be read."""
    try:
        answer = json.loads(payload.decode("utf-8", "replace"))
    except ValueError:
        return payload  # not JSON: python-telegram-bot reports that itself
    result = answer.get("result") if isinstance(answer, dict) else None
    if not isinstance(result, list):
        return payload
    changed = False
    for index, update in enumerate(result):
        # Without an update_id, an update cannot be confirmed either: it is left as it came.
        update_id = update.get("update_id") if isinstance(update, dict) else None
        if isinstance(update_id, int) and read(update) is None:
            result[index] = {"update_id": update_id}
            changed = True
    return json.dumps(answer).encode() if changed else payload


def _skip(data: object, exc: Exception) -> None:
    _Count.skipped += 1
    log.warning(
        "skipped an update python-telegram-bot could not read (%s, %s): %d so far",
        _kind(data),
        type(exc).__name__,
        _Count.skipped,
    )


def _kind(data: object) -> str:
    """What the update was (a message, a button press...): one of the Bot API's own names."""
    keys = data if isinstance(data, dict) else {}
    return next((str(key) for key in keys if key in _KINDS), "unknown kind")
