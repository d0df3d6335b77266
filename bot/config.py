"""Settings from environment variables, validated once at start-up.

A bad setting stops start-up with a message naming the variable and how to fix it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOKEN_FORMAT = re.compile(r"^\d{5,}:[A-Za-z0-9_-]{30,}$")


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    token: str | None
    db_path: Path
    idle_minutes: int
    flows_dir: Path
    directory_dir: Path
    locales_dir: Path

    def __repr__(self) -> str:  # never show the token, even by accident
        return f"Settings(db_path={self.db_path!s}, idle_minutes={self.idle_minutes})"


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    raw = env.get(name, "").strip()
    return Path(raw) if raw else default


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name} must be a whole number of minutes, 1 or more (got '{raw}')")
    return int(raw)


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
    )
