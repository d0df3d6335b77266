"""Service managers keep the directory true from Telegram, end to end over the fake Bot API."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.admin.service import Refused
from bot.directory.files import MAX_FILE_BYTES, read_folder, read_import, to_csv
from tests.conftest import DIRECTORY, FakeClock
from tests.fakebot import FakeBotApi
from tests.telegram_support import CHAT, PATIENCE, Running, running_bot, settings_for

OWNER = CHAT  # the person in these tests is an owner, set in configuration
EDITOR, OTHER_EDITOR, STRANGER = 5001, 5002, 7777


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeBotApi]:
    with FakeBotApi(clock=clock) as server:
        yield server
    assert server.refused == [], [(r.method, r.description) for r in server.refused]


@pytest.fixture
async def bot(fake: FakeBotApi, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Running]:
    settings = settings_for(fake, tmp_path, owner_ids=frozenset({OWNER}))
    async with running_bot(fake, settings, clock) as running:
        yield running


def newest(bot: Running, chat: int) -> str:
    messages = bot.bot_messages(chat)
    return messages[-1].plain_text or "" if messages else ""


def stored(path: Path, service_id: str) -> str:
    with sqlite3.connect(path) as conn:
        return str(
            conn.execute("SELECT data FROM services WHERE id = ?", (service_id,)).fetchone()[0]
        )


async def make_editor(bot: Running, user: int) -> None:
    await bot.say("/admin", chat=OWNER)
    await bot.tap("Editors", chat=OWNER)
    await bot.tap("Add an editor", chat=OWNER)
    await bot.say(str(user), chat=OWNER)
    assert f"{user} can now edit the directory." in bot.text(OWNER)


async def open_service(bot: Running, chat: int, words: str, name: str) -> None:
    await bot.say("/admin", chat=chat)
    await bot.tap("Find a service", chat=chat)
    await bot.say(words, chat=chat)
    await bot.tap(name, chat=chat)


# -- who may ------------------------------------------------------------


async def test_anyone_else_gets_exactly_what_an_unknown_command_gets(bot: Running) -> None:
    await bot.say("/start", chat=STRANGER)
    await bot.say("/nonsense", chat=STRANGER)
    unknown = newest(bot, STRANGER)
    for command in ("/admin", "/undo", "/done"):
        await bot.say(command, chat=STRANGER)
        assert newest(bot, STRANGER) == unknown, command
    assert "Directory admin" not in bot.text(STRANGER)


@pytest.mark.parametrize(
    "data",
    [
        "a:menu",
        "a:find",
        "a:all:0",
        "a:view:samaritans",
        "a:export",
        "a:editors",
        "a:save",
        "a:doimport",
        "a:rmeditor:5001",
        "a:addeditor",
        "a:verify",
        "a:add",
    ],
)
async def test_admin_buttons_from_anyone_else_are_just_expired_buttons(
    bot: Running, fake: FakeBotApi, data: str
) -> None:
    await bot.say("/start", chat=STRANGER)
    live = bot.live(STRANGER).message_id
    documents = len(fake.calls("sendDocument"))
    query = await bot.press(live, data, chat=STRANGER)
    assert (fake.answered_callbacks[query] or "").startswith("That button has expired.")
    assert "Directory admin" not in bot.text(STRANGER)
    assert len(fake.calls("sendDocument")) == documents


async def test_an_editor_cannot_manage_editors_even_with_a_forged_button(
    bot: Running, fake: FakeBotApi
) -> None:
    await make_editor(bot, EDITOR)
    await bot.say("/admin", chat=EDITOR)
    assert "Editors" not in bot.labels(EDITOR)
    query = await bot.press(bot.live(EDITOR).message_id, "a:rmeditor:5001", chat=EDITOR)
    assert fake.answered_callbacks[query] == "Only an owner can do that."
    await bot.say("/admin", chat=EDITOR)  # still an editor
    assert "Directory admin" in newest(bot, EDITOR)


async def test_a_removed_editor_is_a_stranger_again(bot: Running) -> None:
    await make_editor(bot, EDITOR)
    await bot.tap(f"Remove {EDITOR}", chat=OWNER)
    await bot.say("/admin", chat=EDITOR)
    assert "Directory admin" not in bot.text(EDITOR)


async def test_an_admin_button_with_nonsense_is_refused_clearly(
    bot: Running, fake: FakeBotApi
) -> None:
    await bot.say("/admin", chat=OWNER)
    query = await bot.press(bot.live(OWNER).message_id, "a:view:", chat=OWNER)
    assert fake.answered_callbacks[query] == "That button has expired. Send /admin for the menu."


@pytest.mark.parametrize(
    "data",
    ["a:save", "a:edit", "a:field:name", "a:doimport", "a:history", "a:rmeditor:x", "a:all:x"],
)
async def test_a_button_pressed_where_it_no_longer_applies_changes_nothing(
    bot: Running, fake: FakeBotApi, tmp_path: Path, data: str
) -> None:
    """Each admin button is valid only in the places its rule names (a save only while a
    change waits for confirmation): from the menu, each of these is an expired button."""
    before = stored(tmp_path / "telegram.db", "samaritans")
    await bot.say("/admin", chat=OWNER)
    sent = len(bot.bot_messages(OWNER))
    query = await bot.press(bot.live(OWNER).message_id, data, chat=OWNER)
    assert fake.answered_callbacks[query] == "That button has expired. Send /admin for the menu."
    assert len(bot.bot_messages(OWNER)) == sent
    assert stored(tmp_path / "telegram.db", "samaritans") == before


def test_every_admin_button_the_chat_offers_has_a_rule() -> None:
    import re

    from bot.channels.telegram import admin

    source = Path(admin.__file__).read_text(encoding="utf-8")
    offered = set(re.findall(r'_button\(.*?, f?"([a-z]+)[:"]', source))
    assert {"menu", "save", "rmeditor", "view"} <= offered  # the pattern still finds them
    assert offered <= set(admin.BUTTONS), offered - set(admin.BUTTONS)


# -- editing ------------------------------------------------------------


async def test_edit_a_field_with_validation_and_a_confirm_step(
    bot: Running, tmp_path: Path
) -> None:
    await make_editor(bot, EDITOR)
    await open_service(bot, EDITOR, "samar", "Samaritans")
    await bot.tap("Edit a field", chat=EDITOR)
    await bot.tap("contacts", chat=EDITOR)
    assert "Now: phone | 116 123 | Call free" in newest(bot, EDITOR)
    await bot.say("phone | 116 12", chat=EDITOR)
    assert "'116 12' is not a valid UK phone number" in newest(bot, EDITOR)
    await bot.say("phone | 116 123 | Call free, day or night", chat=EDITOR)
    check = newest(bot, EDITOR)
    assert "before: phone | 116 123 | Call free" in check
    assert "after: phone | 116 123 | Call free, day or night" in check
    assert "day or night" not in stored(tmp_path / "telegram.db", "samaritans")
    await bot.tap("Save", chat=EDITOR)
    assert "Saved. samaritans is now at version 2." in newest(bot, EDITOR)
    assert "day or night" in stored(tmp_path / "telegram.db", "samaritans")
    # People see the change at their next step, without a restart.
    await bot.say("/start", chat=STRANGER)
    changed = bot.channel.parts.directory.service("samaritans")
    assert changed is not None and changed.contacts[0].label == "Call free, day or night"


async def test_checked_today_in_one_tap(bot: Running, tmp_path: Path, clock: FakeClock) -> None:
    await open_service(bot, OWNER, "galop", "Galop")
    await bot.tap("Checked today", chat=OWNER)
    assert "Saved. galop is now at version 2." in newest(bot, OWNER)
    assert clock().date().isoformat() in stored(tmp_path / "telegram.db", "galop")


async def test_deactivate_and_reactivate(bot: Running, tmp_path: Path) -> None:
    await open_service(bot, OWNER, "hourglass", "Hourglass")
    await bot.tap("Deactivate", chat=OWNER)
    await bot.tap("Save", chat=OWNER)
    assert '"active":false' in stored(tmp_path / "telegram.db", "hourglass")
    await bot.tap("Back", chat=OWNER)
    assert "Not shown to people (deactivated)." in newest(bot, OWNER)
    await bot.tap("Reactivate", chat=OWNER)
    await bot.tap("Save", chat=OWNER)
    assert '"active":true' in stored(tmp_path / "telegram.db", "hourglass")


async def test_add_a_service_step_by_step(bot: Running, tmp_path: Path) -> None:
    await bot.say("/admin", chat=OWNER)
    await bot.tap("Add a service", chat=OWNER)
    for answer in (
        "bletchley-drop-in",
        "Bletchley drop-in",
        "A weekly drop-in. No appointment needed.",
        "victim; friend",
        "talk",
        "milton-keynes",
        "phone | 0344 375 4307 | Call",
        "Tue 10:00-12:00",
    ):
        await bot.say(answer, chat=OWNER)
    await bot.say("MK-Act leaflet, 2026", chat=OWNER)
    assert "Please check the new service" in newest(bot, OWNER)
    await bot.tap("Save", chat=OWNER)
    assert "bletchley-drop-in" in stored(tmp_path / "telegram.db", "bletchley-drop-in")


async def test_a_bad_step_is_asked_again(bot: Running) -> None:
    await bot.say("/admin", chat=OWNER)
    await bot.tap("Add a service", chat=OWNER)
    await bot.say("Not An Id", chat=OWNER)
    assert "must use only a-z, 0-9 and -" in newest(bot, OWNER)
    await bot.say("samaritans", chat=OWNER)
    assert "already exists" in newest(bot, OWNER)


async def test_two_editors_on_one_service_lose_nothing(bot: Running, tmp_path: Path) -> None:
    await make_editor(bot, EDITOR)
    await make_editor(bot, OTHER_EDITOR)
    for editor in (EDITOR, OTHER_EDITOR):
        await open_service(bot, editor, "galop", "Galop")
        await bot.tap("Edit a field", chat=editor)
        await bot.tap("hours_note", chat=editor)
    await bot.say("First editor's note.", chat=EDITOR)
    await bot.say("Second editor's note.", chat=OTHER_EDITOR)
    await bot.tap("Save", chat=EDITOR)
    await bot.tap("Save", chat=OTHER_EDITOR)
    conflict = newest(bot, OTHER_EDITOR)
    assert "Not saved: someone else changed galop first." in conflict
    assert f"({EDITOR}," in conflict and "First editor's note." in conflict
    assert "Yours, not saved: hours_note = Second editor's note." in conflict
    assert "First editor's note." in stored(tmp_path / "telegram.db", "galop")


# -- audit and undo ------------------------------------------------------------


async def test_undo_reverts_my_last_change_and_history_shows_it(
    bot: Running, tmp_path: Path
) -> None:
    await open_service(bot, OWNER, "samar", "Samaritans")
    await bot.tap("Edit a field", chat=OWNER)
    await bot.tap("name", chat=OWNER)
    await bot.say("Samaritans (renamed)", chat=OWNER)
    await bot.tap("Save", chat=OWNER)
    assert "renamed" in stored(tmp_path / "telegram.db", "samaritans")
    await bot.say("/undo", chat=OWNER)
    assert "Undone your edit of samaritans." in newest(bot, OWNER)
    assert "renamed" not in stored(tmp_path / "telegram.db", "samaritans")
    await open_service(bot, OWNER, "samar", "Samaritans")
    await bot.tap("History", chat=OWNER)
    history = newest(bot, OWNER)
    assert f"undo by {OWNER} (name)" in history
    assert f"edit (undone) by {OWNER} (name)" in history
    await bot.say("/undo", chat=OWNER)
    assert "You have no change to undo." in newest(bot, OWNER)


# -- files ------------------------------------------------------------


def directory_csv(change: str = "", to: str = "") -> bytes:
    text = to_csv(read_folder(DIRECTORY).services.values())
    return text.replace(change, to).encode() if change else text.encode()


async def test_import_a_spreadsheet_after_seeing_the_difference(
    bot: Running, fake: FakeBotApi, tmp_path: Path
) -> None:
    await bot.say("/admin", chat=OWNER)
    await bot.tap("Import a file", chat=OWNER)
    content = directory_csv("Police, ambulance and fire", "Police, ambulance, fire and coastguard")
    await bot.act(lambda: fake.send_document(OWNER, "directory.csv", content))
    preview = newest(bot, OWNER)
    assert "0 added, 1 changed" in preview and "changed service 'emergency': description" in preview
    assert "coastguard" not in stored(tmp_path / "telegram.db", "emergency")
    await bot.tap("Import it", chat=OWNER)
    assert "Imported. 1 entries written." in newest(bot, OWNER)
    assert "coastguard" in stored(tmp_path / "telegram.db", "emergency")


async def test_a_bad_file_changes_nothing_and_lists_every_bad_row(
    bot: Running, fake: FakeBotApi, tmp_path: Path
) -> None:
    before = stored(tmp_path / "telegram.db", "samaritans")
    await bot.say("/admin", chat=OWNER)
    content = directory_csv("116 123", "116 12").replace(b"0800 1111", b"0800 11")
    await bot.act(lambda: fake.send_document(OWNER, "../../etc/passwd.csv", content))
    reply = newest(bot, OWNER)
    assert "cannot be imported. Nothing was changed" in reply
    assert "service 'samaritans'" in reply and "service 'childline'" in reply
    assert "/etc/passwd" not in reply
    assert stored(tmp_path / "telegram.db", "samaritans") == before


async def test_export_returns_the_directory_as_a_file(bot: Running, fake: FakeBotApi) -> None:
    await bot.say("/admin", chat=OWNER)
    await bot.tap("Export", chat=OWNER)
    (sent,) = fake.calls("sendDocument")
    assert sent.get("protect_content") is False  # the manager needs to keep the file
    (message,) = [m for m in fake.chat(OWNER) if m.kind == "document"]
    data = fake.file_data(message.raw["document"]["file_id"]).decode()
    assert data.startswith("id,name,description")
    assert "samaritans" in data


# -- reminders ------------------------------------------------------------


async def test_the_daily_reminder_goes_to_managers_only(bot: Running, fake: FakeBotApi) -> None:
    await make_editor(bot, EDITOR)
    await bot.say("/start", chat=STRANGER)
    assert bot.channel.admin_chat is not None
    assert await bot.channel.admin_chat.remind(bot.app.bot) == 2
    for manager in (OWNER, EDITOR):
        assert "have not been checked for 180 days" in newest(bot, manager)
    assert "checked" not in newest(bot, STRANGER)
    sent = len(fake.calls("sendMessage"))
    assert await bot.channel.admin_chat.remind(bot.app.bot) == 0  # once a day
    assert len(fake.calls("sendMessage")) == sent


# -- only in the manager's own chat ------------------------------------------------------------


async def test_a_managers_message_in_another_chat_is_any_persons_message(
    bot: Running, fake: FakeBotApi
) -> None:
    """Buttons already count only in the presser's own private chat; messages likewise: one
    whose sender is a manager but whose chat is someone else's gets what anyone gets there."""
    await bot.say("/start", chat=STRANGER)
    await bot.say("/nonsense", chat=STRANGER)
    unknown = newest(bot, STRANGER)
    manager: dict[str, Any] = {"id": OWNER, "is_bot": False, "first_name": "Sam"}
    for command in ("/admin", "/undo", "/done"):
        entities = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        fields: dict[str, Any] = {"text": command, "entities": entities, "from": manager}
        await bot.act(functools.partial(fake.send_message, STRANGER, **fields))
        assert newest(bot, STRANGER) == unknown, command
    document = {
        "file_id": "none",
        "file_unique_id": "unone",
        "file_name": "directory.csv",
        "file_size": 10,
    }
    with_file: dict[str, Any] = {"document": document, "from": manager}
    await bot.act(lambda: fake.send_message(STRANGER, **with_file))
    assert "Directory admin" not in bot.text(STRANGER)
    assert "import" not in bot.text(STRANGER).lower()
    assert fake.calls("getFile") == []
    assert await bot.channel.pathways.admin.place(OWNER) is None  # no admin chat was opened
    assert bot.bot_messages(OWNER) == []


# -- files: read in a thread, within limits --------------------------------------------------


def many_services(count: int, description: str = "Someone to talk to.") -> bytes:
    directory = read_folder(DIRECTORY)
    samaritans = directory.services["samaritans"]
    # English only, so that the size of the file is the size of the descriptions given.
    contacts = tuple(dataclasses.replace(c, label_translations=()) for c in samaritans.contacts)
    copies = [
        dataclasses.replace(
            samaritans,
            id=f"copy-{n}",
            nation_helpline=False,
            description=description,
            translations={},
            contacts=contacts,
        )
        for n in range(count)
    ]
    return to_csv([*directory.services.values(), *copies]).encode()


async def test_people_are_answered_while_a_big_file_is_read(
    bot: Running, fake: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 5 MB file takes a while to read and check. Meanwhile everyone else is answered: the
    reading is held here (on an event this test controls) until someone has been answered."""
    from bot.admin import service

    entered, release, finished = threading.Event(), threading.Event(), threading.Event()
    on_the_event_loop: list[bool] = []

    def held_read_import(path: Path, areas: Any) -> Any:
        entered.set()
        try:
            asyncio.get_running_loop()
            # Read on the event loop: waiting here would freeze the test too. Note it; the
            # person below is then answered only after the file, which fails the test.
            on_the_event_loop.append(True)
        except RuntimeError:
            release.wait(PATIENCE)  # a bound only, so that a broken test cannot hang
        try:
            return read_import(path, areas)
        finally:
            finished.set()

    monkeypatch.setattr(service, "read_import", held_read_import)
    await bot.say("/admin", chat=OWNER)
    await bot.tap("Import a file", chat=OWNER)
    assert "at most 5 MB and 5,000 services" in newest(bot, OWNER)
    content = many_services(4_900, "A long description. " * 44)
    assert 4_900_000 < len(content) <= MAX_FILE_BYTES
    handled = bot.channel.handled
    fake.send_document(OWNER, "directory.csv", content)
    await asyncio.wait_for(asyncio.to_thread(entered.wait, PATIENCE), PATIENCE)

    await bot.say("/start", chat=STRANGER)  # waits until it has been answered
    assert bot.bot_messages(STRANGER), "the person was not answered"
    assert not finished.is_set() and not on_the_event_loop, "answered only after the file"

    release.set()
    async with asyncio.timeout(PATIENCE):
        await bot.channel.wait_handled(handled + 2)
    preview = newest(bot, OWNER)
    assert "4900 added, 0 changed" in preview
    assert "added service 'copy-0'" in preview
    assert "... and 4,850 more changes." in preview  # the first 50 are listed
    await bot.tap("Import it", chat=OWNER)
    assert "Imported. 4900 entries written." in newest(bot, OWNER)


async def test_a_file_of_nested_aliases_is_refused_at_once(bot: Running, fake: FakeBotApi) -> None:
    from tests.test_directory import LAUGHS

    await bot.say("/admin", chat=OWNER)
    await bot.act(lambda: fake.send_document(OWNER, "laughs.yaml", LAUGHS.encode()))
    reply = newest(bot, OWNER)
    assert "The file cannot be imported. Nothing was changed" in reply
    assert "file, line 2: uses the YAML alias *a; aliases are not allowed" in reply
    assert "/tmp" not in reply


async def test_a_file_with_too_many_services_is_refused_clearly(
    bot: Running, fake: FakeBotApi
) -> None:
    await bot.say("/admin", chat=OWNER)
    content = b"id,name\n" + b"x,y\n" * 5_001
    await bot.act(lambda: fake.send_document(OWNER, "many.csv", content))
    assert (
        "file, row 5002: more than 5,000 services in one file; at most 5,000 are allowed: "
        "split it into smaller files"
    ) in newest(bot, OWNER)


async def test_the_import_path_reads_only_regular_files(bot: Running, tmp_path: Path) -> None:
    """What the admin chat imports is read as the CLI reads it: a pipe or a device is refused
    before it is read (a pipe would wait for ever)."""
    from tests.test_directory import unblocked_after_a_while

    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    device = tmp_path / "device.yaml"
    device.symlink_to("/dev/null")  # /dev/zero is tried through the CLI, with a memory limit
    admin = bot.channel.pathways.admin
    for path, kind in ((pipe, "a pipe"), (device, "a device")):
        with unblocked_after_a_while(pipe):
            refused = await admin.preview_import(path)
        assert isinstance(refused, Refused)
        assert refused.problems == [
            f"{path}: is {kind}, not a file; give the path of a .yaml or .csv file"
        ]


# -- numbers in range --------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["12345678901234567890123", "0", str(2**52), "9" * 4000])
async def test_an_editor_id_out_of_range_is_answered_clearly(bot: Running, typed: str) -> None:
    await bot.say("/admin", chat=OWNER)
    await bot.tap("Editors", chat=OWNER)
    await bot.tap("Add an editor", chat=OWNER)
    await bot.say(typed, chat=OWNER)
    assert newest(bot, OWNER) == (
        "That number cannot be a Telegram user id: user ids go from 1 to 4503599627370495. "
        "Check the number with the editor (@userinfobot shows it), or send /admin for the menu."
    )
    assert await bot.channel.pathways.admin.editors() == []
    await bot.say(str(2**52 - 1), chat=OWNER)  # the largest there can be
    assert f"{2**52 - 1} can now edit the directory." in bot.text(OWNER)
    assert await bot.channel.pathways.admin.editors() == [2**52 - 1]


@pytest.mark.parametrize(
    ("data", "answer"),
    [
        ("a:rmeditor:12345678901234567890123", "That button has expired."),
        ("a:rmeditor:0", "That button has expired."),
        (f"a:rmeditor:{2**52}", "That button has expired."),
        ("a:all:" + "9" * 50, "That button has expired."),
        ("a:all:999", None),  # a page past the end: the last page
    ],
)
async def test_numbers_in_admin_buttons_out_of_range_are_answered(
    bot: Running, fake: FakeBotApi, data: str, answer: str | None
) -> None:
    await make_editor(bot, EDITOR)
    await bot.tap("Back to the menu", chat=OWNER)
    await bot.tap("Editors", chat=OWNER)
    query = await bot.press(bot.live(OWNER).message_id, data, chat=OWNER)
    assert query in fake.answered_callbacks
    if answer is None:
        assert fake.answered_callbacks[query] is None
        assert newest(bot, OWNER).startswith("All 24 services (page 3 of 3).")
    else:
        assert (fake.answered_callbacks[query] or "").startswith(answer)
    assert await bot.channel.pathways.admin.editors() == [EDITOR]
