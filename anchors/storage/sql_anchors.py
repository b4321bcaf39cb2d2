"""The SQL store's anchors: blocks pinned to objects, and to places in a space (which count the space's revisions)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

from anchors.model import IDENTITY_POSE, Anchor, Block, space_place
from anchors.storage.change_events import Change
from anchors.storage.database import Row, Transaction
from anchors.storage.interface import new_id
from anchors.storage.sql_blocks import SQLBlocks


def _anchor(row: Row, prefix: str = "") -> Anchor:
    space_pose = row["space_pose"]
    return Anchor(
        id=row[prefix + "id"],
        block_id=row["block_id"],
        object_id=row["object_id"],
        pose=tuple(json.loads(row["pose"])),
        owner=row[prefix + "owner"],
        created_at=row[prefix + "created_at"],
        space_id=row["space_id"],
        space_pose=tuple(json.loads(space_pose)) if space_pose is not None else None,
    )


class SQLAnchors(SQLBlocks):
    """Anchors in SQL."""

    def insert_anchor(
        self, block_id: str, object_id: str, pose: tuple[float, ...], owner: str, max_per_owner: int | None = None
    ) -> Anchor | None:
        anchor = Anchor(new_id("anc"), block_id, object_id, tuple(pose), owner, time.time())

        def run(tx: Transaction) -> bool:
            if max_per_owner is not None:
                count = tx.execute(
                    "SELECT COUNT(*) AS n FROM anchors WHERE object_id = ? AND owner = ?", (object_id, owner)
                ).fetchone()["n"]
                if count >= max_per_owner:
                    return False
            tx.execute(
                "INSERT INTO anchors (id, block_id, object_id, pose, owner, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (anchor.id, block_id, object_id, json.dumps(list(pose)), owner, anchor.created_at),
            )
            tx.changed(Change("anchor", anchor.id, "created", parent=block_id))
            return True

        return anchor if self._db.transaction(run) else None

    def get_anchor(self, anchor_id: str) -> Anchor | None:
        row = self._db.query_one("SELECT * FROM anchors WHERE id = ?", (anchor_id,))
        return _anchor(row) if row else None

    def delete_anchor(self, anchor_id: str) -> int | None:
        def run(tx: Transaction) -> int | None:
            row = tx.execute("DELETE FROM anchors WHERE id = ? RETURNING block_id, space_id", (anchor_id,)).fetchone()
            if row is None:
                return None
            tx.changed(Change("anchor", anchor_id, "deleted", parent=row["block_id"], space=row["space_id"]))
            return self._revision(tx, row["space_id"]) if row["space_id"] else None

        return self._db.transaction(run)

    def anchors_on(self, object_ids: Iterable[str]) -> list[tuple[Anchor, Block]]:
        ids = list(dict.fromkeys(object_ids))
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        rows = self._db.query(
            "SELECT a.id AS a_id, a.block_id, a.object_id, a.pose, a.owner AS a_owner, a.created_at AS a_created_at,"
            f" a.space_id, a.space_pose, b.* FROM anchors a JOIN blocks b ON b.id = a.block_id WHERE a.object_id IN ({marks})"
            " ORDER BY a.created_at",
            ids,
        )
        blocks = {b.id: b for b in self._with_children(list({r["id"]: r for r in rows}.values()))}
        return [(_anchor(r, "a_"), blocks[r["id"]]) for r in rows]

    @staticmethod
    def _revision(tx: Transaction, space_id: str) -> int:
        row = tx.execute("SELECT revision FROM spaces WHERE id = ?", (space_id,)).fetchone()
        return row["revision"] if row is not None else 0

    def insert_space_anchor(self, block_id: str, space_id: str, space_pose: tuple[float, ...],
                            owner: str) -> tuple[Anchor, int]:
        anchor_id = new_id("anc")
        anchor = Anchor(anchor_id, block_id, space_place(space_id, anchor_id), IDENTITY_POSE, owner, time.time(),
                        space_id, tuple(space_pose))

        def run(tx: Transaction) -> int:
            tx.execute(
                "INSERT INTO anchors (id, block_id, object_id, pose, owner, created_at, space_id, space_pose)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (anchor.id, block_id, anchor.object_id, json.dumps(list(IDENTITY_POSE)), owner, anchor.created_at,
                 space_id, json.dumps(list(space_pose))),
            )
            tx.changed(Change("anchor", anchor.id, "created", parent=block_id, space=space_id))
            return self._revision(tx, space_id)

        return anchor, self._db.transaction(run)

    def move_space_anchor(self, anchor_id: str, space_pose: tuple[float, ...]) -> tuple[Anchor, int] | None:
        def run(tx: Transaction) -> int | None:
            row = tx.execute("SELECT block_id, space_id FROM anchors WHERE id = ?", (anchor_id,)).fetchone()
            if row is None or row["space_id"] is None:
                return None
            tx.execute("UPDATE anchors SET space_pose = ? WHERE id = ?", (json.dumps(list(space_pose)), anchor_id))
            tx.changed(Change("anchor", anchor_id, "moved", parent=row["block_id"], space=row["space_id"]))
            return self._revision(tx, row["space_id"])

        revision = self._db.transaction(run)
        anchor = self.get_anchor(anchor_id) if revision is not None else None
        return (anchor, revision) if anchor is not None else None

    def space_anchors(self, space_id: str) -> tuple[int, list[Anchor]]:
        def read(tx: Transaction) -> tuple[Row | None, list[Row]]:
            row = tx.execute("SELECT revision FROM spaces WHERE id = ?", (space_id,)).fetchone()
            rows = tx.execute("SELECT * FROM anchors WHERE space_id = ? ORDER BY created_at", (space_id,)).fetchall()
            return row, rows

        row, rows = self._db.snapshot(read)
        return (row["revision"] if row is not None else 0), [_anchor(r) for r in rows]
