"""The composition root: Pathways assembled from its parts, shared by every command.

`build` makes the engine from the files alone (checks and tests); `open_pathways` makes
everything a running bot uses: the store, the engine on the stored directory, the
conversations, the sweeper and the admin service, handed to whichever channel runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.admin.service import Admin
from bot.config import Settings
from bot.conversation import Conversations, wipe_lease
from bot.directory.files import read_folder
from bot.directory.index import DirectoryIndex, LiveDirectory
from bot.directory.start_codes import StartCode, read_start_codes
from bot.directory.validate import DirectoryError
from bot.engine.context import Clock, Deps
from bot.engine.flows import FlowError, load_flows
from bot.engine.lint import lint
from bot.engine.machine import Engine
from bot.engine.model import Button
from bot.engine.spec import FlowSpec
from bot.i18n import available_locales, translator
from bot.logs import RedactingFilter
from bot.store.interface import Store, Transaction
from bot.store.sqlite import SqliteStore
from bot.sweeper import Sweeper
from bot.words.check import word_problems
from bot.words.lists import WordsError, read_word_lists
from bot.words.reader import TypedReader


class StartupError(Exception):
    """Pathways cannot start. The message says what to fix."""


class DatabaseUnavailable(StartupError):
    """The database did not answer: worth trying again (a failover, a reboot), unlike a
    mistake in the settings, so the service manager restarts Pathways on it."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Parts:
    spec: FlowSpec
    directory: LiveDirectory
    engine: Engine
    locales: tuple[str, ...]
    words: TypedReader


def load_spec(flows_dir: Path) -> FlowSpec:
    try:
        return load_flows(flows_dir)
    except FlowError as exc:
        raise StartupError("The flows have problems:\n" + str(exc)) from exc


def bundled_directory(directory_dir: Path) -> DirectoryIndex:
    try:
        data = read_folder(directory_dir)
    except DirectoryError as exc:
        raise StartupError("The service directory has problems:\n" + str(exc)) from exc
    return DirectoryIndex(data.areas, data.services)


def start_codes(directory_dir: Path, index: DirectoryIndex) -> dict[str, StartCode]:
    try:
        return read_start_codes(directory_dir, {a.id: a for a in index.areas()})
    except DirectoryError as exc:
        raise StartupError("The start codes have problems:\n" + str(exc)) from exc


def typed_reader(spec: FlowSpec, flows_dir: Path, locales_dir: Path) -> TypedReader:
    """What typed words mean, from flows/words/ and the translations of the buttons."""
    locales = available_locales(locales_dir)
    try:
        lists = read_word_lists(flows_dir)
    except WordsError as exc:
        raise StartupError("The typed-word lists have problems:\n" + str(exc)) from exc

    def label(button: Button, locale: str) -> str:
        return translator(locale, locales_dir).label(button)

    return TypedReader(spec, lists, label, locales)


def assemble(
    spec: FlowSpec,
    index: DirectoryIndex,
    words: TypedReader,
    locales: tuple[str, ...],
    clock: Clock = utc_now,
    version: int = 0,
    codes: Mapping[str, StartCode] | None = None,
) -> Parts:
    """Check the flows against this directory, these languages and these typed words, and
    build the engine."""
    problems = [*map(str, lint(spec, index, locales)), *word_problems(spec, words)]
    if problems:
        raise StartupError("The flows have problems:\n" + "\n".join(problems))
    directory = LiveDirectory(index, version)
    deps = Deps(
        directory=directory, clock=clock, locales=locales, start_codes=codes or {}, words=words
    )
    engine = Engine(spec, deps)
    return Parts(spec, directory, engine, locales, words)


def build(flows_dir: Path, directory_dir: Path, locales_dir: Path, clock: Clock = utc_now) -> Parts:
    """Everything from the files alone (the bundled directory), for checks and tests."""
    spec = load_spec(flows_dir)
    words = typed_reader(spec, flows_dir, locales_dir)
    index = bundled_directory(directory_dir)
    codes = start_codes(directory_dir, index)
    return assemble(spec, index, words, available_locales(locales_dir), clock, 0, codes)


async def seed_if_empty(tx: Transaction, folder: Path, clock: Clock) -> bool:
    """Fill an empty directory from the bundled files. True when it did."""
    if not await tx.directory_is_empty():
        return False
    await tx.apply_directory(read_folder(folder), clock())
    return True


async def open_parts(
    store: Store, flows_dir: Path, directory_dir: Path, locales_dir: Path, clock: Clock = utc_now
) -> Parts:
    """Everything as a running bot uses it: the directory from the database, filled from the
    bundled files the first time."""
    spec = load_spec(flows_dir)
    try:
        async with store.transaction() as tx:
            await seed_if_empty(tx, directory_dir, clock)
            data = await tx.load_directory()
            version = await tx.directory_version()
    except DirectoryError as exc:
        raise StartupError("The service directory has problems:\n" + str(exc)) from exc
    index = DirectoryIndex(data.areas, data.services)
    codes = start_codes(directory_dir, index)
    words = typed_reader(spec, flows_dir, locales_dir)
    return assemble(spec, index, words, available_locales(locales_dir), clock, version, codes)


@dataclass(frozen=True)
class Pathways:
    """A running Pathways, whatever the channel: built once, handed to the channels."""

    store: Store
    parts: Parts
    conversations: Conversations
    sweeper: Sweeper
    admin: Admin

    async def close(self) -> None:
        await self.store.close()


async def open_store(settings: Settings, db_path: Path | None = None) -> Store:
    """The configured database, migrated: PostgreSQL when PATHWAYS_DATABASE_URL is set, else
    the SQLite file (`db_path`, or PATHWAYS_DB)."""
    if not settings.database_url:
        return await SqliteStore.open(db_path or settings.db_path)
    # Only where PostgreSQL is used.
    from psycopg import Error as PostgresError
    from psycopg import OperationalError as CannotConnect

    from bot.store.postgres import PostgresStore

    try:
        return await PostgresStore.open(settings.database_url)
    except PostgresError as exc:
        # libpq's words say what failed (the host, the user, the database); never the password.
        reason = RedactingFilter(settings.secrets()).redact(str(exc).strip())
        # Not connecting (down, failing over, or refusing the login) is tried again by the
        # service manager; an error once connected (no right to migrate, say) is a setting.
        failure = DatabaseUnavailable if isinstance(exc, CannotConnect) else StartupError
        raise failure(
            "Cannot open the PostgreSQL database PATHWAYS_DATABASE_URL names "
            f"({type(exc).__name__}): {reason}"
        ) from None


async def open_pathways(
    settings: Settings, clock: Clock = utc_now, db_path: Path | None = None
) -> Pathways:
    """Open the configured database and build everything on it (`db_path`: another SQLite
    file, as the terminal chat's --db names, unless PostgreSQL is configured)."""
    store = await open_store(settings, db_path)
    try:
        parts = await open_parts(
            store, settings.flows_dir, settings.directory_dir, settings.locales_dir, clock
        )
    except BaseException:
        await store.close()
        raise
    idle_after = timedelta(minutes=settings.idle_minutes)
    # Several instances may share the database: a wipe stays claimed by whoever does it
    # for this long (`bot.conversation.wipe_lease`).
    lease = wipe_lease(settings.sweep_seconds)
    return Pathways(
        store=store,
        parts=parts,
        conversations=Conversations(
            parts.engine, store, clock, idle_after, parts.directory, wipe_lease=lease
        ),
        sweeper=Sweeper(store, clock, idle_after, settings.stats_days, lease=lease),
        admin=Admin(store, parts.spec, settings.owner_ids, clock),
    )
