"""The bot's profile, set at start-up: its commands in every shipped language, and its
descriptions from the settings, so a partnership chooses how the bot presents itself."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from pathlib import Path

from telegram import Bot, BotCommand
from telegram.error import TelegramError

from bot.config import Settings
from bot.engine.spec import FlowSpec
from bot.i18n import SOURCE_LOCALE, translator

log = logging.getLogger(__name__)


def commands(spec: FlowSpec, locale: str, locales_dir: Path) -> list[BotCommand]:
    """The ways out as commands, in the flows' order, described by their translated labels
    (the same words as the buttons, already in every catalogue)."""
    tr = translator(locale, locales_dir)
    return [BotCommand(way.command, tr.gettext(way.label)) for way in spec.ways_out.values()]


def language_code(locale: str) -> str:
    """Telegram's language_code for a locale: "" (everyone else) for English, else "cy"."""
    return "" if locale == SOURCE_LOCALE else locale.split("_")[0]


async def set_profile(
    bot: Bot, settings: Settings, spec: FlowSpec, locales: tuple[str, ...]
) -> list[str]:
    """Set commands and descriptions. A failure never stops the bot: what failed is logged by
    error type only, and returned."""
    failed: list[str] = []

    async def attempt(what: str, call: Awaitable[object]) -> None:
        try:
            await call
        except TelegramError as exc:
            failed.append(f"{what}: {type(exc).__name__}")

    for locale in locales:
        listed = commands(spec, locale, settings.locales_dir)
        await attempt(
            f"commands ({locale})",
            bot.set_my_commands(listed, language_code=language_code(locale) or None),
        )
    if settings.short_description is not None:
        await attempt("short description", bot.set_my_short_description(settings.short_description))
    if settings.description is not None:
        await attempt("description", bot.set_my_description(settings.description))
    if failed:
        log.warning("could not set the bot's profile: %s", "; ".join(failed))
    return failed
