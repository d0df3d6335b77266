"""Settings from pathways.toml under the environment; secrets only from the environment or a
file; `config show` with secrets masked; the example file documents every setting."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot.config import (
    OPTIONS,
    PROJECT_ROOT,
    ConfigError,
    Settings,
    load_settings,
    read_source,
)
from bot.ops import show
from tests.conftest import ROOT

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
SECRET = "f3b1c8e0d2a4469bb7e5c3a1d9f00e7c"
EXAMPLE = ROOT / "pathways.toml.example"


def write(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "pathways.toml"
    path.write_text(text, encoding="utf-8")
    return {"PATHWAYS_CONFIG": str(path)}


def secret_file(tmp_path: Path, name: str, value: str) -> Path:
    path = tmp_path / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def test_the_file_sets_what_the_environment_does_not(tmp_path: Path) -> None:
    env = write(
        tmp_path,
        "[conversation]\nidle_minutes = 20\ndelete_typed = false\n"
        '[managers]\nowner_ids = [123456789, "987654321"]\nreminder_time = 08:30:00\n'
        '[paths]\ndatabase = "data/p.db"\n'
        '[telegram]\nshort_description = "Information and contacts."\n',
    )
    settings = load_settings({**env, "PATHWAYS_IDLE_MINUTES": "30"})
    assert settings.idle_minutes == 30  # the environment wins
    assert settings.delete_typed is False
    assert settings.owner_ids == {123456789, 987654321}
    assert settings.reminder_time.isoformat() == "08:30:00"
    # A relative path in the file is relative to the file.
    assert settings.db_path == tmp_path / "data" / "p.db"
    assert settings.short_description == "Information and contacts."
    assert settings.config_file == tmp_path / "pathways.toml"


def test_an_empty_variable_does_not_hide_the_file(tmp_path: Path) -> None:
    env = write(tmp_path, "[managers]\nstale_days = 90\n")
    assert load_settings({**env, "PATHWAYS_STALE_DAYS": ""}).stale_days == 90


def test_the_example_documents_every_setting_with_its_default(tmp_path: Path) -> None:
    document = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    keys = {f"{section}.{key}" for section, table in document.items() for key in table}
    assert keys == {o.key for o in OPTIONS if o.key}
    text = EXAMPLE.read_text(encoding="utf-8")
    for option in OPTIONS:
        assert option.env in text, f"{option.env} is not mentioned in {EXAMPLE.name}"
    # Loaded as it stands, it changes nothing: every value in it is the default.
    shipped = dataclasses.replace(load_settings({"PATHWAYS_CONFIG": str(EXAMPLE)}))
    defaults = load_settings({})
    assert dataclasses.replace(shipped, config_file=None) == defaults


def test_there_is_no_settings_file_in_the_repository_to_surprise_anyone() -> None:
    # pathways.toml in the project is read when present; only the example is shipped.
    assert not (PROJECT_ROOT / "pathways.toml").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[telegram]\ntoken = "x"\n',
            r"\[telegram\] token holds a secret.*TELEGRAM_BOT_TOKEN_FILE",
        ),
        ('[webhook]\nsecret = "x"\n', r"secret.*PATHWAYS_WEBHOOK_SECRET_FILE"),
        ('[web]\nsecret = "x"\n', r"\[web\] secret holds a secret.*PATHWAYS_WEB_SECRET_FILE"),
        ('token = "x"\n', "holds a secret"),
        ("[conversation]\nidle_minute = 5\n", "unknown setting 'idle_minute'.*'idle_minutes'"),
        ("[converstion]\nidle_minutes = 5\n", r"unknown section \[converstion\].*\[conversation\]"),
        ("idle_minutes = 5\n", "must be in a section"),
        ('[conversation]\nidle_minutes = "ten"\n', r"idle_minutes in \[conversation\] of .*"),
        ("[conversation]\ndelete_typed = 1.5\n", "delete_typed .* must be true or false"),
        ("[conversation]\ncover_message = 5\n", "cover_message .* must be text"),
        ("[webhook]\nport = 70000\n", "port number, 1 to 65535"),
        ("[health]\nport = -1\n", r"port in \[health\].*0 turns it off"),
        ('[managers]\nowner_ids = ["@someone"]\n', "owner_ids in \\[managers\\].*numeric"),
        ('[managers]\nreminder_time = "9am"\n', "reminder_time .* like 09:00"),
        ("[conversation\n", "not valid TOML"),
        (f'[telegram]\nshort_description = "{"x" * 121}"\n', "120 characters or fewer"),
    ],
)
def test_a_bad_file_names_the_setting_and_the_fix(tmp_path: Path, text: str, message: str) -> None:
    env = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(env)
    assert '"x"' not in str(caught.value)  # a secret's value is never repeated


def test_a_missing_settings_file_is_named() -> None:
    with pytest.raises(ConfigError, match=r"PATHWAYS_CONFIG names /nowhere/p\.toml"):
        load_settings({"PATHWAYS_CONFIG": "/nowhere/p.toml"})


def test_secrets_come_from_files(tmp_path: Path) -> None:
    token = secret_file(tmp_path, "token", TOKEN)
    secret = secret_file(tmp_path, "hook", SECRET)
    env = write(
        tmp_path,
        f'[telegram]\ntoken_file = "{token.name}"\n'
        f'[webhook]\nurl = "https://bot.example.org/telegram"\nsecret_file = "{secret}"\n',
    )
    settings = load_settings(env)
    assert settings.token == TOKEN
    assert settings.webhook is not None and settings.webhook.secret == SECRET
    assert settings.secret_files == (token, secret)
    assert TOKEN not in repr(settings) and SECRET not in repr(settings)
    # The environment's file wins over the settings file's.
    other = secret_file(tmp_path, "other", TOKEN.replace("AAH", "BBH"))
    assert load_settings({**env, "TELEGRAM_BOT_TOKEN_FILE": str(other)}).token != TOKEN


def test_secret_file_problems_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"TELEGRAM_BOT_TOKEN_FILE names .*cannot be read"):
        load_settings({"TELEGRAM_BOT_TOKEN_FILE": str(tmp_path / "missing")})
    empty = secret_file(tmp_path, "empty", "")
    with pytest.raises(ConfigError, match="which is empty"):
        load_settings({"TELEGRAM_BOT_TOKEN_FILE": str(empty)})
    with pytest.raises(ConfigError, match="not both"):
        load_settings({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_BOT_TOKEN_FILE": str(empty)})
    bad = secret_file(tmp_path, "bad", "not a token")
    with pytest.raises(ConfigError, match="does not look like a bot token") as caught:
        load_settings({"TELEGRAM_BOT_TOKEN_FILE": str(bad)})
    assert "not a token" not in str(caught.value)


def test_the_health_check_needs_its_own_port() -> None:
    env = {
        "PATHWAYS_WEBHOOK_URL": "https://bot.example.org/telegram",
        "PATHWAYS_WEBHOOK_SECRET": SECRET,
        "PATHWAYS_HEALTH_PORT": "8443",
    }
    with pytest.raises(ConfigError, match="PATHWAYS_HEALTH_PORT must differ"):
        load_settings(env)
    settings = load_settings({**env, "PATHWAYS_HEALTH_PORT": "8081"})
    assert settings.health is not None and settings.health.port == 8081
    assert load_settings({"PATHWAYS_HEALTH_PORT": "0"}).health is None


def test_every_setting_is_shown_and_every_secret_hidden(tmp_path: Path) -> None:
    token = secret_file(tmp_path, "token", TOKEN)
    env = {
        **write(tmp_path, "[conversation]\nidle_minutes = 20\n"),
        "TELEGRAM_BOT_TOKEN_FILE": str(token),
        "PATHWAYS_WEBHOOK_URL": "https://bot.example.org/telegram",
        "PATHWAYS_WEBHOOK_SECRET": SECRET,
        # A secret pasted where it does not belong is hidden there too.
        "PATHWAYS_COVER_MESSAGE": f"oops {SECRET}",
    }
    settings = load_settings(env)
    assert set(show.SHOWN) | {o.env for o in OPTIONS if o.env.endswith("_FILE")} == {
        o.env for o in OPTIONS
    }
    lines = show.lines(settings, read_source(env))
    text = "\n".join(lines)
    assert TOKEN not in text and SECRET not in text
    assert f"TELEGRAM_BOT_TOKEN = {show.HIDDEN}" in text
    assert "read from the file TELEGRAM_BOT_TOKEN_FILE names" in text
    assert (
        f"PATHWAYS_WEBHOOK_SECRET = {show.HIDDEN}  # PATHWAYS_WEBHOOK_SECRET, environment" in text
    )
    assert re.search(
        r"conversation.idle_minutes = 20 .*from .*pathways.toml: \[conversation\]", text
    )
    assert "conversation.sweep_seconds = 30  # PATHWAYS_SWEEP_SECONDS, from default" in text
    assert (
        "webhook.url = https://bot.example.org/telegram  # PATHWAYS_WEBHOOK_URL, from environment"
        in text
    )
    assert len(lines) == len(OPTIONS) + 2


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PATHWAYS_", "TELEGRAM_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**clean, **env},
    )


def test_config_show_as_a_command(tmp_path: Path) -> None:
    result = cli("config", "show", env={"TELEGRAM_BOT_TOKEN": TOKEN, "PATHWAYS_IDLE_MINUTES": "20"})
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout + result.stderr
    assert "conversation.idle_minutes = 20  # PATHWAYS_IDLE_MINUTES, from environment" in (
        result.stdout
    )


def test_a_bad_setting_stops_start_up_naming_it_and_the_fix(tmp_path: Path) -> None:
    env = write(tmp_path, '[webhook]\nurl = "http://bot.example.org/telegram"\n')
    for command in (("run",), ("config", "show"), ("backup", str(tmp_path))):
        result = cli(*command, env=env)
        assert result.returncode == 2, (command, result.stderr)
        assert "url in [webhook] of" in result.stderr
        assert "must start with https://" in result.stderr


def test_a_secret_in_the_settings_file_stops_start_up(tmp_path: Path) -> None:
    env = write(tmp_path, f'[telegram]\ntoken = "{TOKEN}"\n')
    result = cli("run", env=env)
    assert result.returncode == 2
    assert "holds a secret" in result.stderr and TOKEN not in result.stderr


def test_settings_defaults_are_the_dataclass_defaults() -> None:
    # Settings built directly (as the tests do) and from nothing agree on what is optional.
    loaded = load_settings({})
    for item in dataclasses.fields(Settings):
        if item.default is not dataclasses.MISSING:
            assert getattr(loaded, item.name) == item.default, item.name
