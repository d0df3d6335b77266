"""Live conversations: one row each, and only while it lives."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.engine.model import Session, Tracked
from bot.store.dialect import Connection, as_datetime

_COLUMNS = "state, locale, answers, return_to, messages, live_message_id, flags, updated_at"
CHAT_LOCK = "pathways.chat"  # the name of a conversation's turn, with its key after a colon


def _session(chat_key: str, row: Any) -> Session:
    state, locale, answers, return_to, messages, live_message_id, flags, updated_at = row
    return Session(
        chat_key=chat_key,
        state=str(state),
        locale=str(locale),
        answers=Session.decode_answers(str(answers)),
        return_to=str(return_to) if return_to is not None else None,
        messages=Session.decode_messages(str(messages)),
        live_message_id=int(str(live_message_id)) if live_message_id is not None else None,
        flags=Session.decode_flags(str(flags)),
        updated_at=as_datetime(updated_at),
    )


class SessionRows:
    db: Connection

    async def lock_chat(self, chat_key: str) -> None:
        await self.db.lock(f"{CHAT_LOCK}:{chat_key}")

    async def try_lock_chat(self, chat_key: str) -> bool:
        return await self.db.lock(f"{CHAT_LOCK}:{chat_key}", wait=False)

    async def load_session(self, chat_key: str) -> Session | None:
        rows = await self.db.fetch(
            f"SELECT {_COLUMNS} FROM sessions WHERE chat_key = ?", (chat_key,)
        )
        return next((_session(chat_key, row) for row in rows), None)

    async def idle_sessions(self, cutoff: datetime, limit: int, key_prefix: str) -> list[Session]:
        return await self._idle(cutoff, limit, key_prefix, "")

    async def take_idle_sessions(
        self, cutoff: datetime, limit: int, key_prefix: str
    ) -> list[Session]:
        return await self._idle(cutoff, limit, key_prefix, self.db.skip_locked)

    async def _idle(
        self, cutoff: datetime, limit: int, key_prefix: str, locking: str
    ) -> list[Session]:
        rows = await self.db.fetch(
            f"SELECT chat_key, {_COLUMNS} FROM sessions WHERE updated_at <= ?"
            f" AND substr(chat_key, 1, ?) = ? ORDER BY updated_at LIMIT ?{locking}",
            (cutoff.isoformat(), len(key_prefix), key_prefix, limit),
        )
        return [_session(str(row[0]), tuple(row)[1:]) for row in rows]

    async def save_session(self, session: Session, now: datetime) -> None:
        session.updated_at = now
        await self.db.execute(
            f"INSERT INTO sessions (chat_key, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (chat_key) DO UPDATE SET state = excluded.state,"
            " locale = excluded.locale, answers = excluded.answers,"
            " return_to = excluded.return_to, messages = excluded.messages,"
            " live_message_id = excluded.live_message_id, flags = excluded.flags,"
            " updated_at = excluded.updated_at",
            (
                session.chat_key,
                session.state,
                session.locale,
                session.answers_json(),
                session.return_to,
                session.messages_json(),
                session.live_message_id,
                session.flags_json(),
                now.isoformat(),
            ),
        )

    async def add_messages(
        self, chat_key: str, sent: list[Tracked], live_message_id: int | None
    ) -> bool:
        session = await self.load_session(chat_key)
        if session is None:
            return False
        known = {m.message_id for m in session.messages}
        session.messages.extend(m for m in sent if m.message_id not in known)
        session.live_message_id = live_message_id
        await self.db.execute(
            "UPDATE sessions SET messages = ?, live_message_id = ? WHERE chat_key = ?",
            (session.messages_json(), session.live_message_id, chat_key),
        )
        return True

    async def delete_session(self, chat_key: str, if_updated_at: datetime | None = None) -> bool:
        if if_updated_at is None:
            deleted = await self.db.execute("DELETE FROM sessions WHERE chat_key = ?", (chat_key,))
        else:
            deleted = await self.db.execute(
                "DELETE FROM sessions WHERE chat_key = ? AND updated_at = ?",
                (chat_key, if_updated_at.isoformat()),
            )
        return bool(deleted)
