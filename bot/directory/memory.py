"""The directory held in memory, answering the engine's queries.

Search here is deliberately plain (exact names, aliases and postcode districts); the directory
issue brings fuzzy place matching, open-now ranking and SQLite storage behind the same interface.
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.directory.loader import load_directory
from bot.directory.model import Area, Service

NATION_ORDER = ("england", "wales", "scotland", "northern-ireland")
_SPACES = re.compile(r"\s+")
_OUTWARD = re.compile(r"^([a-z]{1,2}[0-9][0-9a-z]?)(?:\s*[0-9][a-z]{2})?$")


def _normalise(typed: str) -> str:
    return _SPACES.sub(" ", typed.strip().lower().replace("\u2019", "'"))


class MemoryDirectory:
    def __init__(self, areas: dict[str, Area], services: dict[str, Service]) -> None:
        self._areas = areas
        self._services = services
        self._by_words: dict[str, str] = {}
        self._by_district: dict[str, str] = {}
        for area in areas.values():
            for word in (area.name, *area.aliases):
                self._by_words.setdefault(_normalise(word), area.id)
            for district in area.postcode_districts:
                self._by_district[district.lower()] = area.id

    @classmethod
    def from_folder(cls, folder: Path) -> MemoryDirectory:
        return cls(*load_directory(folder))

    def services(self) -> list[Service]:
        return list(self._services.values())

    def service(self, service_id: str) -> Service | None:
        return self._services.get(service_id)

    def area(self, area_id: str) -> Area | None:
        return self._areas.get(area_id)

    def resolve_place(self, typed: str) -> Area | None:
        words = _normalise(typed)
        if words in self._by_words:
            return self._areas[self._by_words[words]]
        postcode = _OUTWARD.match(words)
        if postcode and postcode.group(1) in self._by_district:
            return self._areas[self._by_district[postcode.group(1)]]
        return None

    def _chain(self, area_id: str) -> list[str]:
        """The area and everything it lies within, most local first."""
        chain: list[str] = []
        current = self._areas.get(area_id)
        while current is not None and current.id not in chain:
            chain.append(current.id)
            current = self._areas.get(current.parent) if current.parent else None
        return chain

    def nation_of(self, area_id: str) -> str | None:
        return next((a for a in self._chain(area_id) if self._areas[a].kind == "nation"), None)

    def find(
        self, audience: str | None, needs: tuple[str, ...], area_id: str | None
    ) -> list[Service]:
        """Services for this audience, most local first; always the nation's 24-hour line.

        With no area known, the 24-hour line of every nation is included, because the person
        may be anywhere in the UK.
        """
        chain = self._chain(area_id) if area_id else []
        if not chain:
            chain = [*NATION_ORDER, "uk"]
        rank = {area: position for position, area in enumerate(chain)}
        found: list[tuple[int, int, str, Service]] = []
        for service in self._services.values():
            if not service.active or (audience and audience not in service.audiences):
                continue
            covering = [rank[a] for a in service.areas if a in rank]
            if not covering:
                continue
            fits_need = not needs or bool(set(needs) & set(service.needs))
            if not (fits_need or service.around_the_clock):
                continue
            # Within the same area: the 24-hour line first, then by name for a stable order.
            found.append(
                (min(covering), 0 if service.around_the_clock else 1, service.name, service)
            )
        return [service for *_, service in sorted(found, key=lambda row: row[:3])]
