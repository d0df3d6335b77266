"""(e) Quick exit's wipe of a 200-message chat: time and Bot API calls, on loopback.

A private chat gets 200 messages, alternately the person's and the bot's (the bot's sent
through the Bot API as the bot sends them), all tracked as a conversation tracks them. Then
`Wiper.wipe` deletes them, through python-telegram-bot, against the fake Bot API on
127.0.0.1. Each round uses a fresh chat; the chat must be empty afterwards.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from telegram import Bot

from bot.channels.telegram.sender import Sender
from bot.channels.telegram.wipe import Wiper
from bot.engine.model import Tracked
from tests.fakebot import TOKEN, FakeBotApi

from .common import percentile

DELETE_METHODS = ("deleteMessages", "deleteMessage")


@dataclass(frozen=True)
class WipeResult:
    messages: int
    rounds: int
    p50_ms: float
    max_ms: float
    calls: int  # the most Bot API calls any round made
    left: int  # messages still visible in any chat afterwards (0 when every wipe worked)
    refused: int  # requests the fake refused as invalid


async def _round(fake: FakeBotApi, bot: Bot, chat_id: int, messages: int) -> tuple[float, int]:
    tracked: list[Tracked] = []
    for number in range(messages):
        if number % 2 == 0:
            message_id = fake.send_text(chat_id, f"message {number}")
            tracked.append(Tracked(message_id, int(time.time())))
        else:
            sent = await bot.send_message(chat_id, f"reply {number}")
            tracked.append(Tracked(sent.message_id, int(sent.date.timestamp())))
    calls_before = sum(len(fake.calls(m)) for m in DELETE_METHODS)
    wiper = Wiper(Sender())
    started = time.perf_counter()
    report = await wiper.wipe(bot, chat_id, tracked, datetime.now(UTC), tracked[-1].message_id)
    elapsed = time.perf_counter() - started
    calls = sum(len(fake.calls(m)) for m in DELETE_METHODS) - calls_before
    assert calls == report.calls, (calls, report)
    return elapsed, calls


async def _run(messages: int, rounds: int) -> WipeResult:
    times: list[float] = []
    calls = 0
    left = 0
    with FakeBotApi() as fake:
        bot = Bot(TOKEN, base_url=fake.base_url)
        async with bot:
            await _round(fake, bot, 1, 10)  # warm up: connections open, code loaded
            for number in range(rounds):
                chat_id = 1000 + number
                elapsed, made = await _round(fake, bot, chat_id, messages)
                times.append(elapsed)
                calls = max(calls, made)
                left += len(fake.chat(chat_id))
        refused = len(fake.refused)
    return WipeResult(
        messages=messages,
        rounds=rounds,
        p50_ms=percentile(times, 0.5) * 1000,
        max_ms=max(times) * 1000,
        calls=calls,
        left=left,
        refused=refused,
    )


def run(messages: int = 200, rounds: int = 10) -> WipeResult:
    return asyncio.run(_run(messages, rounds))


if __name__ == "__main__":
    print(run())
