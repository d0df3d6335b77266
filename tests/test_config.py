from __future__ import annotations

import re
import tomllib
from datetime import time
from pathlib import Path

import pytest

from bot.config import OPTIONS, PROJECT_ROOT, ConfigError, Health, Option, Webhook, load_settings

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"


def test_defaults_need_no_configuration() -> None:
    settings = load_settings({})
    assert settings.token is None
    assert settings.idle_minutes == 15
    assert settings.db_path.name == "pathways.db" and settings.db_path.parent.name == "var"


def test_settings_come_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "PATHWAYS_DB": str(tmp_path / "a.db"),
            "PATHWAYS_IDLE_MINUTES": "30",
        }
    )
    assert settings.token == TOKEN
    assert settings.db_path == tmp_path / "a.db"
    assert settings.idle_minutes == 30


def test_the_token_never_appears_in_the_settings_repr() -> None:
    assert TOKEN not in repr(load_settings({"TELEGRAM_BOT_TOKEN": TOKEN}))


@pytest.mark.parametrize("value", ["0", "-5", "ten", "1.5"])
def test_a_bad_idle_time_names_the_setting(value: str) -> None:
    with pytest.raises(ConfigError, match="PATHWAYS_IDLE_MINUTES"):
        load_settings({"PATHWAYS_IDLE_MINUTES": value})


@pytest.mark.parametrize(
    "token", ["abc", "123:short", "123456789 AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"]
)
def test_a_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
        load_settings({"TELEGRAM_BOT_TOKEN": token})


def test_a_bad_api_address_is_refused_without_repeating_it() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"TELEGRAM_API_BASE_URL": f"api.telegram.org/bot{TOKEN}"})
    assert "TELEGRAM_API_BASE_URL" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_non_ascii_digits_are_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="PATHWAYS_IDLE_MINUTES"):
        load_settings({"PATHWAYS_IDLE_MINUTES": "\u00b2"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PATHWAYS_WEBHOOK_URL": "http://x.org/hook"}, "must start with https://"),
        ({"PATHWAYS_WEBHOOK_URL": "https://x.org/hook"}, "PATHWAYS_WEBHOOK_SECRET is needed"),
        (
            {"PATHWAYS_WEBHOOK_URL": "https://x.org/hook", "PATHWAYS_WEBHOOK_SECRET": "a b"},
            "PATHWAYS_WEBHOOK_SECRET is needed",
        ),
        ({"PATHWAYS_DELETE_TYPED": "maybe"}, "PATHWAYS_DELETE_TYPED must be true or false"),
    ],
)
def test_webhook_and_switch_settings_are_checked(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_webhook_settings_and_secrets() -> None:
    settings = load_settings(
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "PATHWAYS_WEBHOOK_URL": "https://bot.example.org/telegram",
            "PATHWAYS_WEBHOOK_SECRET": "s3cret_token",
            "PATHWAYS_WEBHOOK_PORT": "8080",
        }
    )
    assert settings.webhook is not None and settings.webhook.port == 8080
    assert set(settings.secrets()) == {TOKEN, "s3cret_token"}
    assert "s3cret_token" not in repr(settings)


# -- every default is declared once, in OPTIONS, and documented as it is ------------------------


def as_option_says(option: Option) -> object:
    """The option's default, read here independently of the code that reads the settings."""
    raw = option.default
    if option.kind in ("int", "port"):
        return int(raw)
    if option.kind == "bool":
        return {"true": True, "false": False}[raw]
    if option.kind == "time":
        return time.fromisoformat(raw)
    if option.kind == "ids":
        return frozenset(int(part) for part in raw.split(",") if part)
    if not raw:
        return None  # unset
    return PROJECT_ROOT / raw if option.kind == "path" else raw


def as_read_from_nothing() -> dict[str, object]:
    """Each setting's effective value when nothing sets it."""
    nothing = load_settings({})
    # Webhook mode and the health check switched on, to see their other settings' defaults.
    on = load_settings(
        {
            "PATHWAYS_WEBHOOK_URL": "https://bot.example.org/telegram",
            "PATHWAYS_WEBHOOK_SECRET": "s3cret_token",
            "PATHWAYS_HEALTH_PORT": "8081",
        }
    )
    assert on.webhook is not None and on.health is not None
    # The dataclasses, built directly as the tests do, have the same defaults.
    assert Webhook(on.webhook.url, on.webhook.secret) == on.webhook
    assert Health(on.health.port) == on.health
    return {
        "TELEGRAM_BOT_TOKEN": nothing.token,
        "TELEGRAM_BOT_TOKEN_FILE": nothing.secret_files or None,
        "TELEGRAM_API_BASE_URL": nothing.api_base_url,
        "PATHWAYS_SHORT_DESCRIPTION": nothing.short_description,
        "PATHWAYS_DESCRIPTION": nothing.description,
        "PATHWAYS_WEBHOOK_URL": nothing.webhook,
        "PATHWAYS_WEBHOOK_SECRET": nothing.webhook,
        "PATHWAYS_WEBHOOK_SECRET_FILE": on.secret_files or None,
        "PATHWAYS_WEBHOOK_LISTEN": on.webhook.listen,
        "PATHWAYS_WEBHOOK_PORT": on.webhook.port,
        "PATHWAYS_WEBHOOK_PATH": on.webhook.path,
        "PATHWAYS_HEALTH_PORT": nothing.health.port if nothing.health else 0,
        "PATHWAYS_HEALTH_LISTEN": on.health.listen,
        "PATHWAYS_IDLE_MINUTES": nothing.idle_minutes,
        "PATHWAYS_SWEEP_SECONDS": nothing.sweep_seconds,
        "PATHWAYS_DELETE_TYPED": nothing.delete_typed,
        "PATHWAYS_COVER_MESSAGE": nothing.cover_message,
        "PATHWAYS_OWNER_IDS": nothing.owner_ids,
        "PATHWAYS_STALE_DAYS": nothing.stale_days,
        "PATHWAYS_REMINDER_TIME": nothing.reminder_time,
        "PATHWAYS_STATS_DAYS": nothing.stats_days,
        "PATHWAYS_DB": nothing.db_path,
        "PATHWAYS_FLOWS": nothing.flows_dir,
        "PATHWAYS_DIRECTORY": nothing.directory_dir,
        "PATHWAYS_LOCALES": nothing.locales_dir,
    }


def test_each_setting_left_unset_is_its_options_default() -> None:
    found = as_read_from_nothing()
    assert set(found) == {o.env for o in OPTIONS}, "a new option needs a line above"
    for option in OPTIONS:
        assert found[option.env] == as_option_says(option), option.env


def readme_defaults() -> dict[str, str]:
    """The README's settings table: variable -> default, as written (without the backticks)."""
    section = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8").split("## Settings", 1)[1]
    found: dict[str, str] = {}
    for row in re.findall(r"^\| (`[A-Z_]+`.*?) \| (.*?) \| .* \|$", section, re.MULTILINE):
        names = row[0].replace("`", "").split(", ")
        # `PATHWAYS_HEALTH_PORT`, `_LISTEN` shares the first name's prefix.
        prefix = names[0].rsplit("_", 1)[0]
        names = [prefix + n if n.startswith("_") else n for n in names]
        defaults = row[1].replace("`", "").split(", ")
        if len(names) == len(defaults):
            found.update(zip(names, defaults, strict=True))
    return found


def test_the_readme_shows_each_default_as_it_is() -> None:
    shown = readme_defaults()
    for option in OPTIONS:
        assert shown.get(option.env) == option.documented, option.env


def test_the_example_settings_file_shows_each_default_as_it_is() -> None:
    text = (PROJECT_ROOT / "pathways.toml.example").read_text(encoding="utf-8")
    document = tomllib.loads(text)
    lines = text.splitlines()
    for option in OPTIONS:
        if option.secret:
            continue
        section, key = option.key.split(".")
        value = document[section][key]
        if isinstance(value, bool):
            raw = str(value).lower()
        elif isinstance(value, list):
            raw = ",".join(str(item) for item in value)
        else:
            raw = str(value)
        if raw == option.default:
            continue
        # "" (unset) stands for the default, which the comment above the key must name.
        assert raw == "", f"{option.key} = {value!r}, but its default is {option.documented}"
        at = lines.index(f'{key} = ""', lines.index(f"[{section}]"))
        above: list[str] = []
        for line in reversed(lines[:at]):
            if not line.startswith("#"):
                break
            above.insert(0, line.lstrip("# "))
        assert f'"" is {option.documented}' in " ".join(above), option.key
