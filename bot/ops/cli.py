"""`python -m bot config show | doctor | backup | restore`: running Pathways for real."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from bot import logs
from bot.app import load_spec, utc_now
from bot.config import ConfigError, Settings, load_settings, read_source
from bot.directory.files import DirectoryData
from bot.directory.index import DirectoryIndex
from bot.engine.lint import directory_problems
from bot.ops import backup as backups
from bot.ops import doctor, show
from bot.ops import postgres_backup as postgres_backups

COMMANDS = frozenset({"config", "doctor", "backup", "restore"})
# NOT_HERE: PostgreSQL's pg_dump or pg_restore is not installed; what to run instead is printed.
OK, PROBLEMS, USAGE, NOT_HERE = 0, 1, 2, 3


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = commands.add_parser("config", help="show the effective settings, secrets hidden")
    actions = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    actions.add_parser(
        "show",
        help="print every setting, its value and where it came from",
        description="Print the effective settings (environment, then the settings file, then "
        "defaults) and where each came from. Secrets are never printed.",
    )

    check = commands.add_parser(
        "doctor",
        help="check everything a deployment needs; exit 0 when nothing failed",
        description="Check the settings, the token (and that Telegram answers), the database "
        "(on PostgreSQL: the connection, its version and encryption, the migrations, the "
        "role's rights and the backup tools), flows, directory, translations, webhook settings "
        "and the clock. Each problem comes with its fix. Exit status 0 when nothing failed "
        "(warnings are advice).",
    )
    check.add_argument("--offline", action="store_true", help="do not ask the Bot API")
    check.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the Bot API, and for PostgreSQL to answer (10)",
    )

    take = commands.add_parser(
        "backup",
        help="snapshot the database, even while the bot runs",
        description="Write a consistent snapshot of the database to a new file: the SQLite "
        "file PATHWAYS_DB, or with PATHWAYS_DATABASE_URL set, PostgreSQL's schema through "
        "pg_dump (custom format, .dump). Live conversations are left out unless "
        "--with-sessions. Exit status 3 when pg_dump is not installed: the command to run "
        "instead is printed.",
    )
    take.add_argument("path", type=Path, help="a new file, or a folder for a dated file")
    take.add_argument(
        "--with-sessions",
        action="store_true",
        help="keep live conversations in the backup (sensitive; left out by default)",
    )
    take.add_argument(
        "--keep", type=_positive, metavar="N", help="with a folder: keep only the newest N"
    )

    back = commands.add_parser(
        "restore",
        help="check a backup and put it back",
        description="Check a backup (integrity, schema version, directory) and put its "
        "directory, editors and audit trail back into the database, in one transaction. Live "
        "conversations are kept as they are. The database as it was is saved beside it first. "
        "With PATHWAYS_DATABASE_URL set: a pg_dump backup, through pg_restore, into an empty "
        "schema only (stop every instance first); exit status 3 when pg_restore is not "
        "installed, with the commands to run instead.",
    )
    back.add_argument("path", type=Path, help="the backup file")
    back.add_argument("--check", action="store_true", help="check the file only; change nothing")
    back.add_argument(
        "--with-sessions",
        action="store_true",
        help="take live conversations from the backup too, instead of keeping the current ones",
    )


def _positive(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise argparse.ArgumentTypeError("must be a whole number, 1 or more")
    return int(raw)


def _err(text: str) -> None:
    print(text, file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    if args.command == "doctor":
        _quiet_logs()
        found = asyncio.run(
            doctor.diagnose(os.environ, utc_now, online_checks=not args.offline, wait=args.timeout)
        )
        return doctor.report(found, sys.stdout)
    settings = load_settings()
    logs.configure(logging.WARNING, settings.secrets())
    if args.command == "config":
        for line in show.lines(settings, read_source()):
            print(line)
        return OK
    try:
        if settings.database_url and args.command == "backup":
            return _backup_postgres(settings, settings.database_url, args)
        if settings.database_url:
            return _restore_postgres(settings, settings.database_url, args)
        if args.command == "backup":
            return _backup(settings, args)
        return _restore(settings, args)
    except postgres_backups.Unavailable as exc:
        _err(str(exc))
        return NOT_HERE
    except backups.BackupError as exc:
        _err(str(exc))
        return PROBLEMS
    except sqlite3.Error as exc:  # e.g. the disk filled up, or the database is locked too long
        _err(f"SQLite stopped it ({type(exc).__name__}: {exc}). Nothing was replaced.")
        return PROBLEMS


def _quiet_logs() -> None:
    try:
        secrets = load_settings().secrets()
    except ConfigError:
        secrets = ()  # doctor reports the setting; nothing was read that needs hiding
    logs.configure(logging.WARNING, secrets)


def _backup(settings: Settings, args: argparse.Namespace) -> int:
    if args.keep is not None and not args.path.is_dir():
        _err("--keep works with a folder: give the folder the backups go in.")
        return USAGE
    made = backups.backup(settings.db_path, args.path, now=utc_now(), sessions=args.with_sessions)
    print(f"Backed up {settings.db_path} to {made.path}")
    print(f"  {made.summary()}")
    if made.left_out:
        print(f"  left out: {', '.join(made.left_out)}")
    if args.keep is not None:
        removed = backups.prune(args.path, args.keep)
        if removed:
            print(f"Removed {len(removed)} older backup(s), keeping the newest {args.keep}.")
    return OK


def _backup_postgres(settings: Settings, url: str, args: argparse.Namespace) -> int:
    if args.keep is not None and not args.path.is_dir():
        _err("--keep works with a folder: give the folder the backups go in.")
        return USAGE
    made = asyncio.run(
        postgres_backups.backup(url, args.path, now=utc_now(), sessions=args.with_sessions)
    )
    print(f"Backed up the schema {made.schema} of {settings.database_shown} to {made.path}")
    print(f"  {made.summary()}")
    if made.left_out:
        print(f"  left out: {', '.join(made.left_out)}")
    if args.keep is not None:
        removed = backups.prune(args.path, args.keep, postgres_backups.SUFFIX)
        if removed:
            print(f"Removed {len(removed)} older backup(s), keeping the newest {args.keep}.")
    return OK


def _flow_needs(settings: Settings) -> Callable[[DirectoryData], Iterable[str]]:
    def flow_needs(data: DirectoryData) -> Iterable[str]:
        spec = load_spec(settings.flows_dir)
        return directory_problems(spec, DirectoryIndex(data.areas, data.services))

    return flow_needs


def _restore_postgres(settings: Settings, url: str, args: argparse.Namespace) -> int:
    if args.check:
        held = asyncio.run(postgres_backups.inspect(args.path))
        print(f"{args.path} is a sound Pathways backup: {held.summary()}.")
        return OK
    restored = asyncio.run(
        postgres_backups.restore(
            url, args.path, sessions=args.with_sessions, check_directory=_flow_needs(settings)
        )
    )
    counts = ", ".join(f"{n} {table}" for table, n in sorted(restored.tables.items()))
    print(f"Restored {args.path} into {settings.database_shown}: {counts}.")
    print("Start Pathways (every instance): it uses the restored database.")
    return OK


def _restore(settings: Settings, args: argparse.Namespace) -> int:
    held = backups.inspect(args.path)
    if args.check:
        print(f"{args.path} is a sound Pathways backup: {held.summary()}.")
        return OK
    restored = asyncio.run(
        backups.restore(
            args.path,
            settings.db_path,
            now=utc_now(),
            sessions=args.with_sessions,
            check_directory=_flow_needs(settings),
        )
    )
    counts = ", ".join(f"{n} {table}" for table, n in sorted(restored.tables.items()))
    print(f"Restored {args.path} into {settings.db_path}: {counts}.")
    if restored.kept:
        print(f"  kept as they were: {', '.join(restored.kept)}")
    if restored.safety_copy is not None:
        print(f"  the database as it was before is saved at {restored.safety_copy}")
    print("A running bot uses the restored directory from its next step; no restart is needed.")
    return OK
