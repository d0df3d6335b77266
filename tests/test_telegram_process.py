"""`python -m bot run` as a real process against the fake Bot API, as a deployment starts it."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakebot import TOKEN, FakeBotApi
from tests.processes import run_bot
from tests.telegram_support import CHAT


@pytest.fixture
def fake() -> Iterator[FakeBotApi]:
    with FakeBotApi() as server:
        yield server
    assert server.refused == []


def start(fake: FakeBotApi, tmp_path: Path, token: str = TOKEN) -> subprocess.Popen[str]:
    return run_bot(
        {
            "TELEGRAM_BOT_TOKEN": token,
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "PATHWAYS_DB": str(tmp_path / "run.db"),
        }
    )


def test_run_serves_telegram_and_stops_cleanly_on_sigterm(fake: FakeBotApi, tmp_path: Path) -> None:
    process = start(fake, tmp_path)
    try:
        fake.send_text(CHAT, "/start")  # waits in the queue until the bot polls
        fake.wait_for(lambda f: any(m.from_bot for m in f.chat(CHAT)), timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    bot_text = " ".join(m.plain_text or "" for m in fake.chat(CHAT))
    assert "are you in danger right now?" in bot_text
    assert TOKEN not in stderr
    assert str(CHAT) not in stderr


def test_a_token_telegram_rejects_stops_start_up_clearly(fake: FakeBotApi, tmp_path: Path) -> None:
    other = "987654321:ZZHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
    process = start(fake, tmp_path, token=other)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "Telegram did not accept TELEGRAM_BOT_TOKEN" in stderr
    assert other not in stderr
