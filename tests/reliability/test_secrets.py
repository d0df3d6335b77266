"""The bot token and the webhook secret never reach the logs.

`python -m bot run` runs as deployed (logging as the bot sets it up by default: warnings and
errors, httpx quiet), once with long polling and once with a webhook, while things go wrong on
purpose so that everything that can log does: failed polls (reported at ERROR), retried and
abandoned sends, requests with a wrong or missing secret,
a broken request body, an update python-telegram-bot cannot read. Then every byte it wrote is
searched for the secrets, whole and in part and as they would look inside a URL, and for the
words and names in the unreadable update.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.fakebot import TOKEN
from tests.processes import free_port, run_bot
from tests.reliability.harness import ReliableFake
from tests.test_unreadable_updates import MARKER, unreadable

SECRET = "wh-Secret_4b9Qz7LmX2vR8kT1"
PERSON = 7400001


def forms(secret: str) -> set[str]:
    """The secret, its halves (a token's id and key), and how each looks URL-encoded."""
    parts = {secret, *[p for p in secret.split(":") if len(p) >= 8]}
    return parts | {quote(p, safe="") for p in parts}


@pytest.fixture
def fake() -> Iterator[ReliableFake]:
    with ReliableFake() as server:
        server.timeout_seconds = 12.0  # longer than the bot's own 10-second timeout
        yield server


def start(fake: ReliableFake, tmp_path: Path, **extra: str) -> subprocess.Popen[str]:
    return run_bot(
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "PATHWAYS_DB": str(tmp_path / "secrets.db"),
            **extra,
        }
    )


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    return out + err


def assert_clean(logged: str, *secrets: str) -> None:
    for secret in secrets:
        for form in forms(secret):
            assert form not in logged, f"a form of a secret is in the logs: {form[:4]}..."
    assert str(PERSON) not in logged


def test_polling_logs_hold_no_secret_even_when_everything_fails(
    fake: ReliableFake, tmp_path: Path
) -> None:
    fake.inject("getUpdates", "500")  # python-telegram-bot logs a traceback for this
    fake.inject("sendMessage", "500", times=4)  # retried, then given up: warnings
    process = start(fake, tmp_path)
    try:
        fake.queue_update(unreadable())  # skipped, with a warning
        fake.send_text(PERSON, "/start")
        fake.wait_for(lambda f: len([r for r in f.requests if r.fault]) >= 5, timeout=60)
        fake.inject("deleteMessages", "403")
        fake.send_text(PERSON, "/start")
        fake.wait_for(lambda f: any(m.from_bot for m in f.chat(PERSON)), timeout=60)
        fake.send_text(PERSON, "/exit")
        fake.wait_for(lambda f: any(r.method == "deleteMessages" for r in f.requests), 60)
    finally:
        logged = stop(process)
    assert " ERROR " in logged  # the failed poll, reported through the error handler
    assert "retrying" in logged and "gave up" in logged  # the send, retried then abandoned
    assert "skipped an update" in logged
    assert_clean(logged, TOKEN)
    assert MARKER not in logged


def test_webhook_logs_hold_no_secret_whatever_is_posted_to_it(
    fake: ReliableFake, tmp_path: Path
) -> None:
    port = free_port()
    process = start(
        fake,
        tmp_path,
        PATHWAYS_WEBHOOK_URL="https://bot.example.org/telegram",
        PATHWAYS_WEBHOOK_SECRET=SECRET,
        PATHWAYS_WEBHOOK_PORT=str(port),
    )
    url = f"http://127.0.0.1:{port}/telegram"
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 1795687200,
            "chat": {"id": PERSON, "type": "private", "first_name": "Test"},
            "from": {"id": PERSON, "is_bot": False, "first_name": "Test"},
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }
    try:
        fake.wait_for(lambda f: bool(f.calls("setWebhook")), timeout=60)
        fake.inject("sendMessage", "500", times=4)
        with httpx.Client(timeout=10) as client:
            header = "X-Telegram-Bot-Api-Secret-Token"
            assert client.post(url, json=update).status_code == 403
            wrong = {header: SECRET[:-1] + "x"}
            assert client.post(url, json=update, headers=wrong).status_code == 403
            bad = client.post(url, content=b"{not json", headers={header: SECRET})
            assert bad.status_code >= 400
            unreadable_update = {"update_id": 2, **unreadable()}
            unread = client.post(url, json=unreadable_update, headers={header: SECRET})
            assert unread.status_code == 200  # skipped, with a warning
            fine = client.post(url, json=update, headers={header: SECRET})
            assert fine.status_code == 200
        fake.wait_for(lambda f: len([r for r in f.requests if r.fault]) >= 4, timeout=60)
    finally:
        logged = stop(process)
    assert fake.calls("setWebhook")[0]["secret_token"] == SECRET
    assert "skipped an update" in logged
    assert_clean(logged, TOKEN, SECRET)
    assert MARKER not in logged
