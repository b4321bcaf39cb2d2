"""The data model: users, blocks and anchors that pin blocks to objects.

Every item is a block: it has an id, a kind (its type), an owner, a parent,
ordered children and typed content (its properties). An object is named by the
id the vision side gives it (`marker:aruco/7`); it needs no row of its own to
have blocks pinned to it.

The shape of each kind's content is checked here; what a table's cells may hold
is checked in `anchors.tables`, views in `anchors.views`, compute in
`anchors.compute`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from anchors.errors import BlockShapeError

BlockKind = Literal["page", "markdown", "json", "table", "row", "view", "compute"]
BLOCK_KINDS: tuple[str, ...] = ("page", "markdown", "json", "table", "row", "view", "compute")
Role = Literal["owner", "write", "read"]
ROLE_RANK: dict[str, int] = {"read": 1, "write": 2, "owner": 3}

IDENTITY_POSE: tuple[float, ...] = (1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1)


@dataclass(frozen=True)
class User:
    id: str
    name: str


@dataclass(frozen=True)
class Block:
    """A unit of content with an owner. `version` grows by one on each edit of this block.

    `children` are the ids of the blocks whose parent this is, in order; adding,
    moving or removing a child is not an edit of the parent.
    """

    id: str
    kind: str
    owner: str
    title: str
    content: Any
    version: int
    created_at: float
    updated_at: float
    parent: str | None = None
    children: tuple[str, ...] = ()
    public: bool = False
    """Made readable by every signed-in user, with everything under it."""


@dataclass(frozen=True)
class Anchor:
    """Pins `block_id` to `object_id`; `pose` (16 floats, row-major 4x4) places it in the object's frame."""

    id: str
    block_id: str
    object_id: str
    pose: tuple[float, ...]
    owner: str
    created_at: float


def check_kind(kind: str) -> str:
    if kind not in BLOCK_KINDS:
        raise BlockShapeError(f"unknown block kind {kind!r}; expected one of {', '.join(BLOCK_KINDS)}")
    return kind


def validate_content(kind: str, content: Any) -> Any:
    """`content` if it has the shape `kind` asks for (kinds with their own module are checked there)."""
    check_kind(kind)
    if kind == "markdown" and not isinstance(content, str):
        raise BlockShapeError(f"a markdown block's content must be a string, not {type(content).__name__}")
    if kind == "page" and not isinstance(content, (dict, type(None))):
        raise BlockShapeError("a page block's content must be an object of properties (or null)")
    if kind == "json":
        check_json(content, "json block content")
    return {} if kind == "page" and content is None else content


def check_json(value: Any, where: str) -> None:
    """Raise BlockShapeError if `value` is not plain JSON with finite numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        raise BlockShapeError(f"{where} must hold finite numbers only")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise BlockShapeError(f"{where} must have text keys")
            check_json(item, where)
    elif isinstance(value, list):
        for item in value:
            check_json(item, where)
    elif value is not None and not isinstance(value, (str, int, float, bool)):
        raise BlockShapeError(f"{where} must be JSON, not {type(value).__name__}")


def validate_pose(pose: Any) -> tuple[float, ...]:
    """A 4x4 row-major pose as 16 floats; raises BlockShapeError otherwise."""
    try:
        values = tuple(float(v) for v in pose)
    except (TypeError, ValueError):
        raise BlockShapeError("an anchor pose must be 16 numbers (a row-major 4x4 matrix)") from None
    if len(values) != 16 or not all(math.isfinite(v) for v in values):
        raise BlockShapeError("an anchor pose must be 16 finite numbers (a row-major 4x4 matrix)")
    if values[12:] != (0.0, 0.0, 0.0, 1.0):
        raise BlockShapeError("an anchor pose's last row must be 0 0 0 1")
    return values
