"""The SQL store's blocks: sealed under their owner's data key, ordered among their siblings, stamped for readers."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from anchors.crypto import SealedDataError, block_aad, open_sealed, seal
from anchors.model import Block
from anchors.storage.change_events import Change
from anchors.storage.database import Row, Transaction
from anchors.storage.interface import NewBlock
from anchors.storage.schema import NEXT_SEQ
from anchors.storage.sql_keys import SQLKeys

_NEXT_SEQ = NEXT_SEQ
"""A block written gets the stamp its change-log row gets (the log's triggers run right after)."""
CHAIN = """
WITH RECURSIVE chain(id, parent, owner, public) AS (
    SELECT id, parent, owner, public FROM blocks WHERE id = :block
    UNION ALL SELECT b.id, b.parent, b.owner, b.public FROM blocks b JOIN chain c ON b.id = c.parent
)
"""
"""A block and the blocks above it, up to its root (`:block` names it)."""


def _siblings_of(parent: str | None) -> tuple[str, dict[str, Any]]:
    """A condition on `parent` that an index serves on both databases (PostgreSQL's IS NOT DISTINCT FROM
    would not use one)."""
    return ("parent = :parent", {"parent": parent}) if parent is not None else ("parent IS NULL", {})


class SQLBlocks(SQLKeys):
    """Blocks in SQL."""

    @staticmethod
    def _seal_body(aead: AESGCM, block_id: str, title: str, content: Any) -> bytes:
        return seal(aead, json.dumps([title, content], separators=(",", ":")).encode(), block_aad(block_id))

    def _block(self, row: Row, children: tuple[str, ...] = ()) -> Block:
        try:
            sealed = bytes(row["body"])
            title, content = json.loads(open_sealed(self._owner_key(row["owner"]), sealed, block_aad(row["id"])))
        except SealedDataError as exc:
            raise SealedDataError(f"block {row['id']}: {exc}") from None
        return Block(
            id=row["id"],
            kind=row["kind"],
            owner=row["owner"],
            title=title,
            content=content,
            version=row["version"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            parent=row["parent"],
            children=children,
            public=bool(row["public"]),
        )

    @staticmethod
    def _place(tx: Transaction, block_id: str, parent: str | None, index: int | None) -> None:
        """Set the block's position among its new siblings; with an index, siblings are renumbered."""
        siblings_of, params = _siblings_of(parent)
        if index is None:
            tx.execute(
                "UPDATE blocks SET position = (SELECT COALESCE(MAX(position), 0) + 1 FROM blocks"
                f" WHERE {siblings_of} AND id != :id) WHERE id = :id",
                {**params, "id": block_id},
            )
            return
        siblings = [
            r["id"] for r in tx.execute(
                f"SELECT id FROM blocks WHERE {siblings_of} AND id != :id ORDER BY position", {**params, "id": block_id}
            ).fetchall()
        ]
        siblings.insert(max(0, min(index, len(siblings))), block_id)
        tx.executemany("UPDATE blocks SET position = ? WHERE id = ?", [(i + 1, bid) for i, bid in enumerate(siblings)])

    def insert_blocks(self, owner: str, blocks: Sequence[NewBlock]) -> list[Block]:
        now = time.time()
        key = self._owner_key(owner, create=True)
        bodies = [self._seal_body(key, new.id, new.title, new.content) for new in blocks]
        batch = {new.id for new in blocks}

        def run(tx: Transaction) -> None:
            seq = 0
            for new, body in zip(blocks, bodies):
                seq = tx.execute(
                    "INSERT INTO blocks (id, kind, owner, parent, position, body, version, seq,"
                    f" created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, 1, {_NEXT_SEQ}, ?, ?) RETURNING seq",
                    (new.id, new.kind, owner, new.parent, body, now, now),
                ).fetchone()["seq"]
                self._place(tx, new.id, new.parent, new.index)
            tx.changed(*(Change("block", new.id, "created", seq=seq, parent=new.parent)
                         for new in blocks if new.parent not in batch))

        self._db.transaction(run)
        children: dict[str, list[str]] = {}
        for new in blocks:
            if new.parent is not None:
                children.setdefault(new.parent, []).append(new.id)
        return [
            Block(b.id, b.kind, owner, b.title, b.content, 1, now, now, b.parent, tuple(children.get(b.id, ())))
            for b in blocks
        ]

    def _children_ids(self, parent_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        if not parent_ids:
            return {}
        marks = ", ".join("?" * len(parent_ids))
        rows = self._db.query(f"SELECT parent, id FROM blocks WHERE parent IN ({marks}) ORDER BY position", parent_ids)
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(row["parent"], []).append(row["id"])
        return {k: tuple(v) for k, v in found.items()}

    def _with_children(self, rows: Sequence[Row]) -> list[Block]:
        children = self._children_ids([r["id"] for r in rows if r["kind"] != "row"])
        return [self._block(r, children.get(r["id"], ())) for r in rows]

    def get_block(self, block_id: str) -> Block | None:
        row = self._db.query_one("SELECT * FROM blocks WHERE id = ?", (block_id,))
        return self._with_children([row])[0] if row else None

    def children(self, block_id: str) -> list[Block]:
        return self._with_children(self._db.query("SELECT * FROM blocks WHERE parent = ? ORDER BY position", (block_id,)))

    def update_block(self, block_id: str, title: str, content: Any, expected_version: int) -> Block | None:
        row = self._db.query_one("SELECT owner FROM blocks WHERE id = ?", (block_id,))
        if row is None:
            return None
        body = self._seal_body(self._owner_key(row["owner"]), block_id, title, content)

        def run(tx: Transaction) -> bool:
            updated = tx.execute(
                f"UPDATE blocks SET body = ?, version = version + 1, seq = {_NEXT_SEQ}, updated_at = ?"
                " WHERE id = ? AND version = ? RETURNING seq, parent",
                (body, time.time(), block_id, expected_version),
            ).fetchone()
            if updated is not None:
                tx.changed(Change("block", block_id, "updated", seq=updated["seq"], parent=updated["parent"]))
            return updated is not None

        return self.get_block(block_id) if self._db.transaction(run) else None

    def move_block(self, block_id: str, parent: str | None, index: int | None) -> None:
        def run(tx: Transaction) -> None:
            moved = tx.execute(
                f"UPDATE blocks SET parent = ?, seq = {_NEXT_SEQ} WHERE id = ? RETURNING seq", (parent, block_id)
            ).fetchone()
            self._place(tx, block_id, parent, index)
            if moved is not None:
                tx.changed(Change("block", block_id, "moved", seq=moved["seq"], parent=parent))

        self._db.transaction(run)

    def delete_block(self, block_id: str) -> None:
        def run(tx: Transaction) -> None:
            deleted = tx.execute("DELETE FROM blocks WHERE id = ? RETURNING parent", (block_id,)).fetchone()
            if deleted is not None:
                tx.changed(Change("block", block_id, "deleted", parent=deleted["parent"]))

        self._db.transaction(run)

    def ancestors(self, block_id: str) -> list[str]:
        rows = self._db.query(CHAIN + "SELECT id FROM chain", {"block": block_id})
        return [r["id"] for r in rows[1:]]

    def stamp(self, block_id: str) -> tuple[int, int]:
        row = self._db.query_one(
            "SELECT COUNT(*) AS n, COALESCE(MAX(seq), 0) AS top FROM blocks WHERE id = :id OR parent = :id",
            {"id": block_id},
        )
        return (row["n"], row["top"]) if row else (0, 0)


    def versions(self, block_id: str) -> tuple[int, list[tuple[str, int]]] | None:
        rows = self._db.query(
            "SELECT id, version FROM blocks WHERE id = :id OR parent = :id ORDER BY position", {"id": block_id}
        )
        own = [r["version"] for r in rows if r["id"] == block_id]
        if not own:
            return None
        return own[0], [(r["id"], r["version"]) for r in rows if r["id"] != block_id]


    def readable_blocks(self, user_id: str) -> list[Block]:
        rows = self._db.query(
            "SELECT * FROM blocks b WHERE (b.parent IS NULL AND b.owner = :user)"
            " OR EXISTS (SELECT 1 FROM shares s WHERE s.block_id = b.id AND s.user_id = :user)"
            " ORDER BY created_at, position",
            {"user": user_id},
        )
        return self._with_children(rows)

    def block_count(self) -> int:
        return self._db.query_one("SELECT COUNT(*) AS n FROM blocks")["n"]
