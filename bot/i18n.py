"""Translations (gettext catalogues through Babel) and locale-aware formatting.

English is the source language: a flow's text is its own msgid. A locale with no compiled
catalogue falls back to English rather than failing.
"""

from __future__ import annotations

import gettext
from datetime import date
from functools import lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.support import Translations

from bot.engine.model import Text

DOMAIN = "messages"
SOURCE_LOCALE = "en"


def available_locales(locales_dir: Path) -> tuple[str, ...]:
    """English, plus every locale with a catalogue under `locales/<code>/LC_MESSAGES/`."""
    found = {SOURCE_LOCALE}
    if locales_dir.is_dir():
        found.update(p.parent.parent.name for p in locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return tuple(sorted(found))


def negotiate(language_code: str | None, available: tuple[str, ...]) -> str:
    """The best shipped locale for a Telegram `language_code` ("pl-PL" -> "pl"), else English."""
    if language_code:
        wanted = language_code.replace("-", "_")
        try:
            found = Locale.negotiate([wanted, wanted.split("_")[0]], list(available), sep="_")
        except (UnknownLocaleError, ValueError):
            found = None
        if found is not None:
            return str(found)
    return SOURCE_LOCALE


class Translator:
    def __init__(self, locale: str, catalogue: gettext.NullTranslations) -> None:
        self.locale = locale
        self._catalogue = catalogue

    def gettext(self, msgid: str) -> str:
        return self._catalogue.gettext(msgid)

    def render(self, text: Text) -> str:
        """Translate, then fill the `{service.kind}` placeholders with directory values."""
        rendered = self.gettext(text.msgid)
        for placeholder, value in text.values:
            rendered = rendered.replace(placeholder, value)
        return rendered

    @property
    def format_locale(self) -> str:
        """Dates and times follow British conventions when the language is English."""
        return "en_GB" if self.locale == SOURCE_LOCALE else self.locale

    def date(self, value: date) -> str:
        return format_date(value, format="long", locale=self.format_locale)


@lru_cache(maxsize=32)
def translator(locale: str, locales_dir: Path) -> Translator:
    catalogue = Translations.load(str(locales_dir), [locale], domain=DOMAIN)
    return Translator(locale, catalogue)


def _(msgid: str) -> str:
    """Marks a string in code for extraction; the channel translates it when rendering."""
    return msgid
