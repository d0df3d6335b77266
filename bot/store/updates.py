"""Updates already handled, so that one delivered twice is handled once.

Telegram may deliver an update again (a webhook it thinks failed), and behind a load balancer
two instances may each be given it. Its key is recorded in the unit of work that handles it,
after the conversation's turn is taken (`Transaction.lock_chat`): the second delivery finds it
there and does nothing, whichever instance it reached and however close together they came.
Only the key and the hour are kept, for a day.
"""

from __future__ import annotations

from datetime import datetime

from bot.store.dialect import Connection


class HandledRows:
    db: Connection

    async def mark_handled(self, update_key: str, now: datetime) -> bool:
        # The hour is enough to forget it after a day, and says nothing about when anyone acted.
        hour = now.replace(minute=0, second=0, microsecond=0)
        added = await self.db.execute(
            "INSERT INTO handled_updates (update_key, handled_at) VALUES (?, ?)"
            " ON CONFLICT (update_key) DO NOTHING",
            (update_key, hour.isoformat()),
        )
        return bool(added)

    async def purge_handled_before(self, cutoff: datetime) -> int:
        return await self.db.execute(
            "DELETE FROM handled_updates WHERE handled_at < ?", (cutoff.isoformat(),)
        )
