"""Build and run the python-telegram-bot Application: long polling by default, a webhook if set.

The Application is built the documented way (builder, `base_url`, an error handler, JobQueue
jobs); its HTTP client is `AiohttpRequest` and, in webhook mode, updates
arrive through Pathways' own aiohttp server (`bot.web.server`) and are put on the
Application's update queue, as python-telegram-bot's custom-webhook examples do.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    JobQueue,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.app import open_pathways, utc_now
from bot.channels.telegram import updates
from bot.channels.telegram.flood import PerChatUpdateProcessor
from bot.channels.telegram.handlers import TelegramChannel
from bot.channels.telegram.request import AiohttpRequest
from bot.channels.telegram.sender import Sender, Sleep
from bot.channels.web.serve import ServedWebChat, serve_web_chat
from bot.config import Settings
from bot.engine.context import Clock
from bot.leader import Leadership, polling_lock
from bot.ops.profile import set_profile
from bot.web.server import Site, WebServer, health_app, webhook_app

log = logging.getLogger(__name__)

# Only what the bot uses: fewer kinds of update reach it, and none it would ignore anyway.
ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.CALLBACK_QUERY,
    Update.MY_CHAT_MEMBER,
    Update.CHANNEL_POST,
]

TelegramApp = Application[Any, Any, Any, Any, Any, Any]
# How long each getUpdates waits for an update (python-telegram-bot's run_polling default).
POLL_TIMEOUT = timedelta(seconds=10)
# The Bot API client for ordinary calls and the one for getUpdates (tests pass in-process ones).
Requests = tuple[BaseRequest, BaseRequest]


def _requests(timeout: float) -> Requests:
    return (
        AiohttpRequest(read_timeout=timeout, write_timeout=timeout, connect_timeout=timeout),
        AiohttpRequest(connection_pool_size=1),
    )


def build_application(
    settings: Settings,
    *,
    clock: Clock = utc_now,
    sleep: Sleep = asyncio.sleep,
    processor: PerChatUpdateProcessor | None = None,
    timeout: float = 10.0,
    on_channel: Callable[[TelegramChannel], None] | None = None,
    freeze_start_up: bool = False,
    requests: Requests | None = None,
    polling: bool = True,
    web: bool = False,
    ready: Callable[[TelegramApp], bool] | None = None,
    schedule: bool = True,
) -> TelegramApp:
    """The Application with every handler; nothing is contacted until it is initialised.

    `polling`: whether it fetches its own updates; without, they are put on its update queue
    (the webhook, or a test). `freeze_start_up`: once started, keep the garbage collector off
    what start-up built (for the process that runs the bot; tests that start many bots in one
    process leave it off). `web`: serve the web chat beside it when `settings.web` is on (for
    `python -m bot run`), on the same Pathways. `ready`: what the health check reports (by
    default: started, and receiving updates). `schedule`: schedule the sweep and the reminder
    now; without, whoever starts it calls `schedule_jobs` (an instance that leads in turn).
    """
    if not settings.token:
        raise ValueError("a bot token is needed for the Telegram channel")
    channel = TelegramChannel(settings, clock, Sender(sleep=sleep))
    processor = processor or PerChatUpdateProcessor()
    # A quick exit is never dropped by the flood guard, and the idle sweep waits its turn in
    # a chat so it never races a reply being sent there.
    processor.keep = channel.must_keep
    processor.urgent = channel.is_urgent
    channel.chat_turn = processor.chat_turn
    health = WebServer()
    web_chat: list[ServedWebChat] = []

    async def post_init(application: TelegramApp) -> None:
        pathways = await open_pathways(settings, clock)
        channel.attach(pathways)
        await set_profile(application.bot, settings, pathways.parts.spec, pathways.parts.locales)
        if settings.health is not None:
            check = health_app(lambda: (ready or _serving)(application))
            site = Site(check, settings.health.listen, settings.health.port)
            try:
                await health.start([site])
            except OSError as exc:  # the monitor will notice; people are still served
                log.warning("the health check cannot listen (%s)", type(exc).__name__)
        if web:
            served = await serve_web_chat(settings, pathways, lambda line: log.warning("%s", line))
            if served is not None:
                web_chat.append(served)
        # What start-up built (flows, catalogues, the directory index, the libraries) lives as
        # long as the process: frozen, the garbage collector stops walking it again and again,
        # and its full collections no longer pause replies.
        if freeze_start_up:
            gc.freeze()

    async def post_shutdown(_application: TelegramApp) -> None:
        while web_chat:
            await web_chat.pop().close()
        await health.close()
        if channel.attached:
            await channel.pathways.close()

    request, updates_request = requests or _requests(timeout)
    builder = (
        ApplicationBuilder()
        .token(settings.token)
        .concurrent_updates(processor)
        .request(request)
        .get_updates_request(updates_request)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    if settings.api_base_url:
        builder = builder.base_url(settings.api_base_url)
    if settings.api_file_url:
        builder = builder.base_file_url(settings.api_file_url)
    if not polling:
        builder = builder.updater(None)
    application = builder.build()

    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    application.add_handler(
        ChatMemberHandler(channel.on_membership, ChatMemberHandler.MY_CHAT_MEMBER)
    )
    application.add_handler(CallbackQueryHandler(channel.on_callback))
    application.add_handler(MessageHandler(private, channel.on_message))
    application.add_handler(MessageHandler(~filters.ChatType.PRIVATE, channel.on_other_chat))
    application.add_error_handler(channel.on_error)
    _job_queue(application)  # fails now, not once leading, if the job-queue extra is missing
    if schedule:
        schedule_jobs(application, channel, settings)
    if on_channel is not None:
        on_channel(channel)
    return application


def schedule_jobs(application: TelegramApp, channel: TelegramChannel, settings: Settings) -> None:
    """The sweep, once as soon as the application starts and then every `sweep_seconds`, and
    the service managers' daily reminder."""
    job_queue = _job_queue(application)

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

    # However long start-up takes, the start-up sweep still runs: APScheduler would otherwise
    # drop a job that is more than a second late.
    job_queue.run_once(start_up_sweep_job, when=0, job_kwargs={"misfire_grace_time": None})
    job_queue.run_repeating(
        sweep_job, interval=settings.sweep_seconds, first=settings.sweep_seconds
    )
    # The daily list of entries not checked lately, for service managers only.
    london = settings.reminder_time.replace(tzinfo=ZoneInfo("Europe/London"))
    job_queue.run_daily(reminder_job, time=london)


def _job_queue(application: TelegramApp) -> JobQueue[Any]:
    if application.job_queue is None:
        raise RuntimeError("auto-clear needs python-telegram-bot's job queue (the job-queue extra)")
    return application.job_queue


def _serving(application: TelegramApp) -> bool:
    """Started, and receiving updates (by polling or the webhook)."""
    updater = application.updater
    return application.running and (updater is None or updater.running)


def run(settings: Settings) -> None:
    """Start Pathways on Telegram and run until stopped (Ctrl-C or SIGTERM)."""
    if settings.webhook is None and settings.database_url and settings.token:
        # On PostgreSQL, several instances may run: one polls at a time, the others stand by.
        leadership = Leadership(settings.database_url, polling_lock(settings.token))
        channels: list[TelegramChannel] = []
        application = build_application(
            settings,
            freeze_start_up=True,
            web=True,
            ready=lambda app: _ready_in_turn(app, leadership),
            schedule=False,
            on_channel=channels.append,
        )
        log.warning("starting on Telegram with long polling, one instance at a time")
        asyncio.run(serve_polling_in_turn(application, channels[0], settings, leadership))
        return
    if settings.webhook is None:
        application = build_application(settings, freeze_start_up=True, web=True)
        log.warning("starting on Telegram with long polling")
        application.run_polling(allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False)
        return
    application = build_application(settings, freeze_start_up=True, polling=False, web=True)
    log.warning(
        "starting on Telegram with a webhook on %s:%s",
        settings.webhook.listen,
        settings.webhook.port,
    )
    asyncio.run(serve_webhook(application, settings))


async def serve_webhook(
    application: TelegramApp, settings: Settings, stop: asyncio.Event | None = None
) -> None:
    """Receive updates on Pathways' web server until SIGINT or SIGTERM (or `stop` is set)."""
    hook = settings.webhook
    if hook is None:
        raise ValueError("no webhook is configured")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)

    async def deliver(data: dict[str, Any]) -> None:
        # An update python-telegram-bot cannot read is counted and dropped, and answered 200
        # all the same: refused, Telegram would send it again and again.
        update = updates.read(data, application.bot)
        if update is not None:
            await application.update_queue.put(update)

    server = WebServer()
    await application.initialize()
    try:
        if application.post_init is not None:
            await application.post_init(application)
        hook_app = webhook_app(hook.path, hook.secret, deliver)
        await server.start([Site(hook_app, hook.listen, hook.port)])
        await application.bot.set_webhook(
            hook.url, secret_token=hook.secret, allowed_updates=ALLOWED_UPDATES
        )
        await application.start()
        await stop.wait()
    finally:
        # Take no more updates first (behind a load balancer, the next ones go to another
        # instance), then finish those already taken: an update accepted while stopping would
        # be answered 200 and never handled. The webhook itself stays set, for the others.
        await server.close()
        if application.running:
            await application.stop()
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)


async def serve_polling_in_turn(
    application: TelegramApp,
    channel: TelegramChannel,
    settings: Settings,
    leadership: Leadership,
    stop: asyncio.Event | None = None,
) -> None:
    """Long polling by one instance of the bot at a time (`bot/leader.py`), until SIGINT or
    SIGTERM (or `stop` is set).

    The web chat and the health check are served all along. Telegram is polled, and the sweep
    and the reminder run, only while this instance leads; each time it takes the lead, the
    sweep runs at once, so the wipes a leader that died left pending are carried out. Losing
    the lead, it stops polling at once, finishes the updates it already has, and stands by
    again. Stopped while leading, it gives the lead back once those are finished."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    updater = application.updater
    if updater is None:
        raise ValueError("long polling needs the application's updater")
    await application.initialize()
    try:
        if application.post_init is not None:
            await application.post_init(application)
        while await _unless_stopped(leadership.acquire(), stop):
            schedule_jobs(application, channel, settings)
            await updater.start_polling(
                timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False
            )
            await application.start()
            lost = await _unless_stopped(leadership.lost(), stop)
            await _step_down(application)
            if not lost:
                break
    finally:
        await _step_down(application)
        await leadership.release()
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)


def _ready_in_turn(application: TelegramApp, leadership: Leadership) -> bool:
    """For the health check: leading and receiving updates, or standing by on a working
    database connection, ready to take over."""
    if leadership.leading:
        return _serving(application)
    return leadership.healthy


async def _step_down(application: TelegramApp) -> None:
    """Stop polling first, then finish the updates already fetched; the jobs go with the lead
    (whoever leads next schedules its own)."""
    if application.updater is not None and application.updater.running:
        await application.updater.stop()
    if application.running:
        for job in _job_queue(application).jobs():
            job.schedule_removal()
        await application.stop()


async def _unless_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run `work` to its end (True), unless `stop` is set first (False: `work` is cancelled)."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
    if task.cancelled():
        return False
    task.result()  # its exception, if it failed
    return True
