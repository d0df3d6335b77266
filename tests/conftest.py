"""Shared fixtures: the shipped flows and directory, a clock the test controls, a fresh db.

`db` is a fresh SQLite database; in a module marked `every_store` (the store's own tests) it is
also a fresh PostgreSQL schema on the local server (PATHWAYS_TEST_DATABASE_URL, by default
postgresql://postgres@127.0.0.1:5432/test), so every such test runs on both. Those are skipped,
saying why, only when no PostgreSQL server answers there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bot.app import Parts, build
from bot.conversation import Conversations
from bot.store.postgres import PostgresStore
from bot.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ROOT / "flows"
DIRECTORY = ROOT / "directory"
LOCALES = ROOT / "locales"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


class FakeClock:
    """A clock that only moves when the test says so."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def parts(clock: FakeClock) -> Parts:
    return build(FLOWS, DIRECTORY, LOCALES, clock=clock)


# -- the store, on SQLite and on PostgreSQL ------------------------------------------------------

AnyStore = SqliteStore | PostgresStore
BACKENDS = ("sqlite", "postgresql")
TEST_DATABASE_URL = os.environ.get(
    "PATHWAYS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "every_store: run the module's tests that use `db` on SQLite and PostgreSQL"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "every_store"
    ):
        metafunc.parametrize("database", BACKENDS, indirect=True)


@dataclass(frozen=True)
class Database:
    """Where a test's database lives. `open()` opens it again each time, as a new process
    would: a file, or a schema of its own on the PostgreSQL server."""

    backend: str
    location: str  # the SQLite file, or a libpq connection string for the schema

    @property
    def path(self) -> Path:
        assert self.backend == "sqlite"
        return Path(self.location)

    async def open(self) -> AnyStore:
        if self.backend == "sqlite":
            return await SqliteStore.open(self.path)
        return await PostgresStore.open(self.location)

    def raw(self) -> bytes:
        """Everything stored, as bytes: SQLite's files (with what free pages and the log still
        hold); on PostgreSQL every row as text, and every page of every table and index of the
        schema as the server holds it (dead rows and free space too), when pageinspect is
        there (`postgres_server` installs it where it may)."""
        if self.backend == "sqlite":
            files = [self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")]
            return b"".join(p.read_bytes() for p in files if p.exists())
        with psycopg.connect(self.location, autocommit=True) as conn:
            found = [
                str(row[0]).encode()
                for (table,) in conn.execute(_TABLES).fetchall()
                for row in conn.execute(
                    sql.SQL("SELECT t::text FROM {} AS t").format(sql.Identifier(table))
                )
            ]
            where = conn.execute(_PAGEINSPECT).fetchone()
            if where is not None:
                get_raw_page = sql.Identifier(str(where[0]), "get_raw_page")
                for relation, pages in conn.execute(_RELATIONS).fetchall():
                    for page in range(pages):
                        query = sql.SQL("SELECT {}(%s, %s)").format(get_raw_page)
                        (data,) = conn.execute(query, (relation, page)).fetchone() or (b"",)
                        found.append(bytes(data))
        return b"\n".join(found)


_TABLES = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
_PAGEINSPECT = (
    "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pageinspect'"
)
# The schema's tables and indexes, and their TOAST tables: (name, pages).
_RELATIONS = """
SELECT c.oid::regclass::text, pg_relation_size(c.oid) / current_setting('block_size')::int
FROM pg_class c
WHERE c.relkind IN ('r', 'i', 't') AND (
    c.relnamespace = current_schema()::regnamespace
    OR c.oid IN (
        SELECT reltoastrelid FROM pg_class WHERE relnamespace = current_schema()::regnamespace
    )
)
"""


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[psycopg.Connection]:
    """A connection to the test server, to make and drop the tests' schemas."""
    try:
        conn = psycopg.connect(TEST_DATABASE_URL, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        if _answers(TEST_DATABASE_URL):
            raise  # a server is there, and refused: that is a failure, not a skip
        pytest.skip(
            f"no PostgreSQL server answers at {_where(TEST_DATABASE_URL)} "
            f"({type(exc).__name__}); start one, or point PATHWAYS_TEST_DATABASE_URL at one"
        )
    with conn:
        # Only so that a test that leaves a connection in its schema fails instead of hanging.
        conn.execute("SET lock_timeout = '60s'")
        # To look at the pages themselves (Database.raw), where the server allows it. An error
        # means another worker made it at that moment, or it is not allowed here: rows only.
        with contextlib.suppress(psycopg.Error):
            conn.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        yield conn


def _where(url: str) -> str:
    params = conninfo_to_dict(url)
    return f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"


def _answers(url: str) -> bool:
    params = conninfo_to_dict(url)
    host = str(params.get("host") or "")
    if not host or host.startswith("/"):
        return False  # a Unix socket: libpq has said what there is to say
    try:
        socket.create_connection((host, int(params.get("port") or 5432)), timeout=5).close()
    except OSError:
        return False
    return True


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """SQLite unless the test is parametrized (`every_store`) with "postgresql"."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield Database("sqlite", str(tmp_path / "pathways.db"))
        return
    admin: psycopg.Connection = request.getfixturevalue("postgres_server")
    schema = f"pathways_test_{uuid.uuid4().hex[:12]}"
    admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield Database(
            "postgresql", make_conninfo(TEST_DATABASE_URL, options=f"-c search_path={schema}")
        )
    finally:
        admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
async def db(database: Database) -> AsyncIterator[AnyStore]:
    store = await database.open()
    yield store
    await store.close()


@pytest.fixture
def conversations(parts: Parts, db: AnyStore, clock: FakeClock) -> Conversations:
    return Conversations(parts.engine, db, clock, timedelta(minutes=15))


@pytest.fixture
def flows_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped flows, for tests that break them on purpose."""
    target = tmp_path / "flows"
    shutil.copytree(FLOWS, target)
    return target
