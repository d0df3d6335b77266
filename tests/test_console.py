"""The terminal chat, in-process for speed and as a real process for what a person meets."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from bot.app import Parts
from bot.channels.console import CLEAR_SCREEN, ConsoleChat, ReadLine
from bot.conversation import Conversations
from tests.conftest import LOCALES, ROOT

SILENT_SOLUTION = "press 55 when the automated message asks"


def lines(*typed: str) -> ReadLine:
    queue = list(typed)

    async def read() -> str | None:
        return queue.pop(0) if queue else None

    return read


async def chat(
    conversations: Conversations, parts: Parts, typed: Iterable[str], interactive: bool = False
) -> tuple[int, str]:
    out = io.StringIO()
    console = ConsoleChat(conversations, parts.spec, parts.words, LOCALES, out, interactive)
    status = await console.run(lines(*typed))
    return status, out.getvalue()


def flat(text: str) -> str:
    return " ".join(text.split())


async def test_choosing_danger_by_number_shows_999_and_the_silent_solution(
    conversations: Conversations, parts: Parts
) -> None:
    status, out = await chat(conversations, parts, ["1"])
    assert status == 0
    assert "call 999" in flat(out) and SILENT_SOLUTION in flat(out)
    assert "1. Back to where I was" in out


@pytest.mark.parametrize("typed", ["/danger", "I'm in danger now", "yes, i\u2019m in danger now"])
async def test_danger_by_command_or_by_words(
    conversations: Conversations, parts: Parts, typed: str
) -> None:
    _, out = await chat(conversations, parts, [typed])
    assert SILENT_SOLUTION in flat(out)


async def test_the_way_back_after_danger_continues_the_conversation(
    conversations: Conversations, parts: Parts
) -> None:
    _, out = await chat(conversations, parts, ["1", "1"])
    assert out.index("Who are you looking for help for?") > out.index(SILENT_SOLUTION)


async def test_a_whole_route_by_numbers_reaches_services_with_sources(
    conversations: Conversations, parts: Parts
) -> None:
    _, out = await chat(conversations, parts, ["2", "1", "1", "2", "1", "Wales"])
    text = flat(out)
    assert "Live Fear Free Helpline (Wales)" in text
    assert "0808 80 10 800" in text
    assert "Taken from gov.wales on 26 November 2026." in text


async def test_unchecked_facts_say_so(conversations: Conversations, parts: Parts) -> None:
    _, out = await chat(conversations, parts, ["2", "4", "2", "England"])
    assert "Respect Phoneline" in out
    assert "Not yet checked by our team." in out


async def test_typing_exit_ends_the_chat_and_reading_stops(
    conversations: Conversations, parts: Parts
) -> None:
    status, out = await chat(conversations, parts, ["2", "exit", "1"])
    assert status == 0
    assert "This chat has been cleared and closed." in out
    assert "> 1" not in out  # nothing after the exit is read
    assert not await conversations.exists("console")


async def test_quick_exit_clears_the_screen_and_scrollback_in_a_terminal(
    conversations: Conversations, parts: Parts
) -> None:
    _, out = await chat(conversations, parts, ["/exit"], interactive=True)
    assert CLEAR_SCREEN in out
    assert "Hello." not in out.split(CLEAR_SCREEN)[-1]


async def test_piped_output_has_no_control_codes(
    conversations: Conversations, parts: Parts
) -> None:
    _, out = await chat(conversations, parts, ["/exit"])
    assert "\033" not in out


async def test_odd_input_gets_a_clear_answer(conversations: Conversations, parts: Parts) -> None:
    _, out = await chat(conversations, parts, ["42", "/nonsense", "", "   "])
    assert out.count("Please choose one of the options below.") == 2
    assert "Traceback" not in out


async def test_help_is_there_and_back_returns(conversations: Conversations, parts: Parts) -> None:
    _, out = await chat(conversations, parts, ["2", "/help", "2"])
    assert "/exit to clear this chat at once" in out
    assert out.rstrip().splitlines()[-1].strip() == "7. Quick exit"
    assert out.count("Who are you looking for help for?") == 2


def run_console(db: Path, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "console", "--db", str(db), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_piped_danger_in_a_real_process(tmp_path: Path) -> None:
    result = run_console(tmp_path / "p.db", "1\n")
    assert result.returncode == 0, result.stderr
    assert "call 999" in flat(result.stdout) and SILENT_SOLUTION in flat(result.stdout)
    assert "Back to where I was" in result.stdout


def test_killed_mid_conversation_resumes_at_the_same_step(tmp_path: Path) -> None:
    db = tmp_path / "killed.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "console", "--db", str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdin and proc.stdout
    proc.stdin.write("2\n1\n")
    proc.stdin.flush()
    # Read until the step after "Me" is on screen: it has been saved before it was shown.
    for line in proc.stdout:
        if "Is it safe for you to talk now?" in line:
            break
    proc.kill()
    proc.wait(timeout=30)

    result = run_console(db, "")
    assert result.returncode == 0
    assert "Welcome back. Here is where we were." in result.stdout
    assert "Is it safe for you to talk now?" in result.stdout
    assert "are you in danger right now?" not in result.stdout


def test_an_unknown_language_is_refused_clearly(tmp_path: Path) -> None:
    result = run_console(tmp_path / "l.db", "", "--lang", "xx")
    assert result.returncode == 2
    assert "Unknown language 'xx'. Available: en" in result.stderr
