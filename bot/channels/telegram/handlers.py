"""What the bot does with each kind of Telegram update.

Handlers log event kinds and error types only: never a chat id, never a person's words.

Each step names the update it comes from (`update_key`: the bot's id and the update's), so
that an update delivered twice (a webhook Telegram retried, or one a load balancer gave to two
instances) is stepped once: the second delivery sends nothing, not even an answer to the tap.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from telegram import Bot, CallbackQuery, Chat, ChatMemberUpdated, Message, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot.app import Parts, Pathways
from bot.channels.interpret import interpret, start_payload
from bot.channels.telegram.admin import PREFIX as ADMIN_PREFIX
from bot.channels.telegram.admin import AdminChat
from bot.channels.telegram.render import (
    EDIT_TEXT,
    SEND,
    Rendered,
    escape,
    parse_callback,
    render,
)
from bot.channels.telegram.sender import Blocked, GaveUp, Sender
from bot.channels.telegram.wipe import Wiper, WipeReport, too_old
from bot.config import Settings
from bot.conversation import AlreadyHandled, Conversations, Outcome
from bot.engine.context import Clock
from bot.engine.model import Event, Tracked
from bot.i18n import Translator, negotiate, translator
from bot.store.interface import PendingWipe
from bot.sweeper import LaterWipe

log = logging.getLogger(__name__)

KEY_PREFIX = "tg:"  # Telegram conversations, apart from the terminal chat's in one database
SHOWN_LIMIT = 10_000  # chats whose live message content is remembered (in memory only)
TYPED_NOTE = "typed_deleted"  # session flag: the person has been told typed messages go
# Callback data that no button of this bot carries: the engine answers "expired".
_FORGED = Event.button("", from_state="")

Context = ContextTypes.DEFAULT_TYPE
Handler = Callable[["TelegramChannel", Update, Context], Coroutine[Any, Any, None]]
ChatTurn = Callable[[int], contextlib.AbstractAsyncContextManager[None]]


def chat_key(chat_id: int) -> str:
    return f"{KEY_PREFIX}{chat_id}"


def chat_id_of(key: str) -> int | None:
    """The Telegram chat of a conversation key, or None for another channel's conversation."""
    if not key.startswith(KEY_PREFIX):
        return None
    try:
        return int(key.removeprefix(KEY_PREFIX))
    except ValueError:
        return None


def update_key(update: Update, bot: Bot) -> str:
    """The update's key among every update of every bot this database serves."""
    return f"{KEY_PREFIX}{bot.id}:{update.update_id}"


def counted(handler: Handler) -> Handler:
    """Count the update as handled however the handler ends."""

    @functools.wraps(handler)
    async def wrapper(self: TelegramChannel, update: Update, context: Context) -> None:
        try:
            await handler(self, update, context)
        finally:
            await self._count_handled()

    return wrapper


def _tracked(message: Message, gone: bool = False) -> Tracked:
    return Tracked(message.message_id, int(message.date.timestamp()), gone)


def _reason(exc: TelegramError) -> str:
    """Telegram's reason for refusing a call, which names no person and no words of theirs
    ("message is too long"), cut short in case."""
    return str(exc.message)[:80]


def _bot_message(message: object, bot_id: int) -> Message | None:
    """`message` if it is one this bot sent and Telegram still shows it, else None."""
    if isinstance(message, Message) and message.from_user is not None:
        return message if message.from_user.id == bot_id else None
    return None


@contextlib.asynccontextmanager
async def _no_turns(_chat_id: int) -> AsyncIterator[None]:
    yield


class TelegramChannel:
    """Turns Telegram updates into events for the conversations, and replies into Bot API
    calls. Everything it works with is built once by `bot.app.open_pathways` and handed in
    when the application starts (`attach`)."""

    def __init__(
        self, settings: Settings, clock: Clock, sender: Sender, chat_turn: ChatTurn = _no_turns
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.sender = sender
        self.chat_turn = chat_turn
        self.wiper = Wiper(sender)
        self._pathways: Pathways | None = None
        self.admin_chat: AdminChat | None = None
        # Updates fully handled so far, and a way to wait for that number: how tests and
        # benchmarks know the bot has finished with an update, without sleeping.
        self.handled = 0
        self._progress: asyncio.Condition | None = None
        # Per chat: the live message, what it shows, and the step (its time) that showed it.
        self._shown: dict[int, tuple[int, str, datetime | None]] = {}
        # Set once the sweep at start-up has finished (or failed): it runs alongside the first
        # replies, so after an outage nobody waits for the whole backlog to be cleared.
        self.swept_at_start = asyncio.Event()

    # -- lifecycle ----------------------------------------------------------------------------

    def attach(self, pathways: Pathways) -> None:
        self._pathways = pathways
        self.admin_chat = AdminChat(
            pathways.admin, self.sender, self.clock, self.settings.stale_days
        )

    @property
    def attached(self) -> bool:
        return self._pathways is not None

    @property
    def pathways(self) -> Pathways:
        if self._pathways is None:
            raise RuntimeError("the Telegram channel has not been started")
        return self._pathways

    @property
    def parts(self) -> Parts:
        return self.pathways.parts

    @property
    def conversations(self) -> Conversations:
        return self.pathways.conversations

    async def _count_handled(self) -> None:
        self.handled += 1
        if self._progress is None:
            self._progress = asyncio.Condition()
        async with self._progress:
            self._progress.notify_all()

    async def wait_handled(self, count: int) -> None:
        """Wait until `count` updates in all have been handled (callers bound the wait with
        `asyncio.timeout`)."""
        if self._progress is None:
            self._progress = asyncio.Condition()
        async with self._progress:
            await self._progress.wait_for(lambda: self.handled >= count)

    # -- reading --------------------------------------------------------------------------------

    def _tr(self, locale: str) -> Translator:
        return translator(locale, self.settings.locales_dir)

    def _read_text(self, text: str) -> Event:
        """What the person's words are: a deep link's start, a command, a way out, or words
        for the engine to read at the step they are on."""
        code = start_payload(text)
        if code is not None:
            return Event.start(code)
        return interpret(text, self.parts.spec, self.parts.words)

    def _locale(self, update: Update) -> str:
        user = update.effective_user
        return negotiate(user.language_code if user else None, self.parts.locales)

    def _way_out(self, update: object) -> str | None:
        """The way out (its trigger) an update asks for, if it is one: a way-out button, its
        command or its words."""
        if not isinstance(update, Update) or self._pathways is None:
            return None
        if update.callback_query is not None:
            event = parse_callback(update.callback_query.data)
        elif update.message is not None and update.message.text:
            event = interpret(update.message.text, self.parts.spec, self.parts.words)
        else:
            return None
        ways_out = self.parts.spec.ways_out
        if event is None or event.from_state is not None or event.trigger not in ways_out:
            return None
        return event.trigger

    def must_keep(self, update: object) -> bool:
        """Updates the flood guard may never drop: a way out (quick exit above all), and news
        that the bot was blocked or added somewhere."""
        if isinstance(update, Update) and update.my_chat_member is not None:
            return True
        return self._way_out(update) is not None

    def is_urgent(self, update: object) -> bool:
        """A quick exit or "I'm in danger now" (the ways out on every message): it goes before
        everything else the chat was doing or waiting to do, which is dropped."""
        trigger = self._way_out(update)
        return trigger is not None and self.parts.spec.ways_out[trigger].as_button

    # -- handlers -------------------------------------------------------------------------------

    @counted
    async def on_message(self, update: Update, context: Context) -> None:
        """Typed text, a command, or anything else (a sticker, a photo) in a private chat."""
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None:
            return
        if await self._for_admin(update, context, message):
            return
        key = chat_key(chat.id)
        outcome: Outcome | None = None
        try:
            # Delete what the person typed as soon as it has been read.
            gone = self.settings.delete_typed and await self._delete_typed(context.bot, message)
            typed = message.text or ""  # anything but text reads as "please use the buttons"
            locale = self._locale(update)
            outcome = await self.conversations.handle(
                key,
                self._read_text(typed),
                locale,
                # Tracked even once deleted (as a bound: no reply can have an id below it).
                incoming=_tracked(message, gone=gone),
                note_once=TYPED_NOTE if gone else None,
                update_key=update_key(update, context.bot),
            )
            await self._deliver(context.bot, chat.id, outcome, newest_id=message.message_id)
        except AlreadyHandled:
            log.warning("a message delivered twice was handled once")
        except Blocked:
            await self.conversations.forget(key)
        except GaveUp as exc:
            log.warning("gave up on a message update: %s", exc)
            if outcome is not None:
                await self.conversations.take_back(outcome)

    async def _for_admin(self, update: Update, context: Context, message: Message) -> bool:
        """A service manager's admin message, in their own private chat with the bot (as for
        buttons). Anyone else's /admin is an unknown command."""
        user = update.effective_user
        if user is None or self.admin_chat is None or message.chat.id != user.id:
            return False
        typed = message.text or ""
        if not await self.admin_chat.wants(user.id, typed, message.document is not None):
            return False
        try:
            await self.admin_chat.on_message(
                context.bot, message.chat.id, user.id, typed, message.document
            )
        except (Blocked, GaveUp, TelegramError) as exc:
            log.warning("an admin message failed: %s", type(exc).__name__)
        return True

    async def _delete_typed(self, bot: Bot, message: Message) -> bool:
        try:
            return await self.sender.call(bot.delete_message, message.chat.id, message.message_id)
        except (BadRequest, GaveUp):
            return False

    @counted
    async def on_callback(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None:
            return
        answered = False
        chat = query.message.chat if query.message is not None else None
        outcome: Outcome | None = None
        try:
            if chat is None or chat.type != ChatType.PRIVATE or chat.id != query.from_user.id:
                # Not a button of a private chat with this person: nothing to do but answer.
                return
            if await self._from_manager(query):
                # The admin chat answers its own buttons, even when cut short (by a way out
                # typed meanwhile, say): a second answer would be refused.
                answered = True
                await self._admin_button(context, query, chat.id)
                return
            event = parse_callback(query.data) or _FORGED
            # The pressed message is one of the bot's in this chat: track it (a crash may have
            # cut its recording short), so that a wipe's run of ids starts no later than it.
            pressed = _bot_message(query.message, context.bot.id)
            try:
                outcome = await self.conversations.handle(
                    chat_key(chat.id),
                    event,
                    self._locale(update),
                    incoming=_tracked(pressed) if pressed is not None else None,
                    update_key=update_key(update, context.bot),
                )
            except AlreadyHandled:
                # The first delivery answers the tap: a second answer would be refused.
                answered = True
                log.warning("a tap delivered twice was handled once")
                return
            expired = self.parts.spec.message("expired")
            notice = next((n for n in outcome.reply.notices if n.msgid == expired), None)
            tr = self._tr(outcome.reply.locale)
            # Counted as answered once asked, even if this is cut short (by a quick exit, say):
            # a second answer to the same tap is one Telegram refuses.
            answered = True
            await self._answer(query, tr.render(notice) if notice else None)
            assert query.message is not None
            await self._deliver(context.bot, chat.id, outcome, pressed=query.message.message_id)
        except Blocked:
            if chat is not None:
                await self.conversations.forget(chat_key(chat.id))
        except GaveUp as exc:
            log.warning("gave up on a button update: %s", exc)
            if outcome is not None:
                await self.conversations.take_back(outcome)
        finally:
            if not answered:
                await self._answer(query, None)

    async def _from_manager(self, query: CallbackQuery) -> bool:
        """An admin button pressed by a manager. Anyone else's is like any expired button."""
        is_admin = (query.data or "").startswith(ADMIN_PREFIX)
        if not is_admin or self.admin_chat is None:
            return False
        return await self.admin_chat.admin.role(query.from_user.id) is not None

    async def _admin_button(self, context: Context, query: CallbackQuery, chat_id: int) -> None:
        assert self.admin_chat is not None
        try:
            await self.admin_chat.on_button(context.bot, query, chat_id, query.from_user.id)
        except (Blocked, GaveUp, TelegramError) as exc:
            log.warning("an admin button failed: %s", type(exc).__name__)

    @counted
    async def on_membership(self, update: Update, context: Context) -> None:
        """Added to a group or channel: leave without a word. Blocked: forget the person."""
        member: ChatMemberUpdated | None = update.my_chat_member
        if member is None:
            return
        status = member.new_chat_member.status
        if member.chat.type != ChatType.PRIVATE:
            if status not in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED):
                await self._leave(context.bot, member.chat)
        elif status == ChatMemberStatus.BANNED:
            await self.conversations.forget(chat_key(member.chat.id))

    @counted
    async def on_other_chat(self, update: Update, context: Context) -> None:
        """Any message in a group, supergroup or channel: say nothing about the bot, and leave."""
        if update.effective_chat is not None:
            await self._leave(context.bot, update.effective_chat)

    async def on_error(self, update: object, context: Context) -> None:
        kind = type(context.error).__name__ if context.error else "unknown"
        log.error("error while handling an update: %s", kind)

    # -- auto-clear ----------------------------------------------------------------------------

    async def sweep(self, bot: Bot) -> int:
        """End the Telegram conversations left idle and carry out every wipe that is due
        (`bot.sweeper`), each in its chat's turn so it never races a reply being sent.
        Returns how many conversations were ended."""

        async def carry_out(pending: PendingWipe) -> None:
            chat_id = chat_id_of(pending.chat_key)
            if chat_id is not None:
                await self._delete(bot, chat_id, pending)

        @contextlib.asynccontextmanager
        async def turn(key: str) -> AsyncIterator[None]:
            chat_id = chat_id_of(key)
            async with self.chat_turn(chat_id) if chat_id is not None else _no_turns(0):
                yield

        report = await self.pathways.sweeper.sweep(KEY_PREFIX, carry_out, turn)
        return report.ended if report is not None else 0

    async def _delete(
        self, bot: Bot, chat_id: int, pending: PendingWipe, newest_id: int | None = None
    ) -> WipeReport:
        try:
            return await self.wiper.wipe(bot, chat_id, pending.messages, self.clock(), newest_id)
        except Blocked:
            return WipeReport(0, 0, 0)  # nothing can be deleted any more

    async def _carry_out(
        self, bot: Bot, chat_id: int, pending: PendingWipe, newest_id: int | None = None
    ) -> WipeReport:
        async with self._or_let_go((pending,)):
            report = await self._delete(bot, chat_id, pending, newest_id)
        await self.pathways.sweeper.done(pending)
        return report

    @contextlib.asynccontextmanager
    async def _or_let_go(self, claimed: tuple[PendingWipe, ...]) -> AsyncIterator[None]:
        """Wipes a step claimed for this instance to carry out: if that fails, the claims are
        given up, so the next sweep (any instance's) tries again at once."""
        try:
            yield
        except Exception:
            await self.pathways.sweeper.let_go(*claimed)
            raise

    # -- sending --------------------------------------------------------------------------------

    async def _answer(self, query: CallbackQuery, text: str | None) -> None:
        with contextlib.suppress(TelegramError, Blocked, GaveUp):
            await self.sender.call(query.answer, text=text)

    async def _leave(self, bot: Bot, chat: Chat) -> None:
        with contextlib.suppress(TelegramError, Blocked, GaveUp):
            await self.sender.call(bot.leave_chat, chat.id)

    async def _send(self, bot: Bot, chat_id: int, text: str, **extra: object) -> Message:
        return await self.sender.call(bot.send_message, chat_id, text, **SEND, **extra)

    async def _deliver(
        self,
        bot: Bot,
        chat_id: int,
        outcome: Outcome,
        pressed: int | None = None,
        newest_id: int | None = None,
    ) -> None:
        """Wipe what the step ended, then show its reply. `pressed` is the message whose button
        was pressed (the step may be shown by editing it); `newest_id` the person's message."""
        reply, tr = outcome.reply, self._tr(outcome.reply.locale)
        if outcome.ended:
            await self._farewell(bot, chat_id, outcome, tr, newest_id or pressed)
            return
        for pending in outcome.wipes:  # a chat left idle, cleared as the person came back
            await self._carry_out(bot, chat_id, pending, newest_id or pressed)
        if outcome.noted:
            reply = outcome.with_notice(self.parts.engine.message("typed_deleted"))
        footer = self.parts.engine.message("auto_clear", minutes=str(self.settings.idle_minutes))
        rendered = render(reply, tr, footer)
        live = outcome.session.live_message_id
        if pressed is not None and pressed == live and rendered.single and not outcome.wipes:
            if await self._edit(bot, chat_id, live, rendered, outcome):
                return
        elif live is not None and not outcome.wipes:
            # Only the newest message keeps buttons: older ones would only say "expired".
            with contextlib.suppress(BadRequest, GaveUp):
                await self.sender.call(
                    bot.edit_message_reply_markup, chat_id=chat_id, message_id=live
                )
        await self._send_new(bot, chat_id, rendered, tr, outcome.session.updated_at)

    async def _edit(
        self, bot: Bot, chat_id: int, live: int, rendered: Rendered, outcome: Outcome
    ) -> bool:
        """Show the step in place of the live message. False when that cannot be done."""
        # Skipped only if this instance showed exactly this at the step just before: after a
        # step on another instance (which may have edited it since), it is shown again.
        before = outcome.before.updated_at if outcome.before is not None else None
        if before is not None and self._shown.get(chat_id) == (live, rendered.digest, before):
            return True  # already shows exactly this; Telegram would refuse the edit
        try:
            await self.sender.call(
                bot.edit_message_text,
                rendered.step[0],
                chat_id=chat_id,
                message_id=live,
                **EDIT_TEXT,
                reply_markup=rendered.keyboard,
            )
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                return False  # gone, or too old to edit: send a new one instead
        self._remember_shown(chat_id, live, rendered.digest, outcome.session.updated_at)
        return True

    async def _send_new(
        self,
        bot: Bot,
        chat_id: int,
        rendered: Rendered,
        tr: Translator,
        step: datetime | None,
    ) -> None:
        """The step's messages, the buttons on the last. A message Telegram refuses is left
        out and the rest still go; the buttons always arrive, so the ways out are never lost."""
        texts = [*rendered.step, *rendered.cards]
        sent: list[Tracked] = []
        keyboard_shown = rendered.keyboard is None
        try:
            for position, text in enumerate(texts, start=1):
                last = position == len(texts)
                try:
                    message = await self._send(
                        bot, chat_id, text, reply_markup=rendered.keyboard if last else None
                    )
                except BadRequest as exc:
                    log.warning("a message of a step was refused: %s", _reason(exc))
                    continue
                sent.append(_tracked(message))
                keyboard_shown = keyboard_shown or last
            if not keyboard_shown:
                sent.append(await self._buttons_alone(bot, chat_id, rendered, tr))
        finally:
            # Record each message that did go out, even if a later one failed, so that a
            # wipe removes it. If the conversation ended meanwhile, they are wiped instead.
            if sent:
                single = rendered.single and len(sent) == 1 and keyboard_shown
                live_id = sent[-1].message_id if single else None
                if live_id is not None:
                    self._remember_shown(chat_id, live_id, rendered.digest, step)
                await self.conversations.track(chat_key(chat_id), sent, live_id)

    async def _buttons_alone(
        self, bot: Bot, chat_id: int, rendered: Rendered, tr: Translator
    ) -> Tracked:
        """The step's buttons, when the message that was to carry them was refused."""
        text = escape(tr.render(self.parts.engine.message("use_buttons")))
        message = await self._send(bot, chat_id, text, reply_markup=rendered.keyboard)
        return _tracked(message)

    def _remember_shown(
        self, chat_id: int, message_id: int, digest: str, step: datetime | None
    ) -> None:
        """What the live message shows, so an identical edit (which Telegram refuses as "not
        modified") is never sent, and the step that showed it (its saved time): another
        instance sharing the database may have stepped the chat, and edited it, since. Kept in
        memory only, for the most recent chats."""
        self._shown.pop(chat_id, None)
        self._shown[chat_id] = (message_id, digest, step)
        while len(self._shown) > SHOWN_LIMIT:
            self._shown.pop(next(iter(self._shown)))

    async def _farewell(
        self, bot: Bot, chat_id: int, outcome: Outcome, tr: Translator, newest_id: int | None
    ) -> None:
        """After a quick exit: delete the conversation, then say honestly what could not be
        removed. The farewell's own id bounds everything the bot may have sent before it, even
        a reply whose answer was lost or that was cut short by the exit: anything between the
        person's last message and the farewell goes too. The farewell itself is deleted once
        the idle time has passed, so it does not linger as a trace; a cover message, if
        configured, stays as the chat's last message."""
        self._shown.pop(chat_id, None)
        now, key = self.clock(), chat_key(chat_id)
        # If this fails, nothing claims the chat was cleared: the sweep tries again.
        async with self._or_let_go(outcome.wipes):
            for pending in outcome.wipes:
                await self._delete(bot, chat_id, pending, newest_id)
        old = sum(too_old(pending.messages, now) for pending in outcome.wipes)
        parts = [
            tr.render(outcome.reply.text),
            tr.render(self.parts.engine.message("exit_telegram")),
        ]
        if old:
            parts.append(tr.render(self.parts.engine.message("exit_too_old", count=str(old))))
        farewell = await self._send(bot, chat_id, escape("\n\n".join(parts)))
        later: list[LaterWipe] = []
        if outcome.wipes and newest_id is not None and farewell.message_id - 1 > newest_id:
            # Sent after the person's last message and before the farewell: in flight when
            # they left. Deleted now, or by the sweep if that fails.
            gap = (Tracked(newest_id + 1, int(now.timestamp())),)
            try:
                await self.wiper.wipe(bot, chat_id, gap, now, farewell.message_id - 1)
            except (Blocked, GaveUp):
                ends = (*gap, Tracked(farewell.message_id - 1, int(now.timestamp())))
                later.append(LaterWipe(key, ends, now))
        if not outcome.reply.forgets:  # after /forget, not even the farewell's id is kept
            due = now + timedelta(minutes=self.settings.idle_minutes)
            later.append(LaterWipe(key, (_tracked(farewell),), due))
        await self.pathways.sweeper.done(*outcome.wipes, later=later, urgent=True)
        if self.settings.cover_message:
            await self._send(bot, chat_id, escape(self.settings.cover_message))
