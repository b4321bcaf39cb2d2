"""SQLite store: one file, WAL mode, every write committed before it returns.

A block's title and content are stored sealed (AES-GCM, `anchors.crypto`) under
its owner's data key; the data keys are stored wrapped by the service key,
which is never stored here. The tables, and the upgrades of files written by
earlier versions, are in `anchors.sqlite_schema`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from anchors.crypto import (
    SealedDataError,
    ServiceKey,
    ServiceKeyError,
    block_aad,
    default_key_file,
    space_aad,
    new_data_key,
    open_sealed,
    seal,
)
import numpy as np

from anchors import sqlite_schema
from anchors.model import IDENTITY_POSE, ROLE_RANK, Anchor, Block, Role, Space, User, space_place
from anchors.schema import NEXT_SEQ, SCHEMA_VERSION, SHARE_TABLES
from anchors.store import (
    TOKEN_ID_HEX,
    TOKEN_ID_PREFIX,
    ChangeSet,
    NewBlock,
    Store,
    Subject,
    TokenInfo,
    new_id,
    token_id,
)

_NEXT_SEQ = NEXT_SEQ
"""A block written gets the stamp its change-log row gets (the log's triggers run right after)."""
_CHAIN = """
WITH RECURSIVE chain(id, parent, owner, public) AS (
    SELECT id, parent, owner, public FROM blocks WHERE id = :block
    UNION ALL SELECT b.id, b.parent, b.owner, b.public FROM blocks b JOIN chain c ON b.id = c.parent
)
"""


def _anchor(row: sqlite3.Row, prefix: str = "") -> Anchor:
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


def _space(row: sqlite3.Row) -> Space:
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


_SPACE_COLUMNS = "id, owner, name, voxel_size, point_count, landmarks, created_at, updated_at, map_version, revision"


class SQLiteStore(Store):
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
        self._lock = threading.Lock()
        self._data_keys: dict[str, AESGCM] = {}
        self.created_key_file: Path | None = None
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        try:
            self._open(service_key, key_file)
        except BaseException:
            self._db.close()
            raise

    def _open(self, service_key: ServiceKey | None, key_file: str | Path | None) -> None:
        version = sqlite_schema.stored_format(self._db, self.path)
        fresh = version != SCHEMA_VERSION
        self._service_key = service_key or self._key_from_file(key_file, fresh)
        if version == 0:
            self._transaction(lambda db: sqlite_schema.create(db, self._service_key.key_check()))
        elif version == 2:
            self._encrypt_format_2()
        else:
            check = self._db.execute("SELECT sealed FROM key_check").fetchone()
            if check is None or not self._service_key.opens(check[0]):
                raise ServiceKeyError(
                    f"the service key given does not open {self.path}: it was encrypted under another key."
                    " Give the key it was created or last rotated with (--service-key-file or SPATIAL_SERVICE_KEY)."
                )
            if version == 3:
                self._transaction(sqlite_schema.add_spaces)
        self._transaction(sqlite_schema.add_change_log)

    def _key_from_file(self, key_file: str | Path | None, fresh: bool) -> ServiceKey:
        if self.path == ":memory:" and key_file is None:
            return ServiceKey.generate()
        path = Path(key_file) if key_file is not None else default_key_file(self.path)
        if path.exists():
            return ServiceKey.from_file(path)
        if not fresh:
            raise ServiceKeyError(
                f"{self.path} is encrypted and its service key file {path} does not exist;"
                " give the key with --service-key-file or SPATIAL_SERVICE_KEY"
            )
        key = ServiceKey.generate()
        key.save(path)
        self.created_key_file = path
        return key

    def _encrypt_format_2(self) -> None:
        """Seal a format-2 store's plain titles and content in place, then rewrite the file without them."""

        def seal_blocks(db: sqlite3.Connection) -> None:
            keys: dict[str, AESGCM] = {}
            for owner in {r[0] for r in db.execute("SELECT owner FROM blocks")}:
                keys[owner] = AESGCM(self._new_owner_key(db, owner))
            rows = db.execute("SELECT id, owner, title, content FROM blocks").fetchall()
            db.executemany("UPDATE blocks SET body = ? WHERE id = ?", [
                (self._seal_body(keys[r["owner"]], r["id"], r["title"], json.loads(r["content"])), r["id"]) for r in rows
            ])

        self._transaction(lambda db: sqlite_schema.seal_format_2(db, self._service_key.key_check(), seal_blocks))
        self._db.execute("VACUUM")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # encryption
    def _new_owner_key(self, db: sqlite3.Connection, owner: str) -> bytes:
        data_key = new_data_key()
        db.execute(
            "INSERT INTO owner_keys (user_id, wrapped, created_at) VALUES (?, ?, ?)",
            (owner, self._service_key.wrap(data_key, owner), time.time()),
        )
        return data_key

    def _owner_key(self, owner: str, create: bool = False) -> AESGCM:
        """The owner's data key, unwrapped once and kept in memory; with `create`, made if missing."""
        aead = self._data_keys.get(owner)
        if aead is not None:
            return aead
        row = self._query_one("SELECT wrapped FROM owner_keys WHERE user_id = ?", (owner,))
        if row is None and create:
            self._transaction(lambda db: db.execute(
                "SELECT 1 FROM owner_keys WHERE user_id = ?", (owner,)
            ).fetchone() or self._new_owner_key(db, owner))
            row = self._query_one("SELECT wrapped FROM owner_keys WHERE user_id = ?", (owner,))
        if row is None:
            raise SealedDataError(f"the store has no data key for owner {owner}")
        aead = AESGCM(self._service_key.unwrap(row[0], owner))
        self._data_keys[owner] = aead
        return aead

    @staticmethod
    def _seal_body(aead: AESGCM, block_id: str, title: str, content: Any) -> bytes:
        return seal(aead, json.dumps([title, content], separators=(",", ":")).encode(), block_aad(block_id))

    def _block(self, row: sqlite3.Row, children: tuple[str, ...] = ()) -> Block:
        try:
            title, content = json.loads(open_sealed(self._owner_key(row["owner"]), row["body"], block_aad(row["id"])))
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

    def rotate_service_key(self, new_key: ServiceKey) -> int:
        """Rewrap every owner's data key under `new_key` in one transaction; returns how many.
        Block content is not re-encrypted: its data keys do not change."""

        def run(db: sqlite3.Connection) -> int:
            rows = db.execute("SELECT user_id, wrapped FROM owner_keys").fetchall()
            db.executemany("UPDATE owner_keys SET wrapped = ? WHERE user_id = ?", [
                (new_key.wrap(self._service_key.unwrap(r["wrapped"], r["user_id"]), r["user_id"]), r["user_id"])
                for r in rows
            ])
            db.execute("UPDATE key_check SET sealed = ? WHERE id = 1", (new_key.key_check(),))
            return len(rows)

        count = self._transaction(run)
        self._service_key = new_key
        return count

    def journal_mode(self) -> str:
        return self._query_one("PRAGMA journal_mode")[0]

    def _query(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _query_one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        rows = self._query(sql, params)
        return rows[0] if rows else None

    def _transaction(self, work: Any) -> Any:
        """Run `work(db)` in one write transaction; returns what it returns."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = work(self._db)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return result

    def _write(self, *statements: tuple[str, Any]) -> int:
        """Run statements in one transaction; returns the last statement's row count."""

        def run(db: sqlite3.Connection) -> int:
            count = 0
            for sql, params in statements:
                count = db.execute(sql, params).rowcount
            return count

        return self._transaction(run)

    # users and tokens
    def create_user(self, name: str) -> User:
        user = User(id=new_id("usr"), name=name)
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

    def revoke_token(self, user_id: str, token_id: str) -> bool:
        prefix = token_id.removeprefix(TOKEN_ID_PREFIX)
        return self._write((
            "DELETE FROM tokens WHERE user_id = ? AND substr(token_hash, 1, ?) = ?",
            (user_id, TOKEN_ID_HEX, prefix if len(prefix) == TOKEN_ID_HEX else ""),
        )) > 0

    def revoke_token_hash(self, token_hash: str) -> bool:
        return self._write(("DELETE FROM tokens WHERE token_hash = ?", (token_hash,))) > 0

    def tokens_of(self, user_id: str) -> list[TokenInfo]:
        rows = self._query("SELECT token_hash, label, created_at FROM tokens WHERE user_id = ? ORDER BY created_at", (user_id,))
        return [TokenInfo(token_id(r["token_hash"]), r["label"], r["created_at"]) for r in rows]

    def user_for_token_hash(self, token_hash: str) -> User | None:
        row = self._query_one(
            "SELECT u.id, u.name FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?",
            (token_hash,),
        )
        return User(row["id"], row["name"]) if row else None

    # blocks
    @staticmethod
    def _place(db: sqlite3.Connection, block_id: str, parent: str | None, index: int | None) -> None:
        """Set the block's position among its new siblings; with an index, siblings are renumbered."""
        if index is None:
            db.execute(
                "UPDATE blocks SET position = (SELECT COALESCE(MAX(position), 0) + 1 FROM blocks"
                " WHERE parent IS :parent AND id != :id) WHERE id = :id",
                {"parent": parent, "id": block_id},
            )
            return
        siblings = [
            r[0] for r in db.execute(
                "SELECT id FROM blocks WHERE parent IS ? AND id != ? ORDER BY position", (parent, block_id)
            )
        ]
        siblings.insert(max(0, min(index, len(siblings))), block_id)
        db.executemany("UPDATE blocks SET position = ? WHERE id = ?", [(i + 1, bid) for i, bid in enumerate(siblings)])

    def insert_blocks(self, owner: str, blocks: Sequence[NewBlock]) -> list[Block]:
        now = time.time()
        key = self._owner_key(owner, create=True)
        bodies = [self._seal_body(key, new.id, new.title, new.content) for new in blocks]

        def run(db: sqlite3.Connection) -> None:
            for new, body in zip(blocks, bodies):
                db.execute(
                    "INSERT INTO blocks (id, kind, owner, parent, position, body, version, seq,"
                    f" created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, 1, {_NEXT_SEQ}, ?, ?)",
                    (new.id, new.kind, owner, new.parent, body, now, now),
                )
                self._place(db, new.id, new.parent, new.index)

        self._transaction(run)
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
        rows = self._query(f"SELECT parent, id FROM blocks WHERE parent IN ({marks}) ORDER BY position", parent_ids)
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(row["parent"], []).append(row["id"])
        return {k: tuple(v) for k, v in found.items()}

    def _with_children(self, rows: list[sqlite3.Row]) -> list[Block]:
        children = self._children_ids([r["id"] for r in rows if r["kind"] != "row"])
        return [self._block(r, children.get(r["id"], ())) for r in rows]

    def get_block(self, block_id: str) -> Block | None:
        row = self._query_one("SELECT * FROM blocks WHERE id = ?", (block_id,))
        return self._with_children([row])[0] if row else None

    def children(self, block_id: str) -> list[Block]:
        return self._with_children(self._query("SELECT * FROM blocks WHERE parent = ? ORDER BY position", (block_id,)))

    def update_block(self, block_id: str, title: str, content: Any, expected_version: int) -> Block | None:
        row = self._query_one("SELECT owner FROM blocks WHERE id = ?", (block_id,))
        if row is None:
            return None
        body = self._seal_body(self._owner_key(row["owner"]), block_id, title, content)
        changed = self._write(
            (
                f"UPDATE blocks SET body = ?, version = version + 1, seq = {_NEXT_SEQ}, updated_at = ?"
                " WHERE id = ? AND version = ?",
                (body, time.time(), block_id, expected_version),
            )
        )
        return self.get_block(block_id) if changed else None

    def move_block(self, block_id: str, parent: str | None, index: int | None) -> None:
        def run(db: sqlite3.Connection) -> None:
            db.execute(f"UPDATE blocks SET parent = ?, seq = {_NEXT_SEQ} WHERE id = ?", (parent, block_id))
            self._place(db, block_id, parent, index)

        self._transaction(run)

    def delete_block(self, block_id: str) -> None:
        self._write(("DELETE FROM blocks WHERE id = ?", (block_id,)))

    def ancestors(self, block_id: str) -> list[str]:
        rows = self._query(_CHAIN + "SELECT id FROM chain", {"block": block_id})
        return [r["id"] for r in rows[1:]]

    def stamp(self, block_id: str) -> tuple[int, int]:
        row = self._query_one(
            "SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM blocks WHERE id = :id OR parent = :id", {"id": block_id}
        )
        return (row[0], row[1]) if row else (0, 0)

    def versions(self, block_id: str) -> tuple[int, list[tuple[str, int]]] | None:
        rows = self._query(
            "SELECT id, version FROM blocks WHERE id = :id OR parent = :id ORDER BY position", {"id": block_id}
        )
        own = [r["version"] for r in rows if r["id"] == block_id]
        if not own:
            return None
        return own[0], [(r["id"], r["version"]) for r in rows if r["id"] != block_id]

    def changes_since(self, seq: int | None) -> ChangeSet:
        if seq is None:
            return ChangeSet.from_log(None, self._query("SELECT MAX(seq), '', '', NULL FROM changes"))
        return ChangeSet.from_log(seq, [tuple(r) for r in self._query(sqlite_schema.CHANGES_SINCE, (seq,))])

    def readable_blocks(self, user_id: str) -> list[Block]:
        rows = self._query(
            "SELECT * FROM blocks b WHERE (b.parent IS NULL AND b.owner = :user)"
            " OR EXISTS (SELECT 1 FROM shares s WHERE s.block_id = b.id AND s.user_id = :user)"
            " ORDER BY created_at, position",
            {"user": user_id},
        )
        return self._with_children(rows)

    def block_count(self) -> int:
        return self._query_one("SELECT COUNT(*) FROM blocks")[0]

    # sharing
    def set_share(self, subject: Subject, subject_id: str, user_id: str, role: Role) -> None:
        table, column = SHARE_TABLES[subject]
        self._write((
            f"INSERT INTO {table} ({column}, user_id, role) VALUES (?, ?, ?)"
            f" ON CONFLICT ({column}, user_id) DO UPDATE SET role = excluded.role",
            (subject_id, user_id, role),
        ))

    def remove_share(self, subject: Subject, subject_id: str, user_id: str) -> bool:
        table, column = SHARE_TABLES[subject]
        return self._write((f"DELETE FROM {table} WHERE {column} = ? AND user_id = ?", (subject_id, user_id))) > 0

    def shares_of(self, subject: Subject, subject_id: str) -> list[tuple[User, Role]]:
        table, column = SHARE_TABLES[subject]
        rows = self._query(
            f"SELECT u.id, u.name, s.role FROM {table} s JOIN users u ON u.id = s.user_id WHERE s.{column} = ?"
            " ORDER BY u.name",
            (subject_id,),
        )
        return [(User(r["id"], r["name"]), r["role"]) for r in rows]

    def set_public(self, block_id: str, public: bool) -> None:
        self._write(("UPDATE blocks SET public = ? WHERE id = ?", (int(public), block_id)))

    def role_of(self, subject: Subject, subject_id: str, user_id: str) -> Role | None:
        return self._space_role(subject_id, user_id) if subject == "space" else self._block_role(subject_id, user_id)

    def _block_role(self, block_id: str, user_id: str) -> Role | None:
        rows = self._query(
            _CHAIN + "SELECT CASE WHEN c.owner = :user THEN 'owner' ELSE COALESCE("
            "(SELECT role FROM shares s WHERE s.block_id = c.id AND s.user_id = :user),"
            " CASE WHEN c.public THEN 'read' END) END AS role FROM chain c",
            {"user": user_id, "block": block_id},
        )
        roles = [r["role"] for r in rows if r["role"]]
        return max(roles, key=ROLE_RANK.__getitem__) if roles else None

    def _space_role(self, space_id: str, user_id: str) -> Role | None:
        row = self._query_one(
            "SELECT CASE WHEN s.owner = :user THEN 'owner' ELSE"
            " (SELECT role FROM space_shares h WHERE h.space_id = s.id AND h.user_id = :user) END AS role"
            " FROM spaces s WHERE s.id = :space",
            {"user": user_id, "space": space_id},
        )
        return row["role"] if row is not None else None

    # anchors
    def insert_anchor(
        self, block_id: str, object_id: str, pose: tuple[float, ...], owner: str, max_per_owner: int | None = None
    ) -> Anchor | None:
        anchor = Anchor(new_id("anc"), block_id, object_id, tuple(pose), owner, time.time())

        def run(db: sqlite3.Connection) -> bool:
            if max_per_owner is not None:
                count = db.execute(
                    "SELECT COUNT(*) FROM anchors WHERE object_id = ? AND owner = ?", (object_id, owner)
                ).fetchone()[0]
                if count >= max_per_owner:
                    return False
            db.execute(
                "INSERT INTO anchors (id, block_id, object_id, pose, owner, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (anchor.id, block_id, object_id, json.dumps(list(pose)), owner, anchor.created_at),
            )
            return True

        return anchor if self._transaction(run) else None

    def get_anchor(self, anchor_id: str) -> Anchor | None:
        row = self._query_one("SELECT * FROM anchors WHERE id = ?", (anchor_id,))
        return _anchor(row) if row else None

    def delete_anchor(self, anchor_id: str) -> int | None:
        def run(db: sqlite3.Connection) -> int | None:
            row = db.execute("SELECT space_id FROM anchors WHERE id = ?", (anchor_id,)).fetchone()
            db.execute("DELETE FROM anchors WHERE id = ?", (anchor_id,))
            return self._revision(db, row["space_id"]) if row is not None and row["space_id"] else None

        return self._transaction(run)

    def anchors_on(self, object_ids: Iterable[str]) -> list[tuple[Anchor, Block]]:
        ids = list(dict.fromkeys(object_ids))
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        rows = self._query(
            "SELECT a.id AS a_id, a.block_id, a.object_id, a.pose, a.owner AS a_owner, a.created_at AS a_created_at,"
            f" a.space_id, a.space_pose, b.* FROM anchors a JOIN blocks b ON b.id = a.block_id WHERE a.object_id IN ({marks})"
            " ORDER BY a.created_at",
            ids,
        )
        blocks = {b.id: b for b in self._with_children(list({r["id"]: r for r in rows}.values()))}
        return [(_anchor(r, "a_"), blocks[r["id"]]) for r in rows]

    # spaces
    def insert_space(self, owner: str, name: str) -> Space:
        now = time.time()
        space = Space(new_id("spc"), owner, name, 0.05, 0, {}, now, now)
        self._write((
            "INSERT INTO spaces (id, owner, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            (space.id, owner, name, now, now),
        ))
        return space

    def get_space(self, space_id: str) -> Space | None:
        row = self._query_one(f"SELECT {_SPACE_COLUMNS} FROM spaces WHERE id = ?", (space_id,))
        return _space(row) if row else None

    def spaces_of(self, user_id: str) -> list[Space]:
        rows = self._query(
            f"SELECT {_SPACE_COLUMNS} FROM spaces s WHERE s.owner = :user"
            " OR EXISTS (SELECT 1 FROM space_shares h WHERE h.space_id = s.id AND h.user_id = :user)"
            " ORDER BY created_at",
            {"user": user_id},
        )
        return [_space(r) for r in rows]

    def rename_space(self, space_id: str, name: str) -> Space | None:
        self._write(("UPDATE spaces SET name = ?, updated_at = ? WHERE id = ?", (name, time.time(), space_id)))
        return self.get_space(space_id)

    def set_space_map(self, space_id: str, points: np.ndarray, voxel_size: float,
                      landmarks: dict[str, tuple[float, ...]] | None) -> Space | None:
        row = self._query_one("SELECT owner FROM spaces WHERE id = ?", (space_id,))
        if row is None:
            return None
        raw = np.ascontiguousarray(points, dtype="<f4").tobytes()
        sealed = seal(self._owner_key(row["owner"], create=True), raw, space_aad(space_id))
        statements: list[tuple[str, Any]] = [(
            "UPDATE spaces SET points = ?, point_count = ?, voxel_size = ?, map_version = map_version + 1,"
            " updated_at = ? WHERE id = ?",
            (sealed, len(points), voxel_size, time.time(), space_id),
        )]
        if landmarks is not None:
            statements.append((
                "UPDATE spaces SET landmarks = ? WHERE id = ?", (json.dumps({k: list(v) for k, v in landmarks.items()}), space_id)
            ))
        self._write(*statements)
        return self.get_space(space_id)

    def space_points(self, space_id: str) -> np.ndarray | None:
        row = self._query_one("SELECT owner, points FROM spaces WHERE id = ?", (space_id,))
        if row is None:
            return None
        if row["points"] is None:
            return np.empty((0, 3), dtype=np.float32)
        try:
            raw = open_sealed(self._owner_key(row["owner"]), row["points"], space_aad(space_id))
        except SealedDataError as exc:
            raise SealedDataError(f"space {space_id}: {exc}") from None
        return np.frombuffer(raw, dtype="<f4").reshape(-1, 3).astype(np.float32)

    def delete_space(self, space_id: str) -> None:
        self._write(("DELETE FROM spaces WHERE id = ?", (space_id,)))

    @staticmethod
    def _revision(db: sqlite3.Connection, space_id: str) -> int:
        row = db.execute("SELECT revision FROM spaces WHERE id = ?", (space_id,)).fetchone()
        return row[0] if row is not None else 0

    def space_revision(self, space_id: str) -> int | None:
        row = self._query_one("SELECT revision FROM spaces WHERE id = ?", (space_id,))
        return row[0] if row is not None else None

    def space_map_version(self, space_id: str) -> int | None:
        row = self._query_one("SELECT map_version FROM spaces WHERE id = ?", (space_id,))
        return row[0] if row is not None else None

    def insert_space_anchor(self, block_id: str, space_id: str, space_pose: tuple[float, ...],
                            owner: str) -> tuple[Anchor, int]:
        anchor_id = new_id("anc")
        anchor = Anchor(anchor_id, block_id, space_place(space_id, anchor_id), IDENTITY_POSE, owner, time.time(),
                        space_id, tuple(space_pose))

        def run(db: sqlite3.Connection) -> int:
            db.execute(
                "INSERT INTO anchors (id, block_id, object_id, pose, owner, created_at, space_id, space_pose)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (anchor.id, block_id, anchor.object_id, json.dumps(list(IDENTITY_POSE)), owner, anchor.created_at,
                 space_id, json.dumps(list(space_pose))),
            )
            return self._revision(db, space_id)

        return anchor, self._transaction(run)

    def move_space_anchor(self, anchor_id: str, space_pose: tuple[float, ...]) -> tuple[Anchor, int] | None:
        def run(db: sqlite3.Connection) -> int | None:
            row = db.execute("SELECT space_id FROM anchors WHERE id = ?", (anchor_id,)).fetchone()
            if row is None or row["space_id"] is None:
                return None
            db.execute("UPDATE anchors SET space_pose = ? WHERE id = ?", (json.dumps(list(space_pose)), anchor_id))
            return self._revision(db, row["space_id"])

        revision = self._transaction(run)
        anchor = self.get_anchor(anchor_id) if revision is not None else None
        return (anchor, revision) if anchor is not None else None

    def space_anchors(self, space_id: str) -> tuple[int, list[Anchor]]:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                row = self._db.execute("SELECT revision FROM spaces WHERE id = ?", (space_id,)).fetchone()
                rows = self._db.execute(
                    "SELECT * FROM anchors WHERE space_id = ? ORDER BY created_at", (space_id,)
                ).fetchall()
            finally:
                self._db.execute("COMMIT")
        return (row[0] if row is not None else 0), [_anchor(r) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
