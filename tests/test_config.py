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
