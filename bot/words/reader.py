"""What typed words mean: a way out, one of the step's buttons, or a near miss to ask about.

Built once from the flows, the word lists and the translations. In the order they are tried:

1. `way_out`: danger anywhere in the message, in any language, however it is put ("he is
   hitting me", "pomocy", "\U0001f198"); a way out's own words typed alone, polite words aside
   ("exit please", "quit", "Iaith"). The same at every step, so a channel can tell a quick exit
   or danger before it knows where the conversation is.
2. `read`: a button by its number ("2"), its label, or a short answer it means ("yeah",
   "Ydw", "not sure"), in the person's language or in English.
3. `near`: a misspelt danger word ("emergancy") is danger; a near miss of a button's words
   ("yse") is a question: "Did you mean ...?".
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from bot.engine.model import Button
from bot.engine.spec import ButtonSpec, FlowSpec, label_context
from bot.folding import fold, key, symbols
from bot.words.lists import WordList

DANGER = "danger"
EXIT = "exit"
NEAR_RATIO = 80.0  # rapidfuzz's ratio (0-100) for longer replies: "Someone Im woried about"
MIN_NEAR_LENGTH = 3  # "no" and "ok" are never guessed at


@dataclass(frozen=True)
class Reading:
    trigger: str
    sure: bool = True  # False: a near miss, to be asked about ("Did you mean ...?")


def _close(typed: str, choices: Iterable[str]) -> str | None:
    """The choice a typed word is a slip of: one letter wrong, missing, extra or two letters
    swapped for short words ("yse", "dangr"), two for long ones, a close ratio for phrases."""
    choices = list(choices)
    if len(typed) < MIN_NEAR_LENGTH or not choices:
        return None
    if " " in typed or len(typed) > 12:
        found = process.extractOne(
            typed, choices, scorer=fuzz.ratio, processor=None, score_cutoff=NEAR_RATIO
        )
        return found[0] if found else None
    slips = 1 if len(typed) < 8 else 2
    scored = [(OSA.distance(typed, choice, score_cutoff=slips), choice) for choice in choices]
    best = min(scored, key=lambda pair: pair[0])
    return best[1] if best[0] <= slips else None


class TypedReader:
    def __init__(
        self,
        spec: FlowSpec,
        lists: Mapping[str, WordList],
        label: Callable[[Button, str], str],
        locales: Sequence[str],
    ) -> None:
        """`label` is a button's label as a language shows it (bot.i18n.Translator.label)."""
        self.spec = spec
        self.lists = lists
        self._label = label
        everyone = list(lists.values())
        # Danger is heard in every language at once: a person may write in any of them. The
        # phrases are kept by their first word, so a message is scanned once, word by word.
        self._danger: dict[str, set[tuple[str, ...]]] = {}
        for wl in everyone:
            for phrase in wl.danger:
                first, *rest = phrase.split()
                self._danger.setdefault(first, set()).add(tuple(rest))
        self._danger_symbols = frozenset(s for wl in everyone for s in wl.danger_symbols)
        # Single words a slip away from danger: long enough that a slip is still that word.
        self._danger_words = sorted(
            {p for wl in everyone for p in wl.danger if p.isalpha() and len(p) >= 6}
        )
        self._polite = frozenset(w for wl in everyone for w in wl.polite)
        # "I live in", "mieszkam w": words before a place, longest first.
        self._before_place = sorted(
            {tuple(p.split()) for wl in everyone for p in wl.before_place}, key=len, reverse=True
        )
        # A button's own label, typed whole, is that button wherever it is offered, even if it
        # holds a danger word ("Who can help", "Help with money").
        self._labels = frozenset(
            fold(label)
            for state in spec.states.values()
            for button in state.buttons
            if button.way_out is None
            for label in (button.label, *(self._shown(state.name, button, c) for c in locales))
        )
        # A way out's own words alone: the exit words, and every way out's label in every
        # language ("Quick exit", "Language", "Iaith", "Start again").
        self._ways_out: dict[str, str] = {}
        for wl in everyone:
            for phrase in wl.exit:
                self._ways_out.setdefault(phrase, EXIT)
        for way in spec.ways_out.values():
            for locale in locales:
                shown = self._label(Button(way.trigger, way.label, way_out=True), locale)
                self._ways_out.setdefault(fold(shown), way.trigger)
            self._ways_out.setdefault(way.trigger, way.trigger)
        # What each step's buttons answer to, in each language (English always as well): made
        # when a step is first read in a language, so only the languages in use take memory.
        self._locales = tuple(locales)
        self._answers: dict[tuple[str, str], dict[str, str]] = {}

    # -- building -----------------------------------------------------------------------------

    def _shown(self, state: str, button: ButtonSpec, locale: str) -> str:
        """A button's label as the person sees it (a bare "Yes" in its question's words)."""
        context = label_context(state, button.label)
        return self._label(Button(button.trigger, button.label, context=context), locale)

    def _lists_for(self, locale: str) -> list[WordList]:
        """The person's language, then English, which is always understood."""
        return [self.lists[code] for code in dict.fromkeys((locale, "en")) if code in self.lists]

    def words_for(self, state: str, button: ButtonSpec, lists: Iterable[WordList]) -> set[str]:
        """A button's short answers at a step: those particular to the step, then those of
        the kinds it means."""
        words: set[str] = set()
        for wl in lists:
            words |= wl.steps.get(state, {}).get(button.trigger, frozenset())
            for kind in button.means:
                words |= wl.answers.get(kind, frozenset())
        return words

    def _answers_at(self, state: str, locale: str) -> dict[str, str]:
        """Phrase -> trigger, for the step's own buttons: labels first, then short answers."""
        spec = self.spec.states[state]
        found: dict[str, str] = {}
        for button in spec.buttons:
            for label in (self._shown(state, button, locale), button.label):
                found.setdefault(fold(label), button.trigger)
        for button in spec.buttons:
            for phrase in sorted(self.words_for(state, button, self._lists_for(locale))):
                found.setdefault(phrase, button.trigger)
        return found

    def _table(self, locale: str, state: str) -> dict[str, str]:
        table = self._answers.get((locale, state))
        if table is None:
            if state not in self.spec.states:
                return {}
            table = self._answers[(locale, state)] = self._answers_at(state, locale)
        return table

    def conflicts(self) -> list[str]:
        """Words that would mean two things at one step: for the flow checks."""
        problems: list[str] = []
        for locale, state in itertools.product(self._locales, self.spec.states):
            table = self._answers_at(state, locale)
            for button in self.spec.states[state].buttons:
                words = self.words_for(state, button, self._lists_for(locale))
                taken = {w for w in words if table.get(w) not in (None, button.trigger)}
                problems.extend(
                    f"{state} ({locale}): '{w}' would mean both '{table[w]}' and '{button.trigger}'"
                    for w in sorted(taken)
                )
        return problems

    # -- reading ------------------------------------------------------------------------------

    def is_danger(self, text: str) -> bool:
        if self._danger_symbols & symbols(text):
            return True
        words = fold(text).split()
        return any(
            tuple(words[i + 1 : i + 1 + len(rest)]) == rest
            for i, word in enumerate(words)
            for rest in self._danger.get(word, ())
        )

    def way_out(self, text: str) -> str | None:
        """The way out typed words ask for, wherever the person is; None if none."""
        folded = fold(text)
        if folded in self._labels:
            return None
        if self.is_danger(text):
            return DANGER
        if folded in self._ways_out:
            return self._ways_out[folded]
        # Polite words before or after it ("please exit now", "quit the chat please"), taken
        # off one at a time, so a way out that ends in one ("cau'r sgwrs") is still found.
        words = folded.split()
        while words and words[0] in self._polite:
            words.pop(0)
        while words:
            found = self._ways_out.get(" ".join(words))
            if found is not None or words[-1] not in self._polite:
                return found
            words.pop()
        return None

    def read(self, text: str, state: str, buttons: Sequence[Button], locale: str) -> Reading | None:
        """A way out, or the step's button the words surely mean; None if none."""
        trigger = self.way_out(text)
        if trigger is not None:
            return Reading(trigger)
        words = fold(text)
        if words.isdigit() and 1 <= int(words) <= len(buttons):
            return Reading(buttons[int(words) - 1].trigger)
        found = self._table(locale, state).get(key(text))
        if found is not None:
            return Reading(found)
        # A label of some other step passed the channel as words; here it is not that button,
        # so what it says counts ("I think they are in danger", typed at another step).
        return Reading(DANGER) if words in self._labels and self.is_danger(text) else None

    def place_words(self, text: str) -> str:
        """A place said in a few more words ("I live in Cardiff", "Cardiff please"): the
        place alone, as the gazetteer and the postcode tables hold it."""
        words = fold(text).split()
        for before in self._before_place:
            if tuple(words[: len(before)]) == before:
                words = words[len(before) :]
                break
        while words and words[-1] in self._polite:
            words.pop()
        return " ".join(words)

    def slipped_danger(self, text: str) -> bool:
        """Danger misspelt ("emergancy", "polce"): heard as danger, before anything else is
        guessed at, places included. Leaning towards danger costs one tap back."""
        words = fold(text).split()
        return any(_close(word, self._danger_words) for word in words if len(word) >= 5)

    def near(self, text: str, state: str, locale: str) -> Reading | None:
        """A near miss of one of the step's buttons: not sure, so the person is asked."""
        table = self._table(locale, state)
        found = _close(fold(text), table)
        return Reading(table[found], sure=False) if found is not None else None

    def label(self, button: Button, locale: str) -> str:
        """A button's label in the person's language, for "Did you mean ...?"."""
        return self._label(button, locale)
