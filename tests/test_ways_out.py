"""Ways out under pressure: a quick exit goes before everything else in its chat, and leaves
nothing behind, not even a reply whose answer was lost.

Nothing here is timed. Where the bot would have had to wait (a flood-control wait, a reply
Telegram is slow to answer), the wait is made endless, and the test waits for the chat to be
cleared while it still lasts: were the exit queued behind it, the chat would never clear.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.channels.telegram.flood import PerChatUpdateProcessor
from bot.channels.telegram.render import MAX_TEXT, card_html, escape, split_html
from bot.directory.hours import parse_hours
from bot.directory.validate import Problem, service_from_record
from bot.engine.model import Contact, ServiceCard
from bot.i18n import translator
from tests.conftest import LOCALES, FakeClock
from tests.fakebot import FakeBotApi, RequestError, parse_html
from tests.telegram_support import CHAT, Running, running_bot, settings_for

FAREWELL = "This chat has been cleared and closed."


def only_the_farewell(fake: FakeBotApi, chat: int = CHAT) -> bool:
    left = fake.chat(chat)
    return len(left) == 1 and left[0].from_bot and (left[0].plain_text or "").startswith(FAREWELL)


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeBotApi]:
    with FakeBotApi(clock=clock) as server:
        yield server
    assert server.refused == [], [(r.method, r.description) for r in server.refused]


async def to_who_is_it_for(bot: Running) -> None:
    await bot.say("/start")
    await bot.tap("No, not right now")


async def test_an_exit_does_not_wait_behind_a_flood_control_wait(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    endless = asyncio.Event()

    async def sleep(seconds: float) -> None:
        if seconds >= 30:
            await endless.wait()  # Telegram said: try again in 30 s

    async with running_bot(fake, settings_for(fake, tmp_path), clock, sleep=sleep) as bot:
        await to_who_is_it_for(bot)
        fake.inject("editMessageText", "429", retry_after=30)  # the chat's next reply
        message_id, me = bot.data_of("Me")
        _, exit_button = bot.data_of("Quick exit")
        fake.press(CHAT, message_id, me)
        try:
            await fake.until(lambda f: any(r.fault == "429" for r in f.requests))
            fake.press(CHAT, message_id, exit_button)
            await fake.until(only_the_farewell)
            assert not endless.is_set()  # still waiting out the flood control when cleared
        finally:
            endless.set()  # whatever happened, the bot can stop
        assert fake.answered_callbacks  # the exit's tap was answered


@pytest.mark.parametrize(
    ("method", "flood"),
    [
        ("sendMessage", "cards"),  # the services step: a card at a time
        ("editMessageText", "taps"),  # fifteen fast taps waiting their turn
        ("sendMessage", "typed"),  # a hundred typed messages
    ],
)
async def test_an_exit_goes_before_everything_the_chat_was_doing(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock, method: str, flood: str
) -> None:
    await exit_while_a_reply_is_held(fake, tmp_path, clock, method, flood)


async def test_a_typed_exit_goes_first_too(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    """ "quit please", typed, is known for a quick exit from the message alone, in any language,
    so it goes before a hundred typed messages as a tapped Quick exit does, and they go too."""
    await exit_while_a_reply_is_held(
        fake, tmp_path, clock, "sendMessage", "typed", typed_exit="Wyjdź, proszę"
    )


async def exit_while_a_reply_is_held(
    fake: FakeBotApi,
    tmp_path: Path,
    clock: FakeClock,
    method: str,
    flood: str,
    typed_exit: str | None = None,
) -> None:
    """The chat floods; a reply is delivered but its answer (of `method`) is held back; then
    the person leaves, by the Quick exit button or by `typed_exit`."""
    settings = settings_for(fake, tmp_path)
    processor = PerChatUpdateProcessor()  # the bot's own flood guard, as deployed
    # The bot would wait for the held answer far longer than this test waits for the exit:
    # only going first can clear the chat in time. (The answer goes back, and the bot can
    # stop, when the test is over: running_bot lets it go.)
    async with running_bot(
        fake, settings, clock, processor, in_process=False, network_timeout=600
    ) as bot:
        await to_who_is_it_for(bot)
        await bot.tap("Me")
        await bot.tap("Yes, I can talk")
        await bot.tap("Skip the questions")
        live, talk = bot.data_of("Someone to talk to")
        _, exit_button = bot.data_of("Quick exit")
        if flood == "cards":
            await bot.tap("Someone to talk to")
            fake.hold(method)
            fake.send_text(CHAT, "Bletchley")  # a step and its service cards
        elif flood == "taps":
            fake.hold(method)
            for _ in range(15):
                fake.press(CHAT, live, talk)
        else:
            await bot.tap("Someone to talk to")
            fake.hold(method)
            for number in range(100):
                fake.send_text(CHAT, f"words {number}")
        await fake.until(lambda f: f.held == 1)  # a reply out, its answer held
        if typed_exit is None:
            fake.press(CHAT, live, exit_button)
        else:
            fake.send_text(CHAT, typed_exit)
        # Everything goes, the person's words and the exit's own included, but the farewell.
        await fake.until(only_the_farewell)
        assert fake.held == 1  # cleared while that reply's answer was still held
    assert only_the_farewell(fake)  # nothing came after it either


async def test_a_bot_stopped_while_an_answer_is_held_stops_without_it(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    """Were an exit not to go first, its test would end with a handler still waiting for the
    held answer, and stopping the bot waits for every handler: running_bot lets held answers
    go first, or stopping would wait out the read timeout (and fail on its bound)."""
    settings = settings_for(fake, tmp_path)
    async with running_bot(fake, settings, clock, in_process=False, network_timeout=600) as bot:
        await bot.say("/start")
        fake.hold("sendMessage")
        fake.send_text(CHAT, "hello")
        await fake.until(lambda f: f.held == 1)
    assert fake.held == 0
    assert bot.channel.handled == 2  # the held reply's handler finished, its answer back


@pytest.mark.parametrize("fault", ["timeout-after", "502-after"])
@pytest.mark.parametrize("which", ["first", "middle"])
async def test_a_reply_delivered_whose_answer_was_lost_is_wiped_too(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock, fault: str, which: str
) -> None:
    async with running_bot(fake, settings_for(fake, tmp_path), clock) as bot:
        if which == "first":
            fake.inject("sendMessage", fault)  # the welcome, with the danger question
            await bot.say("/start")
        else:
            await to_who_is_it_for(bot)
            await bot.tap("Me")
            await bot.tap("Yes, I can talk")
            await bot.tap("Skip the questions")
            await bot.tap("Someone to talk to")
            fake.inject("sendMessage", fault)  # the step shown after a typed place
            await bot.say("Bletchley")
        texts = [m.plain_text for m in bot.bot_messages()]
        assert len(texts) > len(set(texts))  # the retry left a second copy
        await bot.tap("Quick exit")
        assert only_the_farewell(fake)


# -- every step keeps its buttons ---------------------------------------------------------------


LONG = ("Help & advice <for you>; " * 250)[:5000]  # 5,000 characters, entities all along


def test_a_long_card_is_split_into_whole_messages() -> None:
    card = ServiceCard(
        service_id="x",
        name="A & B <services>",
        description=LONG,
        contacts=(Contact("phone", "0808 2000 247", "Call free"),),
        hours=parse_hours("24/7"),
        source="a source",
        verified_on=None,
    )
    pieces = card_html(card, translator("en", LOCALES))
    assert len(pieces) == 2
    assert pieces[0].startswith("<b>A &amp; B &lt;services&gt;</b>")
    shown = [parse_html(piece)[0] for piece in pieces]  # each a whole, valid message
    assert all(len(text) <= MAX_TEXT for text in shown)
    assert "".join(shown).replace("\n", "").count("Help & advice") == LONG.count("Help & advice")


def test_long_html_is_never_split_inside_a_tag_an_entity_or_an_element() -> None:
    lines = [f"<b>field {n}</b>: {escape(LONG[: 40 + n % 50])}" for n in range(300)]
    text = "\n".join(lines)
    pieces = split_html(text, 1000)
    assert len(pieces) > 5
    for piece in pieces:
        assert len(piece) <= 1000
        parse_html(piece)  # raises on a cut entity or an unbalanced tag


def test_a_description_over_the_limit_is_refused_clearly() -> None:
    record = {
        "id": "long",
        "name": "Long",
        "description": LONG,
        "audiences": "victim",
        "areas": "uk",
        "contacts": "phone | 0808 2000 247 | " + "x" * 61,
        "source": "a source",
    }
    problems: list[Problem] = []
    service_from_record(record, "file.csv, row 2", {"uk"}, problems)
    said = [str(p) for p in problems]
    assert any("'description'" in p and ",999 characters; 1,000 at most" in p for p in said)
    assert any("label" in p and "60 at most" in p for p in said)


async def test_a_card_telegram_refuses_leaves_the_buttons_in_place(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    refused: list[str] = []

    def refuse_one_card(params: dict[str, Any]) -> Any:
        if str(params.get("text", "")).startswith("<b>MK-Act"):
            refused.append(params["text"])
            raise RequestError(400, "Bad Request: message is too long", refused=False)
        return fake._send_message(params)

    async with running_bot(fake, settings_for(fake, tmp_path), clock) as bot:
        await to_who_is_it_for(bot)
        await bot.tap("Me")
        await bot.tap("Yes, I can talk")
        await bot.tap("Skip the questions")
        await bot.tap("Someone to talk to")
        fake.respond("sendMessage", refuse_one_card)
        await bot.say("Bletchley")
        assert refused
        assert {"Quick exit", "I'm in danger now"} <= set(bot.labels())
        await bot.tap("Quick exit")
        assert only_the_farewell(fake)


# -- when Telegram keeps failing ----------------------------------------------------------------


async def test_after_a_reply_was_given_up_on_the_next_tap_is_answered_as_usual(
    fake: FakeBotApi, tmp_path: Path, clock: FakeClock
) -> None:
    async with running_bot(fake, settings_for(fake, tmp_path), clock) as bot:
        await to_who_is_it_for(bot)
        message_id, me = bot.data_of("Me")
        fake.inject("editMessageText", "500", times=5)  # more than the bot's retries
        await bot.press(message_id, me)
        assert "Who are you looking for help for?" in bot.text()  # the reply never came
        # Telegram is back; the person taps what they still see, and is answered as usual.
        query = await bot.press(message_id, me)
        assert fake.answered_callbacks[query] is None  # not "That button has expired"
        assert "Is it safe for you to talk now?" in bot.text()
        assert "expired" not in bot.text()
