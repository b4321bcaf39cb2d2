"""The storage interface. SQLite (`anchors.sqlite`) and PostgreSQL (`anchors.postgres`) implement it,
with the same SQL (`anchors.sql_store`); `anchors.stores.open_store` opens one by its location.

A store checks nothing about who asks: the services do that (`anchors.access`).
Every method that writes returns only after the write is committed, and tells
the store's watchers what it changed (`anchors.changes`). The tables every SQL
store holds are in `anchors.schema`.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from anchors.changes import Watcher
from anchors.model import Anchor, Block, Role, Space, User
from anchors.signatures import SignatureStore


Subject = Literal["block", "space"]
"""What can be shared with other users: a block (with what is under it) or a space."""


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


TOKEN_ID_PREFIX = "tok_"
TOKEN_ID_HEX = 16


def token_id(token_hash: str) -> str:
    """A token's public name: the start of its hash (which itself cannot be turned back into the token)."""
    return TOKEN_ID_PREFIX + token_hash[:TOKEN_ID_HEX]


@dataclass(frozen=True)
class NewBlock:
    """A block to insert; it goes after its parent's last child (or at `index`)."""

    id: str
    kind: str
    title: str
    content: Any
    parent: str | None = None
    index: int | None = None


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token: never the token, nor its hash."""

    id: str
    device: str
    created_at: float


@dataclass(frozen=True)
class ChangeSet:
    """What was written to a store after a stamp (`Store.changes_since`), by id; nothing of the content.

    Readers keep what they built from the store (a viewer's overlays, say) and ask for this with the
    stamp they last saw, to redo only what it touches. It is read from the store's own log, so it holds
    the writes of every process that shares the store.
    """

    seq: int
    """The latest stamp: ask from here next time."""
    complete: bool
    """False when the log does not reach back to the stamp asked about (or none was given): anything may
    have changed, so start over. The sets below are empty then."""
    blocks: frozenset[str] = frozenset()
    """Blocks written, created, moved, deleted, or made public or private."""
    parents: frozenset[str] = frozenset()
    """Blocks one of whose children was one of those (as it is now or was before a move or delete)."""
    shares: frozenset[str] = frozenset()
    """Blocks shared with someone, or whose share changed or was taken back."""
    anchors: frozenset[str] = frozenset()
    """Anchors added, moved or removed."""
    objects: frozenset[str] = frozenset()
    """The objects (or places in a space) those anchors pin to."""

    def __bool__(self) -> bool:
        return not self.complete or bool(self.blocks or self.shares or self.anchors)

    @classmethod
    def from_log(cls, since: int | None, rows: Sequence[tuple[int, str, str, str | None]]) -> ChangeSet:
        """The changes in the log rows (seq, subject, subject id, under) from `since` on, that stamp's own row
        first: without it (pruned, or `since` None) the set is not complete."""
        if since is None or not rows or rows[0][0] != since:
            return cls(rows[-1][0] if rows else since or 0, complete=False)
        sets: dict[str, set[str]] = {"block": set(), "parents": set(), "share": set(), "anchor": set(), "objects": set()}
        for _, subject, subject_id, under in rows[1:]:
            if subject in ("block", "share", "anchor"):
                sets[subject].add(subject_id)
            if under is not None:
                sets["parents" if subject == "block" else "objects"].add(under)
        return cls(rows[-1][0], True, frozenset(sets["block"]), frozenset(sets["parents"]), frozenset(sets["share"]),
                   frozenset(sets["anchor"]), frozenset(sets["objects"]))


class Store(ABC):
    # users and tokens
    @abstractmethod
    def create_user(self, name: str) -> User: ...

    @abstractmethod
    def ensure_user(self, name: str) -> tuple[User, bool]:
        """The user named `name`, and True when this call created them: of several processes asking at
        once, one creates the user and the others find them."""

    @abstractmethod
    def find_user(self, name: str) -> User | None: ...

    @abstractmethod
    def add_token(self, user_id: str, token_hash: str, label: str) -> None: ...

    @abstractmethod
    def revoke_tokens(self, user_id: str, label: str) -> int: ...

    @abstractmethod
    def revoke_token(self, user_id: str, token_id: str) -> bool:
        """Revoke one of `user_id`'s tokens by its id; False when they have no such token."""

    @abstractmethod
    def revoke_token_hash(self, token_hash: str) -> bool: ...

    @abstractmethod
    def tokens_of(self, user_id: str) -> list[TokenInfo]: ...

    @abstractmethod
    def user_for_token_hash(self, token_hash: str) -> User | None: ...

    # blocks
    @abstractmethod
    def insert_blocks(self, owner: str, blocks: Sequence[NewBlock]) -> list[Block]:
        """Insert all of `blocks` in one transaction, in order (a parent may come earlier in the list)."""

    @abstractmethod
    def get_block(self, block_id: str) -> Block | None: ...

    @abstractmethod
    def children(self, block_id: str) -> list[Block]:
        """The blocks whose parent is `block_id`, in order."""

    @abstractmethod
    def update_block(self, block_id: str, title: str, content: Any, expected_version: int) -> Block | None:
        """The updated block, or None when its version is no longer `expected_version`."""

    @abstractmethod
    def move_block(self, block_id: str, parent: str | None, index: int | None) -> None:
        """Make `block_id` the child of `parent` at `index` (None: last); not an edit of the block."""

    @abstractmethod
    def delete_block(self, block_id: str) -> None:
        """Delete the block and its descendants, with their anchors and shares."""

    @abstractmethod
    def ancestors(self, block_id: str) -> list[str]:
        """Ids from the block's parent up to its root."""

    @abstractmethod
    def stamp(self, block_id: str) -> tuple[int, int]:
        """Changes whenever the block or its set of children, or any child, changes."""

    @abstractmethod
    def versions(self, block_id: str) -> tuple[int, list[tuple[str, int]]] | None:
        """The block's version and its children's ids and versions, in order, read together and with nothing
        decrypted (so a reader re-reads only the children that changed); None for no such block."""

    @abstractmethod
    def changes_since(self, seq: int | None) -> ChangeSet:
        """What was written after the stamp `seq` (a `ChangeSet.seq` this store gave), in one indexed query.

        Every write to blocks, shares and anchors, by this process or any other sharing the store, is logged
        with a stamp, in the order the writes commit; `seq=None` asks only for the latest stamp (the set is
        then not complete). The log keeps about `anchors.schema.CHANGES_KEPT` writes: a stamp older than
        that gets a set that is not complete. It says which ids changed, never what they hold, so it is
        not access-checked: its readers check access to what they read again.
        """

    @abstractmethod
    def readable_blocks(self, user_id: str) -> list[Block]:
        """Top-level blocks `user_id` may read, and blocks shared with them directly."""

    @abstractmethod
    def block_count(self) -> int: ...

    # sharing (one implementation for blocks and spaces)
    @abstractmethod
    def set_share(self, subject: Subject, subject_id: str, user_id: str, role: Role) -> None: ...

    @abstractmethod
    def remove_share(self, subject: Subject, subject_id: str, user_id: str) -> bool: ...

    @abstractmethod
    def shares_of(self, subject: Subject, subject_id: str) -> list[tuple[User, Role]]: ...

    @abstractmethod
    def role_of(self, subject: Subject, subject_id: str, user_id: str) -> Role | None:
        """The user's best role. On a block: owner or share of the block or of any block above it, else
        `read` when it or a block above it is public. On a space: owner or share. None: no access."""

    @abstractmethod
    def set_public(self, block_id: str, public: bool) -> None: ...

    # anchors
    @abstractmethod
    def insert_anchor(
        self, block_id: str, object_id: str, pose: tuple[float, ...], owner: str, max_per_owner: int | None = None
    ) -> Anchor | None:
        """The new anchor; None (and nothing written) when `owner` already has `max_per_owner` on the object."""

    @abstractmethod
    def get_anchor(self, anchor_id: str) -> Anchor | None: ...

    @abstractmethod
    def delete_anchor(self, anchor_id: str) -> int | None:
        """Delete the anchor; for an anchor in a space, the space's anchor revision after the delete."""

    @abstractmethod
    def anchors_on(self, object_ids: Iterable[str]) -> list[tuple[Anchor, Block]]:
        """Anchors on `object_ids` with their blocks, oldest first (access is not checked)."""

    # spaces
    @abstractmethod
    def insert_space(self, owner: str, name: str) -> Space: ...

    @abstractmethod
    def get_space(self, space_id: str) -> Space | None: ...

    @abstractmethod
    def spaces_of(self, user_id: str) -> list[Space]:
        """Spaces `user_id` owns or that are shared with them."""

    @abstractmethod
    def rename_space(self, space_id: str, name: str) -> Space | None: ...

    @abstractmethod
    def set_space_map(self, space_id: str, points: np.ndarray, voxel_size: float,
                      landmarks: dict[str, tuple[float, ...]] | None) -> Space | None:
        """Replace the map points (and the landmarks, unless None); `map_version` grows by one."""

    @abstractmethod
    def space_points(self, space_id: str) -> np.ndarray | None:
        """The map's (N, 3) float32 points, None for no such space."""

    @abstractmethod
    def delete_space(self, space_id: str) -> None:
        """Delete the space with its anchors and shares."""

    @abstractmethod
    def space_revision(self, space_id: str) -> int | None:
        """Grows with every change to the space's anchors, whatever made it (a block deleted with its anchors too)."""

    @abstractmethod
    def space_map_version(self, space_id: str) -> int | None:
        """Grows with every change to the space's map (points and landmarks); None for no such space."""

    @abstractmethod
    def insert_space_anchor(self, block_id: str, space_id: str, space_pose: tuple[float, ...],
                            owner: str) -> tuple[Anchor, int]:
        """The new anchor and the space's revision after it, read in the same transaction."""

    @abstractmethod
    def move_space_anchor(self, anchor_id: str, space_pose: tuple[float, ...]) -> tuple[Anchor, int] | None:
        """The moved anchor and the space's revision after the move; None for no anchor in a space."""

    @abstractmethod
    def space_anchors(self, space_id: str) -> tuple[int, list[Anchor]]:
        """The space's revision and all its anchors, read together (access is not checked)."""

    # changes and what else lives in the store
    @abstractmethod
    def watch(self, watcher: Watcher) -> None:
        """Call `watcher` with what each committed write changed, from now on: SQLite the writes of this
        process, PostgreSQL those of every process on the database (`anchors.changes`)."""

    @abstractmethod
    def signatures(self) -> SignatureStore:
        """The appearance signatures of known objects, kept in the same database."""

    @abstractmethod
    def close(self) -> None: ...
