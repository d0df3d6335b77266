"""The web chat's own words (bot/channels/web/pages.py) in every shipped language: extracted,
translated, and no longer marked as English on the page once a catalogue has them."""

from __future__ import annotations

import gettext
import re

import pytest

from bot.channels.web import pages
from bot.engine.model import Button, Reply, Text
from bot.i18n import Translator, translator
from tests.conftest import LOCALES

SHIPPED = ("cy", "pl", "ro", "ur")
EXIT_URL = "https://www.bbc.co.uk/weather"
OWN_WORDS = (
    pages.EXIT_LABEL,
    pages.EXIT_WHAT,
    pages.EXIT_LIMITS,
    pages.SHIFT_TIP,
    pages.TYPE_LABEL,
    pages.SEND_LABEL,
    pages.TOO_LONG,
    pages.BACK_TO_CHAT,
    pages.FORBIDDEN,
    pages.TOO_BIG,
    pages.TOO_MANY,
    pages.NOT_FOUND,
    pages.FAILED,
)
# A small step: a notice, a text and two of the flows' buttons, all in the catalogues.
REPLY = Reply(
    state="victim.start",
    notices=(Text("That button has expired. Here is where we are now."),),
    text=Text("Start again"),
    buttons=(
        Button("restart", "Start again", way_out=True, everywhere=True),
        Button("exit", "Quick exit", way_out=True, everywhere=True),
    ),
)


def chat_page(tr: Translator) -> str:
    return pages.chat_page(REPLY, tr, title="Help", exit_url=EXIT_URL, token="t")


def element_langs(page: str) -> list[str]:
    """The `lang` of every element below <html>."""
    return re.findall(r'<(?!html\b)[a-z]+[^>]*\slang="([^"]*)"', page)


@pytest.mark.parametrize("locale", SHIPPED)
def test_every_word_of_the_web_chat_is_translated(locale: str) -> None:
    tr = translator(locale, LOCALES)
    untranslated = [msgid for msgid in OWN_WORDS if tr.gettext(msgid) == msgid]
    assert untranslated == [], f"{locale}: {untranslated}"


@pytest.mark.parametrize("locale", SHIPPED)
def test_a_chat_page_is_in_the_language_with_nothing_marked_english(locale: str) -> None:
    tr = translator(locale, LOCALES)
    page = chat_page(tr)
    exit_label = pages.escape(tr.gettext(pages.EXIT_LABEL))
    assert f'<button type="submit" class="exit-button">{exit_label}</button>' in page
    assert f"<p>{pages.escape(tr.gettext(pages.EXIT_LIMITS))}</p>" in page
    for english in (pages.EXIT_LABEL, pages.EXIT_LIMITS, pages.TYPE_LABEL, pages.SEND_LABEL):
        assert f">{pages.escape(english)}<" not in page, (locale, english)
    assert f'<html lang="{locale}"' in page
    assert element_langs(page) == []


@pytest.mark.parametrize("locale", SHIPPED)
def test_the_too_many_requests_page_is_in_the_language(locale: str) -> None:
    tr = translator(locale, LOCALES)
    page = pages.message_page(pages.TOO_MANY, tr, title="Help", exit_url=EXIT_URL)
    assert f"<p>{pages.escape(tr.gettext(pages.TOO_MANY))}</p>" in page
    assert pages.escape(pages.TOO_MANY) not in page
    assert element_langs(page) == []


def test_words_a_catalogue_lacks_are_marked_english_for_screen_readers() -> None:
    lagging = Translator("pl", gettext.NullTranslations())
    page = chat_page(lagging)
    assert (
        '<button type="submit" class="exit-button" lang="en" dir="ltr">Exit this page</button>'
    ) in page
    # The exit button, the three sentences under it, "Or type your answer" and "Send".
    assert element_langs(page) == ["en"] * 6


def test_english_pages_mark_no_element() -> None:
    assert element_langs(chat_page(translator("en", LOCALES))) == []
