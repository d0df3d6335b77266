"""The words people read: safety rules from docs CONTENT.md, enforced over every text."""

from __future__ import annotations

import re

import pytest
import textstat

from bot.app import Parts, bundled_directory
from bot.engine.model import Event, Session
from bot.engine.spec import PLACEHOLDER
from tests.conftest import DIRECTORY

# Nothing may reassure, label or score. Matched case-insensitively, as whole phrases.
FORBIDDEN = (
    "low risk",
    "medium risk",
    "standard risk",
    "not at risk",
    "you are safe",
    "you're safe",
    "you will be safe",
    "you are not in danger",
    "nothing to worry",
    "your score",
    "you scored",
    "points",
)

# Flesch-Kincaid grade 6 or below (a reading age of about nine to eleven) for every message.
MAX_GRADE = 6.0
# Texts allowed above it, each with the reason. Keep this list short.
GRADE_EXCEPTIONS: dict[str, str] = {}

# The gentle questions, in the order they are asked.
QUESTIONS = (
    "fear",
    "worse",
    "choke",
    "kill",
    "weapon",
    "leaving",
    "baby",
    "following",
    "jealous",
    "alone",
    "money",
    "history",
    "drink",
    "suicide",
    "sexual",
    "harm_children",
)
NATION_LINES = {
    "england": "national-domestic-abuse-helpline",
    "wales": "live-fear-free",
    "scotland": "scotland-domestic-abuse-helpline",
    "northern-ireland": "ni-domestic-sexual-abuse-helpline",
}
DISCLOSURE = {
    "england": "clares-law",
    "wales": "clares-law",
    "scotland": "dsdas",
    "northern-ireland": "dvads",
}


def messages(parts: Parts) -> list[tuple[str, str]]:
    """Every state text and short message, with where it is written."""
    spec = parts.spec
    found = [(s.text, str(s.text_where)) for s in spec.states.values()]
    found += [(m.text, str(m.where)) for m in spec.messages.values()]
    return found


def test_no_text_reassures_labels_or_scores(parts: Parts) -> None:
    texts = [(t, str(w)) for t, w in parts.spec.texts()]
    texts += [(s.description, s.id) for s in bundled_directory(DIRECTORY).services()]
    for text, where in texts:
        lowered = text.lower()
        for phrase in FORBIDDEN:
            assert not re.search(rf"\b{re.escape(phrase)}\b", lowered), f"{where}: {phrase!r}"


def test_no_flow_text_holds_a_phone_number_or_web_address(parts: Parts) -> None:
    contact_like = re.compile(r"\d{3,}|\d+ \d+|https?://|www\.|@\w")
    for text, where in parts.spec.texts():
        assert not contact_like.search(PLACEHOLDER.sub("", text)), where


def test_every_message_is_easy_to_read(parts: Parts) -> None:
    too_hard = []
    for text, where in messages(parts):
        grade = textstat.flesch_kincaid_grade(PLACEHOLDER.sub("999", text))
        if grade > MAX_GRADE and where not in GRADE_EXCEPTIONS:
            too_hard.append(f"{where}: grade {grade}: {text[:60]!r}")
    assert not too_hard, "\n".join(too_hard)


def test_every_gentle_question_can_be_declined(parts: Parts) -> None:
    for name in QUESTIONS:
        labels = [b.label for b in parts.spec.states[f"victim.{name}"].buttons]
        assert "I'd rather not say" in labels, name


@pytest.mark.parametrize("question", QUESTIONS)
def test_a_serious_answer_leads_straight_to_urgent_help(parts: Parts, question: str) -> None:
    engine = parts.engine
    session = Session(chat_key="c", state=f"victim.{question}")
    engine.step(session, Event.button("yes", session.state))
    if session.state != "victim.urgent":  # the last question goes there at once
        engine.step(session, Event.button("skip", session.state))
    reply = engine.step(session, Event.resume())
    assert session.state == "victim.urgent"
    assert "What you have told me is serious" in reply.text.msgid
    shown = {card.service_id for card in reply.cards}
    assert set(NATION_LINES.values()) <= shown  # nation not known yet: every 24-hour line


def test_answers_are_kept_only_as_urgency(parts: Parts) -> None:
    engine = parts.engine
    session = Session(chat_key="c", state="victim.fear")
    for name in QUESTIONS:
        assert session.state == f"victim.{name}"
        engine.step(session, Event.button("yes", session.state))
    assert session.answers == {"urgent": "yes"}


def test_no_answer_at_all_still_offers_help_without_judging(parts: Parts) -> None:
    engine = parts.engine
    session = Session(chat_key="c", state="victim.fear")
    for _ in QUESTIONS:
        engine.step(session, Event.button("pass", session.state))
    reply = engine.step(session, Event.resume())
    assert session.state == "victim.thanks"
    assert "you deserve support" in reply.text.msgid


@pytest.mark.parametrize("nation", sorted(NATION_LINES))
def test_each_nation_gets_its_own_line_and_disclosure_scheme(parts: Parts, nation: str) -> None:
    directory = parts.directory
    talk = [s.id for s in directory.find("victim", ("talk",), nation)]
    assert NATION_LINES[nation] in talk
    assert not (set(NATION_LINES.values()) - {NATION_LINES[nation]}) & set(talk)
    schemes = {s.id for s in directory.find("victim", ("disclosure",), nation)} & set(
        DISCLOSURE.values()
    )
    assert schemes == {DISCLOSURE[nation]}


def test_an_unknown_nation_gets_every_line_and_every_scheme(parts: Parts) -> None:
    shown = {s.id for s in parts.directory.find("victim", ("disclosure",), None)}
    assert set(NATION_LINES.values()) <= shown
    assert set(DISCLOSURE.values()) <= shown


@pytest.mark.parametrize(
    ("route", "need", "service"),
    [
        ("victim", "men", "mens-advice-line"),
        ("victim", "lgbt", "galop"),
        ("victim", "older", "hourglass"),
        ("victim", "honour", "karma-nirvana"),
        ("victim", "honour", "forced-marriage-unit"),
        ("victim", "young", "childline"),
        ("own_behaviour", "own_behaviour", "respect-phoneline"),
    ],
)
def test_specialist_routes_reach_their_specialist_service(
    parts: Parts, route: str, need: str, service: str
) -> None:
    assert service in [s.id for s in parts.directory.find(route, (need,), "england")]
