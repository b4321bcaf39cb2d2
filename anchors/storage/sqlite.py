"""SQLite store: one file, WAL mode, every write committed before it returns.

The queries, row mapping and encryption are the SQL store's (`anchors.storage.sql_store`);
this module opens the file, keeps the service key beside it by default, and
upgrades files written by earlier versions (`anchors.storage.sqlite_schema`). Changes
are reported to the watchers of this process only: SQLite is for one service
process (several replicas share a PostgreSQL store).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from anchors.crypto import ServiceKey, default_key_file
from anchors.storage import sqlite_schema
from anchors.storage.change_events import Change, Watcher
from anchors.storage.database import Cursor, Database, Params, Row, T, Transaction, tell_watchers
from anchors.storage.schema import SCHEMA_VERSION
from anchors.storage.sql_keys import key_from_file
from anchors.storage.sql_store import SQLStore


class _SQLiteTransaction(Transaction):
    def __init__(self, db: sqlite3.Connection, origin: str) -> None:
        super().__init__(origin)
        self._db = db

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        return self._db.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self._db.executemany(sql, rows)


class SQLiteDatabase(Database):
    """One connection, shared by all threads under a lock (SQLite has one writer at a time anyway)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._watchers: list[Watcher] = []
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def transaction(self, work: Callable[[Transaction], T]) -> T:
        tx = _SQLiteTransaction(self._db, self.origin)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = work(tx)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        self._publish(tx.changes)
        return result

    def snapshot(self, work: Callable[[Transaction], T]) -> T:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                return work(_SQLiteTransaction(self._db, self.origin))
            finally:
                self._db.execute("COMMIT")

    def execute_alone(self, sql: str) -> None:
        """A statement that runs outside any transaction (VACUUM, checkpoints)."""
        with self._lock:
            self._db.execute(sql)

    def watch(self, watcher: Watcher) -> None:
        self._watchers.append(watcher)

    def _publish(self, changes: list[Change]) -> None:
        if changes:
            tell_watchers(list(self._watchers), changes)

    def close(self) -> None:
        with self._lock:
            self._db.close()


class SQLiteStore(SQLStore):
    """A store in one SQLite file (or `:memory:`), safe to share between threads.

    `service_key` opens the store's data keys. Without one, the key is read from
    `key_file` (default: `<store>.key` beside the store); a new store creates
    that file (mode 0600) and sets `created_key_file`. A store that exists and
    whose key is missing or different is refused with `ServiceKeyError`.
    """

    def __init__(
        self, path: str | Path, service_key: ServiceKey | None = None, key_file: str | Path | None = None
    ) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            if not os.path.exists(self.path):
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))  # so its WAL is 0600 too
        self.created_key_file: Path | None = None
        db = SQLiteDatabase(self.path)
        try:
            version = sqlite_schema.stored_format(db, self.path)
            fresh = version != SCHEMA_VERSION
            super().__init__(db, service_key or self._key_from_file(key_file, fresh), self.path)
            self._open(version)
        except BaseException:
            db.close()
            raise

    def _open(self, version: int) -> None:
        key_check = self._service_key.key_check()
        if version == 0:
            self._db.transaction(lambda tx: sqlite_schema.create(tx, key_check))
        elif version == 2:
            self._encrypt_format_2()
        else:
            self.check_service_key()
            if version == 3:
                self._db.transaction(sqlite_schema.add_spaces)
        self._db.transaction(sqlite_schema.add_signatures)
        self._db.transaction(sqlite_schema.add_change_log)

    def _key_from_file(self, key_file: str | Path | None, fresh: bool) -> ServiceKey:
        if self.path == ":memory:" and key_file is None:
            return ServiceKey.generate()
        path = Path(key_file) if key_file is not None else default_key_file(self.path)
        key, self.created_key_file = key_from_file(path, fresh, self.path)
        return key

    def _encrypt_format_2(self) -> None:
        """Seal a format-2 store's plain titles and content in place, then rewrite the file without them."""

        def seal_blocks(tx: Transaction) -> None:
            keys: dict[str, AESGCM] = {}
            for owner in {r["owner"] for r in tx.execute("SELECT owner FROM blocks").fetchall()}:
                keys[owner] = AESGCM(self._new_owner_key(tx, owner))
            rows = tx.execute("SELECT id, owner, title, content FROM blocks").fetchall()
            tx.executemany("UPDATE blocks SET body = ? WHERE id = ?", [
                (self._seal_body(keys[r["owner"]], r["id"], r["title"], json.loads(r["content"])), r["id"]) for r in rows
            ])

        key_check = self._service_key.key_check()
        self._db.transaction(lambda tx: sqlite_schema.seal_format_2(tx, key_check, seal_blocks))
        self._db.execute_alone("VACUUM")
        self._db.execute_alone("PRAGMA wal_checkpoint(TRUNCATE)")

    def journal_mode(self) -> str:
        return self._db.query_one("PRAGMA journal_mode")["journal_mode"]

    def format_version(self) -> int:
        return self._db.query_one("PRAGMA user_version")["user_version"]

