"""Settings from environment variables, validated once at start-up.

A bad setting stops start-up with a message naming the variable and how to fix it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOKEN_FORMAT = re.compile(r"^\d{5,}:[A-Za-z0-9_-]{30,}$")
SECRET_FORMAT = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Webhook:
    url: str  # the public https address Telegram posts updates to
    secret: str = field(repr=False)  # must come back in X-Telegram-Bot-Api-Secret-Token
    listen: str = "127.0.0.1"
    port: int = 8443
    path: str = "telegram"


@dataclass(frozen=True)
class Settings:
    token: str | None = field(repr=False)
    db_path: Path
    idle_minutes: int
    flows_dir: Path
    directory_dir: Path
    locales_dir: Path
    api_base_url: str | None = None
    webhook: Webhook | None = None
    delete_typed: bool = True
    cover_message: str | None = None
    sweep_seconds: int = 30
    owner_ids: frozenset[int] = frozenset()  # service managers who may add and remove editors
    stale_days: int = 180  # entries not checked for this long are listed for managers
    reminder_time: time = time(9, 0)  # when managers get the daily stale-entries list (UK time)

    @property
    def api_file_url(self) -> str | None:
        """Where files are downloaded from, beside the Bot API address."""
        if self.api_base_url and self.api_base_url.rstrip("/").endswith("/bot"):
            return self.api_base_url.rstrip("/")[: -len("/bot")] + "/file/bot"
        return None

    def secrets(self) -> tuple[str, ...]:
        """Values that must never reach a log."""
        found = [self.token or ""]
        if self.webhook:
            found.append(self.webhook.secret)
        return tuple(s for s in found if s)


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    raw = env.get(name, "").strip()
    return Path(raw) if raw else default


def _positive_int(env: Mapping[str, str], name: str, default: int, unit: str = "minutes") -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise ConfigError(f"{name} must be a whole number of {unit}, 1 or more (got '{raw}')")
    return int(raw)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise ConfigError(f"{name} must be true or false (got '{raw}')")


def _api_base_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("TELEGRAM_API_BASE_URL", "").strip()
    if not raw:
        return None
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", raw):
        # The value is not repeated: a mistaken paste could hold the token.
        raise ConfigError(
            "TELEGRAM_API_BASE_URL must be an http(s) address ending where the token goes, "
            "like http://127.0.0.1:8081/bot"
        )
    return raw


def _owner_ids(env: Mapping[str, str]) -> frozenset[int]:
    raw = env.get("PATHWAYS_OWNER_IDS", "").strip()
    ids = [part.strip() for part in raw.replace(";", ",").split(",") if part.strip()]
    if not all(part.isascii() and part.isdigit() for part in ids):
        raise ConfigError(
            "PATHWAYS_OWNER_IDS must be numeric Telegram user ids separated by commas "
            "(not @usernames, which can change hands); ask @userinfobot for yours"
        )
    return frozenset(int(part) for part in ids)


def _reminder_time(env: Mapping[str, str]) -> time:
    raw = env.get("PATHWAYS_REMINDER_TIME", "").strip()
    if not raw:
        return time(9, 0)
    try:
        return time.fromisoformat(raw)
    except ValueError:
        message = f"PATHWAYS_REMINDER_TIME must be a time like 09:00 (got '{raw}')"
        raise ConfigError(message) from None


def _webhook(env: Mapping[str, str]) -> Webhook | None:
    url = env.get("PATHWAYS_WEBHOOK_URL", "").strip()
    if not url:
        return None
    if not url.startswith("https://"):
        raise ConfigError("PATHWAYS_WEBHOOK_URL must start with https:// (Telegram requires TLS)")
    secret = env.get("PATHWAYS_WEBHOOK_SECRET", "").strip()
    if not SECRET_FORMAT.match(secret):
        raise ConfigError(
            "PATHWAYS_WEBHOOK_SECRET is needed in webhook mode: 1 to 256 characters of "
            "A-Z, a-z, 0-9, _ and - (for example from: openssl rand -hex 32)"
        )
    path = env.get("PATHWAYS_WEBHOOK_PATH", "telegram").strip().strip("/") or "telegram"
    return Webhook(
        url=url,
        secret=secret,
        listen=env.get("PATHWAYS_WEBHOOK_LISTEN", "127.0.0.1").strip() or "127.0.0.1",
        port=_positive_int(env, "PATHWAYS_WEBHOOK_PORT", 8443, unit="(a port)"),
        path=path,
    )


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip() or None
    if token is not None and not TOKEN_FORMAT.match(token):
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN does not look like a bot token (digits, a colon, then letters); "
            "copy it again from @BotFather, or unset it to use the terminal chat"
        )
    return Settings(
        token=token,
        db_path=_path(env, "PATHWAYS_DB", PROJECT_ROOT / "var" / "pathways.db"),
        idle_minutes=_positive_int(env, "PATHWAYS_IDLE_MINUTES", 15),
        flows_dir=_path(env, "PATHWAYS_FLOWS", PROJECT_ROOT / "flows"),
        directory_dir=_path(env, "PATHWAYS_DIRECTORY", PROJECT_ROOT / "directory"),
        locales_dir=_path(env, "PATHWAYS_LOCALES", PROJECT_ROOT / "locales"),
        api_base_url=_api_base_url(env),
        webhook=_webhook(env),
        delete_typed=_flag(env, "PATHWAYS_DELETE_TYPED", True),
        cover_message=env.get("PATHWAYS_COVER_MESSAGE", "").strip() or None,
        sweep_seconds=_positive_int(env, "PATHWAYS_SWEEP_SECONDS", 30, unit="seconds"),
        owner_ids=_owner_ids(env),
        stale_days=_positive_int(env, "PATHWAYS_STALE_DAYS", 180, unit="days"),
        reminder_time=_reminder_time(env),
    )
