"""A typed near miss finds exactly the place difflib would find, only faster.

`DirectoryIndex` compares in full only the place names that share enough letters with what
was typed (see `DirectoryIndex._closest`); this checks that the answer is always the one
`difflib.get_close_matches` gives over every name, on a directory of national size.
"""

from __future__ import annotations

import difflib
import random

from bench.search_bench import synthetic_directory
from bot.directory.index import FUZZY_CUTOFF, DirectoryIndex, normalise


def test_near_misses_find_what_difflib_finds() -> None:
    directory = synthetic_directory(services=50)
    index = DirectoryIndex(directory.areas, directory.services)
    area_of = {
        normalise(word): area
        for area in reversed(list(directory.areas.values()))
        for word in (area.name, *area.aliases)
    }
    words = sorted(area_of)
    rnd = random.Random(10)
    typed = []
    for _ in range(300):
        name = rnd.choice(words)
        at = rnd.randrange(1, len(name))
        typed += [
            name[:at] + name[at + 1 :],  # a letter left out
            name[:at] + rnd.choice("aeiorstn") + name[at:],  # one too many
            "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(rnd.randint(4, 12))),
        ]
    found = 0
    for text in typed:
        text = normalise(text)
        if len(text) < 4 or text in area_of:
            continue
        expected = difflib.get_close_matches(text, words, n=1, cutoff=FUZZY_CUTOFF)
        area = index.resolve_place(text)
        if expected:
            found += 1
            assert area == area_of[expected[0]], (text, expected)
        else:
            assert area is None, (text, area)
    assert found > 300  # most near misses are found
