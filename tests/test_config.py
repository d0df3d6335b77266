from __future__ import annotations

import re
import tomllib
from datetime import time
from pathlib import Path

import pytest

from bot.config import (
    OPTIONS,
    PROJECT_ROOT,
    ConfigError,
    Health,
    Option,
    Web,
    Webhook,
    load_settings,
    read_source,
)

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
            "PATHWAYS_WEB": "off",  # 8080 is the web chat's port when it is on
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
    assert nothing.web is not None and Web() == nothing.web
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
        "PATHWAYS_WEB": nothing.web is not None,
        "PATHWAYS_WEB_HOST": nothing.web.host,
        "PATHWAYS_WEB_PORT": nothing.web.port,
        "PATHWAYS_WEB_EXIT_URL": nothing.web.exit_url,
        "PATHWAYS_WEB_TITLE": nothing.web.title,
        "PATHWAYS_WEB_FRAME_ANCESTORS": nothing.web.frame_ancestors,
        "PATHWAYS_WEB_SECRET": nothing.web.secret,
        "PATHWAYS_WEB_SECRET_FILE": nothing.secret_files or None,
        "PATHWAYS_IDLE_MINUTES": nothing.idle_minutes,
        "PATHWAYS_SWEEP_SECONDS": nothing.sweep_seconds,
        "PATHWAYS_DELETE_TYPED": nothing.delete_typed,
        "PATHWAYS_COVER_MESSAGE": nothing.cover_message,
        "PATHWAYS_OWNER_IDS": nothing.owner_ids,
        "PATHWAYS_STALE_DAYS": nothing.stale_days,
        "PATHWAYS_REMINDER_TIME": nothing.reminder_time,
        "PATHWAYS_STATS_DAYS": nothing.stats_days,
        "PATHWAYS_DB": nothing.db_path,
        "PATHWAYS_DATABASE_URL": nothing.database_url,
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


# -- the web chat's settings ------------------------------------------------------------------


def test_the_web_chat_is_on_by_default_on_127_0_0_1_and_can_be_turned_off() -> None:
    web = load_settings({}).web
    assert web is not None and (web.host, web.port) == ("127.0.0.1", 8080)
    assert (web.exit_url, web.title, web.frame_ancestors) == (
        "https://www.bbc.co.uk/weather",
        "Help",
        "'none'",
    )
    assert web.secret is None  # random bytes in each process
    assert load_settings({"PATHWAYS_WEB": "off"}).web is None


def test_the_web_chat_settings_are_read() -> None:
    web = load_settings(
        {
            "PATHWAYS_WEB_HOST": "0.0.0.0",
            "PATHWAYS_WEB_PORT": "9090",
            "PATHWAYS_WEB_EXIT_URL": "https://www.gov.uk/",
            "PATHWAYS_WEB_TITLE": "Library",
            "PATHWAYS_WEB_FRAME_ANCESTORS": "'self'  https://www.example.gov.uk",
            "PATHWAYS_WEB_SECRET": "x" * 16,
        }
    ).web
    assert web == Web(
        "0.0.0.0",
        9090,
        "https://www.gov.uk/",
        "Library",
        "'self' https://www.example.gov.uk",
        secret="x" * 16,
    )


def test_the_web_chat_secret_comes_from_its_file_and_is_never_shown(tmp_path: Path) -> None:
    secret = "s" * 40
    path = tmp_path / "web-secret"
    path.write_text(secret + "\n")
    settings = load_settings({"PATHWAYS_WEB_SECRET_FILE": str(path)})
    assert settings.web is not None and settings.web.secret == secret
    assert secret in settings.secrets() and secret not in repr(settings)
    with pytest.raises(ConfigError, match="not both"):
        load_settings({"PATHWAYS_WEB_SECRET_FILE": str(path), "PATHWAYS_WEB_SECRET": secret})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PATHWAYS_WEB": "maybe"}, "PATHWAYS_WEB must be true or false"),
        ({"PATHWAYS_WEB_PORT": "0"}, "PATHWAYS_WEB_PORT must be a port number"),
        ({"PATHWAYS_WEB_PORT": "70000"}, "PATHWAYS_WEB_PORT must be a port number"),
        ({"PATHWAYS_WEB_EXIT_URL": "http://www.bbc.co.uk/"}, "PATHWAYS_WEB_EXIT_URL must be"),
        ({"PATHWAYS_WEB_EXIT_URL": "https://a.uk/; script-src *"}, "PATHWAYS_WEB_EXIT_URL"),
        ({"PATHWAYS_WEB_EXIT_URL": "javascript:alert(1)"}, "PATHWAYS_WEB_EXIT_URL"),
        ({"PATHWAYS_WEB_TITLE": "x" * 61}, "PATHWAYS_WEB_TITLE must be 1 to 60"),
        ({"PATHWAYS_WEB_FRAME_ANCESTORS": "none"}, "PATHWAYS_WEB_FRAME_ANCESTORS must be"),
        (
            {"PATHWAYS_WEB_FRAME_ANCESTORS": "'none'; script-src *"},
            "PATHWAYS_WEB_FRAME_ANCESTORS must be",
        ),
        ({"PATHWAYS_WEB_FRAME_ANCESTORS": "'none' 'self'"}, "PATHWAYS_WEB_FRAME_ANCESTORS"),
        ({"PATHWAYS_WEB_SECRET": "short"}, "PATHWAYS_WEB_SECRET must be 16 characters"),
        ({"PATHWAYS_WEB_PORT": "8081", "PATHWAYS_HEALTH_PORT": "8081"}, "must differ from"),
        # Checked even when the web chat is off: no surprise when it is turned on.
        ({"PATHWAYS_WEB": "off", "PATHWAYS_WEB_PORT": "x"}, "PATHWAYS_WEB_PORT"),
    ],
)
def test_a_bad_web_chat_setting_is_refused_naming_it(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(env)


# -- PostgreSQL instead of the SQLite file --------------------------------------------------------

DB_PASSWORD = "Pw-never-shown-4821"
DB_URL = f"postgresql://pathways:{DB_PASSWORD}@db.example.org:5432/pathways?sslmode=require"


def test_sqlite_is_the_default_and_postgresql_is_chosen_by_its_address() -> None:
    assert load_settings({}).database_url is None
    settings = load_settings({"PATHWAYS_DATABASE_URL": DB_URL})
    assert settings.database_url == DB_URL
    assert DB_PASSWORD not in repr(settings)
    assert DB_PASSWORD in settings.secrets()  # so that logs redact it
    assert settings.database_shown == (
        "postgresql://pathways:****@db.example.org:5432/pathways?sslmode=require"
    )
    # A password given as a parameter, or percent-encoded, is as secret.
    encoded = load_settings(
        {"PATHWAYS_DATABASE_URL": "postgresql://u:p%40ss-word-1@h/d?password=second-pw-22"}
    )
    assert {"p@ss-word-1", "p%40ss-word-1", "second-pw-22"} <= set(encoded.secrets())
    assert "ss-word" not in encoded.database_shown and "second" not in encoded.database_shown


@pytest.mark.parametrize(
    "url", ["mysql://u:Pw-never-shown-4821@h/d", "postgresql://u:Pw-never-shown-4821@h/d?x=1"]
)
def test_a_bad_database_address_is_refused_without_repeating_it(url: str) -> None:
    with pytest.raises(ConfigError, match="PATHWAYS_DATABASE_URL") as caught:
        load_settings({"PATHWAYS_DATABASE_URL": url})
    assert DB_PASSWORD not in str(caught.value)


def test_the_settings_file_may_name_the_database_but_never_hold_its_password(
    tmp_path: Path,
) -> None:
    config = tmp_path / "pathways.toml"
    config.write_text('[database]\nurl = "postgresql://pathways@db.example.org/pathways"\n')
    env = {"PATHWAYS_CONFIG": str(config)}
    assert load_settings(env).database_url == "postgresql://pathways@db.example.org/pathways"
    config.write_text(f'[database]\nurl = "{DB_URL}"\n')
    with pytest.raises(ConfigError, match="holds a password") as caught:
        load_settings(env)
    assert DB_PASSWORD not in str(caught.value)
    # The environment may carry it, as it carries the token.
    assert load_settings({**env, "PATHWAYS_DATABASE_URL": DB_URL}).database_url == DB_URL


def test_config_show_never_shows_the_database_password() -> None:
    from bot.ops import show

    env = {"PATHWAYS_DATABASE_URL": DB_URL}
    text = "\n".join(show.lines(load_settings(env), read_source(env)))
    assert DB_PASSWORD not in text
    assert "postgresql://pathways:****@db.example.org:5432/pathways" in text
