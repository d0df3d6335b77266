"""The fake Bot API must refuse what Telegram refuses and answer the way PTB expects.

End-to-end tests of the bot are only worth as much as this fake: if it accepts a request the
real server would refuse, the bot ships broken. So it is driven here both with plain httpx
(exact HTTP status and JSON) and with a real `telegram.Bot` (PTB's own encoding and error
mapping).
"""

from __future__ import annotations

import io
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from tests.conftest import FakeClock
from tests.fakebot import TOKEN, FakeBotApi, parse_html

USER = 4242

# PTB itself warns when it builds RetryAfter from the integer Telegram sends; not our concern.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*`retry_after` will be of type:telegram.warnings.PTBDeprecationWarning"
)


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeBotApi]:
    with FakeBotApi(clock=clock) as server:
        yield server


# Built once: every httpx client otherwise loads the CA bundle (~50 ms), twice per Bot.
_TLS = ssl.create_default_context()


def ptb_bot(fake: FakeBotApi, token: str = TOKEN) -> Bot:
    """A real PTB Bot pointed at the fake."""
    return Bot(
        token,
        base_url=fake.base_url,
        request=HTTPXRequest(httpx_kwargs={"verify": _TLS}),
        get_updates_request=HTTPXRequest(httpx_kwargs={"verify": _TLS}),
    )


@pytest.fixture
async def bot(fake: FakeBotApi) -> AsyncIterator[Bot]:
    async with ptb_bot(fake) as initialized:
        yield initialized


def call(fake: FakeBotApi, method: str, token: str = TOKEN, **data: Any) -> httpx.Response:
    """POST form data the way any client would, without PTB in the way."""
    return httpx.post(f"{fake.base_url}{token}/{method}", data=data, timeout=10, verify=_TLS)


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d, callback_data=d) for d in data]])


# -- the basics through PTB ----------------------------------------------------------------


async def test_get_me_gives_ptb_a_usable_bot(fake: FakeBotApi, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.username == "pathways_test_bot"
    assert me.is_bot and me.can_join_groups
    assert me.id == fake.bot_id
    assert fake.calls("getMe")


async def test_valid_send_message_is_accepted_and_visible(
    fake: FakeBotApi, bot: Bot, clock: FakeClock
) -> None:
    text = "<b>Safe</b> &amp; <i>quiet</i> 🙂"
    sent = await bot.send_message(
        USER, text, parse_mode="HTML", reply_markup=keyboard("yes", "no"), protect_content=True
    )

    assert sent.text == "Safe & quiet 🙂"
    assert [e.type for e in sent.entities] == ["bold", "italic"]
    assert sent.has_protected_content
    [shown] = fake.chat(USER)
    assert shown.message_id == sent.message_id
    assert shown.from_bot
    assert shown.text == text
    assert shown.parse_mode == "HTML"
    assert shown.protect_content
    assert shown.date == int(clock().timestamp())
    assert shown.reply_markup == {
        "inline_keyboard": [
            [{"text": "yes", "callback_data": "yes"}, {"text": "no", "callback_data": "no"}]
        ]
    }
    assert fake.refused == []


async def test_user_and_bot_share_one_message_counter_per_chat(fake: FakeBotApi, bot: Bot) -> None:
    first = fake.send_text(USER, "hello")
    reply = await bot.send_message(USER, "hi")
    other_chat = fake.send_text(USER + 1, "hello")

    assert (first, reply.message_id, other_chat) == (1, 2, 1)
    assert [(m.message_id, m.from_bot) for m in fake.chat(USER)] == [(1, False), (2, True)]


async def test_send_document_accepts_multipart(fake: FakeBotApi, bot: Bot) -> None:
    sent = await bot.send_document(
        USER,
        io.BytesIO(b"notes"),
        filename="plan.txt",
        caption="<b>your plan</b>",
        parse_mode="HTML",
    )

    assert sent.document is not None and sent.document.file_name == "plan.txt"
    assert sent.caption == "your plan"
    [params] = fake.calls("sendDocument")
    assert params["document"].data == b"notes"
    assert fake.chat(USER)[0].kind == "document"


# -- refusals the real server would make ---------------------------------------------------


def test_unknown_method_is_404(fake: FakeBotApi) -> None:
    response = call(fake, "sendTelepathy", chat_id="1")

    assert response.status_code == 404
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert [r.method for r in fake.refused] == ["sendTelepathy"]


def test_method_names_match_case_insensitively(fake: FakeBotApi) -> None:
    assert call(fake, "getme").json()["result"]["username"] == "pathways_test_bot"


def test_missing_required_field_is_400(fake: FakeBotApi) -> None:
    response = call(fake, "sendMessage", chat_id="1")

    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error_code": 400,
        "description": 'Bad Request: parameter "text" is required',
    }
    assert fake.refused[0].description == 'Bad Request: parameter "text" is required'


@pytest.mark.parametrize(
    ("method", "data", "description"),
    [
        ("deleteMessage", {"chat_id": "1", "message_id": "one"}, "Integer"),
        ("sendMessage", {"chat_id": "1", "text": "x", "protect_content": "7"}, "Boolean"),
        (
            "sendMessage",
            {"chat_id": "1", "text": "x", "reply_markup": '{"inline_keyboard": [[{"a": 1}]]}'},
            'field "reply_markup.inline_keyboard[0][0].text" is required',
        ),
        (
            "sendMessage",
            {"chat_id": "1", "text": "x", "reply_markup": '{"inline_keyboard": [{"text": "a"}]}'},
            'field "reply_markup.inline_keyboard[0]" must be of type Array of InlineKeyboardButton',
        ),
    ],
)
def test_wrong_type_is_400(
    fake: FakeBotApi, method: str, data: dict[str, str], description: str
) -> None:
    response = call(fake, method, **data)

    assert response.status_code == 400
    assert response.json()["description"].startswith("Bad Request: field ")
    assert description in response.json()["description"]
    assert fake.chat(1) == []
    assert len(fake.refused) == 1


def test_wrong_type_in_a_json_body_is_400(fake: FakeBotApi) -> None:
    response = httpx.post(
        f"{fake.base_url}{TOKEN}/sendMessage", json={"chat_id": [1], "text": "x"}, verify=_TLS
    )

    assert response.status_code == 400
    assert response.json()["description"] == (
        'Bad Request: field "chat_id" must be of type Integer or String'
    )


def test_a_field_the_method_does_not_take_is_refused(fake: FakeBotApi) -> None:
    """Stricter than Telegram today, so a bot sending what a method does not take is caught."""
    response = call(fake, "sendMessage", chat_id="1", text="x", no_such_field="[")
    assert response.status_code == 400
    assert 'no parameter "no_such_field"' in response.json()["description"]
    edit = call(fake, "editMessageReplyMarkup", chat_id="1", message_id="1", parse_mode="HTML")
    assert edit.status_code == 400
    assert [r.method for r in fake.refused] == ["sendMessage", "editMessageReplyMarkup"]


async def test_text_longer_than_4096_characters_is_refused(fake: FakeBotApi, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(USER, "a" * 4097)
    # Tags do not count, only the text left after parsing.
    await bot.send_message(USER, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(USER, "<b> </b>", parse_mode="HTML")

    assert len(fake.chat(USER)) == 1
    assert len(fake.refused) == 2


@pytest.mark.parametrize(
    "text",
    ["<b>open", "<blink>x</blink>", "<b>x</i>", "x</b>", "1 < 2", "you & me", '<span class="x">'],
)
async def test_malformed_html_is_refused(bot: Bot, text: str) -> None:
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.send_message(USER, text, parse_mode="HTML")


async def test_escaped_html_is_accepted(fake: FakeBotApi, bot: Bot) -> None:
    sent = await bot.send_message(USER, "&lt;b&gt; 1 &lt; 2 &#38; &#x1F642;", parse_mode="HTML")

    assert sent.text == "<b> 1 < 2 & 🙂"
    assert fake.refused == []


def test_html_entities_use_utf16_offsets() -> None:
    plain, entities = parse_html('🙂 <a href="https://x.org/?a=1&amp;b=2">link</a>')

    assert plain == "🙂 link"
    assert entities == [
        {"type": "text_link", "offset": 3, "length": 4, "url": "https://x.org/?a=1&b=2"}
    ]


async def test_callback_data_over_64_bytes_is_refused(fake: FakeBotApi, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(USER, "pick", reply_markup=keyboard("x" * 65))
    # The limit is in UTF-8 bytes: 33 two-byte letters are 66 bytes.
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(USER, "pick", reply_markup=keyboard("é" * 33))
    await bot.send_message(USER, "pick", reply_markup=keyboard("x" * 64))

    assert len(fake.chat(USER)) == 1


async def test_invalid_request_to_a_blocked_user_is_still_refused(
    fake: FakeBotApi, bot: Bot
) -> None:
    fake.block(USER, notify=False)

    with pytest.raises(BadRequest):
        await bot.send_message(USER, "x" * 5000)
    with pytest.raises(Forbidden):
        await bot.send_chat_action(USER, "typing")
    assert [r.method for r in fake.refused] == ["sendMessage"]


async def test_delete_messages_takes_at_most_100_ids(fake: FakeBotApi, bot: Bot) -> None:
    with pytest.raises(BadRequest):
        await bot.delete_messages(USER, list(range(1, 102)))
    assert await bot.delete_messages(USER, list(range(1, 101)))
    assert fake.refused[0].method == "deleteMessages"


async def test_messages_older_than_48_hours_cannot_be_deleted(
    fake: FakeBotApi, bot: Bot, clock: FakeClock
) -> None:
    old_from_user = fake.send_text(USER, "old")
    old_from_bot = (await bot.send_message(USER, "old reply")).message_id
    clock.advance(hours=47)
    recent_from_user = fake.send_text(USER, "recent")
    clock.advance(hours=1)

    with pytest.raises(BadRequest, match="Message can't be deleted"):
        await bot.delete_message(USER, old_from_user)
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(USER, 999)
    # deleteMessages skips what it cannot delete and still answers true.
    assert await bot.delete_messages(USER, [old_from_user, old_from_bot, recent_from_user, 999])

    assert fake.deleted(USER) == [recent_from_user]
    assert [m.message_id for m in fake.chat(USER)] == [old_from_user, old_from_bot]


async def test_bot_may_delete_users_messages_in_private_chats(fake: FakeBotApi, bot: Bot) -> None:
    said = fake.send_text(USER, "something I regret")
    assert await bot.delete_message(USER, said)
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(USER, said)


async def test_edits_follow_telegram_rules(fake: FakeBotApi, bot: Bot) -> None:
    sent = await bot.send_message(
        USER, "<b>menu</b>", parse_mode="HTML", reply_markup=keyboard("a")
    )

    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text(
            "<b>menu</b>", USER, sent.message_id, parse_mode="HTML", reply_markup=keyboard("a")
        )
    # Leaving reply_markup out of an edit removes the keyboard, so this is a change.
    edited = await bot.edit_message_text("<b>menu</b>", USER, sent.message_id, parse_mode="HTML")
    assert isinstance(edited, Message) and edited.reply_markup is None
    assert fake.chat(USER)[0].reply_markup is None
    await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=keyboard("b"))
    await bot.delete_message(USER, sent.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("gone", USER, sent.message_id)


# -- updates -------------------------------------------------------------------------------


def test_get_updates_returns_queued_updates_in_order_and_honours_offset(
    fake: FakeBotApi,
) -> None:
    for text in ("one", "two", "three"):
        fake.send_text(USER, text)

    first = call(fake, "getUpdates").json()["result"]
    assert [u["message"]["text"] for u in first] == ["one", "two", "three"]
    ids = [u["update_id"] for u in first]
    assert ids == sorted(ids)

    limited = call(fake, "getUpdates", limit="1").json()["result"]
    assert [u["update_id"] for u in limited] == ids[:1]
    after_first = call(fake, "getUpdates", offset=str(ids[0] + 1)).json()["result"]
    assert [u["message"]["text"] for u in after_first] == ["two", "three"]
    # Confirmed updates are gone for good.
    assert [u["update_id"] for u in call(fake, "getUpdates").json()["result"]] == ids[1:]
    assert [u["update_id"] for u in fake.pending_updates] == ids[1:]


def test_get_updates_long_polls_until_an_update_arrives(fake: FakeBotApi) -> None:
    def user_writes_once_the_bot_waits() -> None:
        fake.wait_for(lambda f: f.waiting_pollers == 1, timeout=5)
        fake.send_text(USER, "are you there?")

    writer = threading.Thread(target=user_writes_once_the_bot_waits)
    writer.start()
    started = time.monotonic()
    updates = call(fake, "getUpdates", timeout="5").json()["result"]
    elapsed = time.monotonic() - started
    writer.join()

    assert [u["message"]["text"] for u in updates] == ["are you there?"]
    assert elapsed < 2


def test_get_updates_never_holds_longer_than_its_timeout(fake: FakeBotApi) -> None:
    started = time.monotonic()
    assert call(fake, "getUpdates", timeout="1").json() == {"ok": True, "result": []}
    assert 0.9 <= time.monotonic() - started < 2


async def test_press_produces_a_callback_query_ptb_understands(fake: FakeBotApi, bot: Bot) -> None:
    sent = await bot.send_message(USER, "Ready?", reply_markup=keyboard("go"))
    query_id = fake.press(USER, sent.message_id, "go")

    [raw] = await bot.get_updates()
    update = Update.de_json(raw.to_dict(), bot)
    query = update.callback_query
    assert query is not None
    assert (query.id, query.data, query.from_user.id) == (query_id, "go", USER)
    assert isinstance(query.message, Message)
    assert query.message.message_id == sent.message_id
    assert query.message.text == "Ready?"

    await bot.answer_callback_query(query.id, text="Done")
    assert fake.answered_callbacks == {query_id: "Done"}
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(query.id)


async def test_groups_and_channels_parse_in_ptb(fake: FakeBotApi, bot: Bot) -> None:
    fake.add_bot_to_group(-100, by_user=USER)
    fake.send_group_text(-100, USER, "/start@pathways_test_bot")
    fake.channel_post(-1001, "news")
    fake.send_sticker(USER)

    updates = await bot.get_updates()

    member, command, post, sticker = updates
    assert member.my_chat_member is not None
    assert member.my_chat_member.new_chat_member.status == "member"
    assert command.message is not None and command.message.chat.type == "group"
    assert command.message.entities[0].length == len("/start@pathways_test_bot")
    assert post.channel_post is not None and post.channel_post.text == "news"
    assert sticker.message is not None and sticker.message.sticker is not None

    assert await bot.leave_chat(-100)
    assert fake.left_chats == {-100}
    with pytest.raises(Forbidden):
        await bot.send_message(-100, "still here?")


# -- faults on demand ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [("429", RetryAfter), ("500", NetworkError), ("403", Forbidden), ("drop", NetworkError)],
)
async def test_injected_faults_map_to_ptb_errors(
    fake: FakeBotApi, bot: Bot, fault: str, error: type[Exception]
) -> None:
    fake.inject("sendMessage", fault, retry_after=3)

    with pytest.raises(error) as raised:
        await bot.send_message(USER, "hello")
    # A fault is used up once; the next call goes through.
    await bot.send_message(USER, "hello again")

    if isinstance(raised.value, RetryAfter):
        # int or timedelta, depending on PTB_TIMEDELTA (PTB is migrating to timedelta).
        assert raised.value.retry_after in (3, timedelta(seconds=3))
    assert [m.text for m in fake.chat(USER)] == ["hello again"]
    assert [r.fault for r in fake.requests if r.method == "sendMessage"] == [fault, None]
    assert fake.refused == []


async def test_timeout_fault_outlasts_a_shorter_read_timeout(fake: FakeBotApi, bot: Bot) -> None:
    fake.timeout_seconds = 0.3
    fake.inject("sendMessage", "timeout")

    with pytest.raises(TimedOut):
        await bot.send_message(USER, "hello", read_timeout=0.1)
    await fake.until(lambda f: any(r.fault == "timeout" for r in f.requests), timeout=5)


async def test_faults_are_consumed_in_order(fake: FakeBotApi, bot: Bot) -> None:
    fake.inject("sendMessage", "500")
    fake.inject("sendMessage", "429", times=2)

    for expected in (NetworkError, RetryAfter, RetryAfter):
        with pytest.raises(expected):
            await bot.send_message(USER, "x")
    await bot.send_message(USER, "x")


async def test_removed_method_answers_not_found(fake: FakeBotApi, bot: Bot) -> None:
    fake.remove_method("deleteMessages")

    with pytest.raises(InvalidToken, match="Not Found"):
        await bot.delete_messages(USER, [1])
    assert fake.refused == []  # the bot did nothing wrong; the server lacks the method


async def test_blocked_user_makes_sends_and_edits_forbidden(fake: FakeBotApi, bot: Bot) -> None:
    sent = await bot.send_message(USER, "hello")
    fake.block(USER)

    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "hello?")
    with pytest.raises(Forbidden):
        await bot.edit_message_text("edited", USER, sent.message_id)
    await bot.send_message(USER + 1, "others still reachable")

    [update] = await bot.get_updates()
    assert update.my_chat_member is not None
    assert update.my_chat_member.new_chat_member.status == "kicked"


async def test_wrong_token_is_401(fake: FakeBotApi) -> None:
    response = call(fake, "getMe", token="123:wrong")
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}

    with pytest.raises(InvalidToken, match="rejected"):
        async with ptb_bot(fake, token="123:wrong"):
            pass  # initialize() calls getMe


def test_webhook_and_long_polling_exclude_each_other(fake: FakeBotApi) -> None:
    assert call(fake, "setWebhook", url="https://example.org/hook").json()["result"] is True
    assert call(fake, "getUpdates").status_code == 409
    assert call(fake, "deleteWebhook").json()["result"] is True
    assert call(fake, "getUpdates").status_code == 200


async def test_respond_answers_methods_the_fake_does_not_model(fake: FakeBotApi, bot: Bot) -> None:
    fake.respond("getChatMemberCount", lambda params: 3 if params["chat_id"] == -100 else 1)

    assert await bot.get_chat_member_count(-100) == 3
    assert await bot.get_chat_member_count(USER) == 1


async def test_an_application_polls_the_fake_end_to_end(fake: FakeBotApi) -> None:
    async def start(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("<b>Hello</b>", parse_mode="HTML")

    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(fake.base_url)
        .request(HTTPXRequest(httpx_kwargs={"verify": _TLS}))
        .get_updates_request(HTTPXRequest(httpx_kwargs={"verify": _TLS}))
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=5)
        fake.send_text(USER, "/start")
        await fake.until(lambda f: len(f.chat(USER)) == 2, timeout=5)
        await app.updater.stop()
        await app.stop()

    assert [(m.from_bot, m.text) for m in fake.chat(USER)] == [
        (False, "/start"),
        (True, "<b>Hello</b>"),
    ]
    assert fake.refused == []


# -- waiting -------------------------------------------------------------------------------


def test_wait_for_reports_recent_requests_on_timeout(fake: FakeBotApi) -> None:
    call(fake, "sendMessage", chat_id="1")

    with pytest.raises(AssertionError, match=r'sendMessage -> 400 Bad Request: parameter "text"'):
        fake.wait_for(lambda f: bool(f.chat(1)), timeout=0.05)


PERSON = 424242


def test_deleting_a_message_already_gone_fails_without_blaming_the_bot(fake: FakeBotApi) -> None:
    """Telegram answers 400 either way; but a message already deleted (by the person, or by a
    deletion that got there first) is a race no bot can always avoid, while an id that never
    existed is the bot's own mistake."""
    message_id = fake.send_text(PERSON, "hello")
    assert call(fake, "deleteMessage", chat_id=PERSON, message_id=message_id).status_code == 200
    again = call(fake, "deleteMessage", chat_id=PERSON, message_id=message_id)
    assert again.status_code == 400 and "not found" in again.json()["description"]
    assert fake.refused == []
    never = call(fake, "deleteMessage", chat_id=PERSON, message_id=message_id + 50)
    assert never.status_code == 400
    assert [r.params["message_id"] for r in fake.refused] == [message_id + 50]
