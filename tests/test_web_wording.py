"""The web chat's own wording of the steps whose Telegram advice is wrong in a browser.

A step may carry a `web_text` beside its `text` (flows/core.yaml's header): the web chat shows
it, Telegram and the terminal chat never do. The privacy advice above all: on the web there is
no chat list to long-press and no Telegram settings, but a browser's history.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
import textstat
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer

from bot.app import Parts
from bot.channels.web import web_chat_app
from bot.channels.web.chat import worded_for_the_web
from bot.conversation import Conversations
from bot.engine.flows import load_flows
from bot.engine.model import Event, Reply, Session, Text
from bot.engine.spec import PLACEHOLDER, REQUIRED_MESSAGES, FlowSpec
from bot.i18n import translator
from bot.i18n_extract import extract_flows
from tests.conftest import FIXTURES, FLOWS, LOCALES, FakeClock
from tests.test_content import MAX_GRADE
from tests.test_i18n import SHIPPED
from tests.test_web_chat import SECRET, Browser

TO_PRIVACY = ("No, not right now", "Me", "I'm not sure", "Keep this chat private")
# Said only on Telegram: the web chat never shows them.
TELEGRAM_ONLY_MESSAGES = frozenset({"typed_deleted", "exit_telegram", "exit_too_old"})
# Telegram's advice, wrong in a browser.
TELEGRAM_WORDS = ("Telegram", "chat list", "Quick exit", "Also delete for")


@pytest.fixture
async def browser(
    conversations: Conversations, parts: Parts, clock: FakeClock
) -> AsyncIterator[Browser]:
    """The web chat on 127.0.0.1, and a browser with scripts off (tests/test_web_chat.py)."""
    app = web_chat_app(conversations, parts.spec, parts.words, LOCALES, secret=SECRET, clock=clock)
    async with TestClient(TestServer(app), cookie_jar=DummyCookieJar()) as client:
        yield Browser(client)


def web_words(spec: FlowSpec, name: str) -> str:
    """The English a step shows on the web chat, as the web chat picks it."""
    state = spec.states[name]
    reply = Reply(state=name, notices=(), text=Text(state.text), buttons=())
    return worded_for_the_web(reply, spec).text.msgid


async def test_the_privacy_steps_speak_of_the_browser_not_telegram(browser: Browser) -> None:
    page = await browser.get()
    for label in TO_PRIVACY[:-1]:
        page = await browser.press(page, label)
    assert page.state == "victim.not_safe"
    assert "press Exit this page, at the top" in page.text
    assert "this page stays on the screen until you close it" in page.text
    page = await browser.press(page, "Keep this chat private")
    assert page.state == "safety.tech"
    assert "Pressing Shift three times does the same." in page.text
    assert "this website from your browser's history" in page.text
    assert "private window" in page.text
    tech = page
    page = await browser.press(page, "More ways to keep it private")
    assert page.state == "safety.tech_phone"
    assert "In your browser, you can:" in page.text
    assert "Turn off sync, or sign out of the browser" in page.text
    assert "If someone knows your device's code" in page.text
    for shown in (tech, page):
        for words in TELEGRAM_WORDS:
            assert words not in shown.text, (shown.state, words)
    # The buttons are the same as on Telegram.
    assert "Back to where I was" in page.buttons


async def test_the_first_step_names_the_web_chats_exit(browser: Browser) -> None:
    page = await browser.get()
    assert "You can press Exit this page, at the top, at any time." in page.text
    assert "anyone who uses this device could see this page" in page.text
    assert "tap Quick exit" not in page.text
    assert "are you in danger right now?" in page.text


async def test_forgetting_on_the_web_speaks_of_no_messages(browser: Browser) -> None:
    page = await browser.get()
    page = await browser.type(page, "/forget")
    assert "I have erased everything I kept about this chat" in page.text
    assert "choose Start again below" in page.text
    assert "messages" not in page.text  # the web chat has none to delete
    assert '<a class="back" href="/chat">Start again</a>' in page.body
    again = await browser.get()  # the link
    assert "are you in danger right now?" in again.text


async def test_the_web_words_are_translated(browser: Browser, parts: Parts) -> None:
    welsh = translator("cy", LOCALES)
    browser.language = "cy"
    page = await browser.get()
    for label in TO_PRIVACY:
        page = await browser.press(page, welsh.gettext(label))
    assert page.state == "safety.tech"
    words = welsh.gettext(web_words(parts.spec, "safety.tech"))
    assert words != web_words(parts.spec, "safety.tech")
    assert words.splitlines()[0] in page.text
    assert "Telegram" not in page.text


def test_telegram_and_the_terminal_still_read_the_telegram_advice(parts: Parts) -> None:
    """The engine's replies, which Telegram and the terminal chat show as they are, keep the
    Telegram words (tests/scenarios/21_keeping_the_chat_private.yaml walks them there)."""
    for name, words in (("safety.tech", "chat list"), ("safety.tech_phone", "Telegram")):
        session = Session(chat_key="c", state=name)
        reply = parts.engine.step(session, Event.resume())
        assert reply.text.msgid == parts.spec.states[name].text
        assert words in reply.text.msgid


def test_no_step_or_notice_on_the_web_mentions_telegram(parts: Parts) -> None:
    spec = parts.spec
    shown = [web_words(spec, name) for name in spec.states]
    shown += [spec.message(key) for key in REQUIRED_MESSAGES if key not in TELEGRAM_ONLY_MESSAGES]
    for locale in ("en", *SHIPPED):
        tr = translator(locale, LOCALES)
        for msgid in shown:
            assert "Telegram" not in tr.gettext(msgid), (locale, msgid[:60])


def test_every_web_text_is_easy_to_read(parts: Parts) -> None:
    worded = [s for s in parts.spec.states.values() if s.web_text is not None]
    assert {s.name for s in worded} >= {"safety.tech", "safety.tech_phone", "opening.start"}
    for state in worded:
        assert state.web_text is not None
        grade = textstat.flesch_kincaid_grade(PLACEHOLDER.sub("999", state.web_text))
        assert grade <= MAX_GRADE, (state.web_text_where, grade)


def test_a_web_text_is_filled_with_the_steps_numbers() -> None:
    spec = load_flows(FIXTURES / "flows" / "minimal")
    state = spec.states["core.emergency"]
    worded = replace(state, web_text="On the web, call {emergency.phone}.")
    web = replace(spec, states={**spec.states, state.name: worded})
    reply = Reply(
        state=state.name,
        notices=(),
        text=Text(state.text, (("{emergency.phone}", "999"),)),
        buttons=(),
    )
    shown = worded_for_the_web(reply, web).text
    assert translator("en", LOCALES).render(shown) == "On the web, call 999."
    # A reply that is not the step's own text (none today) is left as it is.
    other = Reply(state=state.name, notices=(), text=Text("Something else."), buttons=())
    assert worded_for_the_web(other, web) == other


def test_the_web_texts_are_extracted_for_translators_as_web_only() -> None:
    path = FLOWS / "safety.yaml"
    with path.open("rb") as flow_file:
        found = {
            message: comments for _, _, message, comments in extract_flows(flow_file, (), (), {})
        }
    spec = load_flows(FLOWS)
    for name in ("safety.tech", "safety.tech_phone"):
        state = spec.states[name]
        assert state.web_text in found
        assert "on the web chat only" in found[state.web_text][0]
        assert "on the web chat only" not in found[state.text][0]
