"""Delete a conversation's messages: the bot's and the person's, as far as Telegram allows.

Telegram lets a bot delete messages in a private chat only while they are younger than 48
hours. `deleteMessages` takes up to 100 ids a call and skips ids it cannot delete; a server
that does not offer it gets `deleteMessage` one id at a time.

Message ids in a private chat run in order, so with `deleteMessages` the whole run of ids from
the conversation's first message to its newest is deleted, not only the ids recorded: a
message that was sent but never recorded (a reply cut short by a crash, a duplicate left by a
retry after a timeout, a message the flood guard dropped unread) goes too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from telegram import Bot
from telegram.error import BadRequest, EndPointNotFound, InvalidToken

from bot.channels.telegram.sender import Sender
from bot.engine.model import Tracked

DELETE_WINDOW = timedelta(hours=48)
# Leave a margin: a message at 47h59m when asked may be past 48h when Telegram acts.
MARGIN = timedelta(minutes=1)
BATCH = 100
MAX_RUN = 2000  # ids in one run; beyond it only the recorded ids are deleted


@dataclass(frozen=True)
class WipeReport:
    deleted: int  # asked to delete (Telegram skips ids it no longer has)
    too_old: int  # older than 48 hours: Telegram will not delete them
    calls: int  # Bot API calls made


def too_old(messages: Sequence[Tracked], now: datetime) -> int:
    """How many of these messages (still showing) Telegram will no longer let the bot
    delete."""
    cutoff = int((now - DELETE_WINDOW + MARGIN).timestamp())
    return len({m.message_id for m in messages if m.sent_at < cutoff and not m.gone})


class Wiper:
    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self.bulk = True  # until the server shows it has no deleteMessages

    async def wipe(
        self,
        bot: Bot,
        chat_id: int,
        messages: Sequence[Tracked],
        now: datetime,
        newest_id: int | None = None,
    ) -> WipeReport:
        cutoff = int((now - DELETE_WINDOW + MARGIN).timestamp())
        fresh = sorted({m.message_id for m in messages if m.sent_at >= cutoff})
        gone = {m.message_id for m in messages if m.gone}
        showing = [i for i in fresh if i not in gone]  # as far as the bot knows
        ids = showing
        if self.bulk and fresh:
            # Everything after the first fresh message is younger still: delete the whole run.
            last = max(fresh[-1], newest_id or 0)
            if last - fresh[0] < MAX_RUN:
                ids = list(range(fresh[0], last + 1))
        recorded = set(showing)
        calls = 0
        for start in range(0, len(ids), BATCH):
            batch = ids[start : start + BATCH]
            if self.bulk:
                try:
                    calls += 1
                    await self.sender.call(bot.delete_messages, chat_id, batch)
                    continue
                except (EndPointNotFound, InvalidToken):
                    # 404: this server has no deleteMessages. (A wrong token would have
                    # stopped start-up at getMe, so this is the method, not the token.)
                    self.bulk = False
            # One by one, only ids known to exist: deleteMessage refuses the others.
            for message_id in (i for i in batch if i in recorded):
                calls += 1
                # Already gone, or too old: nothing more to do for this one.
                with contextlib.suppress(BadRequest):
                    await self.sender.call(bot.delete_message, chat_id, message_id)
        return WipeReport(deleted=len(recorded), too_old=too_old(messages, now), calls=calls)
