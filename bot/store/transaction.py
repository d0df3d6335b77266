"""A unit of work's statements, whichever database runs them."""

from __future__ import annotations

from bot.store.admin import AdminRows
from bot.store.dialect import Connection
from bot.store.directory import DirectoryRows
from bot.store.sessions import SessionRows
from bot.store.stats import CountRows
from bot.store.updates import HandledRows
from bot.store.wipes import WipeRows


class SqlTransaction(SessionRows, HandledRows, WipeRows, CountRows, DirectoryRows, AdminRows):
    """Every table's statements, on one connection inside one unit of work."""

    def __init__(self, db: Connection) -> None:
        self.db = db
