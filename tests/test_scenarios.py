"""Every transcript in tests/scenarios/, through the terminal chat and through Telegram."""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.app import Parts
from bot.channels.console import CLEAR_SCREEN, ConsoleChat
from bot.conversation import Conversations
from bot.i18n import translator
from tests.conftest import LOCALES, FakeClock
from tests.fakebot import FakeBotApi
from tests.telegram_support import running_bot, settings_for

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.yaml"))
# Run over real HTTP as well: danger, typed words (a place), a long route with service cards,
# and danger typed at three steps (an urgent update, read from the message alone).
OVER_HTTP = [p for p in SCENARIOS if p.stem.startswith(("01_", "07_", "08_", "30_"))]
# Whatever the route, the bot never reassures, labels or scores.
NEVER_ANYWHERE = ("low risk", "you are safe", "you're safe", "standard risk", "your score")


@dataclass(frozen=True)
class Step:
    tap: str | None
    type: str | None
    see: tuple[str, ...]
    gone: tuple[str, ...]
    # What the web chat shows instead, where a step has web wording (`web_text` in the flows).
    see_web: tuple[str, ...] | None = None

    def for_the_web(self) -> Step:
        return self if self.see_web is None else replace(self, see=self.see_web)


@dataclass(frozen=True)
class Scenario:
    who: str
    steps: tuple[Step, ...]
    never: tuple[str, ...] = field(default=())


def load(path: Path) -> Scenario:
    raw: dict[str, Any] = yaml.safe_load(path.read_text())
    assert set(raw) <= {"who", "steps", "never"}, path
    steps = []
    for item in raw["steps"]:
        assert set(item) <= {"tap", "type", "see", "see_web", "gone"}, (path, item)
        assert ("tap" in item) != ("type" in item), (path, item)
        steps.append(
            Step(
                tap=str(item["tap"]) if "tap" in item else None,
                type=str(item["type"]) if "type" in item else None,
                see=tuple(str(s) for s in item.get("see", ())),
                gone=tuple(str(s) for s in item.get("gone", ())),
                see_web=tuple(str(s) for s in item["see_web"]) if "see_web" in item else None,
            )
        )
    return Scenario(str(raw["who"]), tuple(steps), tuple(raw.get("never", ())))


def flat(text: str) -> str:
    return " ".join(text.split())


def check_step(number: int, step: Step, shown: str) -> None:
    for words in step.see:
        assert flat(words) in flat(shown), f"step {number}: expected {words!r} in:\n{shown}"
    for words in step.gone:
        assert flat(words) not in flat(shown), f"step {number}: {words!r} still shown"


def check_never(scenario: Scenario, everything: str) -> None:
    text = flat(everything).lower()
    for words in (*scenario.never, *NEVER_ANYWHERE):
        assert flat(words).lower() not in text, f"{words!r} must never be shown"


def test_there_are_at_least_twenty_scenarios() -> None:
    assert len(SCENARIOS) >= 20


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
async def test_scenario_in_the_terminal_chat(
    path: Path, conversations: Conversations, parts: Parts
) -> None:
    scenario = load(path)
    out = io.StringIO()
    console = ConsoleChat(conversations, parts.spec, parts.words, LOCALES, out, interactive=True)
    assert await console.begin()
    tr = translator("en", LOCALES)
    for number, step in enumerate(scenario.steps, start=1):
        before = len(out.getvalue())
        if step.tap is not None:
            assert console.last is not None
            labels = [tr.gettext(b.label) for b in console.last.buttons]
            assert step.tap in labels, f"step {number}: no button {step.tap!r} in {labels}"
            await console.enter(step.tap)
        else:
            await console.enter(step.type or "")
        written = out.getvalue()[before:]
        check_step(number, step, written.split(CLEAR_SCREEN)[-1])
    check_never(scenario, out.getvalue())


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
async def test_scenario_in_telegram(path: Path, tmp_path: Path, clock: FakeClock) -> None:
    """Every transcript through the real Application, its Bot API calls answered in process."""
    await play_in_telegram(path, tmp_path, clock, in_process=True)


@pytest.mark.parametrize("path", OVER_HTTP, ids=lambda p: p.stem)
async def test_scenario_in_telegram_over_http(path: Path, tmp_path: Path, clock: FakeClock) -> None:
    """A few, end to end: the bot long-polls the fake Bot API over HTTP on 127.0.0.1."""
    await play_in_telegram(path, tmp_path, clock, in_process=False)


async def play_in_telegram(path: Path, tmp_path: Path, clock: FakeClock, in_process: bool) -> None:
    scenario = load(path)
    with FakeBotApi(clock=clock) as fake:
        settings = settings_for(fake, tmp_path)
        async with running_bot(fake, settings, clock, in_process=in_process) as bot:
            await bot.say("/start")
            for number, step in enumerate(scenario.steps, start=1):
                if step.tap is not None:
                    assert step.tap in bot.labels(), f"step {number}: no {step.tap!r}"
                    await bot.tap(step.tap)
                else:
                    await bot.say(step.type or "")
                buttons = bot.labels() if any(m.reply_markup for m in bot.bot_messages()) else []
                check_step(number, step, "\n".join([bot.text(), *buttons]))
        sent = [c["text"] for c in fake.calls("sendMessage") + fake.calls("editMessageText")]
        check_never(scenario, html.unescape(re.sub(r"<[^>]+>", "", "\n".join(sent))))
        assert fake.refused == []
