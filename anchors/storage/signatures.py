"""Stored appearance signatures: how known physical objects look, so they keep their ids.

The bytes are opaque here (the vision side encodes and decodes them). Each row
is one view of one object instance; `taught` rows are objects a user asked the
service to remember, and only their teacher may forget them. The table lives
in the store's database (each store's schema creates it), so every replica on
one PostgreSQL database knows the same objects; a row's `seq` orders the rows
and lets a replica read only those added since it last looked (`added_after`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from anchors.storage.change_events import Change

if TYPE_CHECKING:
    from anchors.storage.database import Database, Transaction

_COLUMNS = "seq, instance_id, label, taught, owner, data, created_at"


@dataclass(frozen=True)
class StoredSignature:
    instance_id: str
    label: str
    taught: bool
    owner: str | None
    data: bytes
    created_at: float
    seq: int = 0


def _signature(row: dict) -> StoredSignature:
    return StoredSignature(row["instance_id"], row["label"], bool(row["taught"]), row["owner"], bytes(row["data"]),
                           row["created_at"], row["seq"])


class SignatureStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def origin(self) -> str:
        """The name of this process in the changes it makes (`anchors.storage.change_events.Change.origin`)."""
        return self._db.origin

    def add(self, instance_id: str, label: str, data: bytes, *, taught: bool = False, owner: str | None = None) -> int:
        """Store one view; its `seq`."""

        def run(tx: Transaction) -> int:
            seq = tx.execute(
                "INSERT INTO signatures (instance_id, label, taught, owner, data, created_at) VALUES (?, ?, ?, ?, ?, ?)"
                " RETURNING seq",
                (instance_id, label, int(taught), owner, data, time.time()),
            ).fetchone()["seq"]
            tx.changed(Change("signature", instance_id, "added", seq=seq))
            return seq

        return self._db.transaction(run)

    def all(self, *, taught: bool | None = None) -> list[StoredSignature]:
        return self.added_after(0, taught=taught)

    def added_after(self, seq: int, *, taught: bool | None = None) -> list[StoredSignature]:
        """The views stored after `seq`, in order."""
        sql = f"SELECT {_COLUMNS} FROM signatures WHERE seq > ?"
        params: tuple[int, ...] = (seq,)
        if taught is not None:
            sql += " AND taught = ?"
            params += (int(taught),)
        return [_signature(r) for r in self._db.query(sql + " ORDER BY seq", params)]

    def taught_ids(self) -> set[str]:
        return {r["instance_id"] for r in self._db.query("SELECT DISTINCT instance_id FROM signatures WHERE taught = 1")}

    def taught_by(self, owner: str) -> list[StoredSignature]:
        return [s for s in self.all(taught=True) if s.owner == owner]

    def forget(self, instance_id: str, owner: str) -> bool:
        """Delete a taught object's signatures; False when `owner` taught no such object."""

        def run(tx: Transaction) -> bool:
            count = tx.execute(
                "DELETE FROM signatures WHERE instance_id = ? AND taught = 1 AND owner = ?", (instance_id, owner)
            ).rowcount
            if count:
                tx.changed(Change("signature", instance_id, "forgotten"))
            return count > 0

        return self._db.transaction(run)
