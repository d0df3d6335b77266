"""Deep links and QR codes: posters, cards and labels that open the bot set to an area."""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app import Parts, bundled_directory, start_codes
from bot.config import Settings
from bot.directory.start_codes import link, read_start_codes, web_link
from bot.directory.validate import DirectoryError
from bot.engine.model import Event
from bot.poster import cli as poster_cli
from bot.poster.render import SIZES, draw, make_code
from tests.conftest import DIRECTORY, FLOWS, LOCALES, ROOT, FakeClock
from tests.fakebot import FakeBotApi
from tests.telegram_support import CHAT, running_bot, settings_for

LINK = "https://t.me/pathways_test_bot?start=mk"
WEB_CHAT = "https://help.example.org.uk/chat"


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


def read_back(path: Path, link: str) -> list[list[bool]]:
    """The modules of the QR code in the PNG at `path`, read from its pixels on the grid that
    segno's code for `link` has (the same matrix means a scanner reads the same link)."""
    from matplotlib import image

    pixels = image.imread(path)[:, :, :3].mean(axis=2) < 0.5  # True where dark
    rows = [r for r in range(pixels.shape[0]) if pixels[r].any()]
    columns = [c for c in range(pixels.shape[1]) if pixels[:, c].any()]
    top, bottom, left, right = rows[0], rows[-1] + 1, columns[0], columns[-1] + 1
    count = len(make_code(link).matrix)
    step_y, step_x = (bottom - top) / count, (right - left) / count
    return [
        [
            bool(pixels[int(top + (r + 0.5) * step_y), int(left + (c + 0.5) * step_x)])
            for c in range(count)
        ]
        for r in range(count)
    ]


def modules_of(link: str) -> list[list[bool]]:
    return [[bool(v) for v in line] for line in make_code(link).matrix]


def test_a_qr_code_written_to_png_reads_back_as_the_exact_link(tmp_path: Path) -> None:
    path = tmp_path / "label.png"
    draw(LINK, path, SIZES["label"], "png")
    assert read_back(path, LINK) == modules_of(LINK)
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
    settings = (poster_cli.USERNAME_VARIABLE, poster_cli.WEB_VARIABLE)
    env = {k: v for k, v in os.environ.items() if k not in settings}
    base = [sys.executable, "-m", "bot", "poster", "--out", str(tmp_path / "p.png")]
    no_bot = subprocess.run(
        [*base, "--code", "mk"], capture_output=True, text=True, cwd=ROOT, timeout=60, env=env
    )
    assert no_bot.returncode == 2
    assert "--bot-username" in no_bot.stderr and "--web" in no_bot.stderr
    unknown = subprocess.run(
        [*base, "--code", "zz", "--bot-username", "b"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env=env,
    )
    assert unknown.returncode == 2 and "Known: mk, mk-friend, mk-pro" in unknown.stderr


# -- pointing at the web chat -----------------------------------------------------------------


@pytest.fixture
def poster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Poster:
    for variable in (poster_cli.USERNAME_VARIABLE, poster_cli.WEB_VARIABLE):
        monkeypatch.delenv(variable, raising=False)
    return Poster(tmp_path, capsys)


class Poster:
    """`python -m bot poster` run in this process, so its file and words can be looked at."""

    def __init__(self, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.out = folder / "label.png"
        self.capsys = capsys
        self.settings = Settings(
            token=None,
            db_path=folder / "p.db",
            idle_minutes=15,
            flows_dir=FLOWS,
            directory_dir=DIRECTORY,
            locales_dir=LOCALES,
            web=None,
        )

    def __call__(self, *options: str) -> tuple[int, str, str]:
        parser = argparse.ArgumentParser()
        poster_cli.add_commands(parser.add_subparsers(dest="command"))
        argv = ["poster", "--size", "label", "--out", str(self.out), *options]
        status = poster_cli.run(self.settings, parser.parse_args(argv))
        said = self.capsys.readouterr()
        return status, said.out, said.err


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (WEB_CHAT, f"{WEB_CHAT}?start=mk"),
        (f"{WEB_CHAT}?ref=gp", f"{WEB_CHAT}?ref=gp&start=mk"),
        (f"{WEB_CHAT}?start=old&ref=gp", f"{WEB_CHAT}?ref=gp&start=mk"),
        (f"{WEB_CHAT}?start=a&start=b", f"{WEB_CHAT}?start=mk"),
        ("http://127.0.0.1:8080/chat", "http://127.0.0.1:8080/chat?start=mk"),
    ],
)
def test_the_web_link_form(address: str, expected: str) -> None:
    assert web_link(address, "mk") == expected


def test_a_web_poster_reads_back_as_the_web_address(poster: Poster) -> None:
    """No bot username anywhere: --web is all it needs. The code is the given one, the
    partner's own query is kept, and an old start replaced."""
    expected = f"{WEB_CHAT}?ref=gp&start=mk-friend"
    status, out, err = poster("--code", "mk-friend", "--web", f"{WEB_CHAT}?ref=gp&start=old")
    assert status == poster_cli.OK, err
    assert read_back(poster.out, expected) == modules_of(expected)
    assert out.strip().endswith(f"for {expected}")
    assert err == ""  # the address ends in /chat: nothing to check


@pytest.mark.parametrize(
    ("options", "settings", "expected"),
    [
        ((), {"PATHWAYS_WEB_PUBLIC_URL": WEB_CHAT}, f"{WEB_CHAT}?start=mk"),
        (
            ("--web",),
            {"PATHWAYS_WEB_PUBLIC_URL": WEB_CHAT, "PATHWAYS_BOT_USERNAME": "pathways_test_bot"},
            f"{WEB_CHAT}?start=mk",
        ),
        (
            (),
            {"PATHWAYS_WEB_PUBLIC_URL": WEB_CHAT, "PATHWAYS_BOT_USERNAME": "pathways_test_bot"},
            LINK,
        ),
        (
            ("--web", "https://other.example.org/chat"),
            {"PATHWAYS_WEB_PUBLIC_URL": WEB_CHAT},
            "https://other.example.org/chat?start=mk",
        ),
    ],
)
def test_the_options_choose_else_the_settings(
    poster: Poster,
    monkeypatch: pytest.MonkeyPatch,
    options: tuple[str, ...],
    settings: dict[str, str],
    expected: str,
) -> None:
    for variable, value in settings.items():
        monkeypatch.setenv(variable, value)
    status, out, err = poster("--code", "mk", *options)
    assert status == poster_cli.OK, err
    assert out.strip().endswith(f"for {expected}")


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:8080"])
def test_plain_http_is_for_trying_it_out_on_this_machine(poster: Poster, host: str) -> None:
    status, out, err = poster("--code", "mk", "--web", f"http://{host}/chat")
    assert status == poster_cli.OK, err
    assert out.strip().endswith(f"for http://{host}/chat?start=mk")


@pytest.mark.parametrize(
    ("options", "settings", "message"),
    [
        (("--web", "http://help.example.org.uk/chat"), {}, "--web must start with https://"),
        (("--web", "http://127.0.0.1.example.org/chat"), {}, "--web must start with https://"),
        (("--web", "ftp://help.example.org.uk/chat"), {}, "--web must start with https://"),
        (("--web", "help.example.org.uk/chat"), {}, "--web must start with https://"),
        (("--web", "https:///chat"), {}, "--web needs a host"),
        (("--web", "https://me:pw@help.example.org.uk/chat"), {}, "user name or password"),
        (("--web", f"{WEB_CHAT}#top"), {}, "must not have a #fragment"),
        (("--web", "https://help.example.org.uk:99999/chat"), {}, "has a port"),
        (("--web", "https://help.example.org.uk/my chat"), {}, "spaces or control characters"),
        (
            ("--web", WEB_CHAT, "--bot-username", "pathways_test_bot"),
            {},
            "Give --web or --bot-username, not both",
        ),
        (("--web",), {}, "--web without a URL needs PATHWAYS_WEB_PUBLIC_URL set"),
        (
            (),
            {"PATHWAYS_WEB_PUBLIC_URL": "http://help.example.org.uk/chat"},
            "PATHWAYS_WEB_PUBLIC_URL must start with https://",
        ),
    ],
)
def test_a_web_address_that_would_not_do_is_refused_in_one_line(
    poster: Poster,
    monkeypatch: pytest.MonkeyPatch,
    options: tuple[str, ...],
    settings: dict[str, str],
    message: str,
) -> None:
    for variable, value in settings.items():
        monkeypatch.setenv(variable, value)
    status, out, err = poster("--code", "mk", *options)
    assert status == poster_cli.USAGE
    assert message in err and err.count("\n") == 1, err
    assert out == "" and not poster.out.exists()


def test_an_address_not_at_chat_is_drawn_with_a_word_to_check_it(poster: Poster) -> None:
    status, out, err = poster("--code", "mk", "--web", "https://example.org")
    assert status == poster_cli.OK
    assert out.strip().endswith("for https://example.org?start=mk")
    assert "Check that https://example.org opens the web chat: it answers at /chat." in err


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
