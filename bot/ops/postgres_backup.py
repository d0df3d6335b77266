"""Backups of a PostgreSQL database with PostgreSQL's own tools, and restores into an empty schema.

`backup` runs pg_dump on the schema PATHWAYS_DATABASE_URL uses, in pg_dump's custom format
(compressed; pg_restore lists it and picks from it). Every table's definition is in it, and
the rows of the tables SQLite's backups keep (`KEPT` in `bot/ops/backup.py`) with the schema's
version; live conversations are left out (`LEFT_OUT`, by `--exclude-table-data`), and so are
the rows of any table in neither list, as there. pg_dump reads a snapshot exported by a
read-only transaction of our own, so the file is consistent while the bot writes, and the
summary counts exactly what it holds.

`restore` runs pg_restore into the schema PATHWAYS_DATABASE_URL uses, which must be empty (a new
database, or the old schema moved aside, every instance stopped): it never mixes two
databases. In one transaction; then the tables are brought up to date as start-up does, and
the directory is checked. If the directory would stop the bot starting, the restored tables
are dropped again, leaving the schema empty as it was.

The password is never on a command line, where `ps` shows it to every local user: pg_dump and
pg_restore get the address without it, and the password in a password file of their own,
readable by this user only and deleted when they finish. Where pg_dump or pg_restore is not
installed, `Unavailable` says what to run instead.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import AsyncConnection, IsolationLevel, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bot.config import password_forms
from bot.directory.files import DirectoryData
from bot.directory.validate import DirectoryError
from bot.logs import RedactingFilter
from bot.ops.backup import KEPT, LEFT_OUT, REQUIRED, BackupError, Restored, target_file
from bot.store.directory import AREAS_SQL, SERVICES_SQL, directory_from_rows
from bot.store.postgres_schema import migrate, schema_version
from bot.store.schema import latest_schema

SUFFIX = ".dump"
VERSION_TABLE = "schema_version"
# The tables whose rows a backup holds: SQLite's list, and the schema's version, which
# PostgreSQL keeps in a table of its own.
WITH_ROWS = KEPT | {VERSION_TABLE}
CONNECT_TIMEOUT = 10  # seconds, unless the address sets its own
LOCK_WAIT = "60s"  # pg_dump gives up rather than wait longer for a table (a migration, say)
RESTORE_LIST = "pathways-restore.list"  # the file the printed restore commands write

_TABLES = (
    "SELECT c.relname FROM pg_class c"
    " WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
    " AND c.relkind IN ('r', 'p')"
)
# Entries of pg_restore's list ("3388; 0 66893 TABLE DATA public areas pathways").
_TABLE_ENTRY = re.compile(r"^\d+; \d+ \d+ (?P<what>TABLE DATA|TABLE) (?P<schema>\S+) (?P<name>\S+)")
_TAKEN_AT = re.compile(r"^;\s+Archive created at (?P<when>.+)$")
# An ERE (grep -E) and a Python pattern alike: the entries of the schema itself (made already,
# with its owner and rights, when a restore starts).
_SCHEMA_ITSELF = r"^[0-9]+; [0-9]+ [0-9]+ (SCHEMA|COMMENT|ACL) - "


class Unavailable(BackupError):
    """pg_dump or pg_restore is not installed here. The message says what to run instead."""


@dataclass(frozen=True)
class Dumped:
    """A backup just written."""

    path: Path
    schema: str  # the PostgreSQL schema it was taken from
    version: int  # Pathways' schema version
    rows: dict[str, int]  # table -> rows in the backup
    left_out: tuple[str, ...]  # tables whose rows are not in it
    sessions: bool

    def summary(self) -> str:
        counts = ", ".join(
            f"{self.rows[t]} {t}"
            for t in ("services", "areas", "editors", "audit")
            if t in self.rows
        )
        held = "with" if self.sessions else "without"
        return f"schema {self.version}, {counts}; {held} live conversations"


@dataclass(frozen=True)
class Archive:
    """What a pg_dump archive holds, read from its table of contents."""

    path: Path
    schema: str
    version: int
    tables: frozenset[str]
    with_rows: frozenset[str]
    taken_at: str | None
    entries: tuple[str, ...]  # its table of contents, one entry a line, as pg_restore lists it

    @property
    def sessions(self) -> bool:
        return bool(self.with_rows & LEFT_OUT)

    def summary(self) -> str:
        when = f"taken {self.taken_at}, " if self.taken_at else ""
        kept = ", ".join(sorted(self.with_rows - {VERSION_TABLE}))
        held = "with" if self.sessions else "without"
        return (
            f"{when}schema {self.version}, from the PostgreSQL schema {self.schema}, rows of "
            f"{kept}; {held} live conversations"
        )


# -- the address, the tools ------------------------------------------------------------------


def _hiding(url: str) -> RedactingFilter:
    return RedactingFilter(password_forms(url))


def _words(text: str, hide: RedactingFilter) -> str:
    """A tool's or libpq's message on one line, without the password."""
    return hide.redact(" ".join(text.split()))


def shareable_address(url: str) -> str:
    """The address without its password, for a command line to run elsewhere: libpq then
    finds the password in a password file."""
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    netloc = f"{userinfo.partition(':')[0]}@{hosts}" if at else hosts
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = urlencode([(k, v) for k, v in pairs if k != "password"], quote_via=quote)
    shared = urlunsplit(parts._replace(netloc=netloc, query=query))
    if conninfo_to_dict(shared).get("password"):  # written some other way: libpq's own form
        params = conninfo_to_dict(url)
        params.pop("password", None)
        return make_conninfo("", **params)
    return shared


def _passfile_line(password: str) -> str:
    # Any host, port, database and user; ':' and '\' escaped as libpq's password file needs.
    return "*:*:*:*:" + password.replace("\\", "\\\\").replace(":", "\\:") + "\n"


@contextmanager
def tool_address(url: str, application: str) -> Iterator[str]:
    """The address for pg_dump's or pg_restore's command line while the block runs: without
    the password, which is in a password file of its own (mode 600, in a private temporary
    folder) named in the address, and deleted afterwards."""
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    params.setdefault("connect_timeout", CONNECT_TIMEOUT)
    params.setdefault("fallback_application_name", application)
    if not password:
        yield make_conninfo("", **params)
        return
    with tempfile.TemporaryDirectory(prefix="pathways-") as folder:
        passfile = Path(folder) / "pgpass"
        descriptor = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(_passfile_line(str(password)))
        yield make_conninfo("", **params, passfile=str(passfile))


async def _run(argv: list[str], hide: RedactingFilter) -> str:
    """Run a PostgreSQL tool; its output, or BackupError with its own words."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise BackupError(f"{argv[0]} cannot be run ({type(exc).__name__}).") from None
    out, err = await process.communicate()
    if process.returncode != 0:
        said = _words(err.decode(errors="replace"), hide) or "no reason given"
        raise BackupError(
            f"{Path(argv[0]).name} stopped (exit status {process.returncode}): {said}"
        )
    return out.decode(errors="replace")


async def tool_major(path: str) -> int:
    """The major version of a PostgreSQL client tool ("pg_dump (PostgreSQL) 15.20" -> 15)."""
    said = await _run([path, "--version"], RedactingFilter())
    found = re.search(r"\)\s+(\d+)", said)
    if found is None:
        raise BackupError(f"{path} --version says {said.strip()!r}, which names no version.")
    return int(found.group(1))


def _pattern(*names: str) -> str:
    """pg_dump's pattern for exactly these names: double-quoted, so no character is special."""
    return ".".join('"' + name.replace('"', '""') + '"' for name in names)


def _ere(name: str) -> str:
    """`name` in a pattern that grep -E and Python read alike."""
    return re.sub(r"([.\[\]()*+?{}|^$\\])", r"\\\1", name)


def _skipped(schema: str, left_out: Iterable[str]) -> list[str]:
    """Patterns of the entries a restore skips: the schema itself, and the rows left out."""
    patterns = [_SCHEMA_ITSELF]
    names = sorted(left_out)
    if names:
        tables = "|".join(map(_ere, names))
        patterns.append(rf"^[0-9]+; [0-9]+ [0-9]+ TABLE DATA {_ere(schema)} ({tables}) ")
    return patterns


def _dump_options(schema: str, left_out: Iterable[str]) -> list[str]:
    return [
        "--format=custom",
        "--no-password",  # never wait for someone to type one
        f"--lock-wait-timeout={LOCK_WAIT}",
        f"--schema={_pattern(schema)}",
        *(f"--exclude-table-data={_pattern(schema, table)}" for table in sorted(left_out)),
    ]


_RESTORE_OPTIONS = (
    "--single-transaction",
    "--exit-on-error",
    "--no-owner",  # the tables belong to whoever restores them: Pathways' role
    "--no-privileges",
    "--no-password",
)
_PASSWORD_ADVICE = (
    "The password goes in a password file (~/.pgpass, or the file PGPASSFILE names), never on "
    "the command line."
)


def _install_advice(tool: str, major: int) -> str:
    return (
        f"{tool} is not installed here. Install PostgreSQL's client tools, version {major} or "
        f"newer (the server's; Debian and Ubuntu: postgresql-client-{major}, from "
        "apt.postgresql.org where the distribution's is older), then run this again"
    )


def dump_commands(url: str, schema: str, left_out: Iterable[str], file: Path, major: int) -> str:
    argv = ["pg_dump", *_dump_options(schema, left_out), f"--file={file}"]
    argv.append(f"--dbname={shareable_address(url)}")
    return (
        f"{_install_advice('pg_dump', major)}; or take the backup on a machine that has them, "
        f"leaving live conversations out as this command does:\n\n  {shlex.join(argv)}\n\n"
        f"{_PASSWORD_ADVICE} No backup was taken."
    )


def restore_commands(url: str, schema: str, archive: Path, sessions: bool, major: int) -> str:
    skipped = _skipped(schema, () if sessions else LEFT_OUT)
    grep = ["grep", "-v", "-E", *(arg for p in skipped for arg in ("-e", p))]
    listing = f"{shlex.join(['pg_restore', '--list', str(archive)])} | {shlex.join(grep)}"
    restore = ["pg_restore", *_RESTORE_OPTIONS, f"--use-list={RESTORE_LIST}"]
    restore += [f"--dbname={shareable_address(url)}", str(archive)]
    return (
        f"{_install_advice('pg_restore', major)}; or restore on a machine that has them, into "
        f"the empty schema {schema}, leaving live conversations out as this command does:\n\n"
        f"  {listing} > {RESTORE_LIST}\n  {shlex.join(restore)}\n\n"
        "then start Pathways, which brings the tables up to date. "
        f"{_PASSWORD_ADVICE} Nothing was restored."
    )


# -- the database ----------------------------------------------------------------------------


@asynccontextmanager
async def _connected(url: str, nothing: str) -> AsyncIterator[AsyncConnection[Any]]:
    """A connection to the database the address names. Any database error, then or later,
    becomes a BackupError in libpq's words, the password never among them; `nothing` says
    what was left undone."""
    hide = _hiding(url)
    params = conninfo_to_dict(url)
    params.setdefault("connect_timeout", CONNECT_TIMEOUT)
    try:
        conn = await AsyncConnection.connect(
            make_conninfo("", **params, fallback_application_name="pathways-backup"),
            autocommit=True,
        )
    except psycopg.Error as exc:
        raise BackupError(
            "Cannot reach the PostgreSQL database PATHWAYS_DATABASE_URL names "
            f"({type(exc).__name__}): {_words(str(exc), hide)} {nothing}"
        ) from None
    try:
        async with conn:
            yield conn
    except psycopg.Error as exc:
        raise BackupError(
            f"PostgreSQL stopped it ({type(exc).__name__}): {_words(str(exc), hide)} {nothing}"
        ) from None


async def _one(conn: AsyncConnection[Any], query: str | sql.Composed) -> tuple[Any, ...]:
    cursor = await conn.execute(query)
    row = await cursor.fetchone()
    if row is None:
        raise BackupError(f"PostgreSQL returned nothing for {query!r}.")
    return tuple(row)


async def schema_tables(conn: AsyncConnection[Any]) -> frozenset[str]:
    """The tables of the connection's current schema (the first in its search_path that
    exists)."""
    cursor = await conn.execute(_TABLES)
    return frozenset(str(row[0]) for row in await cursor.fetchall())


async def current_schema(conn: AsyncConnection[Any], nothing: str) -> str:
    name, search_path = await _one(conn, "SELECT current_schema(), current_setting('search_path')")
    if name is None:
        raise BackupError(
            f"The address's search_path ({search_path}) names no schema that exists and the "
            "role may use. Create it (or GRANT USAGE on it), or correct options=-c "
            f"search_path=... in the address. {nothing}"
        )
    return str(name)


async def _count(conn: AsyncConnection[Any], table: str) -> int:
    row = await _one(conn, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
    return int(row[0])


# -- backup ----------------------------------------------------------------------------------


async def backup(url: str, target: Path, *, now: datetime, sessions: bool = False) -> Dumped:
    """pg_dump the schema the address uses into the file `target` (or a new file in the folder
    `target`), leaving live conversations out unless `sessions`. Never overwrites."""
    nothing = "No backup was taken."
    async with _connected(url, nothing) as conn:
        await conn.set_read_only(True)
        await conn.set_isolation_level(IsolationLevel.REPEATABLE_READ)
        # One snapshot, exported to pg_dump: what is counted here is what the file holds.
        async with conn.transaction():
            schema = await current_schema(conn, nothing)
            tables = await schema_tables(conn)
            version = await schema_version(conn) if VERSION_TABLE in tables else 0
            if not tables >= REQUIRED or version < 1:
                raise BackupError(
                    f"The schema {schema} PATHWAYS_DATABASE_URL uses holds no Pathways database "
                    f"(start Pathways once to make one). {nothing}"
                )
            if version > latest_schema("postgresql"):
                raise BackupError(
                    f"The database was last used by a newer Pathways (schema {version}; this "
                    f"one is at {latest_schema('postgresql')}). Back it up with that "
                    f"version. {nothing}"
                )
            left_out = tuple(
                sorted(t for t in tables if t not in WITH_ROWS and not (sessions and t in LEFT_OUT))
            )
            server = conn.info.server_version // 10000
            chosen = target_file(target, now, SUFFIX)
            pg_dump = shutil.which("pg_dump")
            if pg_dump is None:
                raise Unavailable(dump_commands(url, schema, left_out, chosen, server))
            if (major := await tool_major(pg_dump)) < server:
                raise BackupError(
                    f"pg_dump {major} cannot back up PostgreSQL {server}: install the client "
                    f"tools of version {server} or newer (postgresql-client-{server}). {nothing}"
                )
            (snapshot,) = await _one(conn, "SELECT pg_export_snapshot()")
            rows = {t: await _count(conn, t) for t in sorted(tables - set(left_out))}
            partial = chosen.with_name(chosen.name + ".partial")
            # Only the owner may read a backup: it holds who the service managers are.
            os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            try:
                with tool_address(url, "pathways-backup") as address:
                    await _run(
                        [
                            pg_dump,
                            *_dump_options(schema, left_out),
                            f"--snapshot={snapshot}",
                            f"--file={partial}",
                            f"--dbname={address}",
                        ],
                        _hiding(url),
                    )
                written = await inspect(partial)
                if written.with_rows & set(left_out):  # privacy first: never keep such a file
                    raise BackupError(f"pg_dump kept rows it was told to leave out. {nothing}")
                os.replace(partial, chosen)
            finally:
                partial.unlink(missing_ok=True)
    return Dumped(chosen, schema, version, rows, left_out, sessions)


# -- restore ---------------------------------------------------------------------------------


def _version_in(copy_text: str) -> int | None:
    """Pathways' schema version in pg_restore's SQL for the version table's rows: its COPY
    line names the columns, and the next line holds the one row, tab-separated."""
    lines = copy_text.splitlines()
    for number, line in enumerate(lines[:-1]):
        columns = re.match(r"^COPY \S+ \((?P<columns>[^)]*)\) FROM stdin;$", line)
        if columns is None:
            continue
        names = [name.strip() for name in columns.group("columns").split(",")]
        values = lines[number + 1].split("\t")
        if "version" in names and len(values) == len(names):
            found = values[names.index("version")]
            return int(found) if found.isdigit() else None
    return None


async def inspect(path: Path, pg_restore: str | None = None) -> Archive:
    """Check a backup pg_dump made (through pg_restore's list of it) without changing anything."""
    tool = pg_restore or shutil.which("pg_restore")
    if tool is None:
        raise Unavailable(
            "pg_restore is not installed here, so the backup cannot be read. Install "
            "PostgreSQL's client tools (Debian and Ubuntu: postgresql-client), then run this "
            "again."
        )
    if not await asyncio.to_thread(path.is_file):
        raise BackupError(f"There is no backup file at {path}.")
    nothing = "Nothing was changed."
    try:
        listing = await _run([tool, "--list", str(path)], RedactingFilter())
    except BackupError as exc:
        raise BackupError(
            f"{path} is not a backup pg_dump made, or not one this pg_restore can read ({exc}). "
            f"A SQLite backup (.db) is restored with PATHWAYS_DATABASE_URL unset. {nothing}"
        ) from None
    entries = tuple(line for line in listing.splitlines() if line.strip())
    taken_at = next((m.group("when") for e in entries if (m := _TAKEN_AT.match(e))), None)
    tables: dict[str, set[str]] = {"TABLE": set(), "TABLE DATA": set()}
    schemas = set()
    for entry in entries:
        if found := _TABLE_ENTRY.match(entry):
            tables[found.group("what")].add(found.group("name"))
            schemas.add(found.group("schema"))
    needed = REQUIRED | {VERSION_TABLE}
    if (
        len(schemas) != 1
        or not needed <= tables["TABLE"]
        or VERSION_TABLE not in tables["TABLE DATA"]
    ):
        raise BackupError(f"{path} is not a backup of a Pathways database. {nothing}")
    (schema,) = schemas
    copy_text = await _run(
        [
            tool,
            "--data-only",
            f"--schema={schema}",
            f"--table={VERSION_TABLE}",
            "--file=-",
            str(path),
        ],
        RedactingFilter(),
    )
    version = _version_in(copy_text)
    if version is None or version < 1:
        raise BackupError(f"{path} is not a backup of a Pathways database. {nothing}")
    if version > latest_schema("postgresql"):
        raise BackupError(
            f"{path} was made by a newer Pathways (schema {version}; this one knows up to "
            f"{latest_schema('postgresql')}). Upgrade Pathways first, then restore. {nothing}"
        )
    return Archive(
        path,
        schema,
        version,
        frozenset(tables["TABLE"]),
        frozenset(tables["TABLE DATA"]),
        taken_at,
        entries,
    )


async def restore(
    url: str,
    path: Path,
    *,
    sessions: bool = False,
    check_directory: Callable[[DirectoryData], Iterable[str]] = lambda _data: (),
) -> Restored:
    """Restore the backup at `path` into the schema the address uses, which must be empty, then
    bring it up to date as start-up does. Live conversations in the backup are left out
    unless `sessions`. `check_directory` lists what the flows would lack in its directory."""
    nothing = "Nothing was changed."
    async with _connected(url, nothing) as conn:
        schema = await current_schema(conn, nothing)
        pg_restore = shutil.which("pg_restore")
        if pg_restore is None:
            server = conn.info.server_version // 10000
            raise Unavailable(restore_commands(url, schema, path, sessions, server))
        held = await inspect(path, pg_restore)
        if sessions and not held.sessions:
            raise BackupError(
                f"{path} was taken without live conversations, so there are none to restore. "
                "Run restore without --with-sessions."
            )
        if held.schema != schema:
            raise BackupError(
                f"{path} holds the PostgreSQL schema {held.schema}, and PATHWAYS_DATABASE_URL "
                f"uses {schema}. pg_restore puts tables back in the schema they came from: "
                f"restore into a schema named {held.schema} (options=-c "
                f"search_path={held.schema} in the address), or rename one of them "
                f"(ALTER SCHEMA ... RENAME TO ...). {nothing}"
            )
        if found := await schema_tables(conn):
            raise BackupError(
                f"The schema {schema} PATHWAYS_DATABASE_URL uses already holds {len(found)} "
                "table(s). A restore goes into an empty schema only, so that it never mixes two "
                f"databases: stop every instance, move the schema aside (ALTER SCHEMA {schema} "
                f"RENAME TO {schema}_before_restore; CREATE SCHEMA {schema};) or use a new "
                f"database, then restore again. {nothing}"
            )
        left_out = held.with_rows - WITH_ROWS - (LEFT_OUT if sessions else frozenset())
        skipped = [re.compile(p) for p in _skipped(schema, left_out)]
        wanted = [e for e in held.entries if not any(p.search(e) for p in skipped)]
        with tempfile.TemporaryDirectory(prefix="pathways-") as folder:
            chosen = Path(folder) / RESTORE_LIST
            chosen.write_text("\n".join(wanted) + "\n", encoding="utf-8")
            with tool_address(url, "pathways-restore") as address:
                await _run(
                    [
                        pg_restore,
                        *_RESTORE_OPTIONS,
                        f"--use-list={chosen}",
                        f"--dbname={address}",
                        str(path),
                    ],
                    _hiding(url),
                )
        await migrate(conn)  # as start-up does: an older backup is brought up to date
        problems = await _directory_problems(conn, check_directory)
        if problems:
            await _drop_all(conn)
            raise BackupError(
                f"The directory in {path} would stop the bot starting:\n  "
                + "\n  ".join(problems[:10])
                + f"\nThe restored tables were removed again: the schema {schema} is empty, "
                "as it was."
            )
        restored = sorted((held.with_rows - left_out) & await schema_tables(conn))
        counts = {t: await _count(conn, t) for t in restored if t != VERSION_TABLE}
        (version,) = await _one(conn, "SELECT value FROM directory_meta WHERE key = 'version'")
    return Restored(counts, (), None, int(version))


async def _directory_problems(
    conn: AsyncConnection[Any], check_directory: Callable[[DirectoryData], Iterable[str]]
) -> list[str]:
    """What would stop the bot starting on the restored directory, through the store's own
    loader."""
    areas = await (await conn.execute(AREAS_SQL.format(schema=""))).fetchall()
    services = await (await conn.execute(SERVICES_SQL.format(schema=""))).fetchall()
    try:
        data = directory_from_rows(
            (str(row[0]) for row in areas), (str(row[0]) for row in services), "backup"
        )
    except DirectoryError as exc:
        return [str(p) for p in exc.problems]
    return list(check_directory(data))


async def _drop_all(conn: AsyncConnection[Any]) -> None:
    """Drop every table of the schema, which was empty before the restore, in one step."""
    tables = sorted(await schema_tables(conn))
    if tables:
        names = sql.SQL(", ").join(sql.Identifier(t) for t in tables)
        await conn.execute(sql.SQL("DROP TABLE {} CASCADE").format(names))
