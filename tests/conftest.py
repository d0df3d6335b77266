"""Shared fixtures: the shipped flows and directory, a clock the test controls, a fresh db."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import Parts, build
from bot.conversation import Conversations
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


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "pathways.db")
    yield store
    await store.close()


@pytest.fixture
def conversations(parts: Parts, db: SqliteStore, clock: FakeClock) -> Conversations:
    return Conversations(parts.engine, db, clock, timedelta(minutes=15))


@pytest.fixture
def flows_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped flows, for tests that break them on purpose."""
    target = tmp_path / "flows"
    shutil.copytree(FLOWS, target)
    return target
