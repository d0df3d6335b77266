"""The checks `doctor` makes with the Bot API: the token, the bot's settings at BotFather,
the webhook as Telegram sees it, and this machine's clock against Telegram's."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.config import Settings
from bot.ops.findings import Finding, fail, ok, warn

DEFAULT_API = "https://api.telegram.org/bot"
CLOCK_TOLERANCE = 30  # seconds; Telegram's Date header has whole seconds, and the network lags


class _Unreachable(Exception):
    pass


def _method_url(settings: Settings, method: str) -> str:
    """The address of a Bot API method, as python-telegram-bot forms it from base_url."""
    base = settings.api_base_url or DEFAULT_API
    token = settings.token or ""
    prefix = base.replace("{token}", token) if "{token}" in base else base + token
    return f"{prefix}/{method}"


async def _call(
    client: httpx.AsyncClient, settings: Settings, method: str
) -> tuple[int, dict[str, Any], str | None]:
    try:
        response = await client.post(_method_url(settings, method))
    except httpx.HTTPError as exc:
        # Only the error's type: its text holds the address, and the address holds the token.
        raise _Unreachable(type(exc).__name__) from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    return (
        response.status_code,
        body if isinstance(body, dict) else {},
        response.headers.get("date"),
    )


async def telegram(settings: Settings, wait: float, now: datetime) -> list[Finding]:
    host = urlsplit(settings.api_base_url or DEFAULT_API).netloc
    async with httpx.AsyncClient(timeout=wait) as client:
        try:
            status, body, date_header = await _call(client, settings, "getMe")
        except _Unreachable as exc:
            return [
                fail(
                    "telegram",
                    f"Could not reach the Bot API at {host} ({exc}).",
                    "Check this machine can make HTTPS connections to it (a proxy or firewall?), "
                    "or run `python -m bot doctor --offline` to skip these checks.",
                )
            ]
        if status in (401, 404) or not body.get("ok"):
            return [
                fail(
                    "telegram",
                    f"Telegram did not accept the token (HTTP {status}).",
                    "Copy the token again from @BotFather (/mybots, the bot, API Token); if it "
                    "was revoked, put the new one where TELEGRAM_BOT_TOKEN_FILE points.",
                )
            ]
        found = _profile(body.get("result") or {})
        found.extend(_clock(date_header, now))
        try:
            _status, info, _date = await _call(client, settings, "getWebhookInfo")
        except _Unreachable:
            info = {}
        found.extend(_webhook(settings, info.get("result") or {}, now))
    return found


def _profile(me: dict[str, Any]) -> list[Finding]:
    found = [ok("telegram", f"The Bot API answers: this is @{me.get('username', '?')}.")]
    if me.get("can_join_groups"):
        found.append(
            warn(
                "telegram",
                "The bot can be added to groups (it leaves them, but it need not be asked).",
                "In @BotFather: /setjoingroups, choose the bot, Disable.",
            )
        )
    if me.get("can_read_all_group_messages"):
        found.append(
            warn(
                "telegram",
                "Privacy mode is off: in a group the bot would be sent every message.",
                "In @BotFather: /setprivacy, choose the bot, Enable.",
            )
        )
    return found


def _clock(date_header: str | None, now: datetime) -> list[Finding]:
    if not date_header:
        return []
    try:
        theirs = parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return []
    skew = (now - theirs.astimezone(UTC)).total_seconds()
    if abs(skew) > CLOCK_TOLERANCE:
        side = "ahead of" if skew > 0 else "behind"
        return [
            fail(
                "clock",
                f"This machine's clock is {abs(skew):.0f} seconds {side} Telegram's. Idle "
                "chats and the 48-hour delete rule depend on it.",
                "Turn on time synchronisation: timedatectl set-ntp true",
            )
        ]
    return [ok("clock", "Agrees with Telegram's.")]


def _webhook(settings: Settings, info: dict[str, Any], now: datetime) -> list[Finding]:
    hook = settings.webhook
    found: list[Finding] = []
    if hook is None or not info:
        return found
    if info.get("url") and info.get("url") != hook.url:
        found.append(ok("webhook", "Telegram posts elsewhere now; `run` gives it this address."))
    error_at = info.get("last_error_date")
    if error_at and (now.timestamp() - float(error_at)) < 24 * 3600:
        message = str(info.get("last_error_message", "unknown"))[:200]
        found.append(
            warn(
                "webhook",
                f"Telegram's last delivery failed at {datetime.fromtimestamp(error_at, UTC):%H:%M} "
                f"UTC: {message}",
                f"Check the proxy sends {urlsplit(hook.url).path or '/'} to "
                f"http://{hook.listen}:{hook.port}/{hook.path}, and that the bot is running.",
            )
        )
    waiting = int(info.get("pending_update_count", 0))
    if waiting > 100:
        found.append(
            warn("webhook", f"{waiting} updates are waiting at Telegram.", "Is the bot running?")
        )
    return found
