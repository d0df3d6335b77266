from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

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
