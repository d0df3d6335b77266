"""What Pathways asks of its storage, whatever the database behind it.

The engine, the channels and the admin code see only `Store` and `Transaction`, implemented on
SQLite (`bot/store/sqlite.py`, the default) and on PostgreSQL (`bot/store/postgres.py`) by the
same statements (`bot/store/transaction.py`). A `Transaction` is a unit of work: everything done
through one is committed together when its block ends, or not at all.

Nothing a person types is ever passed in here: a session holds structured answers, message
ids and times, never text.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from bot.directory.files import DirectoryData
from bot.engine.model import Session, Tracked

# The kinds of anonymous daily figure.
COUNT_KINDS = ("route", "need", "area", "service", "start_code")


@dataclass(frozen=True)
class PendingWipe:
    """Messages that must still be deleted from a chat, once `due_at` has passed; claimed until
    `claimed_until` by whoever is carrying it out (None: by nobody)."""

    id: int
    chat_key: str
    messages: tuple[Tracked, ...]
    due_at: datetime
    claimed_until: datetime | None = None


@dataclass(frozen=True)
class Count:
    day: date
    kind: str
    value: str
    count: int


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    user_id: int
    service_id: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any]
    version: int
    undone: bool


@dataclass(frozen=True)
class StoredService:
    record: dict[str, Any]
    version: int


class Transaction(Protocol):
    """One unit of work. Opened by `Store.transaction()` (may write) or `Store.read()`."""

    # -- conversations ---------------------------------------------------------------------
    async def lock_chat(self, chat_key: str) -> None:
        """Wait for the conversation's turn, and hold it until this unit of work ends: one
        chat's units of work run one at a time, each seeing the last, in this instance and
        among several on one database. Called first, before anything else is read or written
        (a no-op on SQLite, whose one process runs units of work that may write one at a
        time)."""

    async def try_lock_chat(self, chat_key: str) -> bool:
        """Take the conversation's turn only if nobody holds it (a step under way elsewhere)."""

    async def load_session(self, chat_key: str) -> Session | None: ...

    async def save_session(self, session: Session, now: datetime) -> None:
        """Insert or replace the session, stamped as active at `now`."""

    async def add_messages(
        self, chat_key: str, sent: list[Tracked], live_message_id: int | None
    ) -> bool:
        """Record messages of a live conversation (not counted as activity). False when there
        is no such conversation: nothing is recorded then."""

    async def delete_session(self, chat_key: str, if_updated_at: datetime | None = None) -> bool:
        """Forget a conversation; with `if_updated_at`, only if nothing happened since."""

    async def idle_sessions(self, cutoff: datetime, limit: int, key_prefix: str) -> list[Session]:
        """At most `limit` sessions whose key starts with `key_prefix` (one channel's), last
        active at or before `cutoff`, oldest first."""

    async def take_idle_sessions(
        self, cutoff: datetime, limit: int, key_prefix: str
    ) -> list[Session]:
        """As `idle_sessions`, each row held until this unit of work ends, passing over rows
        another unit of work holds (another instance's sweep, a step being saved): sweeps of
        several instances end different conversations."""

    # -- updates already handled -------------------------------------------------------------
    async def mark_handled(self, update_key: str, now: datetime) -> bool:
        """Record that the update `update_key` is handled in this unit of work. False when it
        was already (delivered twice): then nothing more should be done for it."""

    async def purge_handled_before(self, cutoff: datetime) -> int:
        """Forget the updates handled before `cutoff`; how many."""

    # -- messages still to delete ----------------------------------------------------------
    async def add_wipe(
        self,
        chat_key: str,
        messages: list[Tracked],
        due_at: datetime,
        claimed_until: datetime | None = None,
    ) -> int | None:
        """Record messages to delete at `due_at`, claimed until `claimed_until` by whoever
        records them to carry them out themselves. None when there is nothing to delete."""

    async def due_wipes(self, now: datetime, limit: int, after_id: int = 0) -> list[PendingWipe]:
        """At most `limit` wipes due at `now` with ids above `after_id`, in id order, claimed
        or not."""

    async def claim_wipes(
        self, now: datetime, until: datetime, limit: int, after_id: int = 0
    ) -> list[PendingWipe]:
        """Claim, until `until`, at most `limit` wipes due at `now` with ids above `after_id`
        that nobody has claimed (or whose claim ran out), in id order. Several instances
        claiming at once each get different ones, without waiting for each other."""

    async def release_wipe(self, pending: PendingWipe) -> None:
        """Give up a claim (the wipe failed, or there is no time left to do it), if it is
        still this one: the next sweep, anyone's, may take it."""

    async def wipe_done(self, wipe_id: int) -> None: ...

    async def wipe_waiting(self, pending: PendingWipe) -> bool:
        """Is this wipe still waiting, exactly as it was read (claim included)?"""

    async def take_wipes(self, chat_key: str) -> list[Tracked]:
        """Every message still waiting to be deleted in this chat, removed from the list."""

    async def forget_wipes(self, chat_key: str) -> None:
        """Nothing more can be deleted in this chat: drop what was pending."""

    # -- anonymous daily figures -------------------------------------------------------------
    async def add_counts(self, day: date, items: Iterable[tuple[str, str]]) -> None: ...

    async def counts_between(self, first: date, last: date) -> list[Count]: ...

    async def purge_counts_before(self, first_kept: date) -> int: ...

    # -- the directory -------------------------------------------------------------------------
    async def directory_version(self) -> int: ...

    async def load_directory(self) -> DirectoryData:
        """Everything stored, checked again on the way out (`DirectoryError` if broken)."""

    async def apply_directory(self, data: DirectoryData, now: datetime) -> int:
        """Add or update every area and service in `data`; returns how many rows changed."""

    async def directory_is_empty(self) -> bool: ...

    async def service_versions(self) -> dict[str, int]: ...

    # -- service managers ------------------------------------------------------------------------
    async def editors(self) -> list[int]: ...

    async def is_editor(self, user_id: int) -> bool: ...

    async def add_editor(self, user_id: int, added_by: int, now: datetime) -> bool: ...

    async def remove_editor(self, user_id: int) -> bool: ...

    async def service(self, service_id: str) -> StoredService | None: ...

    async def write_service(
        self, record: dict[str, Any], expected_version: int | None, now: datetime
    ) -> int | None:
        """Save a service if nobody changed it since `expected_version` (None: it must be
        new). The new version, or None when someone else got there first."""

    async def remove_service(self, service_id: str, expected_version: int) -> bool: ...

    async def record_change(
        self,
        user_id: int,
        action: str,
        before: dict[str, Any] | None,
        after: dict[str, Any],
        version: int,
        now: datetime,
    ) -> None: ...

    async def history(self, service_id: str, limit: int = 10) -> list[AuditEntry]: ...

    async def last_change_by(self, user_id: int) -> AuditEntry | None: ...

    async def latest_change_for(self, service_id: str) -> AuditEntry | None: ...

    async def mark_undone(self, audit_id: int) -> None: ...

    async def load_admin_session(self, user_id: int) -> tuple[str, dict[str, Any]] | None: ...

    async def save_admin_session(
        self, user_id: int, state: str, data: dict[str, Any], now: datetime
    ) -> None: ...

    async def end_admin_session(self, user_id: int) -> None: ...


class Store(Protocol):
    # How many units of work that may write run at once in this process: 1 on SQLite (they
    # never interleave); a few on PostgreSQL, where one that reads and then writes what
    # another might change takes the conversation's turn first (`Transaction.lock_chat`).
    writers: int

    def transaction(self, urgent: bool = False) -> AbstractAsyncContextManager[Transaction]:
        """A unit of work that may write, in one of `writers` places. An `urgent` one (a quick
        exit, "I'm in danger now") goes before those waiting for a place that are not."""

    def read(self) -> AbstractAsyncContextManager[Transaction]:
        """A unit of work that only reads (and never waits behind a writer)."""

    async def scrub(self, urgent: bool = False) -> None:
        """Make what was just erased unrecoverable from the database's side files."""

    async def close(self) -> None: ...
