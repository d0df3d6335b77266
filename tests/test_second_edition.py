"""The conversations, second edition: what a specialist's and a translator's reading found,
each checked on the engine as the person would meet it (the scenario transcripts walk the same
routes through the terminal chat and Telegram)."""

from __future__ import annotations

import pytest

from bot.app import Parts, build
from bot.directory.files import read_folder
from bot.directory.index import DirectoryIndex
from bot.directory.model import Service
from bot.engine.lint import unreachable_services
from bot.engine.model import Event, Reply, Session
from bot.i18n import translator
from tests.conftest import DIRECTORY, FLOWS, LOCALES
from tests.test_engine import fresh, press, render


@pytest.fixture(scope="module")
def shipped() -> Parts:
    return build(FLOWS, DIRECTORY, LOCALES)


def walk(parts: Parts, *labels: str, start: str = "") -> tuple[Session, Reply]:
    session = parts.engine.new_session("chat")
    reply = parts.engine.step(session, Event.start(start))
    for label in labels:
        reply = press(parts.engine, session, label)
    return session, reply


def typed(parts: Parts, session: Session, words: str) -> Reply:
    return parts.engine.step(session, Event.typed(words))


def names(reply: Reply) -> list[str]:
    return [card.name for card in reply.cards]


TO_NEEDS = ("No, not right now", "Me", "Yes, I can talk", "Skip the questions")


# -- reach --------------------------------------------------------------------------------------


def test_every_service_in_the_directory_is_shown_by_some_step(shipped: Parts) -> None:
    assert unreachable_services(shipped.spec, shipped.directory) == []


def test_a_service_no_step_shows_is_reported(shipped: Parts) -> None:
    data = read_folder(DIRECTORY)
    lonely = Service(
        id="lonely-line",
        name="A line nobody reaches",
        description="For a need no step of its audience asks for.",
        audiences=("own_behaviour",),
        needs=("lgbt",),
        areas=("uk",),
        contacts=(),
        source="test",
        verified_on=None,
    )
    index = DirectoryIndex(data.areas, {**data.services, lonely.id: lonely})
    assert any("'lonely-line'" in p for p in unreachable_services(shipped.spec, index))


def test_stalking_and_sexual_violence_lines_are_reached_from_the_specialist_menu(
    shipped: Parts,
) -> None:
    _, reply = walk(shipped, *TO_NEEDS, "Help for my situation", "Someone follows or watches me")
    assert typed(shipped, _, "Luton").cards[0].name == "National Stalking Helpline"
    session, _ = walk(shipped, *TO_NEEDS, "Help for my situation", "Rape or sexual assault")
    reply = typed(shipped, session, "Cardiff")
    assert names(reply)[0] == "Rape Crisis 24/7 Support Line"
    session, _ = walk(shipped, *TO_NEEDS, "Help for my situation", "Rape or sexual assault")
    reply = typed(shipped, session, "Glasgow")  # a line for England and Wales only
    assert "Rape Crisis 24/7 Support Line" not in names(reply)


def test_the_urgent_page_leads_to_the_specialist_pages(shipped: Parts) -> None:
    session, _ = walk(shipped, "No, not right now", "Me", "Yes, I can talk", "Ask me", "Yes")
    for _ in range(20):
        if session.state == "victim.urgent":
            break
        press(shipped.engine, session, "No")
    assert session.state == "victim.urgent"
    press(shipped.engine, session, "Help for my situation")
    assert session.state == "specialist.menu"


# -- specialist pages -----------------------------------------------------------------------------


def test_a_specialist_page_shows_its_line_first_then_local_help_then_the_nation(
    shipped: Parts,
) -> None:
    session, reply = walk(shipped, *TO_NEEDS, "Help for my situation", "I'm a man")
    assert "Where are you?" in render(reply)  # the place is asked for
    reply = typed(shipped, session, "Bletchley")
    shown = names(reply)
    assert shown[0] == "Men's Advice Line"
    assert shown.index("MK-Act") < shown.index("National Domestic Abuse Helpline (run by Refuge)")


def test_a_known_place_is_not_asked_again_on_a_specialist_page(shipped: Parts) -> None:
    session, _ = walk(shipped, *TO_NEEDS, "Help for my situation", start="mk")
    reply = press(shipped.engine, session, "I'm an older person")
    assert session.state == "specialist.older"
    assert names(reply)[:2] == ["Hourglass", "MK-Act"]


def test_deaf_and_disabled_and_young_people_pages(shipped: Parts) -> None:
    session, _ = walk(shipped, *TO_NEEDS, "Help for my situation", "I'm deaf or disabled")
    text = render(typed(shipped, session, "Wales"))
    assert "only once you have registered with emergencySMS" in text
    assert "your medicine, your aids or your money" in text
    session, _ = walk(shipped, *TO_NEEDS, "Help for my situation", "I'm under 18")
    assert "boyfriend or girlfriend" in render(typed(shipped, session, "Wales"))


# -- needs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "words"),
    [
        ("Protection orders and legal help", "A protection order is an order from a court."),
        ("Somewhere safe to stay", "A refuge is a safe house"),
        ("Help with housing", "your local council can help you find somewhere to live"),
        ("Help with my children", "Abuse at home hurts children too"),
        ("Help with money", "debts"),
        ("Check a partner's past (Clare's Law)", "They usually tell you in person."),
        ("Support for how I feel", "How you feel matters."),
    ],
)
def test_each_need_has_its_own_words(shipped: Parts, label: str, words: str) -> None:
    session, _ = walk(shipped, *TO_NEEDS, label)
    reply = typed(shipped, session, "Bletchley")
    assert words in render(reply)
    assert reply.cards


def test_after_clares_law_a_relative_sees_every_kind_of_help_again(shipped: Parts) -> None:
    session, reply = walk(
        shipped,
        "No, not right now",
        "Someone I'm worried about",
        "Should I report it?",
        "How to ask about their partner's past",
    )
    reply = typed(shipped, session, "MK9")
    assert session.state == "friend.clares_law"
    text = render(reply)
    assert "usually tell the person at risk, or whoever is best placed to protect them" in text
    assert "That may not be you." in text
    reply = press(shipped.engine, session, "Who can help")
    assert "MK-Act" in names(reply)
    assert session.answers.get("need") is None


# -- the review's own lessons ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "Have they been violent to someone else, or been in trouble with the police for it?",
        "Do they drink a lot or take drugs?",
        "Have they said they will kill themselves?",
        "Have they made you have sex, or do sexual things you did not want?",
        "Have they hurt or threatened your children, or your pets?",
    ],
)
def test_new_warning_signs_are_asked_and_raise_urgency(shipped: Parts, question: str) -> None:
    session, reply = walk(shipped, "No, not right now", "Me", "Yes, I can talk", "Ask me")
    for _ in range(20):
        if reply.text.msgid == question:
            break
        reply = press(shipped.engine, session, "No")
    assert reply.text.msgid == question
    press(shipped.engine, session, "Yes")
    assert session.answers.get("urgent") == "yes"
    assert "score" not in repr(session.answers)


def test_professionals_meet_dash_marac_online_records_and_clients_who_harm(
    shipped: Parts,
) -> None:
    _, reply = walk(
        shipped, "No, not right now", "I'm a professional or volunteer", "Where to refer"
    )
    text = render(reply)
    assert "DASH checklist" in text and "MARAC" in text
    _, reply = walk(
        shipped, "No, not right now", "I'm a professional or volunteer", "What to write down"
    )
    assert "read their own records online" in render(reply)
    _, reply = walk(
        shipped,
        "No, not right now",
        "I'm a professional or volunteer",
        "My client may be causing harm",
    )
    assert "Has your partner ever been afraid of you?" in render(reply)
    assert "Respect Phoneline" in names(reply)


def test_privacy_is_never_promised_beyond_what_is_true(shipped: Parts) -> None:
    texts = " ".join(text for text, _ in shipped.spec.texts())
    assert "This is a private chat" not in texts
    assert "is confidential" not in texts
    _, reply = fresh(shipped)
    assert "anyone who uses this phone could see this chat" in render(reply)


# -- every route has somewhere to go --------------------------------------------------------------


def test_the_results_offer_start_again_and_learning_shows_help(shipped: Parts) -> None:
    for route in (
        (*TO_NEEDS, "Someone to talk to"),
        ("No, not right now", "Someone I'm worried about", "Who can help"),
        ("No, not right now", "I'm worried about my own behaviour", "No, not right now"),
    ):
        session, reply = walk(shipped, *route)
        if not reply.cards:
            reply = press(shipped.engine, session, "England")
        assert "restart" in [b.trigger for b in reply.buttons], route
    _, reply = walk(
        shipped,
        "No, not right now",
        "I want to understand what abuse is",
        "Being controlled",
        "Who can help",
    )
    assert reply.cards
    _, reply = walk(
        shipped, "No, not right now", "I'm worried about my own behaviour", "Yes, right now"
    )
    press_labels = [b.label for b in reply.buttons]
    assert "Who can help me change" in press_labels


# -- languages ------------------------------------------------------------------------------------


def test_the_opening_offers_every_language(shipped: Parts) -> None:
    session, reply = fresh(shipped)
    language = next(b for b in reply.buttons if b.trigger == "language")
    assert "Iaith" in language.label and "Język" in language.label
    shipped.engine.step(session, Event.button("language", session.state))
    assert session.state == "core.language"


def test_commands_inside_urdu_keep_their_order(shipped: Parts) -> None:
    reply = shipped.engine.step(Session("c", "core.help", locale="ur"), Event.resume())
    text = translator("ur", LOCALES).render(reply.text)
    assert "\u2066/exit\u2069" in text and "\u2066/start\u2069" in text
    assert "\u2066" not in translator("en", LOCALES).render(reply.text)


def test_yes_and_no_are_translated_for_their_own_question(shipped: Parts) -> None:
    welsh = translator("cy", LOCALES)
    afraid = shipped.engine.buttons("victim.fear")
    choked = shipped.engine.buttons("victim.choke")
    yes_afraid = next(b for b in afraid if b.trigger == "yes")
    yes_choked = next(b for b in choked if b.trigger == "yes")
    assert yes_afraid.context == "victim.fear"
    assert welsh.label(yes_afraid) == "Ydw"  # "Are you afraid ...?" "I am"
    assert welsh.label(yes_choked) == "Do"  # "Have they ever ...?" "They did"


def test_choosing_a_nation_replaces_a_place_given_before(shipped: Parts) -> None:
    session, _ = walk(shipped, *TO_NEEDS, start="mk")
    assert session.answers["area"] == "milton-keynes"
    reply = press(shipped.engine, session, "Help for my situation")
    session.answers.pop("nation")  # as if the place had never been given: asked again
    reply = press(shipped.engine, session, "I'm a man")
    reply = press(shipped.engine, session, "Wales")
    assert session.answers["area"] == "wales"
    assert "MK-Act" not in names(reply) and "Live Fear Free Helpline (Wales)" in names(reply)


@pytest.mark.parametrize("place", ["Glasgow", "I'd rather not say"])
def test_the_honour_page_puts_its_own_lines_before_any_nations(shipped: Parts, place: str) -> None:
    session, _ = walk(shipped, *TO_NEEDS, "Help for my situation", "Honour, forced marriage or FGM")
    reply = (
        press(shipped.engine, session, place)
        if place.startswith("I'd")
        else typed(shipped, session, place)
    )
    assert set(names(reply)[:2]) == {"Forced Marriage Unit (UK government)", "Karma Nirvana"}
