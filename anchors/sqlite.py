"""SQLite store: one file, WAL mode, every write committed before it returns."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from anchors.model import Anchor, Block, Role, User
from anchors.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS blocks (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL REFERENCES users(id),
    title TEXT NOT NULL,
    content TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS shares (
    block_id TEXT NOT NULL REFERENCES blocks(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('read', 'write')),
    PRIMARY KEY (block_id, user_id)
);
CREATE TABLE IF NOT EXISTS anchors (
    id TEXT PRIMARY KEY,
    block_id TEXT NOT NULL REFERENCES blocks(id) ON DELETE CASCADE,
    object_id TEXT NOT NULL,
    pose TEXT NOT NULL,
    owner TEXT NOT NULL REFERENCES users(id),
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS anchors_by_object ON anchors(object_id);
CREATE INDEX IF NOT EXISTS shares_by_user ON shares(user_id);
"""

_READABLE = "(b.owner = :user OR EXISTS (SELECT 1 FROM shares s WHERE s.block_id = b.id AND s.user_id = :user))"


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def _block(row: sqlite3.Row) -> Block:
    return Block(
        id=row["id"],
        kind=row["kind"],
        owner=row["owner"],
        title=row["title"],
        content=json.loads(row["content"]),
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _anchor(row: sqlite3.Row) -> Anchor:
    return Anchor(
        id=row["id"],
        block_id=row["block_id"],
        object_id=row["object_id"],
        pose=tuple(json.loads(row["pose"])),
        owner=row["owner"],
        created_at=row["created_at"],
    )


class SQLiteStore(Store):
    """A store in one SQLite file (or `:memory:`), safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

    def journal_mode(self) -> str:
        return self._query_one("PRAGMA journal_mode")[0]

    def _query(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _query_one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        rows = self._query(sql, params)
        return rows[0] if rows else None

    def _write(self, *statements: tuple[str, Any]) -> int:
        """Run statements in one transaction; returns the last statement's row count."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                count = 0
                for sql, params in statements:
                    count = self._db.execute(sql, params).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return count

    # users and tokens
    def create_user(self, name: str) -> User:
        user = User(id=_new_id("usr"), name=name)
        self._write(("INSERT INTO users (id, name) VALUES (?, ?)", (user.id, name)))
        return user

    def find_user(self, name: str) -> User | None:
        row = self._query_one("SELECT id, name FROM users WHERE name = ?", (name,))
        return User(row["id"], row["name"]) if row else None

    def add_token(self, user_id: str, token_hash: str, label: str) -> None:
        self._write(
            (
                "INSERT INTO tokens (token_hash, user_id, label, created_at) VALUES (?, ?, ?, ?)",
                (token_hash, user_id, label, time.time()),
            )
        )

    def revoke_tokens(self, user_id: str, label: str) -> int:
        return self._write(("DELETE FROM tokens WHERE user_id = ? AND label = ?", (user_id, label)))

    def user_for_token_hash(self, token_hash: str) -> User | None:
        row = self._query_one(
            "SELECT u.id, u.name FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?",
            (token_hash,),
        )
        return User(row["id"], row["name"]) if row else None

    # blocks
    def insert_block(self, owner: str, kind: str, title: str, content: Any) -> Block:
        now = time.time()
        block = Block(_new_id("blk"), kind, owner, title, content, 1, now, now)
        self._write(
            (
                "INSERT INTO blocks (id, kind, owner, title, content, version, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (block.id, kind, owner, title, json.dumps(content), 1, now, now),
            )
        )
        return block

    def get_block(self, block_id: str) -> Block | None:
        row = self._query_one("SELECT * FROM blocks WHERE id = ?", (block_id,))
        return _block(row) if row else None

    def update_block(self, block_id: str, title: str, content: Any, expected_version: int) -> Block | None:
        changed = self._write(
            (
                "UPDATE blocks SET title = ?, content = ?, version = version + 1, updated_at = ?"
                " WHERE id = ? AND version = ?",
                (title, json.dumps(content), time.time(), block_id, expected_version),
            )
        )
        return self.get_block(block_id) if changed else None

    def delete_block(self, block_id: str) -> None:
        self._write(("DELETE FROM blocks WHERE id = ?", (block_id,)))

    def readable_blocks(self, user_id: str) -> list[Block]:
        rows = self._query(f"SELECT * FROM blocks b WHERE {_READABLE} ORDER BY created_at", {"user": user_id})
        return [_block(r) for r in rows]

    def block_count(self) -> int:
        return self._query_one("SELECT COUNT(*) FROM blocks")[0]

    # sharing
    def set_share(self, block_id: str, user_id: str, role: Role) -> None:
        self._write(
            (
                "INSERT INTO shares (block_id, user_id, role) VALUES (?, ?, ?)"
                " ON CONFLICT (block_id, user_id) DO UPDATE SET role = excluded.role",
                (block_id, user_id, role),
            )
        )

    def role_of(self, block_id: str, user_id: str) -> Role | None:
        row = self._query_one(
            "SELECT CASE WHEN b.owner = :user THEN 'owner' ELSE"
            " (SELECT role FROM shares s WHERE s.block_id = b.id AND s.user_id = :user) END AS role"
            " FROM blocks b WHERE b.id = :block",
            {"user": user_id, "block": block_id},
        )
        return row["role"] if row else None

    # anchors
    def insert_anchor(self, block_id: str, object_id: str, pose: tuple[float, ...], owner: str) -> Anchor:
        anchor = Anchor(_new_id("anc"), block_id, object_id, tuple(pose), owner, time.time())
        self._write(
            (
                "INSERT INTO anchors (id, block_id, object_id, pose, owner, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (anchor.id, block_id, object_id, json.dumps(list(pose)), owner, anchor.created_at),
            )
        )
        return anchor

    def get_anchor(self, anchor_id: str) -> Anchor | None:
        row = self._query_one("SELECT * FROM anchors WHERE id = ?", (anchor_id,))
        return _anchor(row) if row else None

    def delete_anchor(self, anchor_id: str) -> None:
        self._write(("DELETE FROM anchors WHERE id = ?", (anchor_id,)))

    def readable_anchors(self, user_id: str, object_ids: Iterable[str]) -> list[tuple[Anchor, Block]]:
        ids = list(dict.fromkeys(object_ids))
        if not ids:
            return []
        marks = ", ".join(f":o{i}" for i in range(len(ids)))
        params: dict[str, Any] = {f"o{i}": oid for i, oid in enumerate(ids)}
        params["user"] = user_id
        rows = self._query(
            "SELECT a.id AS a_id, a.block_id, a.object_id, a.pose, a.owner AS a_owner, a.created_at AS a_created,"
            " b.* FROM anchors a JOIN blocks b ON b.id = a.block_id"
            f" WHERE a.object_id IN ({marks}) AND {_READABLE} ORDER BY a.created_at",
            params,
        )
        return [
            (
                Anchor(r["a_id"], r["block_id"], r["object_id"], tuple(json.loads(r["pose"])), r["a_owner"], r["a_created"]),
                _block(r),
            )
            for r in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()
