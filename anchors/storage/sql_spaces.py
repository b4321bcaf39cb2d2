"""The SQL store's spaces: their names, their maps (sealed under the owner's data key) and their revisions."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from anchors.crypto import SealedDataError, open_sealed, seal, space_aad
from anchors.model import Space
from anchors.storage.change_events import Change
from anchors.storage.database import Row, Transaction
from anchors.storage.interface import new_id
from anchors.storage.sql_keys import SQLKeys

_SPACE_COLUMNS = "id, owner, name, voxel_size, point_count, landmarks, created_at, updated_at, map_version, revision"


def _space(row: Row) -> Space:
    return Space(
        id=row["id"],
        owner=row["owner"],
        name=row["name"],
        voxel_size=row["voxel_size"],
        point_count=row["point_count"],
        landmarks={k: tuple(v) for k, v in json.loads(row["landmarks"]).items()},
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        map_version=row["map_version"],
        revision=row["revision"],
    )


class SQLSpaces(SQLKeys):
    """Spaces in SQL."""

    def insert_space(self, owner: str, name: str) -> Space:
        now = time.time()
        space = Space(new_id("spc"), owner, name, 0.05, 0, {}, now, now)

        def run(tx: Transaction) -> None:
            tx.execute(
                "INSERT INTO spaces (id, owner, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (space.id, owner, name, now, now),
            )
            tx.changed(Change("space", space.id, "created"))

        self._db.transaction(run)
        return space

    def get_space(self, space_id: str) -> Space | None:
        row = self._db.query_one(f"SELECT {_SPACE_COLUMNS} FROM spaces WHERE id = ?", (space_id,))
        return _space(row) if row else None

    def spaces_of(self, user_id: str) -> list[Space]:
        rows = self._db.query(
            f"SELECT {_SPACE_COLUMNS} FROM spaces s WHERE s.owner = :user"
            " OR EXISTS (SELECT 1 FROM space_shares h WHERE h.space_id = s.id AND h.user_id = :user)"
            " ORDER BY created_at",
            {"user": user_id},
        )
        return [_space(r) for r in rows]

    def _write_space(self, space_id: str, op: str, *statements: tuple[str, Any]) -> bool:
        """Run `statements` on the space in one transaction; False when there is no such space."""

        def run(tx: Transaction) -> bool:
            count = 0
            for sql, params in statements:
                count = tx.execute(sql, params).rowcount
            if count:
                tx.changed(Change("space", space_id, op))
            return count > 0

        return self._db.transaction(run)

    def rename_space(self, space_id: str, name: str) -> Space | None:
        self._write_space(space_id, "renamed", (
            "UPDATE spaces SET name = ?, updated_at = ? WHERE id = ?", (name, time.time(), space_id)
        ))
        return self.get_space(space_id)

    def set_space_map(self, space_id: str, points: np.ndarray, voxel_size: float,
                      landmarks: dict[str, tuple[float, ...]] | None) -> Space | None:
        row = self._db.query_one("SELECT owner FROM spaces WHERE id = ?", (space_id,))
        if row is None:
            return None
        raw = np.ascontiguousarray(points, dtype="<f4").tobytes()
        sealed = seal(self._owner_key(row["owner"], create=True), raw, space_aad(space_id))
        statements: list[tuple[str, Any]] = []
        if landmarks is not None:
            statements.append((
                "UPDATE spaces SET landmarks = ? WHERE id = ?", (json.dumps({k: list(v) for k, v in landmarks.items()}), space_id)
            ))
        statements.append((
            "UPDATE spaces SET points = ?, point_count = ?, voxel_size = ?, map_version = map_version + 1,"
            " updated_at = ? WHERE id = ?",
            (sealed, len(points), voxel_size, time.time(), space_id),
        ))
        self._write_space(space_id, "map", *statements)
        return self.get_space(space_id)

    def space_points(self, space_id: str) -> np.ndarray | None:
        row = self._db.query_one("SELECT owner, points FROM spaces WHERE id = ?", (space_id,))
        if row is None:
            return None
        if row["points"] is None:
            return np.empty((0, 3), dtype=np.float32)
        try:
            raw = open_sealed(self._owner_key(row["owner"]), bytes(row["points"]), space_aad(space_id))
        except SealedDataError as exc:
            raise SealedDataError(f"space {space_id}: {exc}") from None
        return np.frombuffer(raw, dtype="<f4").reshape(-1, 3).astype(np.float32)

    def delete_space(self, space_id: str) -> None:
        self._write_space(space_id, "deleted", ("DELETE FROM spaces WHERE id = ?", (space_id,)))

    def space_revision(self, space_id: str) -> int | None:
        row = self._db.query_one("SELECT revision FROM spaces WHERE id = ?", (space_id,))
        return row["revision"] if row is not None else None

    def space_map_version(self, space_id: str) -> int | None:
        row = self._db.query_one("SELECT map_version FROM spaces WHERE id = ?", (space_id,))
        return row["map_version"] if row is not None else None
