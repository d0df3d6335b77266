"""Backups taken while the bot runs, and restores that check a file before changing anything.

A backup is one SQLite file. SQLite's online backup API copies the live database in a single
step, so the copy is a consistent snapshot even while the bot writes. The copy is made in
memory; live conversations and the admin chat's place are deleted there (they are short-lived
and sensitive) and only then is it written out with VACUUM INTO, so those rows never reach the
backup's disk.

A restore replaces the directory, editors, audit trail and anonymous figures in one
transaction on the live database, so it can run while the bot runs (the bot waits a moment,
then reloads the directory). Live conversations are kept as they are.

On PostgreSQL (PATHWAYS_DATABASE_URL) the same rules are kept with PostgreSQL's own tools:
`bot/ops/postgres_backup.py`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from bot.directory.files import DirectoryData
from bot.directory.validate import DirectoryError
from bot.store.directory import AREAS_SQL, SERVICES_SQL, directory_from_rows
from bot.store.schema import latest_schema, migrate
from bot.store.sqlite import SqliteStore

# Every table is in one list or the other (a test holds each migration to that). A table in
# neither is left out of backups: privacy first, and the backup says so.
KEPT = frozenset({"areas", "services", "directory_meta", "editors", "audit", "daily_counts"})
LEFT_OUT = frozenset({"sessions", "pending_wipes", "admin_sessions", "handled_updates"})
# What makes a file a Pathways database.
REQUIRED = frozenset({"sessions", "areas", "services", "directory_meta"})
# Written into backups only: when it was taken, and whether conversations are in it.
INFO_TABLE = "pathways_backup"
NAME_PREFIX = "pathways-"
SQLITE_SUFFIX = ".db"


class BackupError(Exception):
    """A backup or restore could not be done. The message says why and what to do."""


@dataclass(frozen=True)
class Inspected:
    """What a backup file holds, once it has passed every check."""

    path: Path
    schema: int
    rows: dict[str, int]
    sessions: bool  # whether live conversations were kept in it
    taken_at: str | None = None  # None for a plain copy of a database
    left_out: tuple[str, ...] = ()

    def summary(self) -> str:
        counts = ", ".join(
            f"{self.rows[t]} {t}"
            for t in ("services", "areas", "editors", "audit")
            if t in self.rows
        )
        held = "with" if self.sessions else "without"
        when = f"taken {self.taken_at}, " if self.taken_at else ""
        return f"{when}schema {self.schema}, {counts}; {held} live conversations"


@dataclass(frozen=True)
class Restored:
    tables: dict[str, int]  # restored table -> rows
    kept: tuple[str, ...]  # tables kept as they were
    safety_copy: Path | None
    directory_version: int
    notes: list[str] = field(default_factory=list)


def _read_only(path: Path) -> sqlite3.Connection:
    # mode=ro: a backup can never change the database it copies, nor create one by mistake.
    conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def _tables(conn: sqlite3.Connection, schema: str = "main") -> list[str]:
    rows = conn.execute(
        f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table' "
        "AND name NOT LIKE 'sqlite_%' ORDER BY name"
    )
    return [str(name) for (name,) in rows]


def _columns(conn: sqlite3.Connection, schema: str, table: str) -> list[str]:
    return [str(row[1]) for row in conn.execute(f'PRAGMA {schema}.table_info("{table}")')]


def _count(conn: sqlite3.Connection, table: str, schema: str = "main") -> int:
    row = conn.execute(f'SELECT count(*) FROM {schema}."{table}"').fetchone()
    return int(row[0])


def _in_memory(path: Path) -> sqlite3.Connection:
    """The whole database at `path`, copied into memory in one consistent step."""
    if not path.is_file():
        raise BackupError(f"There is no database file at {path}.")
    memory = sqlite3.connect(":memory:", isolation_level=None)
    try:
        source = _read_only(path)
        try:
            source.backup(memory)  # pages=-1: everything in one step, one read transaction
        finally:
            source.close()
    except sqlite3.Error as exc:
        memory.close()
        raise BackupError(
            f"{path} cannot be read as a SQLite database ({type(exc).__name__}: {exc}). "
            "Nothing was changed."
        ) from None
    return memory


def _check(conn: sqlite3.Connection, path: Path) -> int:
    """Refuse anything but a sound Pathways database this code can read. Returns its schema."""
    try:
        problems = [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:  # damaged beyond what the check can walk
        problems = [str(exc)]
    if problems != ["ok"]:
        raise BackupError(
            f"{path} fails SQLite's integrity check ({len(problems)} problem(s), the first: "
            f"{problems[0]}). Nothing was changed; use an older backup."
        )
    missing = REQUIRED - set(_tables(conn))
    schema = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if missing or schema < 1:
        lacks = ", ".join(sorted(missing)) or "schema version"
        raise BackupError(f"{path} is not a Pathways database (no {lacks}). Nothing was changed.")
    if schema > latest_schema():
        raise BackupError(
            f"{path} was made by a newer Pathways (schema {schema}; this one knows up to "
            f"{latest_schema()}). Upgrade Pathways first, then restore. Nothing was changed."
        )
    return schema


def _info(conn: sqlite3.Connection) -> dict[str, str]:
    if INFO_TABLE not in _tables(conn):
        return {}
    return {str(k): str(v) for k, v in conn.execute(f"SELECT key, value FROM {INFO_TABLE}")}


def _inspected(conn: sqlite3.Connection, path: Path, schema: int) -> Inspected:
    info = _info(conn)
    tables = [t for t in _tables(conn) if t != INFO_TABLE]
    return Inspected(
        path=path,
        schema=schema,
        rows={t: _count(conn, t) for t in tables},
        # A plain copy of a database (no INFO_TABLE) holds whatever conversations it had.
        sessions=info.get("sessions", "kept") == "kept",
        taken_at=info.get("taken_at"),
        left_out=tuple(json.loads(info.get("left_out", "[]"))),
    )


def inspect(path: Path) -> Inspected:
    """Check a backup (or a copy of a database) without changing anything."""
    conn = _in_memory(path)
    try:
        return _inspected(conn, path, _check(conn, path))
    finally:
        conn.close()


def target_file(target: Path, now: datetime, suffix: str = SQLITE_SUFFIX) -> Path:
    """The new file a backup goes to: `target` itself, or a dated file in the folder `target`."""
    if not target.is_dir():
        if target.exists():
            raise BackupError(f"{target} already exists. Choose a new name, or a folder.")
        if not target.parent.is_dir():
            raise BackupError(f"The folder {target.parent} does not exist. Create it first.")
        return target
    return _unused(target, f"{NAME_PREFIX}{now.strftime('%Y%m%dT%H%M%SZ')}", suffix)


def _unused(folder: Path, stem: str, suffix: str = SQLITE_SUFFIX) -> Path:
    """folder/stem.db, or stem-2.db and so on when that is taken."""
    chosen, number = folder / f"{stem}{suffix}", 1
    while chosen.exists():
        number += 1
        chosen = folder / f"{stem}-{number}{suffix}"
    return chosen


def backup(
    db_path: Path,
    target: Path,
    *,
    now: datetime,
    sessions: bool = False,
) -> Inspected:
    """Snapshot the database at `db_path` into the file `target` (or a new file in the folder
    `target`), leaving live conversations out unless `sessions`. Never overwrites."""
    chosen = target_file(target, now)
    memory = _in_memory(db_path)
    partial = chosen.with_name(chosen.name + ".partial")
    try:
        _check(memory, db_path)
        left_out = []
        for table in _tables(memory):
            if table in KEPT or (sessions and table in LEFT_OUT):
                continue
            memory.execute(f'DELETE FROM "{table}"')
            left_out.append(table)
        memory.execute(f"CREATE TABLE {INFO_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        info = {
            "taken_at": now.isoformat(timespec="seconds"),
            "sessions": "kept" if sessions else "left out",
            "left_out": json.dumps(left_out),
        }
        memory.executemany(f"INSERT INTO {INFO_TABLE} VALUES (?, ?)", info.items())
        # Only the owner may read a backup: it holds who the service managers are.
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        memory.execute("VACUUM INTO ?", (str(partial),))
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        memory.close()
    try:
        written = inspect(partial)
        os.replace(partial, chosen)
    finally:
        partial.unlink(missing_ok=True)
    return Inspected(
        chosen, written.schema, written.rows, sessions, written.taken_at, tuple(left_out)
    )


def prune(folder: Path, keep: int, suffix: str = SQLITE_SUFFIX) -> list[Path]:
    """Delete all but the newest `keep` backups of one kind (SQLite's `.db`, or PostgreSQL's
    `.dump`) this command wrote into `folder`. Those of the other kind are left alone: they
    are the history from before a move between the two."""
    ours = sorted(folder.glob(f"{NAME_PREFIX}*{suffix}"), key=lambda p: (p.stat().st_mtime, p.name))
    old = ours[: max(len(ours) - keep, 0)]
    for path in old:
        path.unlink()
    return old


# -- restore -----------------------------------------------------------------------------------


def stored_directory(conn: sqlite3.Connection, schema: str = "main") -> DirectoryData:
    """The directory in a database, through the store's own loader."""
    areas = conn.execute(AREAS_SQL.format(schema=f"{schema}."))
    services = conn.execute(SERVICES_SQL.format(schema=f"{schema}."))
    return directory_from_rows(
        (str(row[0]) for row in areas), (str(row[0]) for row in services), "backup"
    )


def _directory_version(conn: sqlite3.Connection, schema: str) -> int:
    row = conn.execute(
        f"SELECT value FROM {schema}.directory_meta WHERE key = 'version'"
    ).fetchone()
    return int(row[0]) if row else 0


def restore_into(
    backup_path: Path,
    db_path: Path,
    *,
    sessions: bool = False,
    check_directory: Callable[[DirectoryData], Iterable[str]] = lambda _data: (),
) -> Restored:
    """Put the backup's contents into the live database (already migrated), in one transaction.

    The live database's conversations (sessions, pending wipes) and admin chat places are kept
    as they are, unless `sessions`, when they are taken from the backup instead.
    `check_directory` lists what the flows would lack in the backup's directory.
    """
    image = _in_memory(backup_path)
    try:
        schema = _check(image, backup_path)
        held = _inspected(image, backup_path, schema)
        if sessions and not held.sessions:
            raise BackupError(
                f"{backup_path} was taken without live conversations, so there are none to "
                "restore. Run restore without --with-sessions."
            )
        migrate(image)  # as start-up does for the live database
        try:
            problems = list(check_directory(stored_directory(image)))
        except DirectoryError as exc:
            problems = [str(p) for p in exc.problems]
        if problems:
            raise BackupError(
                f"The directory in {backup_path} would stop the bot starting:\n  "
                + "\n  ".join(problems[:10])
                + "\nNothing was changed."
            )
        return _copy(image, db_path, latest_schema(), sessions)
    finally:
        image.close()


def _copy(image: sqlite3.Connection, db_path: Path, schema: int, sessions: bool) -> Restored:
    image.execute("ATTACH DATABASE ? AS live", (str(db_path),))
    try:
        live_schema = int(image.execute("PRAGMA live.user_version").fetchone()[0])
        if live_schema != schema:  # restore() migrated it, or refused a newer one
            raise BackupError(f"{db_path} changed schema during the restore. Nothing was changed.")
        image.execute("PRAGMA busy_timeout = 10000")
        image.execute("PRAGMA live.secure_delete = ON")
        wanted = KEPT | LEFT_OUT if sessions else KEPT
        both = set(_tables(image, "live"))
        tables = [t for t in _tables(image) if t in wanted and t in both]
        # One write transaction on the live database: the bot waits (busy_timeout) and then
        # sees all of the backup or none of it.
        image.execute("BEGIN IMMEDIATE")
        try:
            version = max(_directory_version(image, "live"), _directory_version(image, "main"))
            for table in tables:
                live_columns = set(_columns(image, "live", table))
                columns = ", ".join(
                    f'"{c}"' for c in _columns(image, "main", table) if c in live_columns
                )
                image.execute(f'DELETE FROM live."{table}"')
                image.execute(
                    f'INSERT INTO live."{table}" ({columns}) SELECT {columns} FROM main."{table}"'
                )
            # A new version number, so a running bot reloads the directory at its next step.
            image.execute(
                "UPDATE live.directory_meta SET value = ? WHERE key = 'version'",
                (str(version + 1),),
            )
            image.execute("COMMIT")
        except BaseException:
            image.execute("ROLLBACK")
            raise
        kept = tuple(sorted(both - set(tables)))
        return Restored({t: _count(image, t, "live") for t in tables}, kept, None, version + 1)
    finally:
        image.execute("DETACH DATABASE live")


def _state(db_path: Path) -> tuple[bool, bool]:
    """Whether the database exists, and whether a write-ahead log with content does. (An empty
    one, left by a read-only connection, is harmless.)"""
    wal = Path(f"{db_path}-wal")
    return db_path.is_file(), wal.is_file() and wal.stat().st_size > 0


async def restore(
    backup_path: Path,
    db_path: Path,
    *,
    now: datetime,
    sessions: bool = False,
    check_directory: Callable[[DirectoryData], Iterable[str]] = lambda _data: (),
) -> Restored:
    """Check the backup, bring the live database to this code's schema (creating it if there
    is none, as start-up does), save a copy of it, then restore into it."""
    await asyncio.to_thread(inspect, backup_path)  # refuse a bad file before touching anything
    existed, orphans = await asyncio.to_thread(_state, db_path)
    if not existed and orphans:
        # SQLite would replay a left-over journal into the new database.
        raise BackupError(
            f"{db_path} is missing but its write-ahead log {db_path.name}-wal is still there. "
            "Move it aside too (with the -shm file), then restore again. Nothing was changed."
        )
    store = await SqliteStore.open(db_path)  # migrates an older one, as start-up does
    try:
        live_schema = await store.schema_version()
    finally:
        await store.close()
    if live_schema > latest_schema():
        raise BackupError(
            f"The database {db_path} was last used by a newer Pathways (schema {live_schema}; "
            f"this one is at {latest_schema()}). Stop the service and move the database aside "
            "(it holds anything changed since the backup); restore then makes a new one. "
            "Nothing was changed."
        )
    safety: Path | None = None
    if existed:
        stem = f"{db_path.stem}.before-restore-{now.strftime('%Y%m%dT%H%M%SZ')}"
        target = _unused(db_path.parent, stem)
        safety = (await asyncio.to_thread(backup, db_path, target, now=now)).path
    try:
        restored = await asyncio.to_thread(
            restore_into,
            backup_path,
            db_path,
            sessions=sessions,
            check_directory=check_directory,
        )
    except BaseException:
        if safety is not None:
            safety.unlink(missing_ok=True)  # nothing changed, so nothing to go back to
        raise
    return dataclasses.replace(restored, safety_copy=safety)
