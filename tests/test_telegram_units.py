"""Telegram pieces that need no server: rendering, callback data, retries, log redaction."""

from __future__ import annotations

import io
import logging

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.app import Parts
from bot.channels.telegram.render import (
    MAX_CALLBACK_BYTES,
    MAX_TEXT,
    callback_data,
    card_html,
    escape,
    parse_callback,
    render,
    split_text,
)
from bot.channels.telegram.sender import Blocked, GaveUp, Sender
from bot.directory.hours import parse_hours
from bot.engine.model import Button, Contact, Event, EventKind, ServiceCard
from bot.i18n import translator
from bot.logs import REDACTED, RedactingFilter
from tests.conftest import LOCALES

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"


def test_every_button_of_the_shipped_flows_fits_telegrams_callback_limit(parts: Parts) -> None:
    for state in parts.spec.states:
        for button in parts.engine.buttons(state):
            assert len(callback_data(state, button).encode()) <= MAX_CALLBACK_BYTES


def test_callback_data_round_trips() -> None:
    step = Button("no", "No")
    way = Button("exit", "Quick exit", way_out=True)
    assert parse_callback(callback_data("opening.start", step)) == Event.button(
        "no", "opening.start"
    )
    # A way out carries no state: it works from any message, however old.
    assert parse_callback(callback_data("opening.start", way)) == Event.button("exit")


@pytest.mark.parametrize("data", [None, "", "x", "s:only", "w:", "s::no", "w:a:b", "zz:top:hat"])
def test_unknown_callback_data_is_refused(data: str | None) -> None:
    assert parse_callback(data) is None


def test_directory_text_is_escaped_and_renders_literally() -> None:
    card = ServiceCard(
        service_id="x",
        name="<b>Bold</b> & Co",
        description="Use <script>alert(1)</script> & more",
        contacts=(Contact("phone", "0808 2000 247", "Call <free>"),),
        hours=parse_hours("24/7"),
        source="a & b",
        verified_on=None,
    )
    (html,) = card_html(card, translator("en", LOCALES))
    assert html.startswith("<b>&lt;b&gt;Bold&lt;/b&gt; &amp; Co</b>")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Call &lt;free&gt;: 0808 2000 247" in html
    assert escape("a<b>&c") == "a&lt;b&gt;&amp;c"


def test_long_text_splits_at_paragraphs_within_the_limit() -> None:
    paragraph = "word " * 300  # 1,500 characters
    text = "\n\n".join([paragraph.strip()] * 6)
    pieces = split_text(text)
    assert len(pieces) > 1
    assert all(len(p) <= MAX_TEXT for p in pieces)

    def squash(value: str) -> str:
        return value.replace("\n", "").replace(" ", "")

    assert squash("".join(pieces)) == squash(text)
    assert all(p == p.strip() for p in pieces)


def test_text_without_breaks_is_still_split() -> None:
    pieces = split_text("x" * (MAX_TEXT * 2 + 10))
    assert [len(p) for p in pieces] == [MAX_TEXT, MAX_TEXT, 10]


def test_a_rendered_step_has_the_ways_out_on_its_last_row(parts: Parts) -> None:
    session = parts.engine.new_session("c")
    reply = parts.engine.step(session, Event.start())
    rendered = render(
        reply, translator("en", LOCALES), parts.engine.message("auto_clear", minutes="15")
    )
    assert rendered.single
    assert rendered.step[0].endswith(
        "<i>This chat clears itself if you leave it for 15 minutes.</i>"
    )
    rows = rendered.keyboard.inline_keyboard if rendered.keyboard else ()
    assert [b.text for b in rows[-1]] == ["Quick exit"]
    assert rows[0][0].text == "Yes, I'm in danger now"


class Flaky:
    """A Bot API method that fails in the given ways, then succeeds."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


class Sleeps:
    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)


async def test_flood_control_waits_as_long_as_telegram_asks() -> None:
    sleeps = Sleeps()
    method = Flaky(RetryAfter(3), RetryAfter(5))
    assert await Sender(sleep=sleeps).call(method) == "ok"
    assert sleeps.asked == [3, 5]


async def test_network_faults_are_retried_with_growing_waits_then_given_up() -> None:
    sleeps = Sleeps()
    method = Flaky(*(NetworkError("502 Bad Gateway") for _ in range(5)))
    with pytest.raises(GaveUp):
        await Sender(sleep=sleeps, retries=3, first_backoff=0.5).call(method)
    assert sleeps.asked == [0.5, 1.0, 2.0]
    assert method.calls == 4


async def test_a_timeout_then_success() -> None:
    method = Flaky(TimedOut())
    assert await Sender(sleep=Sleeps()).call(method) == "ok"


async def test_forbidden_means_blocked_and_is_not_retried() -> None:
    method = Flaky(Forbidden("Forbidden: bot was blocked by the user"))
    with pytest.raises(Blocked):
        await Sender(sleep=Sleeps()).call(method)
    assert method.calls == 1


async def test_a_bad_request_is_not_retried() -> None:
    method = Flaky(BadRequest("message is not modified"))
    with pytest.raises(BadRequest):
        await Sender(sleep=Sleeps()).call(method)
    assert method.calls == 1


def test_the_redaction_filter_hides_tokens_secrets_and_chat_ids() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter([TOKEN, "hook-secret"]))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("POST https://api.telegram.org/bot%s/sendMessage", TOKEN)
        logger.warning("secret %s for chat_id=987654321 and %s", "hook-secret", 5550001234)
        try:
            raise RuntimeError(f"url /bot{TOKEN}/getMe")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert TOKEN not in out and "hook-secret" not in out
    assert "987654321" not in out and "5550001234" not in out
    assert out.count(REDACTED) >= 5
    assert EventKind.BUTTON  # the module imports cleanly alongside the engine


async def test_a_chat_turn_taken_by_the_sweep_leaves_nothing_behind() -> None:
    """The sweep takes the turn of every chat it clears: with 100,000 chats left idle, an entry
    kept for each would grow without end."""
    from bot.channels.telegram.flood import PerChatUpdateProcessor

    processor = PerChatUpdateProcessor()
    for chat_id in range(1000):
        async with processor.chat_turn(chat_id):
            pass
    assert processor.waiting_chats == 0
