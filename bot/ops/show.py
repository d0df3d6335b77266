"""`python -m bot config show`: the effective settings, where each came from, secrets hidden."""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.config import OPTIONS, Option, Settings, Source

HIDDEN = "(set, hidden)"
UNSET = "(unset)"
POLLING = "(long polling)"
OFF = "(off)"
_TOKEN_SHAPE = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")


def _text(value: object) -> str:
    return UNSET if value is None or value == "" else str(value)


# How each setting's effective value is shown; the secrets' files are shown as written.
SHOWN: dict[str, Callable[[Settings], str]] = {
    "TELEGRAM_BOT_TOKEN": lambda s: HIDDEN if s.token else UNSET,
    "TELEGRAM_API_BASE_URL": lambda s: _text(s.api_base_url),
    "PATHWAYS_SHORT_DESCRIPTION": lambda s: _text(s.short_description),
    "PATHWAYS_DESCRIPTION": lambda s: _text(s.description),
    "PATHWAYS_WEBHOOK_URL": lambda s: s.webhook.url if s.webhook else POLLING,
    "PATHWAYS_WEBHOOK_SECRET": lambda s: HIDDEN if s.webhook else UNSET,
    "PATHWAYS_WEBHOOK_LISTEN": lambda s: s.webhook.listen if s.webhook else POLLING,
    "PATHWAYS_WEBHOOK_PORT": lambda s: str(s.webhook.port) if s.webhook else POLLING,
    "PATHWAYS_WEBHOOK_PATH": lambda s: s.webhook.path if s.webhook else POLLING,
    "PATHWAYS_HEALTH_PORT": lambda s: str(s.health.port) if s.health else "0 (off)",
    "PATHWAYS_HEALTH_LISTEN": lambda s: s.health.listen if s.health else "(off)",
    "PATHWAYS_WEB": lambda s: "true" if s.web else "false",
    "PATHWAYS_WEB_HOST": lambda s: s.web.host if s.web else OFF,
    "PATHWAYS_WEB_PORT": lambda s: str(s.web.port) if s.web else OFF,
    "PATHWAYS_WEB_EXIT_URL": lambda s: s.web.exit_url if s.web else OFF,
    "PATHWAYS_WEB_TITLE": lambda s: s.web.title if s.web else OFF,
    "PATHWAYS_WEB_FRAME_ANCESTORS": lambda s: s.web.frame_ancestors if s.web else OFF,
    "PATHWAYS_WEB_SECRET": lambda s: HIDDEN if s.web and s.web.secret else UNSET,
    "PATHWAYS_IDLE_MINUTES": lambda s: str(s.idle_minutes),
    "PATHWAYS_SWEEP_SECONDS": lambda s: str(s.sweep_seconds),
    "PATHWAYS_DELETE_TYPED": lambda s: str(s.delete_typed).lower(),
    "PATHWAYS_COVER_MESSAGE": lambda s: _text(s.cover_message),
    "PATHWAYS_OWNER_IDS": lambda s: ", ".join(map(str, sorted(s.owner_ids))) or "(none)",
    "PATHWAYS_STALE_DAYS": lambda s: str(s.stale_days),
    "PATHWAYS_REMINDER_TIME": lambda s: s.reminder_time.isoformat(timespec="minutes"),
    "PATHWAYS_STATS_DAYS": lambda s: str(s.stats_days),
    "PATHWAYS_DB": lambda s: str(s.db_path),
    "PATHWAYS_DATABASE_URL": lambda s: s.database_shown,  # never the password
    "PATHWAYS_FLOWS": lambda s: str(s.flows_dir),
    "PATHWAYS_DIRECTORY": lambda s: str(s.directory_dir),
    "PATHWAYS_LOCALES": lambda s: str(s.locales_dir),
}


def _origin(option: Option, settings: Settings, source: Source) -> str:
    origin = source.origin(option.env)
    if option.secret and origin == "default":
        read = SHOWN[option.env](settings) == HIDDEN
        return (
            f"environment only; read from the file {option.env}_FILE names"
            if read
            else (
                "environment only; not set: random for each process"
                if option.env == "PATHWAYS_WEB_SECRET"
                else "environment only; not set"
            )
        )
    if option.secret:
        return "environment only; set there"
    return f"from {origin}"


def lines(settings: Settings, source: Source) -> list[str]:
    """One line a setting, `key = value  # VARIABLE, from where`, in the order of OPTIONS."""
    out = [
        f"# settings file: {settings.config_file or 'none'}",
        "# each setting comes from the environment, else the settings file, else its default",
    ]
    for option in OPTIONS:
        if option.env in SHOWN:
            value = SHOWN[option.env](settings)
        else:
            value = _text(source.get(option.env))
        name = option.key or option.env
        out.append(f"{name} = {value}  # {option.env}, {_origin(option, settings, source)}")
    return [mask(line, settings.secrets()) for line in out]


def mask(text: str, secrets: tuple[str, ...]) -> str:
    """Belt and braces: a secret pasted into another setting is hidden there too."""
    for secret in secrets:
        text = text.replace(secret, "****")
    return _TOKEN_SHAPE.sub("****", text)
