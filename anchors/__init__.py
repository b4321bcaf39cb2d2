"""Anchors: objects, the blocks people pin to them, and where blocks are stored.

Independent of `vision` and `spatial`. `BlockService` is the entry point: every
read and write goes through it and is checked against the block's owner and
sharing.
"""

from anchors.errors import (
    AnchorsError,
    BlockShapeError,
    NotFound,
    PermissionDenied,
    VersionConflict,
)
from anchors.model import Anchor, Block, BlockKind, User, validate_content
from anchors.service import BlockService
from anchors.sqlite import SQLiteStore
from anchors.store import Store

__all__ = [
    "Anchor",
    "AnchorsError",
    "Block",
    "BlockKind",
    "BlockService",
    "BlockShapeError",
    "NotFound",
    "PermissionDenied",
    "SQLiteStore",
    "Store",
    "User",
    "VersionConflict",
    "validate_content",
]
