"""Deep links and QR codes: posters, cards and labels that open the bot set to an area."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app import Parts, bundled_directory, start_codes
from bot.directory.start_codes import link, read_start_codes
from bot.directory.validate import DirectoryError
from bot.engine.model import Event
from bot.poster.render import SIZES, draw, make_code
from tests.conftest import DIRECTORY, ROOT, FakeClock
from tests.fakebot import FakeBotApi
from tests.telegram_support import CHAT, running_bot, settings_for

LINK = "https://t.me/pathways_test_bot?start=mk"


def shipped() -> dict[str, object]:
    return dict(start_codes(DIRECTORY, bundled_directory(DIRECTORY)))


@pytest.mark.parametrize("code", sorted(shipped()))
def test_every_shipped_code_opens_the_bot_set_to_its_area(parts: Parts, code: str) -> None:
    found = parts.engine.start_code(code)
    assert found is not None
    session = parts.engine.new_session("c")
    reply = parts.engine.step(session, Event.start(code))
    assert reply.state == "opening.start"  # the danger question still comes first
    assert session.answers["area"] == found.area
    assert session.answers.get("route") == found.route
    parts.engine.step(session, Event.button("no", "opening.start"))
    expected = f"{found.route}.start" if found.route else "opening.who"
    assert session.state == expected


@pytest.mark.parametrize("code", ["nope", "../../etc", "x" * 300, "mk mk", ""])
def test_an_unknown_or_malformed_code_is_a_normal_start(parts: Parts, code: str) -> None:
    session = parts.engine.new_session("c")
    reply = parts.engine.step(session, Event.start(code))
    assert reply.state == "opening.start" and session.answers == {}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("  - {code: 'has space', area: uk}", "field 'code': must be 1 to 64"),
        ("  - {code: ok, area: atlantis}", "field 'area': unknown area 'atlantis'"),
        ("  - {code: ok, area: uk, route: police}", "field 'route': unknown route 'police'"),
        ("  - {code: ok, area: uk, colour: red}", "field 'colour': unknown field"),
    ],
)
def test_start_codes_are_checked(tmp_path: Path, entry: str, message: str) -> None:
    (tmp_path / "start_codes.yaml").write_text(f"codes:\n{entry}\n")
    areas = {a.id: a for a in bundled_directory(DIRECTORY).areas()}
    with pytest.raises(DirectoryError) as caught:
        read_start_codes(tmp_path, areas)
    assert any(message in p for p in caught.value.problems), caught.value.problems


def test_the_link_form() -> None:
    assert link("@pathways_test_bot", "mk") == LINK


def test_a_qr_code_written_to_png_reads_back_as_the_exact_link(tmp_path: Path) -> None:
    """Read the modules back from the pixels and compare with the code segno made for the
    link: the same matrix means a scanner reads the same link."""
    from matplotlib import image

    path = tmp_path / "label.png"
    draw(LINK, path, SIZES["label"], "png")
    pixels = image.imread(path)[:, :, :3].mean(axis=2) < 0.5  # True where dark
    rows = [r for r in range(pixels.shape[0]) if pixels[r].any()]
    columns = [c for c in range(pixels.shape[1]) if pixels[:, c].any()]
    top, bottom, left, right = rows[0], rows[-1] + 1, columns[0], columns[-1] + 1
    matrix = make_code(LINK).matrix
    count = len(matrix)
    step_y, step_x = (bottom - top) / count, (right - left) / count
    read = [
        [
            bool(pixels[int(top + (r + 0.5) * step_y), int(left + (c + 0.5) * step_x)])
            for c in range(count)
        ]
        for r in range(count)
    ]
    assert read == [[bool(v) for v in line] for line in matrix]
    assert make_code(LINK).designator  # a real QR code (version and error level)


@pytest.mark.parametrize(("fmt", "start"), [("svg", b"<?xml"), ("pdf", b"%PDF")])
def test_vector_formats(tmp_path: Path, fmt: str, start: bytes) -> None:
    out = tmp_path / f"card.{fmt}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "poster",
            "--code",
            "mk",
            "--size",
            "card",
            "--out",
            str(out),
            "--caption",
            "Talk in private",
            "--bot-username",
            "pathways_test_bot",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(start)
    assert LINK in result.stdout


def test_the_poster_command_needs_a_known_code_and_a_bot(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PATHWAYS_BOT_USERNAME"}
    base = [sys.executable, "-m", "bot", "poster", "--out", str(tmp_path / "p.png")]
    no_bot = subprocess.run(
        [*base, "--code", "mk"], capture_output=True, text=True, cwd=ROOT, timeout=60, env=env
    )
    assert no_bot.returncode == 2 and "--bot-username" in no_bot.stderr
    unknown = subprocess.run(
        [*base, "--code", "zz", "--bot-username", "b"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env=env,
    )
    assert unknown.returncode == 2 and "Known: mk, mk-friend, mk-pro" in unknown.stderr


async def test_a_poster_link_in_telegram_sets_the_area_and_is_counted(
    tmp_path: Path, clock: FakeClock
) -> None:
    with FakeBotApi(clock=clock) as fake:
        async with running_bot(fake, settings_for(fake, tmp_path), clock) as bot:
            await bot.say("/start mk-friend")
            await bot.tap("No, not right now")
            assert "Thank you for looking out for them." in bot.text()
            await bot.tap("Who can help")
            assert "MK-Act" in bot.text()  # no need to ask where: the poster said
            await bot.say("/start nonsense-code")
            assert "First, are you in danger right now?" in bot.text()
        assert fake.refused == []
    with sqlite3.connect(tmp_path / "telegram.db") as conn:
        counted = conn.execute(
            "SELECT value, count FROM daily_counts WHERE kind = 'start_code'"
        ).fetchall()
    assert counted == [("mk-friend", 1)]
    assert str(CHAT) not in repr(counted)
