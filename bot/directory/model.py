"""Services and areas as the engine sees them, and the narrow interface it queries them through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.engine.model import Contact

# Who a service is for. A flow's signposting step names one of these.
AUDIENCES: frozenset[str] = frozenset(
    {"everyone", "victim", "friend", "professional", "own_behaviour"}
)

CONTACT_KINDS: frozenset[str] = frozenset({"phone", "text", "email", "web", "webchat", "keypad"})


@dataclass(frozen=True)
class Area:
    id: str
    name: str
    kind: str  # uk, nation, county, local
    parent: str | None
    aliases: tuple[str, ...] = ()
    postcode_districts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    description: str
    audiences: tuple[str, ...]
    needs: tuple[str, ...]
    areas: tuple[str, ...]
    contacts: tuple[Contact, ...]
    hours: str
    source: str
    verified_on: str | None
    around_the_clock: bool = False  # a 24-hour line, always shown for the person's nation
    active: bool = True

    def contact(self, kind: str) -> Contact | None:
        return next((c for c in self.contacts if c.kind == kind), None)


class DirectoryQueries(Protocol):
    """What the conversation engine may ask of the directory. Nothing else."""

    def service(self, service_id: str) -> Service | None: ...

    def area(self, area_id: str) -> Area | None: ...

    def resolve_place(self, typed: str) -> Area | None: ...

    def nation_of(self, area_id: str) -> str | None: ...

    def find(
        self, audience: str | None, needs: tuple[str, ...], area_id: str | None
    ) -> list[Service]: ...
