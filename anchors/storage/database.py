"""One SQL database as the SQL stores use it: statements in, rows by column name out, write transactions.

`anchors.storage.sql_store` writes its SQL once against this interface; SQLite
(`anchors.storage.sqlite`) and PostgreSQL (`anchors.storage.postgres`) implement it. The SQL
is written with `?` and `:name` placeholders, as SQLite reads them;
PostgreSQL's driver translates them. Rows are read by column name only.

A write transaction records the changes it made (`Transaction.changed`);
once it commits, the database hands them to its watchers (`watch`).

A database server that cannot be reached is a `StoreConnectionError`; a
location is written in messages as `shown` gives it, without its password.
"""

from __future__ import annotations

import logging
import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from anchors.storage.change_events import Change, Watcher

log = logging.getLogger("anchors.storage.database")

Params = Sequence[Any] | Mapping[str, Any]
Row = Mapping[str, Any]
T = TypeVar("T")


class StoreConnectionError(RuntimeError):
    """The database server a store's URL names could not be reached, or refused the connection."""


def shown(location: str | Path) -> str:
    """The location fit for messages and logs: a URL without its password."""
    return re.sub(r"^(\w[\w+.-]*://[^:/@]*):[^@/]*@", r"\1:***@", str(location))


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Transaction(ABC):
    """Statements run in one transaction, and the changes they made."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.changes: list[Change] = []

    @abstractmethod
    def execute(self, sql: str, params: Params = ()) -> Cursor: ...

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    def changed(self, *changes: Change) -> None:
        """Report `changes` to the database's watchers once this transaction commits (none if it rolls back)."""
        self.changes.extend(replace(c, origin=self.origin) for c in changes)


class Database(ABC):
    def __init__(self) -> None:
        self.origin = secrets.token_hex(6)
        """This process's name in the changes it makes."""

    @abstractmethod
    def query(self, sql: str, params: Params = ()) -> list[Row]:
        """The rows of one statement, run on its own."""

    def query_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    @abstractmethod
    def transaction(self, work: Callable[[Transaction], T]) -> T:
        """Run `work` in one write transaction and commit it, or roll it back if `work` raises.
        Write transactions run one at a time, on every database, so `seq` stamps grow in commit order."""

    @abstractmethod
    def snapshot(self, work: Callable[[Transaction], T]) -> T:
        """Run `work`'s reads in one transaction that sees one state of the database."""

    @abstractmethod
    def watch(self, watcher: Watcher) -> None:
        """Call `watcher` with the changes of each committed write transaction, from now on."""

    @abstractmethod
    def close(self) -> None: ...


def tell_watchers(watchers: Sequence[Watcher], changes: Sequence[Change]) -> None:
    """Hand `changes` to each watcher; one that fails is logged and the others still hear of them
    (the write they report is committed whatever a watcher does)."""
    for watcher in watchers:
        try:
            watcher(changes)
        except Exception:
            log.exception("a watcher of the store's changes failed")
