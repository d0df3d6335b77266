"""Assemble Pathways from its parts: flows, directory, engine. Shared by every command."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.directory.loader import DirectoryError
from bot.directory.memory import MemoryDirectory
from bot.engine.context import Clock, Deps
from bot.engine.flows import FlowError, load_flows
from bot.engine.lint import lint
from bot.engine.machine import Engine
from bot.engine.spec import FlowSpec
from bot.i18n import available_locales


class StartupError(Exception):
    """Pathways cannot start. The message says what to fix."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Parts:
    spec: FlowSpec
    directory: MemoryDirectory
    engine: Engine
    locales: tuple[str, ...]


def load_directory(directory_dir: Path) -> MemoryDirectory:
    try:
        return MemoryDirectory.from_folder(directory_dir)
    except DirectoryError as exc:
        raise StartupError("The service directory has problems:\n" + str(exc)) from exc


def build(flows_dir: Path, directory_dir: Path, locales_dir: Path, clock: Clock = utc_now) -> Parts:
    """Load and check everything, or raise StartupError listing every problem."""
    directory = load_directory(directory_dir)
    try:
        spec = load_flows(flows_dir)
    except FlowError as exc:
        raise StartupError("The flows have problems:\n" + str(exc)) from exc
    locales = available_locales(locales_dir)
    problems = lint(spec, directory, locales)
    if problems:
        raise StartupError("The flows have problems:\n" + "\n".join(map(str, problems)))
    engine = Engine(spec, Deps(directory=directory, clock=clock, locales=locales))
    return Parts(spec, directory, engine, locales)
