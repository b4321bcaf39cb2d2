"""Access-checked operations on blocks and anchors.

Readers are the owner, users the block, or any block above it, is shared
with, and every signed-in user when it (or a block above it) is public;
writers are the owner and users shared with `write`; only the owner deletes a
top-level block, shares it or makes it public. A child block belongs to its
parent's owner. A block a user may not read is reported as not found, so ids
of others' blocks leak nothing.

Sizes and counts are checked against `Limits` before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from anchors.compute import REGISTRY, FunctionRegistry, validate_compute
from anchors.errors import BlockShapeError, NotFound, PermissionDenied, TooLarge, TooManyBlocks, VersionConflict
from anchors.model import (
    IDENTITY_POSE,
    Anchor,
    Block,
    Role,
    Space,
    User,
    check_kind,
    validate_content,
    validate_landmarks,
    validate_map_points,
    validate_pose,
    validate_rigid_pose,
    validate_space_name,
    validate_voxel_size,
)
from anchors.store import NewBlock, Store, TokenInfo, new_id
from anchors.store import token_id as public_token_id
from anchors.tables import split_table_input, table_fields, validate_row, validate_table
from anchors.views import check_view_fields, validate_view

READ: tuple[str, ...] = ("owner", "write", "read")
WRITE: tuple[str, ...] = ("owner", "write")


def hash_token(token: str) -> str:
    """What the store keeps of a token. Tokens are 256 random bits, so no guess or dictionary can find
    one from its SHA-256; slow, salted password hashes are for secrets people choose."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Limits:
    max_title_chars: int = 200
    max_block_content_bytes: int = 256 * 1024
    """A block's content as compact JSON (UTF-8); a table's rows count one by one."""
    max_blocks_per_object: int = 64
    """Anchors one user may put on one object (or one `class:` key)."""
    max_map_points: int = 200_000
    """Points in one space's map (12 bytes each stored)."""


@dataclass(frozen=True)
class Access:
    """Who may do what with a block, as its owner sees it."""

    block_id: str
    owner: str
    public: bool
    shares: list[tuple[User, Role]]


class BlockService:
    def __init__(self, store: Store, registry: FunctionRegistry = REGISTRY, limits: Limits = Limits()) -> None:
        self.store = store
        self.registry = registry
        self.limits = limits

    # identity
    def create_user(self, name: str) -> User:
        return self.store.create_user(name)

    def ensure_user(self, name: str) -> User:
        return self.store.find_user(name) or self.store.create_user(name)

    def issue_token(self, user: User, label: str = "default", replace: bool = False) -> str:
        """A new token for `user`; with `replace`, earlier tokens of the same label stop working."""
        if replace:
            self.store.revoke_tokens(user.id, label)
        token = secrets.token_urlsafe(32)
        self.store.add_token(user.id, hash_token(token), label)
        return token

    def authenticate(self, token: str | None) -> User | None:
        return self.store.user_for_token_hash(hash_token(token)) if token else None

    @staticmethod
    def token_id(token: str) -> str:
        """The id a token is listed and revoked by."""
        return public_token_id(hash_token(token))

    def tokens(self, user: User) -> list[TokenInfo]:
        return self.store.tokens_of(user.id)

    def revoke_token(self, user: User, token_id: str) -> None:
        """Revoke one of `user`'s own tokens by id; another user's token is not found."""
        if not self.store.revoke_token(user.id, token_id):
            raise NotFound(f"{user.name} has no token {token_id}")

    def revoke_device(self, user: User, device: str) -> int:
        """Revoke every token `user` issued for `device`; returns how many."""
        return self.store.revoke_tokens(user.id, device)

    def revoke_presented(self, token: str) -> bool:
        """Revoke the token itself (signing out with it)."""
        return self.store.revoke_token_hash(hash_token(token))

    # blocks
    def create_block(
        self, user: User, kind: str, title: str, content: Any, parent: str | None = None, index: int | None = None
    ) -> Block:
        """Create a block (under `parent`, at `index`); a table may come with its rows."""
        check_kind(kind)
        owner = user.id
        if parent is not None:
            self._require(user, parent, WRITE)
            parent_block = self._block(parent)
            self._check_placement(kind, parent_block)
            owner = parent_block.owner
        elif kind == "row":
            raise BlockShapeError("a row block needs a parent table")
        block_id = new_id("blk")
        if kind == "table":
            table, rows = split_table_input(content)
            new = [NewBlock(block_id, "table", title, table, parent, index)]
            new += [NewBlock(new_id("blk"), "row", "", row, block_id) for row in rows]
            return self._insert(owner, new)[0]
        checked = self._checked_content(user, kind, content, parent)
        return self._insert(owner, [NewBlock(block_id, kind, title, checked, parent, index)])[0]

    def add_rows(self, user: User, table_id: str, rows: list[Mapping[str, Any]], index: int | None = None) -> list[Block]:
        """Append rows (cells by field name) to a table in one write; at `index` when given."""
        self._require(user, table_id, WRITE)
        table = self._block(table_id)
        if table.kind != "table":
            raise BlockShapeError(f"block {table_id} is a {table.kind}, not a table")
        fields = table_fields(table.content)
        contents = [validate_row(fields, {"cells": dict(cells)}, f"row {i}") for i, cells in enumerate(rows)]
        new = [
            NewBlock(new_id("blk"), "row", "", c, table_id, None if index is None else index + i)
            for i, c in enumerate(contents)
        ]
        return self._insert(table.owner, new)

    def _insert(self, owner: str, blocks: Sequence[NewBlock]) -> list[Block]:
        for new in blocks:
            self._check_size(new.title, new.content)
        return self.store.insert_blocks(owner, blocks)

    def _check_size(self, title: str, content: Any) -> None:
        limits = self.limits
        if len(title) > limits.max_title_chars:
            raise TooLarge(
                f"the title is {len(title):,} characters, over the limit of {limits.max_title_chars:,}"
                " (max_title_chars)", "max_title_chars",
            )
        size = len(json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode())
        if size > limits.max_block_content_bytes:
            raise TooLarge(
                f"the content is {size:,} bytes as JSON, over the limit of {limits.max_block_content_bytes:,}"
                " (max_block_content_bytes)", "max_block_content_bytes",
            )

    def _check_placement(self, kind: str, parent: Block) -> None:
        if (kind == "row") != (parent.kind == "table"):
            raise BlockShapeError(
                "rows go in tables" if kind == "row" else f"a table holds only rows, not a {kind} block"
            )
        if parent.kind == "row":
            raise BlockShapeError("a row has no child blocks")

    def _checked_content(self, user: User, kind: str, content: Any, parent: str | None) -> Any:
        if kind == "row":
            assert parent is not None
            return validate_row(table_fields(self._block(parent).content), content)
        if kind == "table":
            return validate_table(content)
        if kind == "view":
            spec = validate_view(content)
            table = self.read_block(user, spec["table"])
            if table.kind != "table":
                raise BlockShapeError(f"a view shows a table; block {table.id} is a {table.kind}")
            check_view_fields(spec, table_fields(table.content))
            return spec
        if kind == "compute":
            spec = validate_compute(content, self.registry)
            for block_id in {s["block"] for s in spec["inputs"].values() if "block" in s}:
                self.read_block(user, block_id)
            return spec
        return validate_content(kind, content)

    def read_block(self, user: User, block_id: str) -> Block:
        self._require(user, block_id, READ)
        return self._block(block_id)

    def children(self, user: User, block_id: str) -> list[Block]:
        self._require(user, block_id, READ)
        return self.store.children(block_id)

    def list_blocks(self, user: User) -> list[Block]:
        return self.store.readable_blocks(user.id)

    def update_block(
        self, user: User, block_id: str, *, title: str | None, content: Any, version: int | None
    ) -> Block:
        """Edit a block; `version`, when given, must be the version the edit was based on."""
        self._require(user, block_id, WRITE)
        current = self._block(block_id)
        self._check_version(current, version)
        new_content = (
            current.content if content is None else self._checked_content(user, current.kind, content, current.parent)
        )
        new_title = current.title if title is None else title
        self._check_size(new_title, new_content)
        updated = self.store.update_block(block_id, new_title, new_content, current.version)
        if updated is None:
            raise VersionConflict(f"block {block_id} changed while it was being edited; read it again")
        return updated

    def update_cells(self, user: User, row_id: str, cells: Mapping[str, Any], version: int | None) -> Block:
        """Set some cells of a row, keeping the others; a null value clears a cell."""
        row = self.read_block(user, row_id)
        if row.kind != "row":
            raise BlockShapeError(f"block {row_id} is a {row.kind}, not a table row")
        self._check_version(row, version)
        merged = {**row.content["cells"], **cells}
        return self.update_block(
            user, row_id, title=None, content={"cells": merged}, version=row.version if version is None else version
        )

    @staticmethod
    def _check_version(current: Block, version: int | None) -> None:
        if version is not None and version != current.version:
            raise VersionConflict(
                f"block {current.id} is at version {current.version}, the edit was based on version {version}"
            )

    def move_block(self, user: User, block_id: str, parent: str | None, index: int | None = None) -> Block:
        """Put a block under `parent` (None: top level) at `index` (None: last)."""
        self._require(user, block_id, WRITE)
        block = self._block(block_id)
        if parent is None:
            if block.kind == "row":
                raise BlockShapeError("a row stays in a table")
            self._require(user, block_id, ("owner",))
        else:
            self._require(user, parent, WRITE)
            self._check_placement(block.kind, self._block(parent))
            if parent == block_id or block_id in self.store.ancestors(parent):
                raise BlockShapeError("a block cannot be moved inside itself")
        self.store.move_block(block_id, parent, index)
        return self._block(block_id)

    def delete_block(self, user: User, block_id: str) -> None:
        """Delete a block and everything under it: the owner's right, or a writer's for a child block."""
        block = self.read_block(user, block_id)
        self._require(user, block_id, WRITE if block.parent else ("owner",))
        self.store.delete_block(block_id)

    def share_block(self, user: User, block_id: str, with_user: str, role: Role) -> None:
        self._require(user, block_id, ("owner",))
        target = self.store.find_user(with_user)
        if target is None:
            raise NotFound(f"no user named {with_user!r}")
        if role not in ("read", "write"):
            raise PermissionDenied(f"a share's role is 'read' or 'write', not {role!r}")
        self.store.set_share(block_id, target.id, role)

    def unshare_block(self, user: User, block_id: str, with_user: str) -> None:
        """Take back a share; from the next frame on, that user's overlays of the block are removed."""
        self._require(user, block_id, ("owner",))
        target = self.store.find_user(with_user)
        if target is None or not self.store.remove_share(block_id, target.id):
            raise NotFound(f"block {block_id} is not shared with a user named {with_user!r}")

    def set_public(self, user: User, block_id: str, public: bool) -> None:
        """Make a block (and what is under it) readable by every signed-in user, or private again."""
        self._require(user, block_id, ("owner",))
        self.store.set_public(block_id, public)

    def access(self, user: User, block_id: str) -> Access:
        self._require(user, block_id, ("owner",))
        block = self._block(block_id)
        return Access(block_id, block.owner, block.public, self.store.shares_of(block_id))

    def stamp(self, block_id: str) -> tuple[int, int]:
        """Changes whenever the block, or its set of children or any child, changes (access not checked)."""
        return self.store.stamp(block_id)

    def role(self, user: User, block_id: str) -> Role | None:
        return self.store.role_of(block_id, user.id)

    # anchors
    def attach(self, user: User, block_id: str, object_id: str, pose: Any = IDENTITY_POSE) -> Anchor:
        self._require(user, block_id, WRITE)
        limit = self.limits.max_blocks_per_object
        anchor = self.store.insert_anchor(block_id, object_id, validate_pose(pose), user.id, limit)
        if anchor is None:
            raise TooManyBlocks(
                f"{user.name} already has {limit} blocks pinned to {object_id}, the limit (max_blocks_per_object)",
                "max_blocks_per_object",
            )
        return anchor

    def detach(self, user: User, anchor_id: str) -> int | None:
        """Remove an anchor; for one in a space, returns the space's anchor revision after it."""
        anchor = self.store.get_anchor(anchor_id)
        if anchor is None or self.store.role_of(anchor.block_id, user.id) is None:
            raise NotFound(f"no anchor {anchor_id}")
        self._require(user, anchor.block_id, WRITE)
        return self.store.delete_anchor(anchor_id)

    def get_anchor(self, user: User, anchor_id: str) -> Anchor:
        anchor = self.store.get_anchor(anchor_id)
        if anchor is None or self.store.role_of(anchor.block_id, user.id) is None:
            raise NotFound(f"no anchor {anchor_id}")
        return anchor

    def attached(self, user: User, object_ids: Iterable[str]) -> list[tuple[Anchor, Block]]:
        """What `user` may see pinned to any of `object_ids`."""
        readable: dict[str, bool] = {}
        pinned = []
        for anchor, block in self.store.anchors_on(object_ids):
            if block.id not in readable:
                readable[block.id] = self.store.role_of(block.id, user.id) is not None
            if readable[block.id]:
                pinned.append((anchor, block))
        return pinned

    # spaces
    def create_space(self, user: User, name: str) -> Space:
        return self.store.insert_space(user.id, validate_space_name(name))

    def get_space(self, user: User, space_id: str) -> Space:
        self._require_space(user, space_id, READ)
        return self._space(space_id)

    def list_spaces(self, user: User) -> list[Space]:
        return self.store.spaces_of(user.id)

    def rename_space(self, user: User, space_id: str, name: str) -> Space:
        self._require_space(user, space_id, WRITE)
        return self.store.rename_space(space_id, validate_space_name(name)) or self._space(space_id)

    def set_space_map(self, user: User, space_id: str, points: Any, voxel_size: float = 0.05,
                      landmarks: Any = None) -> Space:
        """Replace the space's map points (N, 3, metres, space frame) and, when given, its landmarks."""
        self._require_space(user, space_id, WRITE)
        checked = validate_map_points(points)
        limit = self.limits.max_map_points
        if len(checked) > limit:
            raise TooLarge(
                f"the map has {len(checked):,} points, over the limit of {limit:,} (max_map_points);"
                " downsample it to a coarser voxel size", "max_map_points",
            )
        marks = None if landmarks is None else validate_landmarks(landmarks)
        updated = self.store.set_space_map(space_id, checked, validate_voxel_size(voxel_size), marks)
        if updated is None:
            raise NotFound(f"no space {space_id}")
        return updated

    def space_points(self, user: User, space_id: str) -> np.ndarray:
        self._require_space(user, space_id, READ)
        points = self.store.space_points(space_id)
        if points is None:
            raise NotFound(f"no space {space_id}")
        return points

    def delete_space(self, user: User, space_id: str) -> None:
        """Delete a space with the anchors placed in it (owner only); the blocks stay."""
        self._require_space(user, space_id, ("owner",))
        self.store.delete_space(space_id)

    def share_space(self, user: User, space_id: str, with_user: str, role: Role) -> None:
        self._require_space(user, space_id, ("owner",))
        target = self.store.find_user(with_user)
        if target is None:
            raise NotFound(f"no user named {with_user!r}")
        if role not in ("read", "write"):
            raise PermissionDenied(f"a share's role is 'read' or 'write', not {role!r}")
        self.store.set_space_share(space_id, target.id, role)

    def unshare_space(self, user: User, space_id: str, with_user: str) -> None:
        self._require_space(user, space_id, ("owner",))
        target = self.store.find_user(with_user)
        if target is None or not self.store.remove_space_share(space_id, target.id):
            raise NotFound(f"space {space_id} is not shared with a user named {with_user!r}")

    def attach_in_space(self, user: User, block_id: str, space_id: str, space_pose: Any) -> tuple[Anchor, int]:
        """Place a block at `space_pose` in the space's frame; returns the anchor and the space's revision."""
        self._require(user, block_id, WRITE)
        self._require_space(user, space_id, WRITE)
        return self.store.insert_space_anchor(block_id, space_id, validate_rigid_pose(space_pose), user.id)

    def move_anchor(self, user: User, anchor_id: str, space_pose: Any) -> tuple[Anchor, int]:
        """Move an anchor placed in a space; returns it and the space's revision after the move."""
        anchor = self.get_anchor(user, anchor_id)
        if anchor.space_id is None:
            raise BlockShapeError(f"anchor {anchor_id} is pinned to an object, not placed in a space")
        self._require(user, anchor.block_id, WRITE)
        self._require_space(user, anchor.space_id, WRITE)
        moved = self.store.move_space_anchor(anchor_id, validate_rigid_pose(space_pose))
        if moved is None:
            raise NotFound(f"no anchor {anchor_id}")
        return moved

    def space_anchors(self, user: User, space_id: str) -> list[tuple[Anchor, Block]]:
        """The anchors placed in a space whose blocks `user` may read, with the blocks."""
        self._require_space(user, space_id, READ)
        _, anchors = self.store.space_anchors(space_id)
        pinned = self.attached(user, [a.object_id for a in anchors])
        return [(anchor, block) for anchor, block in pinned if anchor.space_id == space_id]

    def space_role(self, user: User, space_id: str) -> Role | None:
        return self.store.space_role(space_id, user.id)

    def _space(self, space_id: str) -> Space:
        space = self.store.get_space(space_id)
        if space is None:
            raise NotFound(f"no space {space_id}")
        return space

    def _require_space(self, user: User, space_id: str, roles: tuple[str, ...]) -> None:
        role = self.store.space_role(space_id, user.id)
        if role is None:
            raise NotFound(f"no space {space_id}")
        if role not in roles:
            raise PermissionDenied(f"{user.name} may not do this to space {space_id} (their access: {role})")

    def _block(self, block_id: str) -> Block:
        block = self.store.get_block(block_id)
        if block is None:
            raise NotFound(f"no block {block_id}")
        return block

    def _require(self, user: User, block_id: str, roles: tuple[str, ...]) -> None:
        role = self.store.role_of(block_id, user.id)
        if role is None:
            raise NotFound(f"no block {block_id}")
        if role not in roles:
            raise PermissionDenied(f"{user.name} may not do this to block {block_id} (their access: {role})")
