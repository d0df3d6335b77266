"""`backup` and `restore` on PostgreSQL, for real against the local server with pg_dump and
pg_restore: live conversations left out as in SQLite's backups, a restore into an empty schema
only, never a password on a command line, and the commands to run where the tools are not."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from bot.app import open_parts
from bot.ops import backup as backups
from bot.ops import postgres_backup as pg
from bot.store.postgres import PostgresStore
from bot.store.schema import latest_schema
from tests.conftest import DIRECTORY, FLOWS, LOCALES, ROOT, Database, FakeClock

pytestmark = pytest.mark.skipif(
    shutil.which("pg_dump") is None or shutil.which("pg_restore") is None,
    reason="PostgreSQL's client tools (pg_dump, pg_restore) are not installed",
)
ON_POSTGRES = pytest.mark.parametrize("database", ["postgresql"], indirect=True)

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
CHAT_KEY = "tg:424242"  # a live conversation's key: must never reach a backup
EDITOR, MANAGER = 222222222, 111111111
PASSWORD = "s3cret:pass\\word"  # ':' and '\' need escaping in a password file


def postgres_url(
    database: Database,
    *,
    user: str | None = None,
    password: str | None = None,
    port: int | None = None,
    schema: str | None = None,
) -> str:
    """The test schema's address as someone would set it (or another schema's, user's, port's)."""
    params = conninfo_to_dict(database.location)
    who = quote(user or str(params.get("user", "postgres")), safe="")
    secret = f":{quote(password, safe='')}" if password else ""
    where = f"{params.get('host', '127.0.0.1')}:{port or params.get('port', 5432)}"
    options = f"-c search_path={schema}" if schema else str(params["options"])
    query = urlencode({"options": options}, quote_via=quote)
    return f"postgresql://{who}{secret}@{where}/{params.get('dbname', 'test')}?{query}"


def schema_of(database: Database) -> str:
    return str(conninfo_to_dict(database.location)["options"]).rpartition("=")[2]


async def make_live_postgres(database: Database) -> None:
    """A schema as a running bot leaves it: directory, editors, audit, figures, conversations."""
    store = await PostgresStore.open(database.location)
    await open_parts(store, FLOWS, DIRECTORY, LOCALES, FakeClock())
    await store.close()
    with psycopg.connect(database.location, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sessions (chat_key, state, locale, updated_at) VALUES (%s, %s, 'en', %s)",
            (CHAT_KEY, "opening.start", NOW),
        )
        conn.execute(
            "INSERT INTO pending_wipes (chat_key, messages, due_at) VALUES (%s, '[[5, 1]]', %s)",
            (CHAT_KEY, NOW),
        )
        conn.execute(
            "INSERT INTO admin_sessions (user_id, state, updated_at) VALUES (%s, 'menu', %s)",
            (MANAGER, NOW),
        )
        conn.execute("INSERT INTO editors VALUES (%s, %s, %s)", (EDITOR, MANAGER, NOW))
        conn.execute(
            "INSERT INTO audit (at, user_id, service_id, action, before, after, version)"
            " VALUES (%s, %s, 'samaritans', 'edit', NULL, '{}', 2)",
            (NOW, MANAGER),
        )
        conn.execute("INSERT INTO daily_counts VALUES ('2026-11-26', 'route', 'victim', 7)")


def rows(database: Database, table: str) -> int:
    with psycopg.connect(database.location) as conn:
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        found = conn.execute(query).fetchone()
    return int(found[0]) if found else -1


def tables(database: Database) -> set[str]:
    with psycopg.connect(database.location) as conn:
        found = conn.execute(pg._TABLES).fetchall()
    return {str(row[0]) for row in found}


def empty_again(server: psycopg.Connection, database: Database) -> None:
    """The schema dropped and made again, empty: as after moving a broken one aside."""
    name = sql.Identifier(schema_of(database))
    server.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(name))
    server.execute(sql.SQL("CREATE SCHEMA {}").format(name))


def as_sql(archive: Path) -> str:
    """Everything a backup holds, as pg_restore writes it out."""
    return subprocess.run(
        ["pg_restore", "--file=-", str(archive)], capture_output=True, text=True, check=True
    ).stdout


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def live(database: Database) -> Database:
    asyncio.run(make_live_postgres(database))
    return database


def listed(folder: Path, pattern: str = "*") -> list[Path]:
    return sorted(folder.glob(pattern))


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    folder = tmp_path / "backups"
    folder.mkdir()
    return folder


def cli(*args: str, url: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PATHWAYS_", "TELEGRAM_"))}
    env = {**clean, "PATHWAYS_DATABASE_URL": url}
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env=env,
    )


# -- backup -------------------------------------------------------------------------------------


@ON_POSTGRES
async def test_a_backup_leaves_live_conversations_out(live: Database, vault: Path) -> None:
    made = await pg.backup(postgres_url(live), vault, now=NOW)
    assert made.path == vault / "pathways-20261126T100000Z.dump"
    assert made.path.stat().st_mode & 0o777 == 0o600
    assert set(made.left_out) == backups.LEFT_OUT
    assert listed(vault, "*.partial") == []
    held = await pg.inspect(made.path)
    assert held.with_rows == backups.KEPT | {"schema_version"}
    assert held.tables >= backups.LEFT_OUT  # their definitions are kept, empty
    assert not held.sessions and held.schema == schema_of(live)
    assert held.version == made.version == latest_schema("postgresql")
    written = as_sql(made.path)
    assert CHAT_KEY not in written and str(MANAGER) in written  # the audit trail is kept
    assert "samaritans" in written and str(EDITOR) in written and "victim\t7" in written
    for table in ("services", "areas", "editors", "audit", "daily_counts", "directory_meta"):
        assert made.rows[table] == rows(live, table) > 0
    assert "without live conversations" in made.summary()


@ON_POSTGRES
async def test_a_backup_with_sessions_keeps_them(live: Database, vault: Path) -> None:
    made = await pg.backup(postgres_url(live), vault / "full.dump", now=NOW, sessions=True)
    assert made.left_out == () and made.rows["sessions"] == 1
    assert (await pg.inspect(made.path)).sessions
    assert CHAT_KEY in as_sql(made.path)


@ON_POSTGRES
async def test_a_backup_never_overwrites(live: Database, vault: Path) -> None:
    first = (await pg.backup(postgres_url(live), vault, now=NOW)).path
    second = (await pg.backup(postgres_url(live), vault, now=NOW)).path  # same second: a new name
    assert first != second and second.name == "pathways-20261126T100000Z-2.dump"
    with pytest.raises(backups.BackupError, match="already exists"):
        await pg.backup(postgres_url(live), first, now=NOW)


@ON_POSTGRES
async def test_a_schema_that_is_not_pathways_is_not_backed_up(
    database: Database, vault: Path
) -> None:
    with pytest.raises(backups.BackupError, match="holds no Pathways database"):
        await pg.backup(postgres_url(database), vault, now=NOW)
    assert listed(vault) == []


# -- restore ------------------------------------------------------------------------------------


@ON_POSTGRES
async def test_restore_into_an_empty_schema_brings_everything_back_but_conversations(
    live: Database, vault: Path, postgres_server: psycopg.Connection
) -> None:
    made = await pg.backup(postgres_url(live), vault, now=NOW, sessions=True)
    empty_again(postgres_server, live)
    restored = await pg.restore(postgres_url(live), made.path)
    for table in ("services", "areas", "editors", "audit", "daily_counts"):
        assert restored.tables[table] == made.rows[table] == rows(live, table)
    # Taken with them, but a restore leaves them out unless asked: the rule of SQLite's.
    assert rows(live, "sessions") == rows(live, "pending_wipes") == 0
    assert rows(live, "admin_sessions") == 0
    store = await PostgresStore.open(live.location)
    try:
        assert await store.schema_version() == latest_schema("postgresql")
        parts = await open_parts(store, FLOWS, DIRECTORY, LOCALES, FakeClock())
        assert parts.directory.version == restored.directory_version
    finally:
        await store.close()
    with psycopg.connect(live.location, autocommit=True) as conn:  # ids carry on after the rows
        added = conn.execute(
            "INSERT INTO audit (at, user_id, service_id, action, after, version)"
            " VALUES (now(), %s, 'samaritans', 'edit', '{}', 3) RETURNING id",
            (MANAGER,),
        ).fetchone()
        assert added == (2,)


@ON_POSTGRES
async def test_restore_with_sessions_takes_them_from_the_backup(
    live: Database, vault: Path, postgres_server: psycopg.Connection
) -> None:
    made = await pg.backup(postgres_url(live), vault, now=NOW, sessions=True)
    empty_again(postgres_server, live)
    await pg.restore(postgres_url(live), made.path, sessions=True)
    assert rows(live, "sessions") == rows(live, "pending_wipes") == 1


@ON_POSTGRES
async def test_restore_refuses_a_schema_that_holds_tables(live: Database, vault: Path) -> None:
    made = await pg.backup(postgres_url(live), vault, now=NOW)
    before = {t: rows(live, t) for t in tables(live)}
    with pytest.raises(backups.BackupError, match="already holds 11 table"):
        await pg.restore(postgres_url(live), made.path)
    assert {t: rows(live, t) for t in tables(live)} == before


@ON_POSTGRES
async def test_restore_refuses_another_schema(
    live: Database, vault: Path, postgres_server: psycopg.Connection
) -> None:
    made = await pg.backup(postgres_url(live), vault, now=NOW)
    other = f"{schema_of(live)}_other"
    postgres_server.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(other)))
    try:
        with pytest.raises(backups.BackupError, match=f"holds the PostgreSQL schema {made.schema}"):
            await pg.restore(postgres_url(live, schema=other), made.path)
        count = postgres_server.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = %s", (other,)
        ).fetchone()
        assert count == (0,)
    finally:
        postgres_server.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(other)))


@ON_POSTGRES
async def test_an_older_backup_is_brought_up_to_date(
    live: Database, vault: Path, postgres_server: psycopg.Connection
) -> None:
    with psycopg.connect(live.location, autocommit=True) as conn:  # as schema 4 left it
        conn.execute("DROP TABLE daily_counts")
        conn.execute("DROP TABLE handled_updates")
        conn.execute("ALTER TABLE pending_wipes DROP COLUMN claimed_until")
        conn.execute("UPDATE schema_version SET version = 4")
    made = await pg.backup(postgres_url(live), vault, now=NOW)
    assert made.version == 4
    empty_again(postgres_server, live)
    await pg.restore(postgres_url(live), made.path)
    assert "daily_counts" in tables(live)
    assert rows(live, "editors") == 1


@ON_POSTGRES
async def test_a_directory_the_bot_could_not_start_on_is_taken_out_again(
    live: Database, vault: Path, postgres_server: psycopg.Connection
) -> None:
    with psycopg.connect(live.location, autocommit=True) as conn:
        conn.execute(
            "UPDATE services SET data = jsonb_set(data::jsonb, '{hours}', "
            "'\"Mnday 10:00-12:00\"')::text WHERE id = 'samaritans'"
        )
    made = await pg.backup(postgres_url(live), vault, now=NOW)
    empty_again(postgres_server, live)
    with pytest.raises(backups.BackupError, match=r"(?s)would stop the bot starting.*Mnday"):
        await pg.restore(postgres_url(live), made.path)
    assert tables(live) == set()


def sqlite_backup(path: Path) -> Path:
    import sqlite3

    sqlite3.connect(path).close()
    return path


def foreign_dump(path: Path, server: psycopg.Connection, database: Database) -> Path:
    with psycopg.connect(database.location, autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (text text)")
    subprocess.run(
        [
            "pg_dump",
            "--format=custom",
            f"--schema={schema_of(database)}",
            f"--file={path}",
            f"--dbname={pg.shareable_address(postgres_url(database))}",
        ],
        check=True,
    )
    return path


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda p, _s, _d: sqlite_backup(p), "is not a backup pg_dump made"),
        (lambda p, _s, _d: p.write_bytes(b"PGDMP and nothing more") and p, "not a backup pg_dump"),
        (lambda p, s, d: foreign_dump(p, s, d), "is not a backup of a Pathways database"),
        (lambda p, _s, _d: p.with_name("nothing.dump"), "There is no backup file"),
    ],
)
@ON_POSTGRES
async def test_restore_refuses_a_bad_file_and_changes_nothing(
    database: Database, tmp_path: Path, postgres_server: psycopg.Connection, make, pattern: str
) -> None:
    bad = make(tmp_path / "bad.dump", postgres_server, database)
    with pytest.raises(backups.BackupError, match=pattern):
        await pg.restore(postgres_url(database), bad)
    assert tables(database) <= {"notes"}


@ON_POSTGRES
async def test_a_backup_by_a_newer_pathways_is_refused(
    live: Database, vault: Path, postgres_server: psycopg.Connection
) -> None:
    made = await pg.backup(postgres_url(live), vault, now=NOW)
    with psycopg.connect(live.location, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = 999")
    with pytest.raises(backups.BackupError, match=r"newer Pathways \(schema 999"):
        await pg.backup(postgres_url(live), vault, now=NOW)
    newer = foreign_dump(vault / "newer.dump", postgres_server, live)
    empty_again(postgres_server, live)
    with pytest.raises(backups.BackupError, match=r"made by a newer Pathways \(schema 999"):
        await pg.restore(postgres_url(live), newer)
    assert tables(live) == set()
    await pg.restore(postgres_url(live), made.path)  # the one this Pathways made is fine


# -- the password, and the commands ------------------------------------------------------------


def test_the_password_file_escapes_what_libpq_reads_specially(tmp_path: Path) -> None:
    url = f"postgresql://pathways:{quote(PASSWORD, safe='')}@db.example.org/pathways"
    with pg.tool_address(url, "pathways-backup") as address:
        params = conninfo_to_dict(address)
        assert "password" not in params and PASSWORD not in address
        passfile = Path(str(params["passfile"]))
        assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
        assert stat.S_IMODE(passfile.parent.stat().st_mode) == 0o700
        assert passfile.read_text() == "*:*:*:*:s3cret\\:pass\\\\word\n"
    assert not passfile.exists() and not passfile.parent.exists()
    assert pg.shareable_address(url) == "postgresql://pathways@db.example.org/pathways"


RECORDER = textwrap.dedent(
    """\
    #!{python}
    # Records how {tool} was called, and what password file it was given, then runs it.
    import json, os, sys
    from pathlib import Path
    from psycopg.conninfo import conninfo_to_dict
    dbname = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--dbname=")), "")
    passfile = conninfo_to_dict(dbname).get("passfile") if dbname else None
    seen = {{"argv": sys.argv, "passfile": passfile}}
    if passfile:
        seen["content"] = Path(passfile).read_text()
        seen["mode"] = os.stat(passfile).st_mode & 0o777
    with open({record!r}, "a") as out:
        out.write(json.dumps(seen) + "\\n")
    os.execv({real!r}, [{real!r}, *sys.argv[1:]])
    """
)


def recording_tools(folder: Path, record: Path) -> str:
    """A PATH whose pg_dump and pg_restore record their command lines, then run the real ones."""
    folder.mkdir()
    for tool in ("pg_dump", "pg_restore"):
        real = shutil.which(tool)
        assert real is not None
        script = folder / tool
        script.write_text(
            RECORDER.format(python=sys.executable, tool=tool, record=str(record), real=real)
        )
        script.chmod(0o755)
    return f"{folder}:{os.environ.get('PATH', '')}"


@ON_POSTGRES
def test_backup_and_restore_as_commands_never_show_the_password(
    live: Database, vault: Path, tmp_path: Path, postgres_server: psycopg.Connection
) -> None:
    url = postgres_url(live, password=PASSWORD)  # trust authentication: it is never asked for
    record = tmp_path / "calls.jsonl"
    path = recording_tools(tmp_path / "bin", record)
    (vault / "pathways-20200101T000000Z.db").write_bytes(b"a SQLite backup from before")
    for _ in range(3):
        made = cli("backup", str(vault), "--keep", "2", url=url, path=path)
        assert made.returncode == 0, made.stderr
    assert "left out: admin_sessions, handled_updates, pending_wipes, sessions" in made.stdout
    # --keep counts PostgreSQL's backups; the SQLite one from before stays.
    assert len(list(vault.glob("pathways-*.dump"))) == 2
    assert (vault / "pathways-20200101T000000Z.db").exists()
    newest = max(vault.glob("pathways-*.dump"))
    checked = cli("restore", "--check", str(newest), url=url, path=path)
    assert checked.returncode == 0, checked.stderr
    assert "is a sound Pathways backup" in checked.stdout
    assert "without live conversations" in checked.stdout
    empty_again(postgres_server, live)
    restored = cli("restore", str(newest), url=url, path=path)
    assert restored.returncode == 0, restored.stderr
    assert "Start Pathways" in restored.stdout and rows(live, "editors") == 1
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    dumps = [c for c in calls if "--snapshot" in " ".join(c["argv"])]
    restores = [c for c in calls if "--single-transaction" in c["argv"]]
    assert len(dumps) == 3 and len(restores) == 1
    for call in [*dumps, *restores]:
        assert not any(PASSWORD in arg or quote(PASSWORD) in arg for arg in call["argv"])
        assert call["mode"] == 0o600
        assert call["content"] == "*:*:*:*:s3cret\\:pass\\\\word\n"
        assert not Path(call["passfile"]).exists()  # deleted once the tool finished
    for result in (made, checked, restored):
        assert PASSWORD not in result.stdout + result.stderr
        assert quote(PASSWORD, safe="") not in result.stdout + result.stderr


@ON_POSTGRES
def test_an_unreachable_server_is_said_plainly(database: Database, vault: Path) -> None:
    url = postgres_url(database, password=PASSWORD, port=closed_port())
    result = cli("backup", str(vault), url=url)
    assert result.returncode == 1
    assert "Cannot reach the PostgreSQL database PATHWAYS_DATABASE_URL names" in result.stderr
    assert "No backup was taken." in result.stderr
    assert PASSWORD not in result.stderr and quote(PASSWORD, safe="") not in result.stderr
    assert list(vault.iterdir()) == []


def printed_commands(stderr: str) -> list[str]:
    return [line.strip() for line in stderr.splitlines() if line.startswith("  pg_")]


@ON_POSTGRES
def test_without_the_tools_the_printed_commands_do_it(
    live: Database, vault: Path, tmp_path: Path, postgres_server: psycopg.Connection
) -> None:
    nowhere = tmp_path / "no-tools"
    nowhere.mkdir()
    url = postgres_url(live, password=PASSWORD)
    result = cli("backup", str(vault), url=url, path=str(nowhere))
    assert result.returncode == 3, result.stderr
    assert "pg_dump is not installed here" in result.stderr
    assert PASSWORD not in result.stderr and quote(PASSWORD, safe="") not in result.stderr
    (dump,) = printed_commands(result.stderr)
    assert list(vault.iterdir()) == []
    subprocess.run(shlex.split(dump), check=True)  # as printed, with the machine's pg_dump
    (archive,) = vault.glob("pathways-*.dump")
    assert CHAT_KEY not in as_sql(archive) and "samaritans" in as_sql(archive)

    empty_again(postgres_server, live)
    result = cli("restore", str(archive), url=url, path=str(nowhere))
    assert result.returncode == 3, result.stderr
    assert "pg_restore is not installed here" in result.stderr
    listing, restore = printed_commands(result.stderr)
    assert tables(live) == set()
    for command in (listing, restore):
        subprocess.run(["bash", "-c", command], cwd=tmp_path, check=True)
    assert rows(live, "services") > 0 and rows(live, "editors") == 1
    assert rows(live, "sessions") == 0
