"""Where a typed place is, as the directory sees it: its most local area, or at least its nation.

In order, the first that fits:
1. a name or alias of a directory area ("Bletchley", "Wales", "MK");
2. a postcode, outward code or area letters: a district a directory area lists ("MK9 3EQ"),
   otherwise the nation of the district or area ("CF10 1AA", "EH", "CH5"), or the nations to ask
   between where it crosses a border ("CH4");
3. a place in the UK gazetteer by any of its names ("Glasgow", "Caerdydd", "Londonderry"): the
   directory area that names it or whose circle (centre and radius) holds it, else its nation;
4. a near miss of either kind of name ("Bletchly", "Glasow").
None when nothing fits: the person is then asked which part of the UK they are in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from bot.directory.model import Area
from bot.folding import fold
from bot.places.gazetteer import (
    FUZZY_CUTOFF,
    OUTSIDE_UK,
    Gazetteer,
    GazetteerPlace,
    distance_km,
    uk_gazetteer,
)
from bot.places.postcodes import Postcodes, uk_postcodes

MIN_FUZZY_LENGTH = 4  # "Ayr" must be typed as it is; "Glasow" may be a near miss
# Postcode area letters typed alone are a place only in capitals ("G", "EH"), or, in small
# letters, when they are not also a common short word in the languages spoken here ("me" is
# Medway, "da" Dartford, "co" Colchester: yet they are "me", Romanian "yes", Polish "what").
COMMON_SHORT_WORDS = frozenset({"me", "so", "ha", "la", "pa", "da", "co", "ta", "ok"})


@dataclass(frozen=True)
class AcrossBorder:
    """A place that may be in more than one nation: the person is asked which."""

    nations: tuple[str, ...]


PlaceFound = Area | AcrossBorder | None


class PlaceFinder:
    def __init__(
        self,
        areas: Mapping[str, Area],
        nation_of: Callable[[str], str | None],
        gazetteer: Gazetteer | None = None,
        postcodes: Postcodes | None = None,
    ) -> None:
        self._areas = areas
        self._nation_of = nation_of
        self._gazetteer = gazetteer if gazetteer is not None else uk_gazetteer()
        self._postcodes = postcodes if postcodes is not None else uk_postcodes()
        self._by_words: dict[str, str] = {}
        self._by_district: dict[str, str] = {}
        for area in areas.values():
            for word in (area.name, *area.aliases):
                self._by_words.setdefault(fold(word), area.id)
            for district in area.postcode_districts:
                self._by_district[district.upper()] = area.id
        self._words = sorted(self._by_words)
        # Areas drawn as a circle, smallest first, so the most local circle holding a place wins.
        self._circles = sorted(
            (a for a in areas.values() if a.centre is not None and a.radius_km),
            key=lambda a: a.radius_km or 0.0,
        )

    def find(self, typed: str) -> PlaceFound:
        words = fold(typed)
        if not words:
            return None
        if words in self._by_words:
            return self._areas[self._by_words[words]]
        postcode = self._postcodes.read(words)
        if postcode is not None and postcode.district is None and not _meant_as_letters(typed):
            postcode = None
        if postcode is not None:
            if postcode.district in self._by_district:
                return self._areas[self._by_district[postcode.district]]
            return self._in_nations(postcode.nations)
        place = self._gazetteer.find(words)
        if place is not None:
            return self._area_holding(place)
        if len(words) < MIN_FUZZY_LENGTH or any(c.isdigit() for c in words):
            return None
        return self._near_miss(words)

    def _near_miss(self, words: str) -> PlaceFound:
        ours = process.extractOne(
            words, self._words, scorer=fuzz.ratio, processor=None, score_cutoff=FUZZY_CUTOFF
        )
        theirs = self._gazetteer.closest(words)
        if ours is not None and (theirs is None or ours[1] >= theirs[1]):
            return self._areas[self._by_words[ours[0]]]
        if theirs is not None:
            place = self._gazetteer.find(theirs[0])
            return self._area_holding(place) if place is not None else None
        return None

    def _in_nations(self, nations: tuple[str, ...]) -> PlaceFound:
        if len(nations) > 1:
            return AcrossBorder(nations)
        return self._areas.get(nations[0]) if nations else None

    def _area_holding(self, place: GazetteerPlace) -> PlaceFound:
        if OUTSIDE_UK in place.nations:
            return None  # Ireland, the Isle of Man, the Channel Islands: which part of the UK?
        if len(place.nations) > 1:
            return AcrossBorder(place.nations)
        nation = place.nations[0]
        named = self._by_words.get(fold(place.name))
        if named is not None and self._nation_of(named) == nation:
            return self._areas[named]
        where = (place.latitude, place.longitude)
        for area in self._circles:
            assert area.centre is not None and area.radius_km is not None
            inside = distance_km(area.centre, where) <= area.radius_km
            if inside and self._nation_of(area.id) == nation:
                return area
        return self._areas.get(nation)


def _meant_as_letters(typed: str) -> bool:
    """Area letters alone, typed so that they can only be a postcode area."""
    letters = typed.strip()
    return letters.isupper() or (len(letters) == 2 and letters.lower() not in COMMON_SHORT_WORDS)
