"""The storage interface, one protocol per subject: accounts, blocks, shares, anchors, spaces and the change log.

A service takes the protocols it uses; `Store` is all of them, as SQLite
(`anchors.storage.sqlite`) and PostgreSQL (`anchors.storage.postgres`) implement
it, with the same SQL (`anchors.storage.sql_store`);
`anchors.storage.locations.open_store` opens one by its location.

A store checks nothing about who asks: the services do that (`anchors.access`).
Every method that writes returns only after the write is committed, and tells
the store's watchers what it changed (`anchors.storage.change_events`). The tables every SQL
store holds are in `anchors.storage.schema`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from anchors.model import Anchor, Block, Role, Space, User
from anchors.storage.change_events import Watcher
from anchors.storage.change_log import ChangeSet
from anchors.storage.signatures import SignatureStore


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


class AccountStore(Protocol):
    """Users and their tokens (stored as hashes)."""

    def create_user(self, name: str) -> User: ...

    def ensure_user(self, name: str) -> tuple[User, bool]:
        """The user named `name`, and True when this call created them: of several processes asking at
        once, one creates the user and the others find them."""

    def find_user(self, name: str) -> User | None: ...

    def add_token(self, user_id: str, token_hash: str, label: str) -> None: ...

    def revoke_tokens(self, user_id: str, label: str) -> int: ...

    def revoke_token(self, user_id: str, token_id: str) -> bool:
        """Revoke one of `user_id`'s tokens by its id; False when they have no such token."""

    def revoke_token_hash(self, token_hash: str) -> bool: ...

    def tokens_of(self, user_id: str) -> list[TokenInfo]: ...

    def user_for_token_hash(self, token_hash: str) -> User | None: ...


class BlockStore(Protocol):
    """Blocks: their content, their place in the tree, and the stamps readers compare."""

    def insert_blocks(self, owner: str, blocks: Sequence[NewBlock]) -> list[Block]:
        """Insert all of `blocks` in one transaction, in order (a parent may come earlier in the list)."""

    def get_block(self, block_id: str) -> Block | None: ...

    def children(self, block_id: str) -> list[Block]:
        """The blocks whose parent is `block_id`, in order."""

    def update_block(self, block_id: str, title: str, content: Any, expected_version: int) -> Block | None:
        """The updated block, or None when its version is no longer `expected_version`."""

    def move_block(self, block_id: str, parent: str | None, index: int | None) -> None:
        """Make `block_id` the child of `parent` at `index` (None: last); not an edit of the block."""

    def delete_block(self, block_id: str) -> None:
        """Delete the block and its descendants, with their anchors and shares."""

    def ancestors(self, block_id: str) -> list[str]:
        """Ids from the block's parent up to its root."""

    def stamp(self, block_id: str) -> tuple[int, int]:
        """Changes whenever the block or its set of children, or any child, changes."""

    def versions(self, block_id: str) -> tuple[int, list[tuple[str, int]]] | None:
        """The block's version and its children's ids and versions, in order, read together and with nothing
        decrypted (so a reader re-reads only the children that changed); None for no such block."""

    def readable_blocks(self, user_id: str) -> list[Block]:
        """Top-level blocks `user_id` may read, and blocks shared with them directly."""

    def block_count(self) -> int: ...


class ShareStore(Protocol):
    """Shares of blocks and spaces (one implementation for both), public blocks, and roles."""

    def set_share(self, subject: Subject, subject_id: str, user_id: str, role: Role) -> None: ...

    def remove_share(self, subject: Subject, subject_id: str, user_id: str) -> bool: ...

    def shares_of(self, subject: Subject, subject_id: str) -> list[tuple[User, Role]]: ...

    def role_of(self, subject: Subject, subject_id: str, user_id: str) -> Role | None:
        """The user's best role. On a block: owner or share of the block or of any block above it, else
        `read` when it or a block above it is public. On a space: owner or share. None: no access."""

    def set_public(self, block_id: str, public: bool) -> None: ...


class AnchorStore(Protocol):
    """Anchors: blocks pinned to objects, or placed in a space."""

    def insert_anchor(
        self, block_id: str, object_id: str, pose: tuple[float, ...], owner: str, max_per_owner: int | None = None
    ) -> Anchor | None:
        """The new anchor; None (and nothing written) when `owner` already has `max_per_owner` on the object."""

    def get_anchor(self, anchor_id: str) -> Anchor | None: ...

    def delete_anchor(self, anchor_id: str) -> int | None:
        """Delete the anchor; for an anchor in a space, the space's anchor revision after the delete."""

    def anchors_on(self, object_ids: Iterable[str]) -> list[tuple[Anchor, Block]]:
        """Anchors on `object_ids` with their blocks, oldest first (access is not checked)."""


    def insert_space_anchor(self, block_id: str, space_id: str, space_pose: tuple[float, ...],
                            owner: str) -> tuple[Anchor, int]:
        """The new anchor and the space's revision after it, read in the same transaction."""

    def move_space_anchor(self, anchor_id: str, space_pose: tuple[float, ...]) -> tuple[Anchor, int] | None:
        """The moved anchor and the space's revision after the move; None for no anchor in a space."""

    def space_anchors(self, space_id: str) -> tuple[int, list[Anchor]]:
        """The space's revision and all its anchors, read together (access is not checked)."""


class SpaceStore(Protocol):
    """Spaces: their names, maps and revisions."""

    def insert_space(self, owner: str, name: str) -> Space: ...

    def get_space(self, space_id: str) -> Space | None: ...

    def spaces_of(self, user_id: str) -> list[Space]:
        """Spaces `user_id` owns or that are shared with them."""

    def rename_space(self, space_id: str, name: str) -> Space | None: ...

    def set_space_map(self, space_id: str, points: np.ndarray, voxel_size: float,
                      landmarks: dict[str, tuple[float, ...]] | None) -> Space | None:
        """Replace the map points (and the landmarks, unless None); `map_version` grows by one."""

    def space_points(self, space_id: str) -> np.ndarray | None:
        """The map's (N, 3) float32 points, None for no such space."""

    def delete_space(self, space_id: str) -> None:
        """Delete the space with its anchors and shares."""

    def space_revision(self, space_id: str) -> int | None:
        """Grows with every change to the space's anchors, whatever made it (a block deleted with its anchors too)."""

    def space_map_version(self, space_id: str) -> int | None:
        """Grows with every change to the space's map (points and landmarks); None for no such space."""


class ChangeLog(Protocol):
    """What was written, asked for by stamp (pull) or told to watchers as it commits (push)."""

    def changes_since(self, seq: int | None) -> ChangeSet:
        """What was written after the stamp `seq` (a `ChangeSet.seq` this store gave), in one indexed query.

        Every write to blocks, shares and anchors, by this process or any other sharing the store, is logged
        with a stamp, in the order the writes commit; `seq=None` asks only for the latest stamp (the set is
        then not complete). The log keeps about `anchors.storage.schema.CHANGES_KEPT` writes: a stamp older than
        that gets a set that is not complete. It says which ids changed, never what they hold, so it is
        not access-checked: its readers check access to what they read again.
        """


    def watch(self, watcher: Watcher) -> None:
        """Call `watcher` with what each committed write changed, from now on: SQLite the writes of this
        process, PostgreSQL those of every process on the database (`anchors.storage.change_events`)."""


class Store(AccountStore, BlockStore, ShareStore, AnchorStore, SpaceStore, ChangeLog, Protocol):
    """All of a store: what the service opens and hands, in part, to each of its services."""

    def signatures(self) -> SignatureStore:
        """The appearance signatures of known objects, kept in the same database."""

    def close(self) -> None: ...
