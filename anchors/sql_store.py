"""The store in SQL, written once for SQLite and PostgreSQL: queries, row mapping and encryption at rest.

A block's title and content are stored sealed (AES-GCM, `anchors.crypto`)
under its owner's data key, and so is a space's map; the data keys are stored
wrapped by the service key, which is never stored. The database sees only
ciphertext for titles, content and maps, and ids, times and shares in the
clear (so that queries work). `SQLiteStore` and `PostgresStore` open their
database, create or upgrade its tables, and hand it here.

Every write reports what it changed (`anchors.changes`) to the database's
watchers once committed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from anchors.changes import Change, Watcher
from anchors.crypto import (
    SealedDataError,
    ServiceKey,
    ServiceKeyError,
    block_aad,
    new_data_key,
    open_sealed,
    seal,
    space_aad,
)
from anchors.database import Database, Row, Transaction
from anchors.model import IDENTITY_POSE, ROLE_RANK, Anchor, Block, Role, Space, User, space_place
from anchors.schema import CHANGES_SINCE, NEXT_SEQ, SHARE_TABLES
from anchors.signatures import SignatureStore
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
_SPACE_COLUMNS = "id, owner, name, voxel_size, point_count, landmarks, created_at, updated_at, map_version, revision"


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


def _siblings_of(parent: str | None) -> tuple[str, dict[str, Any]]:
    """A condition on `parent` that an index serves on both databases (PostgreSQL's IS NOT DISTINCT FROM
    would not use one)."""
    return ("parent = :parent", {"parent": parent}) if parent is not None else ("parent IS NULL", {})


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


class SQLStore(Store):
    """The store over one SQL database, safe to share between threads. `location` names it in messages."""

    def __init__(self, db: Database, service_key: ServiceKey, location: str) -> None:
        self._db = db
        self._service_key = service_key
        self.location = location
        self._data_keys: dict[str, AESGCM] = {}
        self._signatures = SignatureStore(db)

    def check_service_key(self) -> None:
        """Refuse a service key that does not open the store's key check."""
        row = self._db.query_one("SELECT sealed FROM key_check")
        require_key_opens(self._service_key, row["sealed"] if row else None, self.location)

    # encryption
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

    def watch(self, watcher: Watcher) -> None:
        self._db.watch(watcher)

    def signatures(self) -> SignatureStore:
        return self._signatures

    # users and tokens
    def create_user(self, name: str) -> User:
        user = User(id=new_id("usr"), name=name)

        def run(tx: Transaction) -> None:
            tx.execute("INSERT INTO users (id, name) VALUES (?, ?)", (user.id, name))
            tx.changed(Change("user", user.id, "created"))

        self._db.transaction(run)
        return user

    def ensure_user(self, name: str) -> tuple[User, bool]:
        candidate = new_id("usr")

        def run(tx: Transaction) -> tuple[User, bool]:
            inserted = tx.execute(
                "INSERT INTO users (id, name) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", (candidate, name)
            ).rowcount
            row = tx.execute("SELECT id, name FROM users WHERE name = ?", (name,)).fetchone()
            if inserted:
                tx.changed(Change("user", row["id"], "created"))
            return User(row["id"], row["name"]), bool(inserted)

        return self._db.transaction(run)

    def find_user(self, name: str) -> User | None:
        row = self._db.query_one("SELECT id, name FROM users WHERE name = ?", (name,))
        return User(row["id"], row["name"]) if row else None

    def add_token(self, user_id: str, token_hash: str, label: str) -> None:
        def run(tx: Transaction) -> None:
            tx.execute(
                "INSERT INTO tokens (token_hash, user_id, label, created_at) VALUES (?, ?, ?, ?)",
                (token_hash, user_id, label, time.time()),
            )
            tx.changed(Change("token", user_id, "issued"))

        self._db.transaction(run)

    def _revoke(self, where: str, params: Sequence[Any]) -> int:
        """Delete the tokens matching `where`; how many."""

        def run(tx: Transaction) -> int:
            users = [r["user_id"] for r in tx.execute(f"DELETE FROM tokens WHERE {where} RETURNING user_id", params).fetchall()]
            tx.changed(*(Change("token", user, "revoked") for user in dict.fromkeys(users)))
            return len(users)

        return self._db.transaction(run)

    def revoke_tokens(self, user_id: str, label: str) -> int:
        return self._revoke("user_id = ? AND label = ?", (user_id, label))

    def revoke_token(self, user_id: str, token_id: str) -> bool:
        prefix = token_id.removeprefix(TOKEN_ID_PREFIX)
        return self._revoke(
            f"user_id = ? AND substr(token_hash, 1, {TOKEN_ID_HEX}) = ?",
            (user_id, prefix if len(prefix) == TOKEN_ID_HEX else ""),
        ) > 0

    def revoke_token_hash(self, token_hash: str) -> bool:
        return self._revoke("token_hash = ?", (token_hash,)) > 0

    def tokens_of(self, user_id: str) -> list[TokenInfo]:
        rows = self._db.query(
            "SELECT token_hash, label, created_at FROM tokens WHERE user_id = ? ORDER BY created_at", (user_id,)
        )
        return [TokenInfo(token_id(r["token_hash"]), r["label"], r["created_at"]) for r in rows]

    def user_for_token_hash(self, token_hash: str) -> User | None:
        row = self._db.query_one(
            "SELECT u.id, u.name FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?",
            (token_hash,),
        )
        return User(row["id"], row["name"]) if row else None

    # blocks
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
        rows = self._db.query(_CHAIN + "SELECT id FROM chain", {"block": block_id})
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

    def changes_since(self, seq: int | None) -> ChangeSet:
        if seq is None:
            latest = self._db.query_one("SELECT MAX(seq) AS seq FROM changes")
            return ChangeSet.from_log(None, [(latest["seq"] if latest else 0, "", "", None)])
        rows = self._db.query(CHANGES_SINCE, (seq,))
        return ChangeSet.from_log(seq, [(r["seq"], r["subject"], r["subject_id"], r["under"]) for r in rows])
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

    # sharing
    def set_share(self, subject: Subject, subject_id: str, user_id: str, role: Role) -> None:
        table, column = SHARE_TABLES[subject]

        def run(tx: Transaction) -> None:
            tx.execute(
                f"INSERT INTO {table} ({column}, user_id, role) VALUES (?, ?, ?)"
                f" ON CONFLICT ({column}, user_id) DO UPDATE SET role = excluded.role",
                (subject_id, user_id, role),
            )
            tx.changed(Change(subject, subject_id, "shared", user=user_id))

        self._db.transaction(run)

    def remove_share(self, subject: Subject, subject_id: str, user_id: str) -> bool:
        table, column = SHARE_TABLES[subject]

        def run(tx: Transaction) -> bool:
            removed = tx.execute(f"DELETE FROM {table} WHERE {column} = ? AND user_id = ?", (subject_id, user_id)).rowcount
            if removed:
                tx.changed(Change(subject, subject_id, "unshared", user=user_id))
            return removed > 0

        return self._db.transaction(run)

    def shares_of(self, subject: Subject, subject_id: str) -> list[tuple[User, Role]]:
        table, column = SHARE_TABLES[subject]
        rows = self._db.query(
            f"SELECT u.id, u.name, s.role FROM {table} s JOIN users u ON u.id = s.user_id WHERE s.{column} = ?"
            " ORDER BY u.name",
            (subject_id,),
        )
        return [(User(r["id"], r["name"]), r["role"]) for r in rows]

    def set_public(self, block_id: str, public: bool) -> None:
        def run(tx: Transaction) -> None:
            if tx.execute("UPDATE blocks SET public = ? WHERE id = ?", (int(public), block_id)).rowcount:
                tx.changed(Change("block", block_id, "public"))

        self._db.transaction(run)

    def role_of(self, subject: Subject, subject_id: str, user_id: str) -> Role | None:
        return self._space_role(subject_id, user_id) if subject == "space" else self._block_role(subject_id, user_id)

    def _block_role(self, block_id: str, user_id: str) -> Role | None:
        rows = self._db.query(
            _CHAIN + "SELECT CASE WHEN c.owner = :user THEN 'owner' ELSE COALESCE("
            "(SELECT role FROM shares s WHERE s.block_id = c.id AND s.user_id = :user),"
            " CASE WHEN c.public <> 0 THEN 'read' END) END AS role FROM chain c",
            {"user": user_id, "block": block_id},
        )
        roles = [r["role"] for r in rows if r["role"]]
        return max(roles, key=ROLE_RANK.__getitem__) if roles else None

    def _space_role(self, space_id: str, user_id: str) -> Role | None:
        row = self._db.query_one(
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

    # spaces
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

    @staticmethod
    def _revision(tx: Transaction, space_id: str) -> int:
        row = tx.execute("SELECT revision FROM spaces WHERE id = ?", (space_id,)).fetchone()
        return row["revision"] if row is not None else 0

    def space_revision(self, space_id: str) -> int | None:
        row = self._db.query_one("SELECT revision FROM spaces WHERE id = ?", (space_id,))
        return row["revision"] if row is not None else None

    def space_map_version(self, space_id: str) -> int | None:
        row = self._db.query_one("SELECT map_version FROM spaces WHERE id = ?", (space_id,))
        return row["map_version"] if row is not None else None

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

    def close(self) -> None:
        self._db.close()

