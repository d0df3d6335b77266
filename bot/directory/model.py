"""Services and areas as the engine sees them, and the narrow interface it queries them through."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from bot.directory.hours import UNKNOWN, Hours
from bot.engine.model import Contact

if TYPE_CHECKING:
    from bot.directory.places import PlaceFound

# Who a service is for. A flow's signposting step names one of these.
AUDIENCES: frozenset[str] = frozenset(
    {"everyone", "victim", "friend", "professional", "own_behaviour"}
)

# What a service helps with. Flows ask for these; the directory tags services with them.
NEEDS: frozenset[str] = frozenset(
    {
        "emergency",
        "police",
        "report",
        "refer",
        "talk",
        "safe_place",
        "legal",
        "housing",
        "children",
        "money",
        "disclosure",
        "emotional",
        "own_behaviour",
        "training",
        "men",
        "lgbt",
        "older",
        "honour",
        "young",
        "disability",
        "immigration",
        "sexual_violence",
        "stalking",
    }
)

CONTACT_KINDS: frozenset[str] = frozenset({"phone", "text", "email", "web", "webchat", "keypad"})
# How a service's `verified_on` date was checked: read in the source the entry names (the
# default), or confirmed with the service itself.
VERIFIED_HOW: tuple[str, ...] = ("source", "service")
AREA_KINDS: tuple[str, ...] = ("uk", "nation", "county", "local")
NATIONS: tuple[str, ...] = ("england", "wales", "scotland", "northern-ireland")


@dataclass(frozen=True)
class Area:
    id: str
    name: str
    kind: str  # uk, nation, county, local
    parent: str | None
    aliases: tuple[str, ...] = ()  # other names, and the towns and villages it covers
    postcode_districts: tuple[str, ...] = ()
    # Optionally a circle: gazetteer places inside it belong to the area, listed or not.
    centre: tuple[float, float] | None = None  # latitude, longitude
    radius_km: float | None = None


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    description: str
    audiences: tuple[str, ...]
    needs: tuple[str, ...]
    areas: tuple[str, ...]
    contacts: tuple[Contact, ...]
    source: str
    verified_on: str | None  # ISO date of the last check; None: never
    hours: Hours = UNKNOWN
    hours_note: str = ""  # a caveat in words, e.g. "hours have changed over time"
    languages: tuple[str, ...] = ()
    nation_helpline: bool = False  # the 24-hour line of its nation: always shown there
    active: bool = True
    # The description in other languages, by locale code; English is `description`.
    translations: Mapping[str, str] = field(default_factory=dict)
    # `hours_note` in other languages, likewise.
    hours_note_translations: Mapping[str, str] = field(default_factory=dict)
    # How `verified_on` was checked: "source" (read in `source`) or "service" (with the
    # service itself). See VERIFIED_HOW.
    verified_how: str = "source"

    def contact(self, kind: str) -> Contact | None:
        return next((c for c in self.contacts if c.kind == kind), None)

    def described(self, locale: str) -> str:
        return self.translations.get(locale) or self.description

    def noted(self, locale: str) -> str:
        """The hours note in `locale` where the directory has it, else the English one."""
        return self.hours_note_translations.get(locale) or self.hours_note


class DirectoryQueries(Protocol):
    """What the conversation engine may ask of the directory. Nothing else."""

    def services(self) -> list[Service]: ...

    def service(self, service_id: str) -> Service | None: ...

    def area(self, area_id: str) -> Area | None: ...

    def resolve_place(self, typed: str) -> PlaceFound: ...

    def nation_of(self, area_id: str) -> str | None: ...

    def find(
        self,
        audience: str | None,
        needs: tuple[str, ...],
        area_id: str | None,
        at: datetime | None = None,
    ) -> list[Service]: ...

    def open_now(self, service: Service, at: datetime) -> bool | None: ...
