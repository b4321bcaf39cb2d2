"""The SQL store's keys: the service key that opens the store, and each owner's data key, wrapped by it.

The data keys are stored wrapped by the service key, which is never stored;
each is unwrapped once and kept in memory. The key check (a value sealed by
the service key) tells a key that opens the store from one that does not.
"""

from __future__ import annotations

import time
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from anchors.crypto import SealedDataError, ServiceKey, ServiceKeyError, new_data_key
from anchors.storage.change_events import Change
from anchors.storage.database import Database, Transaction


def key_from_file(path: Path, fresh: bool, store: str) -> tuple[ServiceKey, Path | None]:
    """The service key in `path`; for a `fresh` store a new key is made there when the file does not exist
    (then the path is returned second)."""
    if path.exists():
        return ServiceKey.from_file(path), None
    if not fresh:
        raise ServiceKeyError(
            f"{store} is encrypted and its service key file {path} does not exist;"
            " give the key with --service-key-file or SPATIAL_SERVICE_KEY"
        )
    key = ServiceKey.generate()
    key.save(path)
    return key, path


def require_key_opens(key: ServiceKey, key_check: bytes | None, store: str) -> None:
    """Refuse a service key that does not open the store's key check (None: the store has none)."""
    if key_check is None or not key.opens(bytes(key_check)):
        raise ServiceKeyError(
            f"the service key given does not open {store}: it was encrypted under another key."
            " Give the key it was created or last rotated with (--service-key-file or SPATIAL_SERVICE_KEY)."
        )


class SQLKeys:
    """The store's database and keys; the other parts of the SQL store (`anchors.storage.sql_store`) build on it."""

    def __init__(self, db: Database, service_key: ServiceKey, location: str) -> None:
        self._db = db
        self._service_key = service_key
        self.location = location
        self._data_keys: dict[str, AESGCM] = {}

    def check_service_key(self) -> None:
        """Refuse a service key that does not open the store's key check."""
        row = self._db.query_one("SELECT sealed FROM key_check")
        require_key_opens(self._service_key, row["sealed"] if row else None, self.location)

    def _new_owner_key(self, tx: Transaction, owner: str) -> bytes:
        """A data key for `owner`, stored wrapped. The key check is read in the same transaction, so a process
        still running with a service key rotated away by another never writes a key the others cannot open."""
        check = tx.execute("SELECT sealed FROM key_check").fetchone()
        if check is not None and not self._service_key.opens(check["sealed"]):
            raise ServiceKeyError(f"the service key of {self.location} was rotated; start again with the new key")
        data_key = new_data_key()
        tx.execute(
            "INSERT INTO owner_keys (user_id, wrapped, created_at) VALUES (?, ?, ?)",
            (owner, self._service_key.wrap(data_key, owner), time.time()),
        )
        return data_key

    def _owner_key(self, owner: str, create: bool = False) -> AESGCM:
        """The owner's data key, unwrapped once and kept in memory; with `create`, made if missing."""
        aead = self._data_keys.get(owner)
        if aead is not None:
            return aead
        row = self._db.query_one("SELECT wrapped FROM owner_keys WHERE user_id = ?", (owner,))
        if row is None and create:
            self._db.transaction(lambda tx: tx.execute(
                "SELECT 1 AS found FROM owner_keys WHERE user_id = ?", (owner,)
            ).fetchone() or self._new_owner_key(tx, owner))
            row = self._db.query_one("SELECT wrapped FROM owner_keys WHERE user_id = ?", (owner,))
        if row is None:
            raise SealedDataError(f"the store has no data key for owner {owner}")
        aead = AESGCM(self._service_key.unwrap(bytes(row["wrapped"]), owner))
        self._data_keys[owner] = aead
        return aead

    def rotate_service_key(self, new_key: ServiceKey) -> int:
        """Rewrap every owner's data key under `new_key` in one transaction; returns how many.
        Block content is not re-encrypted: its data keys do not change."""

        def run(tx: Transaction) -> int:
            rows = tx.execute("SELECT user_id, wrapped FROM owner_keys").fetchall()
            tx.executemany("UPDATE owner_keys SET wrapped = ? WHERE user_id = ?", [
                (new_key.wrap(self._service_key.unwrap(bytes(r["wrapped"]), r["user_id"]), r["user_id"]), r["user_id"])
                for r in rows
            ])
            tx.execute("UPDATE key_check SET sealed = ? WHERE id = 1", (new_key.key_check(),))
            tx.changed(Change("service_key", "", "rotated"))
            return len(rows)

        count = self._db.transaction(run)
        self._service_key = new_key
        return count
