"""What service managers can do to the directory, whatever the channel: find, view, edit with
a confirm step, add, (de)activate, mark verified, import and export, undo, history, editors.

Every change is validated as an import would be, refused if the conversation would lose a
detail it needs, saved only if nobody else changed the service meanwhile (optimistic
versioning), and written to the audit trail in the same transaction.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.directory.changes import Change, compare
from bot.directory.files import DirectoryData, read_import, to_csv
from bot.directory.index import DirectoryIndex
from bot.directory.model import Service
from bot.directory.validate import (
    DirectoryError,
    Problem,
    service_from_record,
    service_to_record,
)
from bot.engine.context import Clock
from bot.engine.lint import directory_problems
from bot.engine.spec import FlowSpec
from bot.stats.report import Figures, load_figures
from bot.store.interface import AuditEntry, Store

# Fields a manager may edit by typing a new value, in the order they are offered.
EDITABLE = (
    "name",
    "description",
    "contacts",
    "hours",
    "hours_note",
    "audiences",
    "needs",
    "areas",
    "languages",
    "source",
    "verified_on",
)
# Telegram's user ids are positive and have at most 52 significant bits.
MAX_USER_ID = 2**52 - 1
# The day's reminder, among the handled updates (`Transaction.mark_handled`): sent once a day.
REMINDER_KEY = "reminder:"
# Asked one at a time when adding a service; the rest can be edited afterwards.
ADD_STEPS = (
    "id",
    "name",
    "description",
    "audiences",
    "needs",
    "areas",
    "contacts",
    "hours",
    "source",
)


def is_user_id(value: int) -> bool:
    """Could this be a Telegram user id? (Anything else cannot be stored, or is nobody.)"""
    return 0 < value <= MAX_USER_ID


class Role(Enum):
    OWNER = "owner"
    EDITOR = "editor"


@dataclass(frozen=True)
class Proposal:
    """A change waiting for the manager's confirmation."""

    action: str  # edit, add, verify, deactivate, reactivate
    service_id: str
    before: dict[str, Any] | None
    after: dict[str, Any]
    version: int | None  # the version it is based on; None for a new service

    @property
    def changed(self) -> tuple[str, ...]:
        if self.before is None:
            return tuple(self.after)
        return tuple(k for k in self.after if self.before.get(k) != self.after.get(k))

    def as_data(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "service_id": self.service_id,
            "before": self.before,
            "after": self.after,
            "version": self.version,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Proposal:
        return cls(
            data["action"], data["service_id"], data["before"], data["after"], data["version"]
        )


@dataclass(frozen=True)
class Saved:
    version: int


@dataclass(frozen=True)
class Conflict:
    """Someone else changed the service first. Nothing of either change is lost: theirs is
    saved, and this one is shown back to the manager to apply again if still wanted."""

    current: dict[str, Any] | None
    by: AuditEntry | None
    mine: Proposal


@dataclass(frozen=True)
class Refused:
    problems: list[str] = field(default_factory=list)


Outcome = Saved | Conflict | Refused


class Admin:
    def __init__(self, store: Store, spec: FlowSpec, owners: frozenset[int], clock: Clock) -> None:
        self.store = store
        self.spec = spec
        self.owners = owners
        self.clock = clock

    # -- who ----------------------------------------------------------------------------------

    async def role(self, user_id: int) -> Role | None:
        if user_id in self.owners:
            return Role.OWNER
        async with self.store.read() as tx:
            return Role.EDITOR if await tx.is_editor(user_id) else None

    async def managers(self) -> list[int]:
        return sorted(self.owners | set(await self.editors()))

    async def editors(self) -> list[int]:
        async with self.store.read() as tx:
            return await tx.editors()

    async def add_editor(self, owner: int, user_id: int) -> bool:
        if not is_user_id(user_id):
            raise ValueError("not a Telegram user id")
        async with self.store.transaction() as tx:
            return await tx.add_editor(user_id, owner, self.clock())

    async def remove_editor(self, user_id: int) -> bool:
        if not is_user_id(user_id):
            return False  # nobody could have been added with it
        async with self.store.transaction() as tx:
            return await tx.remove_editor(user_id)

    # -- where a manager is in the admin chat (a menu, an edit waiting to be confirmed) ------

    async def place(self, user_id: int) -> tuple[str, dict[str, Any]] | None:
        async with self.store.read() as tx:
            return await tx.load_admin_session(user_id)

    async def go(self, user_id: int, state: str, data: dict[str, Any]) -> None:
        async with self.store.transaction() as tx:
            await tx.save_admin_session(user_id, state, data, self.clock())

    async def leave(self, user_id: int) -> None:
        async with self.store.transaction() as tx:
            await tx.end_admin_session(user_id)

    # -- reading ------------------------------------------------------------------------------

    async def directory(self) -> DirectoryData:
        async with self.store.read() as tx:
            return await tx.load_directory()

    async def find(self, words: str) -> list[Service]:
        wanted = words.strip().lower()
        services = (await self.directory()).services.values()
        return sorted(
            (s for s in services if wanted in s.id or wanted in s.name.lower()),
            key=lambda s: s.name.lower(),
        )

    async def all_services(self) -> list[Service]:
        return sorted((await self.directory()).services.values(), key=lambda s: s.name.lower())

    async def view(self, service_id: str) -> tuple[Service, int] | None:
        async with self.store.read() as tx:
            stored = await tx.service(service_id)
            data = await tx.load_directory()
        if stored is None or service_id not in data.services:
            return None
        return data.services[service_id], stored.version

    async def history(self, service_id: str, limit: int = 10) -> list[AuditEntry]:
        async with self.store.read() as tx:
            return await tx.history(service_id, limit)

    async def stale(self, days: int) -> list[Service]:
        cutoff = date.fromordinal(self.clock().date().toordinal() - days)
        services = (await self.directory()).services.values()
        found = [
            s
            for s in services
            if s.active and (s.verified_on is None or date.fromisoformat(s.verified_on) < cutoff)
        ]
        return sorted(found, key=lambda s: (s.verified_on or "", s.name))

    async def first_to_remind(self) -> bool:
        """Whether this instance is the first to send today's reminder (in the UK's day): every
        instance of the bot runs the daily job, and the managers hear it once. Recorded as a
        handled update, forgotten with them after a day."""
        now = self.clock()
        today = now.astimezone(ZoneInfo("Europe/London")).date()
        async with self.store.transaction() as tx:
            return await tx.mark_handled(f"{REMINDER_KEY}{today.isoformat()}", now)

    async def export_csv(self) -> str:
        return to_csv((await self.directory()).services.values())

    async def figures(self, days: int = 30) -> Figures:
        """The partnership's anonymous figures for the last `days` days."""
        last = self.clock().date()
        return await load_figures(self.store, last - timedelta(days=days - 1), last)

    # -- proposing changes ---------------------------------------------------------------------

    def _check(
        self, record: dict[str, Any], data: DirectoryData
    ) -> tuple[Service | None, list[str]]:
        problems: list[Problem] = []
        service = service_from_record(record, "chat", data.areas, problems)
        return service, [str(p).removeprefix("chat: ") for p in problems]

    async def propose_edit(
        self, service_id: str, field_name: str, typed: str
    ) -> Proposal | Refused:
        """The service with one field replaced by what the manager typed (in the same form as a
        spreadsheet cell), checked. Nothing is saved yet."""
        if field_name not in EDITABLE:
            return Refused([f"'{field_name}' cannot be edited here"])
        viewed = await self.view(service_id)
        if viewed is None:
            return Refused([f"there is no service '{service_id}'"])
        service, version = viewed
        before = service_to_record(service)
        record = {**before, field_name: typed.strip()}
        checked, problems = self._check(record, await self.directory())
        if checked is None or problems:
            return Refused(problems)
        return Proposal("edit", service_id, before, service_to_record(checked), version)

    async def propose_switch(self, service_id: str, action: str) -> Proposal | Refused:
        """One-tap changes: verify (checked today), deactivate, reactivate."""
        viewed = await self.view(service_id)
        if viewed is None:
            return Refused([f"there is no service '{service_id}'"])
        service, version = viewed
        before = service_to_record(service)
        switches: dict[str, dict[str, Any]] = {
            "verify": {"verified_on": self.clock().date().isoformat()},
            "deactivate": {"active": False},
            "reactivate": {"active": True},
        }
        changes = switches.get(action, {})
        if not changes:
            return Refused([f"unknown action '{action}'"])
        return Proposal(action, service_id, before, {**before, **changes}, version)

    async def propose_new(self, answers: dict[str, str]) -> Proposal | Refused:
        data = await self.directory()
        if answers.get("id") in data.services:
            return Refused([f"a service with id '{answers['id']}' already exists"])
        checked, problems = self._check(dict(answers), data)
        if checked is None or problems:
            return Refused(problems)
        record = service_to_record(checked)
        return Proposal("add", checked.id, None, record, None)

    async def check_step(self, step: str, typed: str, answers: dict[str, str]) -> list[str]:
        """Problems with one answer while adding a service (checked in full at the end)."""
        sample = {
            "id": "new-service",
            "name": "New service",
            "description": "A description.",
            "audiences": "victim",
            "areas": "uk",
            "contacts": "phone | 999",
            "source": "a source",
            **answers,
            step: typed.strip(),
        }
        if step == "id" and typed.strip() in (await self.directory()).services:
            return [f"a service with id '{typed.strip()}' already exists"]
        problems: list[Problem] = []
        service_from_record(sample, "chat", (await self.directory()).areas, problems)
        return [str(p).removeprefix("chat: ") for p in problems if p.field in ("", step)]

    # -- saving --------------------------------------------------------------------------------

    async def save(self, user_id: int, proposal: Proposal) -> Outcome:
        now = self.clock()
        async with self.store.transaction() as tx:
            data = await tx.load_directory()
            after = _valid_service(proposal.after, data)
            services = {**data.services, after.id: after} if after else data.services
            broken = directory_problems(self.spec, DirectoryIndex(data.areas, services))
            if after is None or broken:
                return Refused(broken or ["the change is no longer valid"])
            version = await tx.write_service(proposal.after, proposal.version, now)
            if version is None:
                current = await tx.service(proposal.service_id)
                latest = await tx.latest_change_for(proposal.service_id)
                return Conflict(current.record if current else None, latest, proposal)
            await tx.record_change(
                user_id, proposal.action, proposal.before, proposal.after, version, now
            )
        return Saved(version)

    async def undo(self, user_id: int) -> tuple[AuditEntry, Outcome] | None:
        """Revert this manager's last change, if nobody has changed the service since."""
        now = self.clock()
        async with self.store.transaction() as tx:
            entry = await tx.last_change_by(user_id)
            if entry is None:
                return None
            current = await tx.service(entry.service_id)
            if current is None or current.version != entry.version:
                latest = await tx.latest_change_for(entry.service_id)
                mine = Proposal("undo", entry.service_id, entry.after, entry.before or {}, None)
                return entry, Conflict(current.record if current else None, latest, mine)
            if entry.before is None:  # undo an addition
                await tx.remove_service(entry.service_id, entry.version)
                version = entry.version
            else:
                written = await tx.write_service(entry.before, entry.version, now)
                version = written or entry.version
            await tx.mark_undone(entry.id)
            await tx.record_change(
                user_id, "undo", entry.after, entry.before or entry.after, version, now
            )
        return entry, Saved(version)

    # -- files ---------------------------------------------------------------------------------

    async def preview_import(self, path: Path) -> tuple[DirectoryData, list[Change]] | Refused:
        """What importing the file would change, or why it cannot be imported. The file is
        read and checked in a thread: a big one takes seconds, and people are answered
        meanwhile."""
        current = await self.directory()
        return await asyncio.to_thread(self._preview, path, current)

    def _preview(
        self, path: Path, current: DirectoryData
    ) -> tuple[DirectoryData, list[Change]] | Refused:
        try:
            incoming = read_import(path, current.areas)
        except DirectoryError as exc:
            return Refused(exc.problems)
        merged = DirectoryData(
            {**current.areas, **incoming.areas}, {**current.services, **incoming.services}
        )
        broken = directory_problems(self.spec, DirectoryIndex(merged.areas, merged.services))
        if broken:
            return Refused(broken)
        return incoming, compare(current, incoming)

    async def apply_import(self, user_id: int, incoming: DirectoryData) -> int:
        """All or nothing, each changed service written to the audit trail."""
        now = self.clock()
        async with self.store.transaction() as tx:
            before = await tx.load_directory()
            written = await tx.apply_directory(incoming, now)
            versions = await tx.service_versions()
            for service in incoming.services.values():
                old = before.services.get(service.id)
                record = service_to_record(service)
                was = service_to_record(old) if old else None
                if was != record:
                    await tx.record_change(
                        user_id, "import", was, record, versions[service.id], now
                    )
        return written


def _valid_service(record: dict[str, Any], data: DirectoryData) -> Service | None:
    problems: list[Problem] = []
    service = service_from_record(record, "chat", data.areas, problems)
    return None if problems else service
