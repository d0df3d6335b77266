"""A service card as plain text: every detail from the directory, with its source and date."""

from __future__ import annotations

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


def card_lines(card: ServiceCard, tr: Translator) -> list[str]:
    lines = [card.name, card.description]
    for contact in card.contacts:
        label = contact.label or tr.gettext(CONTACT_NAMES.get(contact.kind, contact.kind))
        lines.append(f"{label}: {contact.value}")
    hours = describe(card.hours, tr.format_locale, tr.gettext)
    if card.open_now is not None:
        now = tr.gettext(_("Open now.") if card.open_now else _("Closed now."))
        hours = f"{now} {hours}"
    lines.append(hours)
    if card.hours_note:
        lines.append(card.hours_note)
    if card.verified_on:
        checked = tr.date(date.fromisoformat(card.verified_on))
        source = tr.gettext(_("Source: {source}. Checked on {date}."))
        lines.append(source.replace("{source}", card.source).replace("{date}", checked))
    else:
        source = tr.gettext(_("Source: {source}. Not yet checked by our team."))
        lines.append(source.replace("{source}", card.source))
    return lines
