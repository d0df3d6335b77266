"""`backup` and `restore`: consistent snapshots while the bot writes, conversations left out,
and a restore that refuses a bad file and keeps live conversations."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import open_parts
from bot.conversation import Conversations
from bot.engine.model import Event
from bot.ops import backup as backups
from bot.store.schema import migrations
from bot.store.sqlite import SqliteStore
from tests.conftest import DIRECTORY, FLOWS, LOCALES, ROOT, FakeClock

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
CHAT_KEY = "tg:424242"  # a live conversation's key: must never reach a backup's disk


async def make_live(path: Path) -> None:
    """A database as a running bot leaves it: directory, editors, audit, conversations."""
    db = await SqliteStore.open(path)
    await open_parts(db, FLOWS, DIRECTORY, LOCALES, FakeClock())
    await db.close()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO sessions (chat_key, state, locale, updated_at) VALUES (?, ?, 'en', ?)",
            (CHAT_KEY, "opening.start", NOW.isoformat()),
        )
        conn.execute(
            "INSERT INTO pending_wipes (chat_key, messages, due_at) VALUES (?, '[[5, 1]]', ?)",
            (CHAT_KEY, NOW.isoformat()),
        )
        conn.execute(
            "INSERT INTO admin_sessions (user_id, state, updated_at) VALUES (111111111, 'menu', ?)",
            (NOW.isoformat(),),
        )
        conn.execute("INSERT INTO editors VALUES (222222222, 111111111, ?)", (NOW.isoformat(),))
        conn.execute(
            "INSERT INTO audit (at, user_id, service_id, action, before, after, version)"
            " VALUES (?, 111111111, 'samaritans', 'edit', NULL, '{}', 2)",
            (NOW.isoformat(),),
        )
        if "daily_counts" in tables(conn):
            conn.execute("INSERT INTO daily_counts VALUES ('2026-11-26', 'route', 'victim', 7)")


def tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {str(name) for (name,) in rows if not str(name).startswith("sqlite_")}


def count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def integrity(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]


def dump_hash(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()


@pytest.fixture
async def live(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "pathways.db"
    await make_live(path)
    return path


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    folder = tmp_path / "backups"
    folder.mkdir()
    return folder


def cli(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PATHWAYS_", "TELEGRAM_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**clean, "PATHWAYS_DB": str(db)},
    )


# -- backup -------------------------------------------------------------------------------------


async def test_every_table_is_either_backed_up_or_left_out(tmp_path: Path) -> None:
    db = await SqliteStore.open(tmp_path / "fresh.db")
    await db.close()
    with sqlite3.connect(tmp_path / "fresh.db") as conn:
        found = tables(conn)
    assert not backups.KEPT & backups.LEFT_OUT
    unclassified = found - backups.KEPT - backups.LEFT_OUT
    assert not unclassified, (
        f"new tables {sorted(unclassified)}: add each to KEPT or LEFT_OUT in bot/ops/backup.py"
    )


def test_a_backup_leaves_live_conversations_off_its_disk(live: Path, vault: Path) -> None:
    made = backups.backup(live, vault, now=NOW)
    assert made.path.parent == vault and made.path.name.startswith("pathways-2026")
    assert set(made.left_out) == backups.LEFT_OUT
    for table in backups.LEFT_OUT:
        assert count(made.path, table) == 0
    for table in ("services", "areas", "editors", "audit", "directory_meta"):
        assert count(made.path, table) == count(live, table) > 0
    assert made.path.stat().st_mode & 0o777 == 0o600
    # Not even in free pages: the rows were deleted before anything was written.
    assert CHAT_KEY.encode() not in made.path.read_bytes()
    assert integrity(made.path) == ["ok"]
    assert not list(vault.glob("*.partial"))


def test_a_backup_with_sessions_keeps_them(live: Path, vault: Path) -> None:
    made = backups.backup(live, vault / "full.db", now=NOW, sessions=True)
    assert count(made.path, "sessions") == 1 and made.sessions
    assert backups.inspect(made.path).sessions


def test_a_backup_never_overwrites_and_a_folder_keeps_the_newest(live: Path, vault: Path) -> None:
    first = backups.backup(live, vault, now=NOW).path
    second = backups.backup(live, vault, now=NOW).path  # same second: a new name
    assert first != second
    with pytest.raises(backups.BackupError, match="already exists"):
        backups.backup(live, first, now=NOW)
    with pytest.raises(backups.BackupError, match="does not exist"):
        backups.backup(live, vault / "no" / "such.db", now=NOW)
    third = backups.backup(live, vault, now=NOW + timedelta(days=1)).path
    os.utime(first, (1, 1))  # oldest
    removed = backups.prune(vault, keep=2)
    assert removed == [first]
    assert sorted(vault.iterdir()) == sorted([second, third])


def test_backup_as_a_command(live: Path, vault: Path) -> None:
    for _ in range(3):
        result = cli("backup", str(vault), "--keep", "2", db=live)
        assert result.returncode == 0, result.stderr
    assert "left out: admin_sessions, handled_updates, pending_wipes, sessions" in result.stdout
    assert len(list(vault.glob("pathways-*.db"))) == 2
    missing = cli("backup", str(vault), db=live.with_name("nothing.db"))
    assert missing.returncode == 1
    assert "There is no database file at" in missing.stderr
    assert not live.with_name("nothing.db").exists()  # a backup never creates a database


WRITER = textwrap.dedent(
    """
    import sqlite3, sys, time
    path, seconds = sys.argv[1], float(sys.argv[2])
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode = WAL")
    print("ready", flush=True)
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        # One audit row and one directory version per transaction: a consistent snapshot has
        # exactly as many new audit rows as the version moved on.
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO audit (at, user_id, service_id, action, before, after, version)"
            " VALUES ('2026-11-26', 333333333, 'samaritans', 'edit', NULL, ?, ?)",
            ("x" * 800, n),
        )
        conn.execute(
            "UPDATE directory_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'"
        )
        conn.execute(
            "INSERT OR REPLACE INTO sessions (chat_key, state, locale, updated_at)"
            " VALUES (?, 'opening.start', 'en', '2026-11-26')",
            (f"tg:{n % 40}",),
        )
        conn.execute("COMMIT")
        n += 1
    print(n, flush=True)
    """
)


def writes(path: Path) -> int:
    """Audit rows the writer added, and the directory versions it counted: equal if consistent."""
    with sqlite3.connect(path) as conn:
        audit = int(
            conn.execute("SELECT count(*) FROM audit WHERE user_id = 333333333").fetchone()[0]
        )
        version = int(
            conn.execute("SELECT value FROM directory_meta WHERE key = 'version'").fetchone()[0]
        )
    return audit - version


def test_a_backup_under_write_load_restores_to_a_sound_database(
    live: Path, vault: Path, tmp_path: Path
) -> None:
    offset = writes(live)  # audit rows minus version before the writer starts
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(live), "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        made = []
        for _ in range(6):
            made.append(backups.backup(live, vault, now=NOW).path)
        # A restore into the live database while it is being written to.
        restored = asyncio.run(backups.restore(made[-1], live, now=NOW))
        assert restored.tables["audit"] > 1
    finally:
        out, _ = writer.communicate(timeout=60)
    assert writer.returncode == 0
    assert int(out.strip()) > 50, "the writer hardly wrote: the test proves nothing"
    for path in made:
        assert integrity(path) == ["ok"], path
        assert writes(path) == offset, f"{path} is not a consistent snapshot"
        assert count(path, "sessions") == 0
    assert count(made[-1], "audit") > count(made[0], "audit")  # taken while writes went on
    assert integrity(live) == ["ok"]
    # And into a new machine's empty place.
    fresh = tmp_path / "elsewhere" / "pathways.db"
    fresh.parent.mkdir()
    asyncio.run(backups.restore(made[-1], fresh, now=NOW))
    assert integrity(fresh) == ["ok"]
    assert count(fresh, "audit") == count(made[-1], "audit")


# -- restore ------------------------------------------------------------------------------------


async def test_restore_keeps_live_conversations_and_saves_what_was_there(
    live: Path, vault: Path
) -> None:
    made = backups.backup(live, vault, now=NOW)
    with sqlite3.connect(live) as conn:
        conn.execute("UPDATE services SET data = json_set(data, '$.name', 'Renamed')")
        conn.execute("DELETE FROM editors")
        conn.execute(
            "INSERT INTO sessions (chat_key, state, locale, updated_at) VALUES "
            "('tg:777', 'opening.start', 'en', '2026-11-26')"
        )
        before_version = int(
            conn.execute("SELECT value FROM directory_meta WHERE key='version'").fetchone()[0]
        )
    restored = await backups.restore(made.path, live, now=NOW)
    with sqlite3.connect(live) as conn:
        names = {
            row[0] for row in conn.execute("SELECT json_extract(data, '$.name') FROM services")
        }
        chats = {row[0] for row in conn.execute("SELECT chat_key FROM sessions")}
    assert "Renamed" not in names
    assert count(live, "editors") == 1
    assert chats == {CHAT_KEY, "tg:777"}  # both live conversations, as they were
    assert count(live, "pending_wipes") == 1 and count(live, "admin_sessions") == 1
    assert set(restored.kept) == backups.LEFT_OUT
    assert restored.directory_version > before_version
    # The database as it was, just before, is kept beside it (without conversations).
    assert restored.safety_copy is not None and restored.safety_copy.parent == live.parent
    with sqlite3.connect(restored.safety_copy) as conn:
        assert conn.execute("SELECT count(*) FROM editors").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0
    assert integrity(live) == ["ok"]


async def test_restore_with_sessions_takes_them_from_the_backup(live: Path, vault: Path) -> None:
    full = backups.backup(live, vault / "full.db", now=NOW, sessions=True).path
    plain = backups.backup(live, vault / "plain.db", now=NOW).path
    with sqlite3.connect(live) as conn:
        conn.execute("DELETE FROM sessions")
    await backups.restore(full, live, now=NOW, sessions=True)
    assert count(live, "sessions") == 1
    with pytest.raises(backups.BackupError, match="taken without live conversations"):
        await backups.restore(plain, live, now=NOW, sessions=True)


async def test_a_running_bot_uses_the_restored_directory(
    live: Path, vault: Path, clock: FakeClock
) -> None:
    made = backups.backup(live, vault, now=NOW).path
    with sqlite3.connect(made) as conn:
        conn.execute(
            "UPDATE services SET data = json_set(data, '$.name', 'Restored name') "
            "WHERE id = 'samaritans'"
        )
    database = await SqliteStore.open(live)
    parts = await open_parts(database, FLOWS, DIRECTORY, LOCALES, clock)
    chat = Conversations(
        parts.engine, database, clock, timedelta(minutes=15), directory=parts.directory
    )
    result = cli("restore", str(made), db=live)  # another process, same database file
    assert result.returncode == 0, result.stderr
    kept = "kept as they were: admin_sessions, handled_updates, pending_wipes, sessions"
    assert kept in result.stdout
    await chat.handle("c", Event.start())
    await database.close()
    service = parts.directory.service("samaritans")
    assert service is not None and service.name == "Restored name"


def corrupt_index(path: Path) -> None:
    """An index that no longer matches its table: integrity_check reports missing rows."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute(
            "UPDATE sqlite_master SET sql = 'CREATE INDEX audit_by_user ON audit (action, id)'"
            " WHERE name = 'audit_by_user'"
        )


def malformed(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_services_1'"
        ).fetchone()
    data = bytearray(path.read_bytes())
    end = int(root) * page_size
    data[end - 300 : end] = bytes(b ^ 0x5A for b in data[end - 300 : end])
    path.write_bytes(bytes(data))


def newer(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 999")


def not_pathways(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")


def not_sqlite(path: Path) -> None:
    path.write_text("name,phone\nSamaritans,116 123\n")


def lacks_what_the_flows_need(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM services WHERE id = 'silent-solution'")


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (corrupt_index, "fails SQLite's integrity check"),
        (malformed, "fails SQLite's integrity check"),
        (newer, r"made by a newer Pathways \(schema 999"),
        (not_pathways, "is not a Pathways database"),
        (not_sqlite, "cannot be read as a SQLite database"),
        (lacks_what_the_flows_need, "would stop the bot starting"),
    ],
)
def test_restore_refuses_a_bad_file_and_changes_nothing(
    live: Path, vault: Path, spoil: Callable[[Path], None], message: str
) -> None:
    made = backups.backup(live, vault, now=NOW, sessions=True).path
    with sqlite3.connect(made) as conn:  # give the index something to miss
        conn.execute("UPDATE audit SET action = 'zzz'")
    spoil(made)
    before = dump_hash(live)
    result = cli("restore", str(made), db=live)
    assert result.returncode == 1, result.stdout
    assert re.search(message, result.stderr), result.stderr
    assert "Nothing was changed" in result.stderr
    assert dump_hash(live) == before
    assert list(live.parent.glob("*before-restore*")) == []


async def test_an_older_backup_is_brought_up_to_date(live: Path, tmp_path: Path) -> None:
    latest = backups.latest_schema()
    older = tmp_path / "older.db"
    with sqlite3.connect(older, isolation_level=None) as conn:
        for number, _name, sql in migrations():
            if number < latest:
                conn.executescript(sql)
        conn.execute(f"PRAGMA user_version = {latest - 1}")
        conn.execute("ATTACH DATABASE ? AS live", (str(live),))
        for table in ("areas", "services", "editors"):
            conn.execute(f"INSERT INTO main.{table} SELECT * FROM live.{table}")
    restored = await backups.restore(older, live, now=NOW)
    assert restored.tables["services"] == count(live, "services") > 0
    assert integrity(live) == ["ok"]


async def test_restore_into_nothing_makes_the_database(live: Path, vault: Path) -> None:
    made = backups.backup(live, vault, now=NOW).path
    target = live.with_name("new.db")
    restored = await backups.restore(made, target, now=NOW)
    assert restored.safety_copy is None
    with sqlite3.connect(target) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert count(target, "services") == count(live, "services")


def test_restore_check_changes_nothing(live: Path, vault: Path) -> None:
    made = backups.backup(live, vault, now=NOW).path
    before = dump_hash(live)
    result = cli("restore", "--check", str(made), db=live)
    assert result.returncode == 0, result.stderr
    assert "is a sound Pathways backup" in result.stdout
    assert "without live conversations" in result.stdout
    assert dump_hash(live) == before


async def test_the_restore_check_of_the_directory_agrees_with_the_bots_loader(
    live: Path,
) -> None:
    with sqlite3.connect(live) as conn:
        ours = backups.stored_directory(conn)
    store = await SqliteStore.open(live)
    async with store.read() as tx:
        theirs = await tx.load_directory()
    await store.close()
    assert ours == theirs


async def test_restore_into_a_database_from_a_newer_pathways_is_refused(
    live: Path, vault: Path
) -> None:
    made = backups.backup(live, vault, now=NOW).path
    newer(live)
    before = dump_hash(live)
    with pytest.raises(backups.BackupError, match="last used by a newer Pathways"):
        await backups.restore(made, live, now=NOW)
    assert dump_hash(live) == before


async def test_a_left_over_journal_is_never_replayed_into_a_new_database(
    live: Path, vault: Path
) -> None:
    made = backups.backup(live, vault, now=NOW).path
    target = live.with_name("moved.db")
    await asyncio.to_thread(Path(f"{target}-wal").write_bytes, b"left over")
    with pytest.raises(backups.BackupError, match=r"write-ahead log moved\.db-wal is still there"):
        await backups.restore(made, target, now=NOW)
    assert not target.exists()
