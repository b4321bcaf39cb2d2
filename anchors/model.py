"""The data model: users, blocks and anchors that pin blocks to objects.

An object is named by the id the vision side gives it (`marker:aruco/7`); it
needs no row of its own to have blocks pinned to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from anchors.errors import BlockShapeError

BlockKind = Literal["markdown", "json", "table"]
BLOCK_KINDS: tuple[str, ...] = ("markdown", "json", "table")
Role = Literal["owner", "write", "read"]

IDENTITY_POSE: tuple[float, ...] = (1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1)


@dataclass(frozen=True)
class User:
    id: str
    name: str


@dataclass(frozen=True)
class Block:
    """A unit of content with an owner. `version` grows by one on each edit."""

    id: str
    kind: str
    owner: str
    title: str
    content: Any
    version: int
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Anchor:
    """Pins `block_id` to `object_id`; `pose` (16 floats, row-major 4x4) places it in the object's frame."""

    id: str
    block_id: str
    object_id: str
    pose: tuple[float, ...]
    owner: str
    created_at: float


def validate_content(kind: str, content: Any) -> Any:
    """Return `content` if it has the shape `kind` asks for, else raise BlockShapeError."""
    if kind not in BLOCK_KINDS:
        raise BlockShapeError(f"unknown block kind {kind!r}; expected one of {', '.join(BLOCK_KINDS)}")
    if kind == "markdown" and not isinstance(content, str):
        raise BlockShapeError(f"a markdown block's content must be a string, not {type(content).__name__}")
    if kind == "table":
        _validate_table(content)
    return content


def _validate_table(content: Any) -> None:
    if not isinstance(content, dict) or set(content) - {"columns", "rows"} or "columns" not in content:
        raise BlockShapeError('a table block\'s content must be {"columns": [names], "rows": [[cells]]}')
    columns, rows = content["columns"], content.get("rows", [])
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns) or not columns:
        raise BlockShapeError("table columns must be a non-empty list of strings")
    if not isinstance(rows, list):
        raise BlockShapeError("table rows must be a list of rows")
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(columns):
            raise BlockShapeError(f"table row {i} must be a list of {len(columns)} cells, one per column")
        for j, cell in enumerate(row):
            if cell is not None and not isinstance(cell, (str, int, float, bool)):
                raise BlockShapeError(f"table cell ({i}, {j}) must be text, a number, a boolean or null")
            if isinstance(cell, float) and not math.isfinite(cell):
                raise BlockShapeError(f"table cell ({i}, {j}) must be a finite number")


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
