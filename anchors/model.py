"""The data model: users, blocks and anchors that pin blocks to objects.

Every item is a block: it has an id, a kind (its type), an owner, a parent,
ordered children and typed content (its properties). An object is named by the
id the vision side gives it (`marker:aruco/7`); it needs no row of its own to
have blocks pinned to it.

The shape of each kind's content is checked here; what a table's cells may hold
is checked in `anchors.sheets.tables`, views in `anchors.views`, compute in
`anchors.compute.compute_blocks`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

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
    """Pins `block_id` to `object_id`; `pose` (16 floats, row-major 4x4) places it in the object's frame.

    An anchor in a space (`space_id`) is placed by `space_pose` in the space's
    frame instead; its `object_id` is then its own place, `space:<space id>/<anchor id>`.
    """

    id: str
    block_id: str
    object_id: str
    pose: tuple[float, ...]
    owner: str
    created_at: float
    space_id: str | None = None
    space_pose: tuple[float, ...] | None = None


SPACE_PREFIX = "space:"


def space_place(space_id: str, anchor_id: str) -> str:
    """The object id of an anchor placed in a space: the place itself."""
    return f"{SPACE_PREFIX}{space_id}/{anchor_id}"


@dataclass(frozen=True)
class Space:
    """A frame shared by the devices in one place, with its compact map.

    The map is `point_count` points (what was seen, in the space frame, at
    `voxel_size` metres) and `landmarks`: marker or taught-object ids to their
    4x4 poses (16 floats, row-major) in the space frame. `map_version` grows
    with each map upload; `revision` with each change of the space's anchors.
    """

    id: str
    owner: str
    name: str
    voxel_size: float
    point_count: int
    landmarks: dict[str, tuple[float, ...]]
    created_at: float
    updated_at: float
    map_version: int = 0
    revision: int = 0


MAX_SPACE_NAME_CHARS = 200
MAX_LANDMARKS = 1024


def validate_space_name(name: Any) -> str:
    if not isinstance(name, str) or len(name) > MAX_SPACE_NAME_CHARS:
        raise BlockShapeError(f"a space's name must be text of at most {MAX_SPACE_NAME_CHARS} characters")
    return name


def validate_map_points(points: Any) -> np.ndarray:
    """(N, 3) finite float32 points, C-ordered; BlockShapeError otherwise."""
    try:
        array = np.asarray(points, dtype=np.float32)
    except (TypeError, ValueError):
        raise BlockShapeError("map points must be numbers, three per point (x, y, z in metres)") from None
    if array.ndim != 2 or array.shape[1] != 3:
        raise BlockShapeError(f"map points must be an (N, 3) array of x, y, z; got shape {array.shape}")
    if not np.isfinite(array).all():
        raise BlockShapeError("map points must be finite numbers")
    return np.ascontiguousarray(array)


def validate_voxel_size(voxel_size: Any) -> float:
    try:
        value = float(voxel_size)
    except (TypeError, ValueError):
        raise BlockShapeError("a map's voxel_size must be a number of metres") from None
    if not 0.005 <= value <= 1.0:
        raise BlockShapeError(f"a map's voxel_size must be between 0.005 and 1 metre, not {value:g}")
    return value


def validate_landmarks(landmarks: Any) -> dict[str, tuple[float, ...]]:
    """Marker or object ids to rigid 4x4 poses in the space frame."""
    if not isinstance(landmarks, dict):
        raise BlockShapeError("landmarks must map marker or object ids to poses (16 numbers each)")
    if len(landmarks) > MAX_LANDMARKS:
        raise BlockShapeError(f"a space holds at most {MAX_LANDMARKS} landmarks, not {len(landmarks)}")
    checked = {}
    for key, pose in landmarks.items():
        if not isinstance(key, str) or not 0 < len(key) <= 200:
            raise BlockShapeError("a landmark id must be text of 1 to 200 characters")
        checked[key] = validate_rigid_pose(pose, f"the pose of landmark {key!r}")
    return checked


def validate_rigid_pose(pose: Any, what: str = "a space pose") -> tuple[float, ...]:
    """A pose (as `validate_pose`) whose rotation part is a proper rotation."""
    values = validate_pose(pose, what)
    rotation = np.asarray(values, dtype=np.float64).reshape(4, 4)[:3, :3]
    if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-3) or np.linalg.det(rotation) < 0:
        raise BlockShapeError(f"{what} must have a rotation (orthonormal, no mirroring) as its upper-left 3x3")
    return values


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


def validate_pose(pose: Any, what: str = "an anchor pose") -> tuple[float, ...]:
    """A 4x4 row-major pose as 16 floats; raises BlockShapeError naming `what` otherwise."""
    try:
        values = tuple(float(v) for v in pose)
    except (TypeError, ValueError):
        raise BlockShapeError(f"{what} must be 16 numbers (a row-major 4x4 matrix)") from None
    if len(values) != 16 or not all(math.isfinite(v) for v in values):
        raise BlockShapeError(f"{what} must be 16 finite numbers (a row-major 4x4 matrix)")
    if values[12:] != (0.0, 0.0, 0.0, 1.0):
        raise BlockShapeError(f"{what} must have 0 0 0 1 as its last row")
    return values
