"""Typed words in one comparable form, for every language Pathways speaks.

"I'm in DANGER!", "im in danger" and "I\u2019m in danger" all fold to "im in danger"; "Wyjdź"
to "wyjdz"; "Stoke-on-Trent" to "stoke on trent"; "King's Lynn" to "kings lynn". Words that
people type and words that the flows, the word lists and the gazetteer hold are compared only
in this form, so a typed message matches however it was capitalised, accented or punctuated.
"""

from __future__ import annotations

import re
import unicodedata

# Apostrophes join ("I'm" -> "im"); every other mark that is not a letter or digit separates.
_APOSTROPHES = str.maketrans("", "", "'\u2019\u02bc`\u00b4")
# Letters that do not decompose into a base letter and an accent, but are typed without it.
# Arabic forms of letters are folded to the Urdu ones that look the same (ي ی, ى ی, ك ک).
_PLAIN = str.maketrans(
    {
        "ł": "l",
        "ø": "o",
        "æ": "ae",
        "ß": "ss",
        "đ": "d",
        "\u0131": "i",
        "ي": "ی",
        "ى": "ی",
        "ك": "ک",
    }
)
_NOT_WORDS = re.compile(r"[\W_]+")


def fold(text: str) -> str:
    """Lower case, without accents, apostrophes or punctuation, digits of any script as 0-9,
    and single spaces between words."""
    if text.isascii():  # most of what is read: no accents or other scripts to take apart
        return _NOT_WORDS.sub(" ", text.lower().translate(_APOSTROPHES)).strip()
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_APOSTROPHES))
    kept = []
    for char in decomposed:
        if unicodedata.combining(char):
            continue
        digit = unicodedata.decimal(char, None)
        kept.append(str(digit) if digit is not None else char)
    plain = "".join(kept).translate(_PLAIN)
    return _NOT_WORDS.sub(" ", plain).strip()


def symbols(text: str) -> set[str]:
    """The characters of `text` that are neither letters, digits nor spaces (emoji such as
    \U0001f198), which `fold` drops."""
    return {c for c in text if unicodedata.category(c)[0] == "S"}


def key(text: str) -> str:
    """What a short reply is looked up by: its folded words, or, for a reply of symbols alone
    (a thumbs up), the symbols themselves."""
    return fold(text) or "".join(sorted(symbols(text)))
