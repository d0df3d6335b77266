"""Service cards: whole in every language, honest about where their facts come from, and built
only from contacts the directory could read in full."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import Parts, build, bundled_directory
from bot.channels.cards import card_lines
from bot.channels.telegram.render import card_html
from bot.directory.files import read_folder, read_import, to_csv, to_yaml
from bot.directory.hours import parse_hours
from bot.directory.model import Service
from bot.directory.validate import DirectoryError
from bot.engine.model import ServiceCard
from bot.i18n import LEFT_TO_RIGHT_ISOLATE, POP_DIRECTIONAL_ISOLATE, translator
from tests.conftest import DIRECTORY, FLOWS, LOCALES

SHIPPED = ("cy", "pl", "ro", "ur")
WEDNESDAY_10AM = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SATURDAY_10AM = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)

AREAS = """
areas:
  - {id: uk, name: United Kingdom, kind: uk}
  - {id: england, name: England, kind: nation, parent: uk}
"""
SERVICE = """
services:
  - id: helpline
    name: A helpline
    description: Someone to talk to.
    audiences: [victim]
    needs: [talk]
    areas: [england]
    contacts:
      - {kind: phone, value: "0808 2000 247"}
    hours: Mon-Fri 10:00-16:00
    source: refuge.org.uk
    verified_on: 2026-11-26
"""
PHONE = '      - {kind: phone, value: "0808 2000 247"}\n'

# -- what may stay in English on a card in another language ---------------------------------
# The service's name (its first line), each contact's value, and the source are shown as the
# directory holds them. Beyond those, only these: names of services, schemes and organisations,
# place names, and the word to text to 999 to register with emergencySMS.
KEPT_AS_THEY_ARE = (
    "emergencySMS",
    '"register"',  # the word to send: it must be sent as it is
    "Clare's Law",
    "Fresh Start",
    "IDVAs",
    "IDVA",
    "LGBT+",
    "Police Scotland",
    "PSNI",
    "Milton Keynes",
    "England",
    "Wales",
    "Scotland",
    "Northern Ireland",
)
# Words of the language that are spelt like an English word on a card.
SAME_SPELLING = {
    "cy": {"a", "at", "panel", "person"},  # "a": and; "at": to
    "pl": {"a", "by", "do", "go", "partner", "to"},  # "a": and; "do": to; "go": him; "to": it
    "ro": {"a", "are", "domestic", "online", "sexual"},  # "are": has
    "ur": set(),
}
WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")


@pytest.fixture(scope="module")
def parts() -> Parts:
    return build(FLOWS, DIRECTORY, LOCALES, clock=lambda: WEDNESDAY_10AM)


def services(parts: Parts) -> list[Service]:
    """Every service in the bundled directory, as the engine has it."""
    ids = sorted(s.id for s in bundled_directory(DIRECTORY).services())
    return [s for s in map(parts.engine.deps.directory.service, ids) if s is not None]


def card_of(
    parts: Parts, service: Service, locale: str, at: datetime = WEDNESDAY_10AM
) -> list[str]:
    card = parts.engine._card(service, locale, at)
    return card_lines(card, translator(locale, LOCALES))


def words(text: str) -> set[str]:
    return {w.casefold() for w in WORD.findall(text)}


def kept_out(lines: list[str], card: ServiceCard) -> str:
    """A card's text without what is shown as the directory holds it."""
    text = "\n".join(lines[1:])  # the first line is the service's name
    for kept in (
        card.source,
        *(c.value for c in card.contacts),
        *KEPT_AS_THEY_ARE,
        LEFT_TO_RIGHT_ISOLATE,
        POP_DIRECTIONAL_ISOLATE,
    ):
        text = text.replace(kept, " ")
    return text


def english_words(parts: Parts) -> set[str]:
    """Every word an English card can show, besides what is kept as it is."""
    found: set[str] = set()
    for service in services(parts):
        for at in (WEDNESDAY_10AM, SATURDAY_10AM):
            card = parts.engine._card(service, "en", at)
            found |= words(kept_out(card_lines(card, translator("en", LOCALES)), card))
    return found


# -- 1. a contact with a key the directory does not know ----------------------------------------


def write(tmp_path: Path, services: str) -> Path:
    (tmp_path / "areas.yaml").write_text(AREAS)
    (tmp_path / "services.yaml").write_text(services)
    return tmp_path


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(DirectoryError) as caught:
        read_folder(folder)
    return caught.value.problems


def test_a_comma_in_an_unquoted_label_is_caught_not_cut(tmp_path: Path) -> None:
    """In YAML's `{...}` a comma ends the label: "Text, after registering" became the label
    "Text" and a stray key. The directory refuses it, naming the file, entry, field and key."""
    broken = '      - {kind: text, value: "999", label: Text, after registering}\n'
    folder = write(tmp_path, SERVICE.replace(PHONE, PHONE + broken))
    found = problems_of(folder)
    expected = (
        f"{folder / 'services.yaml'}: service 'helpline': field 'contacts': the 'text' contact "
        "'999' has an unknown key 'after registering'"
    )
    assert any(p.startswith(expected) for p in found), found
    assert any("put the whole label in quotes" in p for p in found)


def test_any_unknown_key_on_a_contact_is_refused(tmp_path: Path) -> None:
    folder = write(tmp_path, SERVICE.replace(PHONE, PHONE.replace("}", ", hours: 24/7}")))
    found = problems_of(folder)
    assert any(
        "field 'contacts': the 'phone' contact '0808 2000 247' has an unknown key 'hours'" in p
        for p in found
    ), found


def test_a_spreadsheet_contact_with_more_than_kind_value_label_and_translations_is_refused(
    tmp_path: Path,
) -> None:
    data = read_folder(write(tmp_path, SERVICE))
    text = to_csv(data.services.values()).replace(
        "phone | 0808 2000 247", "phone | 0808 2000 247 | Call free | day or night"
    )
    path = tmp_path / "services.csv"
    path.write_text(text, newline="")
    with pytest.raises(DirectoryError) as caught:
        read_import(path, data.areas)
    assert any(
        f"{path}, row 2: service 'helpline': field 'contacts': the 'phone' contact "
        "'0808 2000 247' has an unknown key 'day or night'" in p
        for p in caught.value.problems
    ), caught.value.problems


def test_the_emergencysms_card_says_to_register_first_and_how(parts: Parts) -> None:
    service = parts.engine.deps.directory.service("emergencysms")
    assert service is not None
    assert service.verified_on is None  # the reference says "check"
    assert "emergencysms.net" in service.source
    lines = card_of(parts, service, "en")
    assert "Text, only after registering: 999" in lines
    description = service.description
    assert 'text the word "register" to 999 and follow the reply' in description
    assert "before you ever need it" in description
    assert "does not reach the emergency services" in description
    assert not any(line.startswith("Text: ") for line in lines)


# -- 13. whole in every language ----------------------------------------------------------------


def test_every_service_is_translated_into_every_shipped_language(parts: Parts) -> None:
    missing = []
    for service in services(parts):
        for locale in SHIPPED:
            if not service.translations.get(locale):
                missing.append(f"{service.id}: description in {locale}")
            if service.hours_note and not service.hours_note_translations.get(locale):
                missing.append(f"{service.id}: hours_note in {locale}")
            for contact in service.contacts:
                if contact.label and contact.labelled(locale) == contact.label:
                    missing.append(f"{service.id}: label {contact.label!r} in {locale}")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("locale", SHIPPED)
def test_no_english_is_left_on_any_card(parts: Parts, locale: str) -> None:
    english = english_words(parts)
    left = []
    for service in services(parts):
        for at in (WEDNESDAY_10AM, SATURDAY_10AM):
            card = parts.engine._card(service, locale, at)
            lines = card_lines(card, translator(locale, LOCALES))
            stray = words(kept_out(lines, card)) & english - SAME_SPELLING[locale]
            if stray:
                left.append(f"{service.id}: {sorted(stray)} in {lines[1:]}")
    assert not left, "\n".join(left)


HOURS = (
    "Mon-Thu 10:00-20:30; Fri 10:00-16:30; Sat 20:00-02:00; closed on bank holidays",
    "Mon,Wed,Fri 09:00-12:00,13:00-17:00",
    "daily 08:00-20:00",
    "24/7",
    "",
)


def hours_card(hours: str, open_now: bool | None) -> ServiceCard:
    return ServiceCard(
        service_id="x",
        name="X",
        description="",
        contacts=(),
        hours=parse_hours(hours),
        source="example.org",
        verified_on="2026-11-26",
        open_now=open_now,
    )


@pytest.mark.parametrize("locale", SHIPPED)
def test_opening_hours_words_are_in_every_language(locale: str) -> None:
    english: set[str] = set()
    for hours in HOURS:
        for open_now in (True, False):
            for how in ("source", "service"):
                card = replace(hours_card(hours, open_now), verified_how=how)
                english |= words(kept_out(card_lines(card, translator("en", LOCALES)), card))
    left = []
    for hours in HOURS:
        for open_now in (True, False):
            for how in ("source", "service"):
                card = replace(hours_card(hours, open_now), verified_how=how)
                lines = card_lines(card, translator(locale, LOCALES))
                stray = words(kept_out(lines, card)) & english - SAME_SPELLING[locale]
                if stray:
                    left.append(f"{hours!r}: {sorted(stray)} in {lines[1:]}")
    assert not left, "\n".join(left)


@pytest.mark.parametrize("locale", ("en", *SHIPPED))
def test_telegram_shows_the_same_card(parts: Parts, locale: str) -> None:
    tr = translator(locale, LOCALES)
    for service in services(parts):
        card = parts.engine._card(service, locale, WEDNESDAY_10AM)
        shown = html.unescape(re.sub(r"</?b>", "", "\n".join(card_html(card, tr))))
        assert shown == "\n".join(card_lines(card, tr)), service.id


def test_numbers_keep_their_order_inside_urdu(parts: Parts) -> None:
    service = parts.engine.deps.directory.service("national-domestic-abuse-helpline")
    assert service is not None
    lines = card_of(parts, service, "ur")
    assert "مفت کال کریں: \u20660808 2000 247\u2069" in lines


LABELLED = """
services:
  - id: helpline
    name: A helpline
    description: Someone to talk to.
    translations: {cy: "Rhywun i siarad ag ef.", pl: "Ktoś, z kim można porozmawiać."}
    audiences: [victim]
    needs: [talk]
    areas: [england]
    contacts:
      - kind: phone
        value: "0808 2000 247"
        label: Call free, day or night
        label_translations: {cy: "Ffoniwch am ddim, ddydd a nos", pl: "Zadzwoń bezpłatnie"}
      - {kind: email, value: "help@example.org"}
    hours: Mon-Fri 10:00-16:00
    hours_note: Hours as published in 2023.
    hours_note_translations: {ur: "یہ اوقات 2023 میں شائع ہوئے تھے"}
    source: refuge.org.uk
    verified_on: 2026-11-26
    verified_how: service
"""


def test_label_translations_survive_yaml_and_csv_round_trips(tmp_path: Path) -> None:
    data = read_folder(write(tmp_path, LABELLED))
    service = data.services["helpline"]
    phone = service.contacts[0]
    assert phone.label == "Call free, day or night"
    assert phone.labelled("cy") == "Ffoniwch am ddim, ddydd a nos"
    assert phone.labelled("ro") == "Call free, day or night"  # English where there is none
    assert service.contacts[1].labelled("cy") == ""  # no label: the card names the kind
    assert service.noted("ur") == "یہ اوقات 2023 میں شائع ہوئے تھے"
    assert service.verified_how == "service"

    as_yaml = tmp_path / "export.yaml"
    as_yaml.write_text(to_yaml(data))
    assert read_import(as_yaml, {}).services == data.services

    text = to_csv(data.services.values())
    assert (
        "phone | 0808 2000 247 | Call free, day or night | cy: Ffoniwch am ddim, ddydd a nos | "
        "pl: Zadzwoń bezpłatnie" in text
    )
    assert "hours_note_ur" in text.splitlines()[0] and "verified_how" in text.splitlines()[0]
    as_csv = tmp_path / "export.csv"
    as_csv.write_text(text, newline="")
    again = read_import(as_csv, data.areas).services
    assert again == data.services
    as_csv.write_text(to_csv(again.values()), newline="")
    assert as_csv.read_text() == text.replace("\r\n", "\n")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('pl: "Zadzwoń bezpłatnie"', 'xx-yy: "Zadzwoń"', "'xx-yy' is not a language code"),
        ('pl: "Zadzwoń bezpłatnie"', f'pl: "{"z" * 61}"', "the label in 'pl'"),
        ("        label: Call free, day or night\n", "", "need the label in English too"),
        ("    hours_note: Hours as published in 2023.\n", "", "need the note in English"),
        ("verified_how: service", "verified_how: phoned", "'phoned' must be 'source'"),
        ("verified_on: 2026-11-26", "verified_on: null", "'service' needs the date"),
    ],
)
def test_translated_labels_notes_and_how_it_was_checked_are_validated(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in LABELLED
    found = problems_of(write(tmp_path, LABELLED.replace(old, new)))
    assert any(p.startswith(str(tmp_path / "services.yaml")) and message in p for p in found), found


# -- 19. confirmed with the service, or taken from a source -------------------------------------


def test_how_a_fact_was_checked_defaults_to_its_source(tmp_path: Path) -> None:
    assert read_folder(write(tmp_path, SERVICE)).services["helpline"].verified_how == "source"


def test_a_card_says_where_its_facts_were_taken_from_and_when(parts: Parts) -> None:
    service = parts.engine.deps.directory.service("live-fear-free")
    assert service is not None and service.verified_how == "source"
    lines = card_of(parts, service, "en")
    assert lines[-1] == "Taken from gov.wales on 26 November 2026."
    confirmed = replace(service, verified_how="service")
    assert card_of(parts, confirmed, "en")[-1] == "Confirmed with the service on 26 November 2026."
    unchecked = replace(service, verified_on=None)
    assert card_of(parts, unchecked, "en")[-1] == "Source: gov.wales. Not yet checked by our team."
    every_line = [line for s in services(parts) for line in card_of(parts, s, "en")]
    assert not any("Checked on" in line for line in every_line)


@pytest.mark.parametrize(
    ("locale", "month"),
    [("cy", "Tachwedd"), ("pl", "listopada"), ("ro", "noiembrie"), ("ur", "نومبر")],
)
def test_how_a_fact_was_checked_is_said_in_every_language(
    parts: Parts, locale: str, month: str
) -> None:
    service = parts.engine.deps.directory.service("live-fear-free")
    assert service is not None
    taken = card_of(parts, service, locale)[-1]
    confirmed = card_of(parts, replace(service, verified_how="service"), locale)[-1]
    english = (
        card_of(parts, service, "en")[-1],
        card_of(parts, replace(service, verified_how="service"), "en")[-1],
    )
    assert month in taken and month in confirmed and "gov.wales" in taken
    assert taken != confirmed and taken not in english and confirmed not in english
