"""The engine, driven by plain `step()` calls on the shipped flows."""

from __future__ import annotations

from dataclasses import replace

from bot.app import Parts, build, bundled_directory
from bot.directory.index import DirectoryIndex, LiveDirectory
from bot.engine.context import Deps
from bot.engine.machine import Engine
from bot.engine.model import Contact, Effect, Event, Reply, Session
from bot.i18n import translator
from tests.conftest import DIRECTORY, FIXTURES, FLOWS, LOCALES, FakeClock

EMERGENCY_SENTENCE = (
    "If you cannot speak on a mobile: call 999. Listen, and cough or tap if you can. Then press "
    "55 when the automated message asks. This puts you through to the police. A silent call "
    "without pressing 55 does not on its own bring help."
)


# From the start to "where are you?" on the route for someone being harmed.
TO_WHERE = (
    "No, not right now",
    "Me",
    "Yes, I can talk",
    "Skip the questions",
    "Someone to talk to",
)


def render(reply: Reply) -> str:
    tr = translator("en", LOCALES)
    parts = [tr.render(n) for n in reply.notices] + [tr.render(reply.text)]
    return "\n".join(parts)


def press(engine: Engine, session: Session, label: str) -> Reply:
    """Press the button whose label is `label` on the current step, as a person would."""
    reply = engine.step(session, Event.resume())
    for button in reply.buttons:
        if button.label == label:
            return engine.step(session, Event.button(button.trigger, session.state))
    raise AssertionError(f"no button {label!r} in {session.state}: {reply.buttons}")


def fresh(parts: Parts) -> tuple[Session, Reply]:
    session = parts.engine.new_session("chat")
    return session, parts.engine.step(session, Event.start())


def test_the_first_question_is_about_danger_with_both_ways_out_one_tap_away(parts: Parts) -> None:
    session, reply = fresh(parts)
    assert session.state == parts.spec.start
    assert "are you in danger right now?" in reply.text.msgid
    triggers = [b.trigger for b in reply.buttons]
    assert "danger" in triggers and "exit" in triggers
    # The state's own "Yes, I'm in danger now" *is* the danger way out: not shown twice.
    assert triggers.count("danger") == 1


def test_danger_shows_the_exact_emergency_wording_with_numbers_from_the_directory(
    parts: Parts,
) -> None:
    session, _ = fresh(parts)
    reply = press(parts.engine, session, "Yes, I'm in danger now")
    assert session.state == "core.emergency"
    text = " ".join(render(reply).split())
    assert "call 999" in text
    assert EMERGENCY_SENTENCE in text
    assert "emergencySMS" in text and "ANI (Action Needed Immediately)" in text
    assert 'To register, text the word "register" to 999 now, before you need it.' in text
    assert "On a landline there is no 55 to press." in text
    assert "such as any Boots" in text
    assert "Back to where I was" in [b.label for b in reply.buttons]


def test_numbers_in_the_emergency_text_come_from_the_directory_not_the_flow(
    clock: FakeClock,
) -> None:
    bundled = bundled_directory(DIRECTORY)
    silent = bundled.service("silent-solution")
    assert silent is not None
    changed = replace(silent, contacts=(Contact("phone", "999"), Contact("keypad", "77")))
    services = {s.id: s for s in bundled.services()} | {"silent-solution": changed}
    directory = LiveDirectory(DirectoryIndex({a.id: a for a in bundled.areas()}, services))
    spec = build(FLOWS, DIRECTORY, LOCALES).spec
    engine = Engine(spec, Deps(directory=directory, clock=clock))
    session = engine.new_session("chat")
    engine.step(session, Event.start())
    reply = engine.step(session, Event.button("danger"))
    assert "press 77 when" in render(reply)


def test_back_from_danger_returns_to_the_conversation(parts: Parts) -> None:
    session, _ = fresh(parts)
    press(parts.engine, session, "Yes, I'm in danger now")
    press(parts.engine, session, "Back to where I was")
    # Not back to "are you in danger?": on to who is asking.
    assert session.state == "opening.who"

    press(parts.engine, session, "Me")
    assert session.state == "victim.start"
    parts.engine.step(session, Event.button("danger"))
    parts.engine.step(session, Event.button("help"))  # one way out, then another
    press(parts.engine, session, "Back to where I was")
    assert session.state == "victim.start"


def test_every_way_out_works_from_every_state(parts: Parts) -> None:
    for name in parts.spec.states:
        for trigger, way in parts.spec.ways_out.items():
            session = Session(chat_key="chat", state=name)
            reply = parts.engine.step(session, Event.button(trigger))
            assert session.state == way.goto, (name, trigger)
            assert not reply.notices, (name, trigger)


def test_a_stale_button_changes_nothing_and_shows_the_current_step(parts: Parts) -> None:
    session, _ = fresh(parts)
    press(parts.engine, session, "No, not right now")
    before = (session.state, dict(session.answers))
    reply = parts.engine.step(session, Event.button("no", from_state="opening.start"))
    assert (session.state, session.answers) == before
    assert render(reply).startswith("That button has expired.")
    assert reply.state == "opening.who"


def test_a_forged_trigger_changes_nothing(parts: Parts) -> None:
    session, _ = fresh(parts)
    for trigger in ("@typed", "nonsense", "me"):  # "me" exists, but not on this step
        reply = parts.engine.step(session, Event.button(trigger, session.state))
        assert session.state == parts.spec.start
        assert reply.notices


def test_typed_text_where_only_buttons_fit_gets_a_clear_answer(parts: Parts) -> None:
    session, _ = fresh(parts)
    reply = parts.engine.step(session, Event.typed("hello?"))
    assert session.state == parts.spec.start
    assert render(reply).startswith("Please choose one of the options below.")


def test_a_typed_place_is_kept_only_as_ids(parts: Parts) -> None:
    session, _ = fresh(parts)
    for label in TO_WHERE:
        press(parts.engine, session, label)
    assert session.state == "victim.where"
    reply = parts.engine.step(session, Event.typed("MK9 3EQ"))
    assert session.state == "victim.services"
    assert session.answers == {
        "route": "victim",
        "need": "talk",
        "area": "milton-keynes",
        "nation": "england",
    }
    assert "MK9" not in repr(session)
    assert reply.cards[0].service_id == "mk-act"


def test_an_unknown_place_is_asked_again(parts: Parts) -> None:
    session, _ = fresh(parts)
    for label in TO_WHERE:
        press(parts.engine, session, label)
    reply = parts.engine.step(session, Event.typed("Atlantis"))
    assert session.state == "victim.where"
    assert render(reply).startswith("I don't know that place yet. Which part of the UK are you in?")
    assert "nation" not in session.answers


def test_with_no_place_the_24_hour_line_of_every_nation_is_shown(parts: Parts) -> None:
    session, _ = fresh(parts)
    for label in (*TO_WHERE, "I'd rather not say"):
        reply = press(parts.engine, session, label)
    ids = [card.service_id for card in reply.cards]
    for line in (
        "national-domestic-abuse-helpline",
        "live-fear-free",
        "scotland-domestic-abuse-helpline",
        "ni-domestic-sexual-abuse-helpline",
    ):
        assert line in ids


def test_a_nation_chosen_shows_its_own_line_first(parts: Parts) -> None:
    session, _ = fresh(parts)
    for label in (*TO_WHERE, "Wales"):
        reply = press(parts.engine, session, label)
    ids = [card.service_id for card in reply.cards]
    assert ids[0] == "live-fear-free"
    assert "national-domestic-abuse-helpline" not in ids


def test_quick_exit_wipes_and_ends_with_nothing_left_to_press(parts: Parts) -> None:
    session, _ = fresh(parts)
    press(parts.engine, session, "No, not right now")
    reply = parts.engine.step(session, Event.button("exit"))
    assert reply.effects == {Effect.WIPE, Effect.END}
    assert reply.buttons == ()


def test_start_again_forgets_the_answers(parts: Parts) -> None:
    session, _ = fresh(parts)
    press(parts.engine, session, "No, not right now")
    press(parts.engine, session, "Me")
    assert session.answers
    parts.engine.step(session, Event.button("restart"))
    assert session.state == parts.spec.start
    assert session.answers == {}


def test_every_route_reaches_services_drawn_from_the_directory(parts: Parts) -> None:
    routes = {
        "Me": ["Yes, I can talk", "Skip the questions", "Someone to talk to", "England"],
        "Someone I'm worried about": ["Who can help", "England"],
        "I'm a professional or volunteer": ["Where to refer", "Local services", "England"],
        "I'm worried about my own behaviour": ["No, not right now", "England"],
        "I want to understand what abuse is": [
            "This is happening to someone I know",
            "Who can help",
            "I don't know",
        ],
    }
    for who, taps in routes.items():
        session, _ = fresh(parts)
        press(parts.engine, session, "No, not right now")
        reply = press(parts.engine, session, who)
        for label in taps:
            reply = press(parts.engine, session, label)
        assert reply.cards, who
        for card in reply.cards:
            assert card.contacts and card.source, card.service_id


def test_own_behaviour_route_points_to_the_respect_phoneline(parts: Parts) -> None:
    session, _ = fresh(parts)
    press(parts.engine, session, "No, not right now")
    press(parts.engine, session, "I'm worried about my own behaviour")
    press(parts.engine, session, "No, not right now")
    reply = press(parts.engine, session, "I'd rather not say")
    assert "respect-phoneline" in [c.service_id for c in reply.cards]


def test_a_conversation_in_a_state_that_no_longer_exists_starts_again(parts: Parts) -> None:
    session = Session(chat_key="chat", state="victim.removed_in_an_update")
    reply = parts.engine.step(session, Event.button("yes", "victim.removed_in_an_update"))
    assert session.state == parts.spec.start
    assert reply.notices


def test_one_machine_serves_many_interleaved_sessions(parts: Parts) -> None:
    engine = parts.engine
    a, _ = fresh(parts)
    b, _ = fresh(parts)
    press(engine, a, "No, not right now")
    press(engine, b, "Yes, I'm in danger now")
    press(engine, a, "Someone I'm worried about")
    assert (a.state, b.state) == ("friend.start", "core.emergency")
    assert engine.machine.models == []  # no per-person machine or model is kept


def test_conditions_choose_the_first_destination_that_holds(clock: FakeClock) -> None:
    parts = build(FIXTURES / "flows" / "minimal", DIRECTORY, LOCALES, clock=clock)
    engine = parts.engine
    session = engine.new_session("chat")
    engine.step(session, Event.start())
    engine.step(session, Event.button("no", session.state))
    assert session.state == "intro.where"

    session = engine.new_session("chat")
    session.answers["nation"] = "wales"
    engine.step(session, Event.button("no", session.state))
    assert session.state == "intro.needs"


def test_replies_carry_the_session_language(parts: Parts) -> None:
    session = parts.engine.new_session("chat", locale="cy")
    assert parts.engine.step(session, Event.start()).locale == "cy"
