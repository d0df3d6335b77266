"""Checks of the typed-word lists against the flows, run with the flow checks.

A word list that names a step or button the flows do not have, a button that means an answer
no list defines, or a word that would mean two things at one step is refused at start-up and
by `python -m bot flows check`, like any other flow problem.
"""

from __future__ import annotations

from bot.engine.spec import FlowSpec
from bot.places.gazetteer import uk_gazetteer
from bot.places.postcodes import uk_postcodes
from bot.words.reader import DANGER, TypedReader


def word_problems(spec: FlowSpec, words: TypedReader) -> list[str]:
    problems: list[str] = []
    english = words.lists.get("en")
    kinds = set(english.answers) if english else set()
    for state in spec.states.values():
        for button in state.buttons:
            problems.extend(
                f"{button.where}: means '{kind}', which flows/words/en.yaml's answers do not have"
                for kind in button.means
                if kind not in kinds
            )
    for wl in words.lists.values():
        problems.extend(
            f"{wl.file}: answers '{kind}' is not a kind en.yaml has ({', '.join(sorted(kinds))})"
            for kind in wl.answers
            if kind not in kinds
        )
        for state_name, buttons in wl.steps.items():
            step = spec.states.get(state_name)
            if step is None:
                problems.append(f"{wl.file}: steps: no step '{state_name}' in the flows")
                continue
            triggers = {b.trigger for b in step.buttons}
            problems.extend(
                f"{wl.file}: steps.{state_name}: no button '{trigger}' there"
                for trigger in buttons
                if trigger not in triggers
            )
    problems.extend(_places_taken(words))
    problems.extend(f"typed words: {problem}" for problem in words.conflicts())
    problems.extend(f"typed words: {problem}" for problem in _taken_by_ways_out(spec, words))
    return problems


def _taken_by_ways_out(spec: FlowSpec, words: TypedReader) -> list[str]:
    """A short answer that is also a way out's word ("stop", "Language") could never be typed
    as the answer. Danger is the exception: leaning towards it is intended."""
    problems = []
    ways_out: dict[str, str | None] = {}
    for state in spec.states.values():
        for button in state.buttons:
            if button.way_out is not None:
                continue
            for wl in words.lists.values():
                for phrase in sorted(words.words_for(state.name, button, [wl])):
                    if phrase not in ways_out:
                        ways_out[phrase] = words.way_out(phrase)
                    taken = ways_out[phrase]
                    if taken is not None and taken != DANGER:
                        problems.append(
                            f"{state.name} ({wl.locale}): '{phrase}' means the way out "
                            f"'{taken}', so it cannot answer '{button.trigger}'"
                        )
    return problems


def _places_taken(words: TypedReader) -> list[str]:
    """A way out's word that is also a place or a postcode area ("PA" is Paisley) would end
    or divert the chat of someone telling us where they are."""
    places = set(uk_gazetteer().names()) | {a.lower() for a in uk_postcodes().areas()}
    return [
        f"{wl.file}: {section} '{phrase}' is also a UK place or postcode area"
        for wl in words.lists.values()
        for section, phrases in (("danger", wl.danger), ("exit", wl.exit))
        for phrase in sorted(phrases & places)
    ]
