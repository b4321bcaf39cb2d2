"""Access-checked operations on blocks, their shares, and the anchors that pin them to objects.

Readers are the owner, users the block, or any block above it, is shared
with, and every signed-in user when it (or a block above it) is public;
writers are the owner and users shared with `write`; only the owner deletes a
top-level block, shares it or makes it public. A child block belongs to its
parent's owner. A block a user may not read is reported as not found, so ids
of others' blocks leak nothing (`anchors.access`).

Sizes and counts are checked against `Limits` before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from anchors.access import OWNER, READ, WRITE, Sharing
from anchors.compute.compute_blocks import REGISTRY, FunctionRegistry, validate_compute
from anchors.errors import BlockShapeError, NotFound, TooLarge, TooManyBlocks, VersionConflict
from anchors.limits import Limits
from anchors.model import IDENTITY_POSE, Anchor, Block, Role, User, check_kind, validate_content, validate_pose
from anchors.sheets.tables import split_table_input, table_fields, validate_row, validate_table
from anchors.storage.interface import NewBlock, Store, new_id
from anchors.views import check_view_fields, validate_view


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
        self.sharing = Sharing(store, "block")

    # blocks
    def create_block(
        self, user: User, kind: str, title: str, content: Any, parent: str | None = None, index: int | None = None
    ) -> Block:
        """Create a block (under `parent`, at `index`); a table may come with its rows."""
        check_kind(kind)
        owner = user.id
        if parent is not None:
            self.sharing.require(user, parent, WRITE)
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
        self.sharing.require(user, table_id, WRITE)
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
        self.sharing.require(user, block_id, READ)
        return self._block(block_id)

    def children(self, user: User, block_id: str) -> list[Block]:
        self.sharing.require(user, block_id, READ)
        return self.store.children(block_id)

    def list_blocks(self, user: User) -> list[Block]:
        return self.store.readable_blocks(user.id)

    def update_block(
        self, user: User, block_id: str, *, title: str | None, content: Any, version: int | None
    ) -> Block:
        """Edit a block; `version`, when given, must be the version the edit was based on."""
        self.sharing.require(user, block_id, WRITE)
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
        self.sharing.require(user, block_id, WRITE)
        block = self._block(block_id)
        if parent is None:
            if block.kind == "row":
                raise BlockShapeError("a row stays in a table")
            self.sharing.require(user, block_id, OWNER)
        else:
            self.sharing.require(user, parent, WRITE)
            self._check_placement(block.kind, self._block(parent))
            if parent == block_id or block_id in self.store.ancestors(parent):
                raise BlockShapeError("a block cannot be moved inside itself")
        self.store.move_block(block_id, parent, index)
        return self._block(block_id)

    def delete_block(self, user: User, block_id: str) -> None:
        """Delete a block and everything under it: the owner's right, or a writer's for a child block."""
        block = self.read_block(user, block_id)
        self.sharing.require(user, block_id, WRITE if block.parent else OWNER)
        self.store.delete_block(block_id)

    def share_block(self, user: User, block_id: str, with_user: str, role: Role) -> None:
        self.sharing.share(user, block_id, with_user, role)

    def unshare_block(self, user: User, block_id: str, with_user: str) -> None:
        """Take back a share; from the next frame on, that user's overlays of the block are removed."""
        self.sharing.unshare(user, block_id, with_user)

    def set_public(self, user: User, block_id: str, public: bool) -> None:
        """Make a block (and what is under it) readable by every signed-in user, or private again."""
        self.sharing.require(user, block_id, OWNER)
        self.store.set_public(block_id, public)

    def access(self, user: User, block_id: str) -> Access:
        self.sharing.require(user, block_id, OWNER)
        block = self._block(block_id)
        return Access(block_id, block.owner, block.public, self.sharing.shares(block_id))

    def stamp(self, block_id: str) -> tuple[int, int]:
        """Changes whenever the block, or its set of children or any child, changes (access not checked)."""
        return self.store.stamp(block_id)

    def role(self, user: User, block_id: str) -> Role | None:
        return self.sharing.role(user, block_id)

    # anchors
    def attach(self, user: User, block_id: str, object_id: str, pose: Any = IDENTITY_POSE) -> Anchor:
        self.sharing.require(user, block_id, WRITE)
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
        if anchor is None or self.role(user, anchor.block_id) is None:
            raise NotFound(f"no anchor {anchor_id}")
        self.sharing.require(user, anchor.block_id, WRITE)
        return self.store.delete_anchor(anchor_id)

    def get_anchor(self, user: User, anchor_id: str) -> Anchor:
        anchor = self.store.get_anchor(anchor_id)
        if anchor is None or self.role(user, anchor.block_id) is None:
            raise NotFound(f"no anchor {anchor_id}")
        return anchor

    def attached(self, user: User, object_ids: Iterable[str]) -> list[tuple[Anchor, Block]]:
        """What `user` may see pinned to any of `object_ids`."""
        readable: dict[str, bool] = {}
        pinned = []
        for anchor, block in self.store.anchors_on(object_ids):
            if block.id not in readable:
                readable[block.id] = self.role(user, block.id) is not None
            if readable[block.id]:
                pinned.append((anchor, block))
        return pinned

    def _block(self, block_id: str) -> Block:
        block = self.store.get_block(block_id)
        if block is None:
            raise NotFound(f"no block {block_id}")
        return block

