"""`python -m bot directory ...` as a service manager runs it, against a real database file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import build, open_parts
from bot.conversation import Conversations
from bot.directory.files import read_folder, to_csv
from bot.engine.model import Event, Session
from bot.store.sqlite import SqliteStore
from tests.conftest import DIRECTORY, FLOWS, LOCALES, ROOT, FakeClock

# `python -m bot` in a process that may use at most argv[1] bytes of memory.
LIMITED = (
    "import resource, runpy, sys; "
    "limit = int(sys.argv.pop(1)); "
    "resource.setrlimit(resource.RLIMIT_AS, (limit, limit)); "
    "sys.argv[0] = 'bot'; "
    "runpy.run_module('bot', run_name='__main__', alter_sys=True)"
)


def cli(db: Path, *args: str, memory: int | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a manager runs it; `memory`: bytes the process may use at most (so a reader
    that never stops fails quickly instead of filling the machine's memory)."""
    python = [sys.executable, "-m", "bot"]
    if memory is not None:
        python = [sys.executable, "-c", LIMITED, str(memory)]
    return subprocess.run(
        [*python, "directory", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**os.environ, "PATHWAYS_DB": str(db)},
    )


def stored(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT id, data FROM services").fetchall())


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "directory.db"


@pytest.fixture
def edited_csv(tmp_path: Path) -> Path:
    """The bundled directory as a manager's spreadsheet, with Samaritans' description edited
    and a new local service added."""
    services = read_folder(DIRECTORY).services
    text = to_csv(services.values())
    text = text.replace(
        "Someone to talk to, any time, about anything that is troubling you.",
        "Someone to talk to, any time, day or night.",
    )
    new = (
        'bletchley-drop-in,Bletchley drop-in,"A weekly drop-in, no appointment needed.",'
        "victim,talk,milton-keynes,phone | 0344 375 4307,Tue 10:00-12:00,,,MK-Act leaflet,"
        "2026-11-20,false,true\r\n"
    )
    path = tmp_path / "edited.csv"
    path.write_text(text + new, newline="")
    return path


def test_validate_a_good_folder_and_file(db: Path, edited_csv: Path) -> None:
    folder = cli(db, "validate", str(DIRECTORY))
    assert folder.returncode == 0, folder.stderr
    assert "no problems" in folder.stdout
    sheet = cli(db, "validate", str(edited_csv))
    assert sheet.returncode == 0, sheet.stderr


def test_validate_lists_every_bad_row(db: Path, edited_csv: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    text = edited_csv.read_text().replace("116 123", "116 12").replace("Tue 10:00", "Tus 10:00")
    bad.write_text(text, newline="")
    result = cli(db, "validate", str(bad))
    assert result.returncode == 1
    assert "service 'samaritans': field 'contacts': '116 12' is not a valid UK phone" in (
        result.stderr
    )
    assert "service 'bletchley-drop-in': field 'hours': unknown day 'Tus'" in result.stderr
    assert "2 problem(s); nothing was changed." in result.stderr


def test_a_dry_run_shows_the_difference_and_changes_nothing(db: Path, edited_csv: Path) -> None:
    cli(db, "stale")  # fills the database from the bundled directory
    before = stored(db)
    result = cli(db, "import", str(edited_csv), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "added service 'bletchley-drop-in'" in result.stdout
    assert "changed service 'samaritans': description" in result.stdout
    assert "1 added, 1 changed" in result.stdout
    assert "Dry run: nothing was changed." in result.stdout
    assert stored(db) == before


def test_an_import_is_applied_whole(db: Path, edited_csv: Path) -> None:
    result = cli(db, "import", str(edited_csv))
    assert result.returncode == 0, result.stderr
    assert "Imported: 2 entries written." in result.stdout
    assert "day or night" in stored(db)["samaritans"]
    search = cli(db, "search", "Bletchley", "--at", "2026-12-01T10:30")
    assert "Bletchley drop-in [open" in search.stdout


def test_one_bad_row_and_nothing_changes(db: Path, edited_csv: Path, tmp_path: Path) -> None:
    cli(db, "stale")
    before = stored(db)
    bad = tmp_path / "bad.csv"
    bad.write_text(edited_csv.read_text().replace("milton-keynes,phone", "atlantis,phone"))
    result = cli(db, "import", str(bad))
    assert result.returncode == 1
    assert "row " in result.stderr and "unknown area 'atlantis'" in result.stderr
    assert "nothing was changed" in result.stderr
    assert stored(db) == before


def test_an_import_that_would_break_the_conversation_is_refused(db: Path, tmp_path: Path) -> None:
    cli(db, "stale")
    before = stored(db)
    silent = tmp_path / "silent.yaml"
    silent.write_text(
        "services:\n"
        "  - id: silent-solution\n"
        "    name: Silent Solution\n"
        "    description: Reach the police when you cannot speak.\n"
        "    audiences: [victim]\n"
        "    areas: [uk]\n"
        "    contacts: [{kind: phone, value: '999'}]\n"
        "    source: a test\n"
    )
    result = cli(db, "import", str(silent))
    assert result.returncode == 1
    assert "{silent-solution.keypad}" in result.stderr
    assert stored(db) == before


def test_export_then_import_changes_nothing(db: Path, tmp_path: Path) -> None:
    for fmt in ("csv", "yaml"):
        out = tmp_path / f"all.{fmt}"
        assert cli(db, "export", "--format", fmt, "--out", str(out)).returncode == 0
        again = cli(db, "import", str(out), "--dry-run")
        assert again.returncode == 0, again.stderr
        assert " 0 added, 0 changed" in f" {again.stdout}", again.stdout


def test_search_shows_what_a_person_in_mk9_is_shown(db: Path) -> None:
    result = cli(db, "search", "MK9", "--at", "2026-12-01T10:30")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "'MK9' is Milton Keynes < England < United Kingdom."
    services = [line for line in lines if line[:4].strip().rstrip(".").isdigit()]
    assert "MK-Act" in services[0]
    assert any("National Domestic Abuse Helpline" in line for line in services)


@pytest.mark.parametrize(
    ("audience", "step", "typed"),
    [
        ("victim", "victim.where", "Glasgow"),
        ("friend", "friend.where", "CF10 1AA"),
        ("own_behaviour", "own_behaviour.where", "Wolverton"),
    ],
)
def test_search_reads_a_place_and_shows_what_the_chat_shows(
    db: Path, audience: str, step: str, typed: str
) -> None:
    """The same place, read the same way, the same services in the same order as the chat's
    own step, with the need the chat uses for that audience when none is given."""
    moment = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
    parts = build(FLOWS, DIRECTORY, LOCALES, clock=lambda: moment)
    reply = parts.engine.step(Session("search", step), Event.typed(typed))
    shown = [card.name for card in reply.cards]
    result = cli(db, "search", typed, "--for", audience, "--at", "2026-12-01T10:30")
    assert result.returncode == 0, result.stderr
    listed = [
        line.split(". ", 1)[1].rsplit(" [", 1)[0]
        for line in result.stdout.splitlines()
        if line[:4].strip().rstrip(".").isdigit()
    ]
    assert listed == shown


def test_search_says_when_the_chat_would_ask(db: Path) -> None:
    border = cli(db, "search", "CH4 8AB")
    assert "'CH4 8AB' may be in England or Wales: the chat asks which." in border.stdout
    unknown = cli(db, "search", "Atlantis")
    assert "the chat asks which part of the UK" in unknown.stdout
    for nation_line in ("National Domestic Abuse Helpline", "Live Fear Free"):
        assert nation_line in border.stdout and nation_line in unknown.stdout


def test_stale_lists_entries_never_checked(db: Path) -> None:
    result = cli(db, "stale", "--days", "180")
    assert result.returncode == 0
    assert "never checked  galop" in result.stdout
    assert "samaritans" not in result.stdout


async def test_a_running_bot_picks_up_an_import(
    tmp_path: Path, clock: FakeClock, edited_csv: Path
) -> None:
    path = tmp_path / "live.db"
    database = await SqliteStore.open(path)
    parts = await open_parts(database, FLOWS, DIRECTORY, LOCALES, clock)
    chat = Conversations(
        parts.engine, database, clock, timedelta(minutes=15), directory=parts.directory
    )
    assert parts.directory.service("bletchley-drop-in") is None
    result = cli(path, "import", str(edited_csv))  # another process, same database file
    assert result.returncode == 0, result.stderr
    await chat.handle("c", Event.start())
    await database.close()
    assert parts.directory.service("bletchley-drop-in") is not None


# -- files within limits ---------------------------------------------------------------------

ONE_GB = 1024**3


def test_only_regular_files_are_read(db: Path, tmp_path: Path, edited_csv: Path) -> None:
    """A link to /dev/zero was read until killed (the size it reports is 0), and a pipe waits
    for ever for someone to write: both are refused before anything is read. A link to a
    regular file is read as the file."""
    zero = tmp_path / "zero.csv"
    zero.symlink_to("/dev/zero")
    pipe = tmp_path / "pipe.yaml"
    os.mkfifo(pipe)
    for path, kind in ((zero, "a device"), (pipe, "a pipe")):
        for args in (("validate", str(path)), ("import", str(path), "--dry-run")):
            result = cli(db, *args, memory=2 * ONE_GB)
            assert result.returncode == 1, (args, result.stderr)
            assert f"{path}: is {kind}, not a file; give the path of a .yaml or .csv file" in (
                result.stderr
            )
            assert "1 problem(s); nothing was changed." in result.stderr
    linked = tmp_path / "linked.csv"
    linked.symlink_to(edited_csv)
    result = cli(db, "validate", str(linked))
    assert result.returncode == 0, result.stderr


def test_the_cli_reads_files_within_the_same_limits_as_the_chat(db: Path, tmp_path: Path) -> None:
    from tests.test_directory import LAUGHS

    laughs = tmp_path / "laughs.yaml"
    laughs.write_text(LAUGHS)
    many = tmp_path / "many.csv"
    many.write_text("id,name\n" + "x,y\n" * 5001)
    big = tmp_path / "big.csv"
    big.write_bytes(b"id,name\n" + b"x" * 5 * 1024 * 1024)
    expected = {
        laughs: f"{laughs}, line 2: uses the YAML alias *a; aliases are not allowed",
        many: f"{many}, row 5002: more than 5,000 services in one file",
        big: f"{big}: 5,242,888 bytes is too big (at most 5,242,880)",
    }
    for path, problem in expected.items():
        for args in (("validate", str(path)), ("import", str(path), "--dry-run")):
            result = cli(db, *args)
            assert result.returncode == 1, (args, result.stderr)
            assert problem in result.stderr, result.stderr


@pytest.mark.parametrize("days", ["99999999999", "-1", "many"])
def test_stale_days_out_of_range_is_refused_clearly(db: Path, days: str) -> None:
    result = cli(db, "stale", "--days", days)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "argument --days: " in result.stderr
    assert "not between 0 and 36,500 days" in result.stderr or "not a whole number" in (
        result.stderr
    )
