"""Build and run the python-telegram-bot Application: polling by default, webhook if set."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)

from bot.app import utc_now
from bot.channels.telegram.flood import PerChatUpdateProcessor
from bot.channels.telegram.handlers import TelegramChannel
from bot.channels.telegram.sender import Sender, Sleep
from bot.channels.telegram.transport import BotApiRequest
from bot.config import Settings
from bot.engine.context import Clock
from bot.ops.health import HealthServer
from bot.ops.profile import set_profile

log = logging.getLogger(__name__)

# Only what the bot uses: fewer kinds of update reach it, and none it would ignore anyway.
ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.CALLBACK_QUERY,
    Update.MY_CHAT_MEMBER,
    Update.CHANNEL_POST,
]

TelegramApp = Application[Any, Any, Any, Any, Any, Any]


def build_application(
    settings: Settings,
    *,
    clock: Clock = utc_now,
    sleep: Sleep = asyncio.sleep,
    processor: PerChatUpdateProcessor | None = None,
    timeout: float = 10.0,
    on_channel: Callable[[TelegramChannel], None] | None = None,
    freeze_start_up: bool = False,
) -> TelegramApp:
    """The Application with every handler; nothing is contacted until it is initialised.

    `freeze_start_up`: once started, keep the garbage collector off what start-up built (for
    the process that runs the bot; tests that start many bots in one process leave it off).
    """
    if not settings.token:
        raise ValueError("a bot token is needed for the Telegram channel")
    channel = TelegramChannel(settings, clock, Sender(sleep=sleep))
    processor = processor or PerChatUpdateProcessor()
    # A quick exit is never dropped by the flood guard, and the idle sweep waits its turn in
    # a chat so it never races a reply being sent there.
    processor.keep = channel.must_keep
    channel.chat_turn = processor.chat_turn

    health = HealthServer()

    async def post_init(application: TelegramApp) -> None:
        await channel.open()
        parts = channel.parts
        await set_profile(application.bot, settings, parts.spec, parts.locales)
        if settings.health is not None:
            try:
                await health.start(settings.health, lambda: _serving(application))
            except OSError as exc:  # the monitor will notice; people are still served
                log.warning("the health check cannot listen (%s)", type(exc).__name__)
        # What start-up built (flows, catalogues, the directory index, the libraries) lives as
        # long as the process: frozen, the garbage collector stops walking it again and again,
        # and its full collections no longer pause replies for 50-90 ms (docs/benchmarks.md).
        if freeze_start_up:
            gc.freeze()

    async def post_shutdown(_application: TelegramApp) -> None:
        await health.close()
        await channel.close()

    async def sweep_job(context: ContextTypes.DEFAULT_TYPE) -> None:
        await channel.sweep(context.bot)

    async def start_up_sweep_job(context: ContextTypes.DEFAULT_TYPE) -> None:
        # Chats whose time ran out while the bot was stopped are cleared now, alongside the
        # first replies rather than before them: after an outage, someone in danger is
        # answered at once, however long the backlog.
        try:
            await channel.sweep(context.bot)
        finally:
            channel.swept_at_start.set()

    async def reminder_job(context: ContextTypes.DEFAULT_TYPE) -> None:
        if channel.admin_chat is not None:
            await channel.admin_chat.remind(context.bot)

    builder = (
        ApplicationBuilder()
        .token(settings.token)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                protect_content=True,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .concurrent_updates(processor)
        # A lean transport instead of httpx: a fraction of the CPU per request (transport.py).
        .request(
            BotApiRequest(read_timeout=timeout, write_timeout=timeout, connect_timeout=timeout)
        )
        .get_updates_request(BotApiRequest(connection_pool_size=1))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    if settings.api_base_url:
        builder = builder.base_url(settings.api_base_url)
    if settings.api_file_url:
        builder = builder.base_file_url(settings.api_file_url)
    application = builder.build()

    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    application.add_handler(
        ChatMemberHandler(channel.on_membership, ChatMemberHandler.MY_CHAT_MEMBER)
    )
    application.add_handler(CallbackQueryHandler(channel.on_callback))
    application.add_handler(MessageHandler(private, channel.on_message))
    application.add_handler(MessageHandler(~filters.ChatType.PRIVATE, channel.on_other_chat))
    application.add_error_handler(channel.on_error)
    if application.job_queue is None:
        raise RuntimeError("auto-clear needs python-telegram-bot's job queue (the job-queue extra)")
    application.job_queue.run_once(start_up_sweep_job, when=0)
    application.job_queue.run_repeating(
        sweep_job, interval=settings.sweep_seconds, first=settings.sweep_seconds
    )
    # The daily list of entries not checked lately, for service managers only.
    london = settings.reminder_time.replace(tzinfo=ZoneInfo("Europe/London"))
    application.job_queue.run_daily(reminder_job, time=london)
    if on_channel is not None:
        on_channel(channel)
    return application


def _serving(application: TelegramApp) -> bool:
    """Started, and receiving updates (by polling or the webhook)."""
    updater = application.updater
    return application.running and (updater is None or updater.running)


def run(settings: Settings) -> None:
    """Start Pathways on Telegram and run until stopped (Ctrl-C or SIGTERM)."""
    application = build_application(settings, freeze_start_up=True)
    if settings.webhook is None:
        log.warning("starting on Telegram with long polling")
        application.run_polling(allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False)
        return
    hook = settings.webhook
    log.warning("starting on Telegram with a webhook on %s:%s", hook.listen, hook.port)
    # python-telegram-bot refuses (403) any request without the matching secret header.
    application.run_webhook(
        listen=hook.listen,
        port=hook.port,
        url_path=hook.path,
        webhook_url=hook.url,
        secret_token=hook.secret,
        allowed_updates=ALLOWED_UPDATES,
    )
