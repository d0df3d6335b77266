"""What an import would change: the difference a service manager sees before confirming."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.directory.files import DirectoryData
from bot.directory.validate import area_to_record, service_to_record


@dataclass(frozen=True)
class Change:
    kind: str  # added, changed, unchanged
    entry: str  # "service 'galop'", "area 'wales'"
    fields: tuple[str, ...] = ()  # what differs, for a change
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None

    def __str__(self) -> str:
        if self.kind == "changed":
            return f"changed {self.entry}: {', '.join(self.fields)}"
        return f"{self.kind} {self.entry}"


def _compare(entry: str, before: dict[str, Any] | None, after: dict[str, Any]) -> Change:
    if before is None:
        return Change("added", entry, after=after)
    fields = tuple(k for k in after if before.get(k) != after.get(k))
    return Change("changed" if fields else "unchanged", entry, fields, before, after)


def compare(current: DirectoryData, incoming: DirectoryData) -> list[Change]:
    changes = []
    for area in incoming.areas.values():
        old = current.areas.get(area.id)
        changes.append(
            _compare(
                f"area '{area.id}'", area_to_record(old) if old else None, area_to_record(area)
            )
        )
    for service in incoming.services.values():
        was = current.services.get(service.id)
        changes.append(
            _compare(
                f"service '{service.id}'",
                service_to_record(was) if was else None,
                service_to_record(service),
            )
        )
    return changes


def merged(current: DirectoryData, incoming: DirectoryData) -> DirectoryData:
    """The directory after an import: incoming entries replace those with the same id."""
    return DirectoryData(
        {**current.areas, **incoming.areas}, {**current.services, **incoming.services}
    )


def summary(changes: list[Change]) -> str:
    counts = {kind: sum(c.kind == kind for c in changes) for kind in ("added", "changed")}
    same = sum(c.kind == "unchanged" for c in changes)
    return f"{counts['added']} added, {counts['changed']} changed, {same} unchanged"
