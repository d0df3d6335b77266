"""Languages: catalogues complete and current, negotiation, switching, and the danger-first
path in every shipped language, in the terminal chat and over Telegram."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.app import Parts
from bot.channels.console import ConsoleChat
from bot.conversation import Conversations
from bot.directory.hours import describe, parse_hours
from bot.directory.index import DirectoryIndex
from bot.engine.model import Event, Session
from bot.i18n import available_locales, negotiate, translator
from bot.i18n_extract import PROTECTED_TERMS, extract_template
from tests.conftest import DIRECTORY, LOCALES, ROOT, FakeClock
from tests.fakebot import FakeBotApi
from tests.telegram_support import CHAT, running_bot, settings_for

SHIPPED = ("cy", "pl", "ro", "ur")
PLACEHOLDER = re.compile(r"\{[a-z0-9.\-_]+\}")
EMERGENCY_OPENING = "If you are in danger now, call {emergency.phone}."


def catalogue(locale: str) -> Catalog:
    with (LOCALES / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=locale)


def emergency_msgid(parts: Parts) -> str:
    return parts.spec.states["core.emergency"].text


def test_the_shipped_languages() -> None:
    assert available_locales(LOCALES) == ("en", *SHIPPED)


def test_the_template_is_up_to_date_with_flows_and_code() -> None:
    with (LOCALES / "messages.pot").open("rb") as pot:
        committed = {m.id for m in read_po(pot) if m.id}
    current = {m.id for m in extract_template(ROOT) if m.id}
    assert committed == current, (
        "locales/messages.pot is out of date: run `make translations-update`, then translate "
        f"what is new. Missing: {sorted(current - committed)[:3]} Stale: "
        f"{sorted(committed - current)[:3]}"
    )


@pytest.mark.parametrize("locale", SHIPPED)
def test_each_catalogue_is_complete_and_keeps_its_placeholders(locale: str) -> None:
    with (LOCALES / "messages.pot").open("rb") as pot:
        wanted = {m.id for m in read_po(pot) if m.id}
    found = {m.id: m for m in catalogue(locale) if m.id}
    assert set(found) == wanted, f"{locale}: run `make translations-update`"
    problems = []
    for msgid, message in found.items():
        if not message.string:
            problems.append(f"untranslated: {msgid[:50]!r}")
        elif message.fuzzy:
            problems.append(f"fuzzy: {msgid[:50]!r}")
        elif set(PLACEHOLDER.findall(str(msgid))) != set(PLACEHOLDER.findall(message.string)):
            problems.append(f"placeholders differ: {msgid[:50]!r}")
    assert not problems, f"{locale}:\n" + "\n".join(problems)


@pytest.mark.parametrize("locale", SHIPPED)
def test_each_catalogue_says_it_needs_a_native_speakers_review(locale: str) -> None:
    lines = (LOCALES / locale / "LC_MESSAGES" / "messages.po").read_text().splitlines()
    header = " ".join(line.lstrip("# ") for line in lines[:3] if line.startswith("#"))
    assert "reviewed by a native speaker before public use" in header


@pytest.mark.parametrize("locale", SHIPPED)
def test_protected_terms_stay_as_they_are(locale: str) -> None:
    for message in catalogue(locale):
        for term in PROTECTED_TERMS:
            if message.id and term in str(message.id) and message.string:
                assert term in message.string, (locale, term, str(message.id)[:40])


@pytest.mark.parametrize(
    ("code", "locale"),
    [
        ("pl-PL", "pl"),
        ("pl", "pl"),
        ("cy", "cy"),
        ("cy-GB", "cy"),
        ("ro-RO", "ro"),
        ("ur-PK", "ur"),
        ("pt-BR", "en"),
        ("en-US", "en"),
        (None, "en"),
        ("", "en"),
    ],
)
def test_telegram_language_codes_find_the_best_shipped_language(
    code: str | None, locale: str
) -> None:
    assert negotiate(code, available_locales(LOCALES)) == locale


@pytest.mark.parametrize("locale", SHIPPED)
async def test_the_danger_first_path_reaches_the_emergency_card_in_each_language(
    locale: str, conversations: Conversations, parts: Parts
) -> None:
    out = io.StringIO()
    console = ConsoleChat(conversations, parts.spec, parts.words, LOCALES, out, False, locale)
    await console.begin()
    assert console.last is not None
    danger = next(b for b in console.last.buttons if b.trigger == "danger")
    await console.enter(translator(locale, LOCALES).gettext(danger.label))
    tr = translator(locale, LOCALES)
    expected = tr.gettext(emergency_msgid(parts))
    assert expected != emergency_msgid(parts)  # really translated
    first_line = expected.splitlines()[0].replace("{emergency.phone}", tr.isolate("999"))
    shown = " ".join(out.getvalue().split())
    assert " ".join(first_line.split()) in shown
    assert "55" in shown and "999" in shown


def test_switching_language_keeps_the_step(parts: Parts) -> None:
    engine = parts.engine
    session = Session(chat_key="c", state="victim.start")
    engine.step(session, Event.button("language"))
    assert session.state == "core.language"
    reply = engine.step(session, Event.button("pl", "core.language"))
    assert (session.state, session.locale) == ("victim.start", "pl")
    assert reply.locale == "pl"


@pytest.mark.parametrize(
    ("locale", "monday"),
    [("cy", "Dydd Llun"), ("pl", "poniedziałek"), ("ro", "luni"), ("ur", "پیر")],
)
def test_opening_hours_are_described_with_babel_in_each_language(locale: str, monday: str) -> None:
    tr = translator(locale, LOCALES)
    text = describe(parse_hours("Mon-Fri 10:00-16:00"), tr.format_locale, tr.gettext)
    assert monday in text and "10:00" in text and "16:00" in text
    assert text != describe(parse_hours("Mon-Fri 10:00-16:00"), "en_GB")


def test_a_service_description_uses_its_translation_and_falls_back_to_english() -> None:
    from bot.app import bundled_directory

    bundled = bundled_directory(DIRECTORY)
    samaritans = bundled.service("samaritans")
    assert samaritans is not None
    translated = samaritans.__class__(
        **{**samaritans.__dict__, "translations": {"cy": "Rhywun i siarad ag ef."}}
    )
    index = DirectoryIndex(
        {a.id: a for a in bundled.areas()},
        {s.id: s for s in bundled.services()} | {"samaritans": translated},
    )
    found = index.service("samaritans")
    assert found is not None
    assert found.described("cy") == "Rhywun i siarad ag ef."
    assert found.described("pl") == samaritans.description


@pytest.mark.parametrize("locale", SHIPPED)
async def test_telegram_speaks_the_persons_language_from_the_start(
    locale: str, tmp_path: Path, clock: FakeClock
) -> None:
    code = {"cy": "cy", "pl": "pl-PL", "ro": "ro", "ur": "ur-PK"}[locale]
    tr = translator(locale, LOCALES)
    with FakeBotApi(clock=clock) as fake:
        async with running_bot(fake, settings_for(fake, tmp_path), clock) as bot:
            await bot.act(lambda: fake.send_text(CHAT, "/start", language_code=code))
            labels = bot.labels()
            danger = next(
                label
                for label in labels
                if "999" not in label and label in {tr.gettext("Yes, I'm in danger now")}
            )
            await bot.tap(danger)
            shown = bot.text()
        assert fake.refused == []
    spec_text = (
        tr.gettext("If you are in danger now, call {emergency.phone}.\n\n") if False else None
    )
    del spec_text
    assert "999" in shown and "55" in shown
    first_line = tr.gettext(bot.channel.parts.spec.states["core.emergency"].text).splitlines()[0]
    assert first_line.replace("{emergency.phone}", tr.isolate("999")).strip() in shown
    if locale == "ur":
        # Urdu script arrives intact (the fake checked the HTML around it), numbers kept
        # left to right inside it.
        assert re.search("[\u0600-\u06ff]", shown)
        assert "\u2066999\u2069" in shown


def test_dates_on_cards_follow_the_language() -> None:
    when = datetime(2026, 11, 26, tzinfo=UTC).date()
    assert translator("en", LOCALES).date(when) == "26 November 2026"
    assert "2026" in translator("cy", LOCALES).date(when)
    assert translator("cy", LOCALES).date(when) != "26 November 2026"
