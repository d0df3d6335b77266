"""Typed words at every step, in every language: buttons by number, label or short answer,
danger anywhere, the ways out alone, near misses asked about (tests/data/typed_replies.csv)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bot.app import Parts, build
from bot.channels.interpret import interpret
from bot.engine.model import Reply, Session
from bot.engine.spec import FlowSpec
from bot.folding import fold
from bot.words.check import word_problems
from bot.words.lists import read_word_lists
from bot.words.reader import TypedReader
from tests.conftest import DIRECTORY, FLOWS, LOCALES

TABLE = Path(__file__).parent / "data" / "typed_replies.csv"
ROWS = list(csv.DictReader(TABLE.open(encoding="utf-8")))
EMERGENCY = "core.emergency"
# Steps across the routes where danger typed must always be heard, whatever else they read.
ANYWHERE = ("opening.start", "opening.who", "victim.fear", "victim.where", "learn.start")


@pytest.fixture(scope="module")
def shipped() -> Parts:
    return build(FLOWS, DIRECTORY, LOCALES)


def typed_at(parts: Parts, step: str, typed: str, locale: str = "en") -> Reply:
    """What the person sees after typing at `step`, read as every channel reads it."""
    session = Session(chat_key="typed", state=step, locale=locale)
    return parts.engine.step(session, interpret(typed, parts.spec, parts.words))


def test_the_table_is_big_and_covers_every_language() -> None:
    assert len(ROWS) >= 150
    assert {row["locale"] for row in ROWS} == {"en", "cy", "pl", "ro", "ur"}
    assert len({row["step"] for row in ROWS}) >= 10


@pytest.mark.parametrize("row", ROWS, ids=[f"{r['locale']}:{r['step']}:{r['typed']}" for r in ROWS])
def test_typed_reply_goes_where_expected(shipped: Parts, row: dict[str, str]) -> None:
    step, expected = row["step"], row["expected"]
    reply = typed_at(shipped, step, row["typed"], row["locale"])
    if expected.startswith("?"):  # a near miss: asked about, with that button first
        assert reply.state == step
        assert [n.msgid for n in reply.notices] == [shipped.spec.message("did_you_mean")]
        assert reply.buttons[0].trigger == expected[1:]
        return
    assert reply.state == expected, (row, [n.msgid for n in reply.notices])
    if expected == step:
        assert reply.notices, "staying put always says why"


def _danger_phrases(words: TypedReader) -> list[tuple[str, str]]:
    return sorted(
        (wl.locale, phrase)
        for wl in words.lists.values()
        for phrase in (*wl.danger, *wl.danger_symbols)
    )


def test_every_danger_phrase_alone_and_in_a_sentence_reaches_the_emergency_step(
    shipped: Parts,
) -> None:
    """None of the danger phrases, in any language, may fall anywhere but the emergency step:
    alone, or inside a longer message, at steps that read buttons and at one that reads places."""
    phrases = _danger_phrases(shipped.words)
    assert len(phrases) >= 200
    missed = []
    for locale, phrase in phrases:
        for step in ANYWHERE:
            for typed in (phrase, f"please {phrase}!", f"I think... {phrase}. What do I do"):
                if typed_at(shipped, step, typed, locale).state != EMERGENCY:
                    missed.append((locale, step, typed))
    assert missed == []


def test_danger_is_heard_in_any_language_whatever_the_chat_is_in(shipped: Parts) -> None:
    for locale in ("en", "cy", "pl", "ro", "ur"):
        for typed in ("pomocy", "ajutor", "bachao", "perygl", "help me"):
            assert typed_at(shipped, "opening.who", typed, locale).state == EMERGENCY


def test_every_exit_word_alone_is_the_quick_exit_at_every_kind_of_step(shipped: Parts) -> None:
    missed = []
    for wl in shipped.words.lists.values():
        for phrase in sorted(wl.exit):
            for step in ("opening.start", "victim.fear", "victim.where", "core.emergency"):
                for typed in (phrase, f"{phrase} please", f"{phrase.upper()}!"):
                    if typed_at(shipped, step, typed, wl.locale).state != "core.exited":
                        missed.append((wl.locale, step, typed))
    assert missed == []


def test_an_exit_word_in_a_sentence_is_not_the_quick_exit(shipped: Parts) -> None:
    """Only alone: "I want to leave him" must not wipe the chat of someone telling us so."""
    reply = typed_at(shipped, "opening.who", "I want to leave him")
    assert reply.state == "opening.who"


def test_a_button_label_with_a_danger_word_is_that_button(shipped: Parts) -> None:
    assert typed_at(shipped, "victim.needs", "Help with money").state == "victim.where"
    assert typed_at(shipped, "friend.start", "Who can help").state == "friend.where"


def test_the_channels_see_danger_and_exit_without_knowing_the_step(shipped: Parts) -> None:
    """A channel puts a quick exit or danger before anything else the chat was doing, from the
    message alone: so the way out is known before the step is."""
    words = shipped.words
    assert words.way_out("he's going to kill me") == "danger"
    assert words.way_out("Wyjdź proszę") == "exit"
    assert interpret("/exit", shipped.spec, words).trigger == "exit"
    assert words.way_out("Glasgow") is None
    assert words.way_out("no") is None


def test_numbers_pick_the_buttons_in_the_order_shown(shipped: Parts) -> None:
    buttons = shipped.engine.buttons("opening.who")
    for number, button in enumerate(buttons, start=1):
        reply = typed_at(shipped, "opening.who", str(number))
        if button.trigger == "exit":
            assert reply.state == "core.exited"
        elif button.trigger == "danger":
            assert reply.state == EMERGENCY
        else:
            assert reply.state != "opening.who"
    assert typed_at(shipped, "opening.who", str(len(buttons) + 1)).state == "opening.who"


def test_nothing_typed_is_kept_in_the_answers(shipped: Parts) -> None:
    session = Session(chat_key="typed", state="victim.where")
    shipped.engine.step(session, interpret("Glasgow", shipped.spec, shipped.words))
    assert session.answers == {"area": "scotland", "nation": "scotland"}
    assert "glasgow" not in repr(session).lower()


def test_the_shipped_word_lists_pass_their_checks(shipped: Parts) -> None:
    assert word_problems(shipped.spec, shipped.words) == []


def _reader(spec: FlowSpec, folder: Path) -> TypedReader:
    return TypedReader(spec, read_word_lists(folder), lambda button, _locale: button.label, ("en",))


def test_checks_refuse_a_word_that_means_two_buttons_or_a_way_out(
    shipped: Parts, tmp_path: Path
) -> None:
    (tmp_path / "words").mkdir()
    english = (FLOWS / "words" / "en.yaml").read_text(encoding="utf-8")
    broken = english.replace("answers:\n", "answers:\n  not_a_kind: [whatever]\n", 1)
    broken = broken.replace(
        "\nsteps:\n",
        "\nsteps:\n"
        '  victim.fear:\n    "no": ["yes"]\n    pass: [stop]\n  nowhere.step:\n    x: [y]\n',
        1,
    )
    (tmp_path / "words" / "en.yaml").write_text(broken, encoding="utf-8")
    problems = "\n".join(word_problems(shipped.spec, _reader(shipped.spec, tmp_path)))
    assert "'not_a_kind' is not a kind" not in problems  # en.yaml defines the kinds
    assert "'yes' would mean both 'yes' and 'no'" in problems
    assert "'stop' means the way out 'exit'" in problems
    assert "no step 'nowhere.step'" in problems


def test_checks_refuse_a_way_out_word_that_is_a_place(shipped: Parts, tmp_path: Path) -> None:
    (tmp_path / "words").mkdir()
    english = (FLOWS / "words" / "en.yaml").read_text(encoding="utf-8")
    (tmp_path / "words" / "en.yaml").write_text(
        english.replace("exit:\n", "exit:\n  - pa\n  - Glasgow\n", 1), encoding="utf-8"
    )
    problems = "\n".join(word_problems(shipped.spec, _reader(shipped.spec, tmp_path)))
    assert "exit 'pa' is also a UK place or postcode area" in problems
    assert "exit 'glasgow' is also a UK place" in problems


def test_an_unquoted_yes_in_a_word_list_is_refused(tmp_path: Path) -> None:
    (tmp_path / "words").mkdir()
    (tmp_path / "words" / "en.yaml").write_text(
        "locale: en\nanswers:\n  yes: [yes, sure]\n", encoding="utf-8"
    )
    with pytest.raises(Exception, match="must be quoted"):
        read_word_lists(tmp_path)


@pytest.mark.parametrize(
    ("typed", "folded"),
    [
        ("I\u2019m in DANGER!", "im in danger"),
        ("Stoke-on-Trent", "stoke on trent"),
        ("King's Lynn", "kings lynn"),
        ("Wyjdź", "wyjdz"),
        ("Łódź", "lodz"),
        ("ieși", "iesi"),
        ("\u06f9\u06f9\u06f9", "999"),  # Urdu digits
        ("\u0643\u0627\u0631\u062f\u064a\u0641", fold("\u06a9\u0627\u0631\u062f\u06cc\u0641")),
    ],
)
def test_folding(typed: str, folded: str) -> None:
    assert fold(typed) == folded
