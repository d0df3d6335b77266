"""A service card as plain text: every detail from the directory, with its source and date.

The card's texts from the directory (description, contact labels, hours note) arrive already in
the person's language where the directory has them (`Engine._card`); the words from here and
from the opening hours are translated through the catalogues. Numbers, addresses and the
source are kept left to right inside right-to-left text.
"""

from __future__ import annotations

import re
from datetime import date

from bot.directory.hours import describe
from bot.engine.model import ServiceCard
from bot.i18n import Translator, _

CONTACT_NAMES = {
    "phone": _("Phone"),
    "text": _("Text"),
    "email": _("Email"),
    "web": _("Website"),
    "webchat": _("Webchat"),
    "keypad": _("Press"),
}
# The last line of a card: where its facts come from, and how and when they were checked.
# `verified_how: service`: our team asked the service itself, which confirmed the details.
# `verified_how: source` (the default): our team read them in {source}, usually a web site.
NOT_CHECKED = _("Source: {source}. Not yet checked by our team.")
CONFIRMED = _("Confirmed with the service on {date}.")
TAKEN_FROM = _("Taken from {source} on {date}.")


def card_lines(card: ServiceCard, tr: Translator) -> list[str]:
    lines = [card.name, card.description]
    for contact in card.contacts:
        label = contact.label or tr.gettext(CONTACT_NAMES.get(contact.kind, contact.kind))
        lines.append(f"{label}: {tr.isolate(contact.value)}")
    hours = describe(card.hours, tr.format_locale, tr.gettext)
    if card.open_now is not None:
        now = tr.gettext(_("Open now.") if card.open_now else _("Closed now."))
        hours = f"{now} {hours}"
    lines.append(hours)
    if card.hours_note:
        lines.append(card.hours_note)
    lines.append(checked_line(card, tr))
    return lines


def checked_line(card: ServiceCard, tr: Translator) -> str:
    """Where the card's facts come from, and how and when they were last checked."""
    source = tr.isolate(card.source)
    if card.verified_on is None:
        return _fill(tr.gettext(NOT_CHECKED), source=source)
    checked = tr.date(date.fromisoformat(card.verified_on))
    if card.verified_how == "service":
        return _fill(tr.gettext(CONFIRMED), date=checked)
    return _fill(tr.gettext(TAKEN_FROM), source=source, date=checked)


def _fill(template: str, **values: str) -> str:
    """Fill {placeholders} in one pass, so braces in a source cannot break it."""
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m[1], m[0]), template)
