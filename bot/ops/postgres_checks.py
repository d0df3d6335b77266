"""What `doctor` checks of PostgreSQL (PATHWAYS_DATABASE_URL): that it answers in time, its
version, the encryption of a connection to another machine, the schema's migrations, what
Pathways' role may do there, and the tools `backup` uses. The password is never shown: the
address is shown as `config show` shows it, and libpq's words pass the logs' redaction.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.conninfo import make_conninfo

from bot.config import Settings
from bot.directory.files import DirectoryData
from bot.logs import RedactingFilter
from bot.ops.backup import KEPT, LEFT_OUT, REQUIRED, BackupError
from bot.ops.checks import loopback
from bot.ops.findings import Finding, fail, ok, warn
from bot.ops.postgres_backup import VERSION_TABLE, schema_tables, tool_major
from bot.store.directory import AREAS_SQL, SERVICES_SQL, directory_from_rows
from bot.store.postgres_schema import schema_version
from bot.store.schema import latest_schema

# VACUUM's SKIP_LOCKED, TRUNCATE and INDEX_CLEANUP options, which erasing uses
# (`bot/store/postgres.py`), came with PostgreSQL 12; everything else the store does is older.
MINIMUM_SERVER = 12
PATHWAYS_TABLES = KEPT | LEFT_OUT | {VERSION_TABLE}
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
# Vacuumed after every erasure; only their owner may (a superuser or the database's owner too).
SCRUBBED = ("pending_wipes", "sessions")
SECURE_MODES = ("verify-full", "verify-ca")
CONNECT_FIX = (
    "Check the host, port, database and user in PATHWAYS_DATABASE_URL (`config show` shows "
    "it), the password (its password file), that the server is running, and that this machine "
    "may reach it (firewall, the provider's allowed addresses)."
)
TLS_FIX = (
    "Add sslmode=verify-full&sslrootcert=/etc/pathways/db-ca.pem (your provider's CA "
    "certificate) to the address (docs/deploy.md)."
)

_RIGHTS = """
SELECT c.relname,
       has_table_privilege(c.oid, 'SELECT'), has_table_privilege(c.oid, 'INSERT'),
       has_table_privilege(c.oid, 'UPDATE'), has_table_privilege(c.oid, 'DELETE'),
       pg_has_role(c.relowner, 'USAGE')
FROM pg_class c
WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
  AND c.relkind IN ('r', 'p')
ORDER BY c.relname
"""
_ROLE = """
SELECT current_user, has_schema_privilege(current_schema(), 'USAGE'),
       has_schema_privilege(current_schema(), 'CREATE'), current_setting('is_superuser') = 'on',
       pg_has_role((SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE')
"""

StoredDirectory = Callable[[], DirectoryData | None]


def _none() -> DirectoryData | None:
    return None


async def database(settings: Settings, wait: float) -> tuple[list[Finding], StoredDirectory]:
    """The findings, and a way to read the directory stored there (for the content checks)."""
    url = settings.database_url
    if not url:
        raise ValueError("no PostgreSQL address is set")
    hide = RedactingFilter(settings.secrets())
    where = settings.database_shown
    conninfo = make_conninfo(
        url,
        # libpq counts whole seconds, 2 at least.
        connect_timeout=max(2, math.ceil(wait)),
        fallback_application_name="pathways-doctor",
    )
    try:
        conn = await AsyncConnection.connect(conninfo, autocommit=True)
    except psycopg.Error as exc:
        said = hide.redact(" ".join(str(exc).split()))
        return [fail("database", f"Cannot connect to {where}: {said}", CONNECT_FIX)], _none
    try:
        async with conn:
            return await _examine(conn)
    except psycopg.Error as exc:
        said = hide.redact(" ".join(str(exc).split()))
        return [
            fail("database", f"{where} answered, but could not be checked: {said}", CONNECT_FIX)
        ], _none


async def _examine(conn: AsyncConnection[Any]) -> tuple[list[Finding], StoredDirectory]:
    info = conn.info
    found = [server(info.server_version, info.host, info.port, info.dbname)]
    local = info.host.startswith("/") or loopback(info.host) or loopback(info.hostaddr)
    sslmode = info.get_parameters().get("sslmode", "prefer")
    found.extend(transport(info.host, local, sslmode, conn.pgconn.ssl_in_use))
    cursor = await conn.execute("SELECT current_schema(), current_setting('search_path')")
    schema, search_path = await cursor.fetchone() or (None, "")
    if schema is None:
        found.append(
            fail(
                "database",
                f"No schema to work in: the search_path ({search_path}) names none that exists "
                "and the role may use.",
                "Create it (CREATE SCHEMA name AUTHORIZATION role), GRANT USAGE on it, or "
                "correct options=-c search_path=... in the address.",
            )
        )
        return found, _none
    tables = await schema_tables(conn)
    version = await schema_version(conn) if VERSION_TABLE in tables else 0
    latest = latest_schema("postgresql")
    found.append(contents(str(schema), tables, version, latest))
    found.extend(await _rights(conn, str(schema), migrating=version < latest))
    found.extend(await tools(info.server_version // 10000))
    return found, await _stored(conn, tables, version <= latest)


def server(number: int, host: str, port: int, dbname: str) -> Finding:
    """The server's version (libpq's number: 150020 is 15.20)."""
    version = f"{number // 10000}.{number % 10000}"
    if number < MINIMUM_SERVER * 10000:
        return fail(
            "database",
            f"PostgreSQL {version} is too old: Pathways needs {MINIMUM_SERVER} or newer (erasing "
            f"uses VACUUM options that came with {MINIMUM_SERVER}).",
            "Upgrade the server to a version the PostgreSQL project still supports "
            "(https://www.postgresql.org/support/versioning/).",
        )
    place = host if host.startswith("/") else f"{host}:{port}"
    return ok("database", f"PostgreSQL {version} answers at {place}, database {dbname}.")


def transport(host: str, local: bool, sslmode: str, encrypted: bool) -> list[Finding]:
    """Whether what crosses the network to a server on another machine is encrypted, and sure
    of the server. Nothing to say of one on this machine."""
    if local:
        return []
    if not encrypted:
        return [
            fail(
                "database",
                f"The connection to {host} is not encrypted: the conversations' state and the "
                "directory's changes cross the network as they are.",
                TLS_FIX,
            )
        ]
    if sslmode not in SECURE_MODES:
        return [
            warn(
                "database",
                f"The connection to {host} is encrypted, but the server's certificate is not "
                f"checked (sslmode={sslmode}): a machine in between could pose as the database.",
                TLS_FIX,
            )
        ]
    checked = "certificate and name" if sslmode == "verify-full" else "certificate"
    return [ok("database", f"Encrypted, and the server's {checked} checked (sslmode={sslmode}).")]


def contents(schema: str, tables: frozenset[str], version: int, latest: int) -> Finding:
    """What the schema holds, against the migrations this Pathways knows."""
    if not tables:
        return ok("database", f"The schema {schema} is empty: `run` creates the tables at start.")
    if not REQUIRED | {VERSION_TABLE} <= tables or version < 1:
        return fail(
            "database",
            f"The schema {schema} holds tables, but not a Pathways database.",
            "Point PATHWAYS_DATABASE_URL at Pathways' database and schema (options=-c "
            "search_path=... in the address), or at an empty one.",
        )
    if version > latest:
        return fail(
            "database",
            f"The schema {schema} was last used by a newer Pathways (schema {version}; this one "
            f"knows up to {latest}).",
            "Install the newer Pathways again, or restore a backup made by this one into an "
            "empty schema.",
        )
    if version < latest:
        return warn(
            "database",
            f"The schema {schema} is at schema {version}; this Pathways is at {latest}. `run` "
            "migrates it at start.",
            "Take a backup first: python -m bot backup /var/backups/pathways/",
        )
    return ok("database", f"The schema {schema} is up to date (schema {version}).")


async def _rights(conn: AsyncConnection[Any], schema: str, migrating: bool) -> list[Finding]:
    """What the role may do: use the schema, create tables in it (migrations), read and write
    every Pathways table, and own them (to vacuum after erasing, and to change them)."""
    cursor = await conn.execute(_ROLE)
    user, usage, create, superuser, owns_database = await cursor.fetchone() or ("", *[False] * 4)
    role = str(user)
    # As the fixes write them: quoted where SQL needs it.
    role_sql, schema_sql = _name(conn, role), _name(conn, schema)
    if not usage:
        return [
            fail(
                "database",
                f"The role {role} may not use the schema {schema}.",
                f"As the schema's owner: GRANT USAGE, CREATE ON SCHEMA {schema_sql} TO {role_sql};",
            )
        ]
    found = []
    cursor = await conn.execute(_RIGHTS)
    rows = [row for row in await cursor.fetchall() if str(row[0]) in PATHWAYS_TABLES]
    lacking: dict[str, list[str]] = {}  # missing privileges -> the tables that lack them
    for name, *granted, _owned in rows:
        missing = [p for p, has in zip(PRIVILEGES, granted, strict=True) if not has]
        if missing:
            lacking.setdefault(", ".join(missing), []).append(str(name))
    if lacking:
        what = "; ".join(f"{privileges} on {', '.join(t)}" for privileges, t in lacking.items())
        found.append(
            fail(
                "database",
                f"The role {role} lacks rights Pathways needs: {what}.",
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "
                f"{schema_sql} TO {role_sql};",
            )
        )
    if not create:
        text = f"The role {role} may not create tables in the schema {schema}: "
        fix = f"GRANT CREATE ON SCHEMA {schema_sql} TO {role_sql};"
        if migrating:
            found.append(fail("database", text + "`run` could not set up its tables.", fix))
        else:
            found.append(
                warn("database", text + "the migrations of a later upgrade would fail.", fix)
            )
    others = [str(row[0]) for row in rows if not row[5]]
    if others and not superuser:
        cannot_scrub = [t for t in SCRUBBED if t in others] if not owns_database else []
        which = "Pathways' tables" if len(others) == len(rows) else ", ".join(others)
        text = f"The role {role} does not own {which}: a later migration that changes them "
        text += "would fail"
        if cannot_scrub:
            text += (
                f", and erased conversations stay in {' and '.join(cannot_scrub)} as dead rows "
                "until autovacuum comes by (only an owner may vacuum them)"
            )
        found.append(
            warn(
                "database",
                text + ".",
                f"As their owner or a superuser, for each: ALTER TABLE {schema_sql}.name OWNER "
                f"TO {role_sql};",
            )
        )
    if not found:
        found.append(
            ok(
                "database",
                f"The role {role} may read and write Pathways' tables, vacuum them after erasing, "
                "and create new ones.",
            )
        )
    return found


def _name(conn: AsyncConnection[Any], name: str) -> str:
    """An identifier as it is written in SQL (quoted if it must be)."""
    return sql.Identifier(name).as_string(conn)


async def tools(server_major: int) -> list[Finding]:
    """Whether `backup` and `restore` can use pg_dump and pg_restore here."""
    paths = {name: shutil.which(name) for name in ("pg_dump", "pg_restore")}
    missing = [name for name, path in paths.items() if path is None]
    install = (
        f"Install PostgreSQL's client tools, version {server_major} or newer (Debian and "
        f"Ubuntu: postgresql-client-{server_major}, from apt.postgresql.org where the "
        "distribution's is older)."
    )
    if missing:
        return [
            warn(
                "backup",
                f"{' and '.join(missing)} not installed here: `backup` and `restore` would only "
                "say what to run on a machine that has them.",
                install,
            )
        ]
    try:
        majors = {name: await tool_major(str(path)) for name, path in paths.items()}
    except BackupError as exc:
        return [warn("backup", str(exc), install)]
    if (oldest := min(majors.values())) < server_major:
        return [
            warn(
                "backup",
                f"pg_dump {majors['pg_dump']} and pg_restore {majors['pg_restore']} cannot back "
                f"up PostgreSQL {server_major}.",
                install,
            )
        ]
    return [ok("backup", f"pg_dump and pg_restore {oldest} are here for `backup` and `restore`.")]


async def _stored(
    conn: AsyncConnection[Any], tables: frozenset[str], readable: bool
) -> StoredDirectory:
    """The stored directory's records, read now and checked when asked (by the store's own
    loader), or None before it holds one."""
    if not readable or not {"areas", "services"} <= tables:
        return _none
    try:
        areas = [
            str(r[0]) for r in await (await conn.execute(AREAS_SQL.format(schema=""))).fetchall()
        ]
        services = [
            str(r[0]) for r in await (await conn.execute(SERVICES_SQL.format(schema=""))).fetchall()
        ]
    except psycopg.Error:
        return _none  # the rights check says why
    if not services:
        return _none
    return lambda: directory_from_rows(areas, services, "database")
