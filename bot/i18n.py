"""Translations (gettext catalogues through Babel) and locale-aware formatting.

English is the source language: a flow's text is its own msgid. A locale with no catalogue
falls back to English rather than failing. See docs/translations.md for the workflow.
"""

from __future__ import annotations

import gettext
import io
import logging
import re
from datetime import date
from functools import cached_property, lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from bot.engine.model import Button, Text

DOMAIN = "messages"
SOURCE_LOCALE = "en"

# Unicode isolates: a value set inside right-to-left text keeps its own left-to-right order,
# so "0800 555 111" does not come out as "111 555 0800" in Urdu.
LEFT_TO_RIGHT_ISOLATE = "\u2066"
POP_DIRECTIONAL_ISOLATE = "\u2069"

log = logging.getLogger(__name__)

# A command in running text: "/start", not part of a web address or a path.
_COMMAND = re.compile(r"(?<![\w/:.])/[a-z]+\b")


def available_locales(locales_dir: Path) -> tuple[str, ...]:
    """English first, then every locale with a catalogue under `locales/<code>/LC_MESSAGES/`."""
    found: set[str] = set()
    if locales_dir.is_dir():
        found.update(p.parent.parent.name for p in locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    found.discard(SOURCE_LOCALE)
    return (SOURCE_LOCALE, *sorted(found))


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


def is_right_to_left(locale: str) -> bool:
    try:
        return Locale.parse(locale.replace("-", "_")).text_direction == "rtl"
    except (UnknownLocaleError, ValueError):
        return False


class Translator:
    def __init__(self, locale: str, catalogue: gettext.NullTranslations) -> None:
        self.locale = locale
        self._catalogue = catalogue

    @cached_property
    def right_to_left(self) -> bool:
        """Looked up when first needed: it loads the language's locale data (about 1 MB),
        which reading words in every language at start-up does not need."""
        return is_right_to_left(self.locale)

    def gettext(self, msgid: str) -> str:
        return self._catalogue.gettext(msgid)

    def label(self, button: Button) -> str:
        """A button's label, in its question's context where it has one ("Yes" to "Are you
        afraid ...?" is "Ydw" in Welsh; to "Have they ever ...?", "Do")."""
        if button.context is None:
            return self.gettext(button.label)
        return self._catalogue.pgettext(button.context, button.label)

    def isolate(self, value: str) -> str:
        """A number or address to set inside this language's text, kept left to right."""
        if self.right_to_left:
            return f"{LEFT_TO_RIGHT_ISOLATE}{value}{POP_DIRECTIONAL_ISOLATE}"
        return value

    def render(self, text: Text) -> str:
        """Translate, then fill the `{service.kind}` placeholders with directory values. In a
        right-to-left language, commands are set left to right too (`/start`, not `start/`)."""
        rendered = self.gettext(text.msgid)
        for placeholder, value in text.values:
            rendered = rendered.replace(placeholder, self.isolate(value))
        if self.right_to_left:
            rendered = _COMMAND.sub(lambda m: self.isolate(m.group(0)), rendered)
        return rendered

    @property
    def format_locale(self) -> str:
        """Dates and times follow British conventions when the language is English."""
        return "en_GB" if self.locale == SOURCE_LOCALE else self.locale

    def date(self, value: date) -> str:
        return format_date(value, format="long", locale=self.format_locale)


def _catalogue(locale: str, locales_dir: Path) -> gettext.NullTranslations:
    """The compiled `.mo` when it is up to date; otherwise the `.po` compiled in memory.

    `make` compiles the `.mo` files (they are not committed). Reading the `.po` when the `.mo`
    is missing or older means a catalogue edited without `make` is never shown stale, and a
    shipped language never silently turns into English.
    """
    folder = locales_dir / locale / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if not po.is_file():
        return Translations.load(str(locales_dir), [locale], domain=DOMAIN)
    if mo.is_file() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as compiled:
            return Translations(compiled, domain=DOMAIN)
    log.warning("%s is missing or older than its .po: run `make translations`", mo)
    with po.open("rb") as source:
        catalog = read_po(source, locale=locale, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)  # fuzzy entries are left out, as `pybabel compile` does
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@lru_cache(maxsize=32)
def translator(locale: str, locales_dir: Path) -> Translator:
    return Translator(locale, _catalogue(locale, locales_dir))


def _(msgid: str) -> str:
    """Marks a string in code for extraction; the channel translates it when rendering."""
    return msgid
