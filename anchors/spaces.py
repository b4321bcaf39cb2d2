"""Access-checked operations on spaces: a shared frame with its map, its shares, and blocks placed in it.

A space's readers are its owner and the users it is shared with; writers
(the owner and users shared with `write`) rename it, replace its map and place
blocks in it; only the owner deletes or shares it (`anchors.access`). Placing
a block needs write access to both the block and the space; a reader of the
space sees only the placed blocks they may read themselves. The map's size is
checked against the blocks' `Limits`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from anchors.access import OWNER, READ, WRITE, Sharing
from anchors.blocks import BlockService
from anchors.errors import BlockShapeError, NotFound, TooLarge
from anchors.model import (
    Anchor,
    Block,
    Role,
    Space,
    User,
    validate_landmarks,
    validate_map_points,
    validate_rigid_pose,
    validate_space_name,
    validate_voxel_size,
)


class SpaceService:
    def __init__(self, blocks: BlockService) -> None:
        self.blocks = blocks
        self.store = blocks.store
        self.limits = blocks.limits
        self.sharing = Sharing(self.store, "space")

    def create_space(self, user: User, name: str) -> Space:
        return self.store.insert_space(user.id, validate_space_name(name))

    def get_space(self, user: User, space_id: str) -> Space:
        self.sharing.require(user, space_id, READ)
        return self._space(space_id)

    def list_spaces(self, user: User) -> list[Space]:
        return self.store.spaces_of(user.id)

    def rename_space(self, user: User, space_id: str, name: str) -> Space:
        self.sharing.require(user, space_id, WRITE)
        return self.store.rename_space(space_id, validate_space_name(name)) or self._space(space_id)

    def set_space_map(self, user: User, space_id: str, points: Any, voxel_size: float = 0.05,
                      landmarks: Any = None) -> Space:
        """Replace the space's map points (N, 3, metres, space frame) and, when given, its landmarks."""
        self.sharing.require(user, space_id, WRITE)
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
        self.sharing.require(user, space_id, READ)
        points = self.store.space_points(space_id)
        if points is None:
            raise NotFound(f"no space {space_id}")
        return points

    def delete_space(self, user: User, space_id: str) -> None:
        """Delete a space with the anchors placed in it (owner only); the blocks stay."""
        self.sharing.require(user, space_id, OWNER)
        self.store.delete_space(space_id)

    def share_space(self, user: User, space_id: str, with_user: str, role: Role) -> None:
        self.sharing.share(user, space_id, with_user, role)

    def unshare_space(self, user: User, space_id: str, with_user: str) -> None:
        self.sharing.unshare(user, space_id, with_user)

    def space_role(self, user: User, space_id: str) -> Role | None:
        return self.sharing.role(user, space_id)

    # blocks placed in a space
    def attach_in_space(self, user: User, block_id: str, space_id: str, space_pose: Any) -> tuple[Anchor, int]:
        """Place a block at `space_pose` in the space's frame; returns the anchor and the space's revision."""
        self.blocks.sharing.require(user, block_id, WRITE)
        self.sharing.require(user, space_id, WRITE)
        return self.store.insert_space_anchor(block_id, space_id, validate_rigid_pose(space_pose), user.id)

    def move_anchor(self, user: User, anchor_id: str, space_pose: Any) -> tuple[Anchor, int]:
        """Move an anchor placed in a space; returns it and the space's revision after the move."""
        anchor = self.blocks.get_anchor(user, anchor_id)
        if anchor.space_id is None:
            raise BlockShapeError(f"anchor {anchor_id} is pinned to an object, not placed in a space")
        self.blocks.sharing.require(user, anchor.block_id, WRITE)
        self.sharing.require(user, anchor.space_id, WRITE)
        moved = self.store.move_space_anchor(anchor_id, validate_rigid_pose(space_pose))
        if moved is None:
            raise NotFound(f"no anchor {anchor_id}")
        return moved

    def space_anchors(self, user: User, space_id: str) -> list[tuple[Anchor, Block]]:
        """The anchors placed in a space whose blocks `user` may read, with the blocks."""
        self.sharing.require(user, space_id, READ)
        _, anchors = self.store.space_anchors(space_id)
        pinned = self.blocks.attached(user, [a.object_id for a in anchors])
        return [(anchor, block) for anchor, block in pinned if anchor.space_id == space_id]

    def _space(self, space_id: str) -> Space:
        space = self.store.get_space(space_id)
        if space is None:
            raise NotFound(f"no space {space_id}")
        return space
