"""Stored appearance signatures: how known physical objects look, so they keep their ids.

The bytes are opaque here (the vision side encodes and decodes them). Each row
is one view of one object instance; `taught` rows are objects a user asked the
service to remember, and only their teacher may forget them. The table lives
in the service's SQLite file, on a connection of its own.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS signatures (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    label TEXT NOT NULL,
    taught INTEGER NOT NULL,
    owner TEXT,
    data BLOB NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS signatures_by_instance ON signatures(instance_id);
"""


@dataclass(frozen=True)
class StoredSignature:
    instance_id: str
    label: str
    taught: bool
    owner: str | None
    data: bytes
    created_at: float


class SignatureStore:
    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)

    def add(self, instance_id: str, label: str, data: bytes, *, taught: bool = False, owner: str | None = None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO signatures (instance_id, label, taught, owner, data, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (instance_id, label, int(taught), owner, data, time.time()),
            )

    def all(self, *, taught: bool | None = None) -> list[StoredSignature]:
        sql = "SELECT instance_id, label, taught, owner, data, created_at FROM signatures"
        params: tuple[int, ...] = ()
        if taught is not None:
            sql += " WHERE taught = ?"
            params = (int(taught),)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq", params).fetchall()
        return [StoredSignature(r[0], r[1], bool(r[2]), r[3], bytes(r[4]), r[5]) for r in rows]

    def taught_by(self, owner: str) -> list[StoredSignature]:
        return [s for s in self.all(taught=True) if s.owner == owner]

    def forget(self, instance_id: str, owner: str) -> bool:
        """Delete a taught object's signatures; False when `owner` taught no such object."""
        with self._lock:
            count = self._db.execute(
                "DELETE FROM signatures WHERE instance_id = ? AND taught = 1 AND owner = ?", (instance_id, owner)
            ).rowcount
        return count > 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
