"""What only PostgreSQL has to show: migrations under a lock when instances start together, the
same migrations as SQLite's, a statement cancelled on the server rolled back with its unit of
work, and an address's password kept out of what Pathways prints.

Everything else the store does is tested on both databases (tests marked `every_store`). Each
test here has a schema of its own on the local server, and is skipped only when none answers.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
import psycopg_pool
import pytest
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bot import app
from bot.config import load_settings
from bot.engine.model import Session
from bot.store import schema
from bot.store.advisory import MIGRATING, lock_key
from bot.store.postgres import PostgresStore
from bot.store.sqlite import SqliteStore
from tests.conftest import ROOT, Database

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
PASSWORD = "Pw-never-shown-4821"
# A bound on waits for the server, only so a broken test fails rather than hangs.
PATIENCE = 60


def session(key: str, state: str = "opening.start") -> Session:
    return Session(chat_key=key, state=state, locale="en")


def add_migration(monkeypatch: pytest.MonkeyPatch, sql: str) -> int:
    """PostgreSQL's migrations, and one more after them; its number."""
    shipped = schema.migrations

    def with_one_more(dialect: schema.Dialect = "sqlite") -> list[tuple[int, str, str]]:
        found = shipped(dialect)
        if dialect == "postgresql":
            found.append((found[-1][0] + 1, f"{found[-1][0] + 1:04d}_extra.sql", sql))
        return found

    monkeypatch.setattr(schema, "migrations", with_one_more)
    return shipped("postgresql")[-1][0] + 1


# -- migrations ----------------------------------------------------------------------------------


async def test_instances_starting_together_migrate_once(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = add_migration(
        monkeypatch,
        "CREATE TABLE IF NOT EXISTS applied (n integer);\nINSERT INTO applied VALUES (1);",
    )
    stores = await asyncio.gather(*(database.open() for _ in range(3)))
    try:
        assert [await s.schema_version() for s in stores] == [extra] * 3
    finally:
        for store in stores:
            await store.close()
    with psycopg.connect(database.location) as conn:
        assert conn.execute("SELECT count(*) FROM applied").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM directory_meta").fetchone() == (1,)


async def test_migrating_waits_for_the_instance_already_at_it(database: Database) -> None:
    async with await AsyncConnection.connect(database.location, autocommit=True) as holder:
        key = await lock_key(holder, MIGRATING)
        await holder.execute("SELECT pg_advisory_lock(%s)", (key,))
        opening = asyncio.create_task(database.open())
        # Until the opener is seen waiting for that very lock, on the server.
        waiting = (0,)
        while waiting == (0,):
            cursor = await holder.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND classid = %s AND objid = %s",
                ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
            )
            waiting = await cursor.fetchone() or (0,)
            assert not opening.done(), opening
        cursor = await holder.execute("SELECT to_regclass('sessions') IS NULL")
        assert await cursor.fetchone() == (True,)  # nothing was migrated meanwhile
        await holder.execute("SELECT pg_advisory_unlock(%s)", (key,))
        store = await opening
    assert await store.schema_version() == schema.latest_schema("postgresql")
    await store.close()


async def test_a_failed_migration_leaves_the_schema_at_the_last_good_version(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_migration(monkeypatch, "CREATE TABLE half (n integer);\nCREATE TABLE x (;")
    with pytest.raises(psycopg.errors.SyntaxError):
        await database.open()
    monkeypatch.undo()
    store = await database.open()  # and the lock was let go
    assert await store.schema_version() == schema.latest_schema("postgresql")
    await store.close()
    with psycopg.connect(database.location) as conn:
        assert conn.execute("SELECT to_regclass('half')").fetchone() == (None,)


async def test_both_databases_have_the_same_migrations_tables_columns_and_indexes(
    database: Database, tmp_path: Path
) -> None:
    names = {
        d: [(n, name) for n, name, _sql in schema.migrations(d)] for d in ("sqlite", "postgresql")
    }
    assert names["sqlite"] == names["postgresql"]

    await (await SqliteStore.open(tmp_path / "same.db")).close()  # opened, so migrated
    with sqlite3.connect(tmp_path / "same.db") as conn:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        sqlite_columns = {
            (table, str(column[1]))
            for table in tables
            for column in conn.execute(f"PRAGMA table_info({table})")
        }
        sqlite_indexes = {
            str(name)
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        }
    store = await database.open()
    await store.close()
    with psycopg.connect(database.location) as conn:
        postgres_columns = set(
            conn.execute(
                "SELECT table_name::text, column_name::text FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name <> 'schema_version'"
            ).fetchall()
        )
        postgres_indexes = {
            str(name)
            for (name,) in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
                " AND indexname NOT LIKE '%_pkey'"
            )
        }
    assert sqlite_columns == postgres_columns
    assert sqlite_indexes == postgres_indexes


# -- units of work -------------------------------------------------------------------------------


async def test_an_error_from_the_server_rolls_the_whole_unit_back(database: Database) -> None:
    store = await database.open()
    with psycopg.connect(database.location, autocommit=True) as conn:
        conn.execute("ALTER TABLE sessions ADD CONSTRAINT short CHECK (length(state) < 20)")
    with pytest.raises(psycopg.errors.CheckViolation):
        async with store.transaction() as tx:
            await tx.add_editor(2, 1, NOW)  # done, then undone with the rest
            await tx.save_session(session("tg:2", "x" * 30), NOW)
    async with store.transaction() as tx:  # and the next one is not held up
        assert not await tx.is_editor(2)
        await tx.save_session(session("tg:2"), NOW)
    await store.close()


async def test_a_unit_cancelled_while_the_server_works_is_rolled_back(database: Database) -> None:
    store = await database.open()
    async with store.transaction() as tx:
        await tx.add_editor(1, 1, NOW)
    async with await AsyncConnection.connect(database.location) as other:
        # Another transaction holds the editor's row: deleting it waits, on the server.
        await other.execute("SELECT 1 FROM editors WHERE user_id = 1 FOR UPDATE")

        async def remove() -> None:
            async with store.transaction() as tx:
                await tx.save_session(session("tg:1"), NOW)
                await tx.remove_editor(1)

        task = asyncio.create_task(remove())
        blocked = (0,)
        while blocked == (0,):
            cursor = await other.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                (other.info.backend_pid,),
            )
            blocked = await cursor.fetchone() or (0,)
            assert not task.done(), task
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await other.rollback()
    async with store.transaction() as tx:  # the turn and the connection came back
        assert await tx.load_session("tg:1") is None
        assert await tx.is_editor(1)
    await store.close()


async def test_closing_lets_go_of_every_connection(database: Database) -> None:
    name = f"pathways-close-{uuid.uuid4().hex[:12]}"
    store = await PostgresStore.open(make_conninfo(database.location, application_name=name))
    async with store.read() as tx:
        await tx.editors()

    async with await AsyncConnection.connect(database.location, autocommit=True) as conn:

        async def connected() -> int:
            cursor = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,)
            )
            return int((await cursor.fetchone() or (0,))[0])

        assert await connected() >= 2  # the writer's and the reader's
        await store.close()
        # A server process ends a moment after its client has gone: wait for that.
        async with asyncio.timeout(PATIENCE):
            while await connected():
                pass
    with pytest.raises(psycopg_pool.PoolClosed):
        async with store.transaction():
            pass


# -- the configured database, and its password -----------------------------------------------------


def address(database: Database, password: str | None = None, port: int | None = None) -> str:
    """The schema's address as someone would set it: a postgresql:// URL."""
    params = conninfo_to_dict(database.location)
    user = quote(str(params.get("user", "postgres")), safe="")
    secret = f":{quote(password, safe='')}" if password else ""
    where = f"{params.get('host', '127.0.0.1')}:{port or params.get('port', 5432)}"
    query = urlencode({"options": params["options"]}, quote_via=quote)
    return f"postgresql://{user}{secret}@{where}/{params.get('dbname', 'test')}?{query}"


async def test_the_composition_root_opens_the_configured_database(
    database: Database, tmp_path: Path
) -> None:
    chosen = load_settings(
        {"PATHWAYS_DATABASE_URL": address(database), "PATHWAYS_DB": str(tmp_path / "no.db")}
    )
    store = await app.open_store(chosen)
    assert isinstance(store, PostgresStore)
    await store.close()
    default = await app.open_store(load_settings({"PATHWAYS_DB": str(tmp_path / "yes.db")}))
    assert isinstance(default, SqliteStore)
    await default.close()
    assert not (tmp_path / "no.db").exists() and (tmp_path / "yes.db").exists()


def run_console(url: str, tmp_path: Path, stdin: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATHWAYS_DATABASE_URL": url, "PATHWAYS_DB": str(tmp_path / "no.db")}
    return subprocess.run(
        [sys.executable, "-m", "bot", "console"],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env=env,
    )


def test_a_conversation_on_postgresql_never_prints_the_password(
    database: Database, tmp_path: Path
) -> None:
    # The local server trusts its users, so the password is carried but never checked.
    result = run_console(address(database, PASSWORD), tmp_path, "2\n1\n")
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert not (tmp_path / "no.db").exists()
    with psycopg.connect(database.location) as conn:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (1,)

    refused = run_console(address(database, PASSWORD, port=1), tmp_path, "")
    assert refused.returncode == 1  # the service manager starts it again: the database may return
    assert "Cannot open the PostgreSQL database PATHWAYS_DATABASE_URL names" in refused.stderr
    assert PASSWORD not in refused.stdout + refused.stderr


def run_cli(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATHWAYS_DATABASE_URL": url, "PATHWAYS_DB": str(tmp_path / "no.db")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env=env,
    )


def test_the_directory_and_stats_commands_use_the_configured_database(
    database: Database, tmp_path: Path
) -> None:
    url = address(database)
    exported = run_cli(url, tmp_path, "directory", "export", "--format", "csv")
    assert exported.returncode == 0, exported.stderr
    assert "silent-solution" in exported.stdout
    chart = tmp_path / "figures.png"
    stats = run_cli(url, tmp_path, "stats", "--png", str(chart))
    assert stats.returncode == 0, stats.stderr
    assert chart.exists()
    assert not (tmp_path / "no.db").exists()  # the SQLite file was never made
    with psycopg.connect(database.location) as conn:
        # The bundled directory was seeded into the PostgreSQL schema by `directory export`.
        assert conn.execute("SELECT count(*) FROM services").fetchone()[0] > 0
