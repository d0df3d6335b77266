"""The directory in memory, indexed for the questions the engine asks.

SQLite is where the directory is kept; this index is what answers a person's step, so that
`step()` stays free of I/O and a search over thousands of services takes well under a
millisecond. `LiveDirectory` swaps in a fresh index when the stored directory changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot.directory.hours import is_open
from bot.directory.model import NATIONS, Area, Service
from bot.directory.places import PlaceFinder, PlaceFound


class DirectoryIndex:
    def __init__(self, areas: dict[str, Area], services: dict[str, Service]) -> None:
        self._areas = areas
        self._services = services
        self._by_area: dict[str, list[Service]] = {}
        for service in services.values():
            if service.active:
                for area_id in service.areas:
                    self._by_area.setdefault(area_id, []).append(service)
        self._chains = {area_id: self._walk(area_id) for area_id in areas}
        self._nation_of_service = {s.id: self._nation_of_areas(s.areas) for s in services.values()}
        self._places = PlaceFinder(areas, self.nation_of)

    # -- lookups ------------------------------------------------------------------------------

    def services(self) -> list[Service]:
        return list(self._services.values())

    def areas(self) -> list[Area]:
        return list(self._areas.values())

    def service(self, service_id: str) -> Service | None:
        return self._services.get(service_id)

    def area(self, area_id: str) -> Area | None:
        return self._areas.get(area_id)

    def resolve_place(self, typed: str) -> PlaceFound:
        """Where a typed place is (see `bot.directory.places`): an area, the nations to ask
        between, or None when it is not a place Pathways knows."""
        return self._places.find(typed)

    def _walk(self, area_id: str) -> tuple[str, ...]:
        chain: list[str] = []
        current = self._areas.get(area_id)
        while current is not None and current.id not in chain:
            chain.append(current.id)
            current = self._areas.get(current.parent) if current.parent else None
        return tuple(chain)

    def chain(self, area_id: str) -> tuple[str, ...]:
        """The area and everything it lies within, most local first."""
        return self._chains.get(area_id, ())

    def nation_of(self, area_id: str) -> str | None:
        return next((a for a in self.chain(area_id) if self._areas[a].kind == "nation"), None)

    def _nation_of_areas(self, areas: Iterable[str]) -> str | None:
        nations = {self.nation_of(a) for a in areas} - {None}
        return nations.pop() if len(nations) == 1 else None

    def open_now(self, service: Service, at: datetime) -> bool | None:
        """Open at `at`, by the service's hours and its nation's bank holidays."""
        return is_open(service.hours, at, self._nation_of_service.get(service.id))

    # -- search --------------------------------------------------------------------------------

    def find(
        self,
        audience: str | None,
        needs: tuple[str, ...],
        area_id: str | None,
        at: datetime | None = None,
    ) -> list[Service]:
        """Services for this audience and need, most local first, those open at `at` before
        those closed, and always the 24-hour line of the person's nation (of every nation when
        the place is not known). Never empty: with nothing else, the national lines."""
        chain = self.chain(area_id) if area_id else ()
        if not chain:
            chain = (*NATIONS, "uk")
        level = {area: position for position, area in enumerate(chain)}
        ranked: dict[str, tuple[tuple[int, int, int, str], Service]] = {}
        for area in chain:
            for service in self._by_area.get(area, ()):
                if service.id in ranked:
                    continue
                if (
                    audience
                    and audience not in service.audiences
                    and ("everyone" not in service.audiences)
                ):
                    continue
                fits = not needs or bool(set(needs) & set(service.needs))
                if not fits and not service.nation_helpline:
                    continue
                closed = at is not None and self.open_now(service, at) is False
                key = (level[area], 0 if fits else 1, 1 if closed else 0, service.name)
                ranked[service.id] = (key, service)
        found = [service for _, service in sorted(ranked.values(), key=lambda row: row[0])]
        if found:
            return found
        return [s for a in chain for s in self._by_area.get(a, ()) if s.nation_helpline]


class LiveDirectory:
    """The engine's view of the directory, replaced whole when the stored directory changes."""

    def __init__(self, index: DirectoryIndex, version: int = 0) -> None:
        self.index = index
        self.version = version

    def replace(self, index: DirectoryIndex, version: int) -> None:
        self.index = index
        self.version = version

    def services(self) -> list[Service]:
        return self.index.services()

    def service(self, service_id: str) -> Service | None:
        return self.index.service(service_id)

    def area(self, area_id: str) -> Area | None:
        return self.index.area(area_id)

    def resolve_place(self, typed: str) -> PlaceFound:
        return self.index.resolve_place(typed)

    def nation_of(self, area_id: str) -> str | None:
        return self.index.nation_of(area_id)

    def find(
        self,
        audience: str | None,
        needs: tuple[str, ...],
        area_id: str | None,
        at: datetime | None = None,
    ) -> list[Service]:
        return self.index.find(audience, needs, area_id, at)

    def open_now(self, service: Service, at: datetime) -> bool | None:
        return self.index.open_now(service, at)
