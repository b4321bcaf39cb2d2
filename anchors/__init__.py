"""Anchors: objects, the blocks people pin to them, their views and compute, and where blocks are stored.

Independent of `vision` and `spatial`. `BlockService` is the entry point for
blocks: every read and write goes through it and is checked against the
block's owner and sharing. `ComputeService` computes tables, views and compute
blocks, only for what is asked for (the blocks in view, or one REST request).
"""

from anchors import functions as _builtin_functions  # noqa: F401  (registers the built-in compute functions)
from anchors.cell_values import CellError
from anchors.compute import (
    REGISTRY,
    ObjectSignal,
    Signals,
    SignalTracker,
    compute_function,
)
from anchors.engine import ComputeService, TableValues
from anchors.crypto import ServiceKey, ServiceKeyError
from anchors.errors import (
    AnchorsError,
    BlockShapeError,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    TooLarge,
    TooManyBlocks,
    VersionConflict,
)
from anchors.executors import (
    Executor,
    LocalExecutor,
    Outcome,
    RayExecutor,
    Task,
    create_executor,
)
from anchors.formulas import FormulaSyntaxError
from anchors.model import Anchor, Block, BlockKind, Space, User, space_place, validate_content
from anchors.service import Access, BlockService, Limits
from anchors.sheet import Sheet
from anchors.sqlite import SQLiteStore
from anchors.store import Store, TokenInfo

__all__ = [
    "REGISTRY",
    "Access",
    "Anchor",
    "AnchorsError",
    "Block",
    "BlockKind",
    "BlockService",
    "BlockShapeError",
    "CellError",
    "ComputeService",
    "Executor",
    "FormulaSyntaxError",
    "LimitExceeded",
    "Limits",
    "LocalExecutor",
    "NotFound",
    "ObjectSignal",
    "Outcome",
    "PermissionDenied",
    "RayExecutor",
    "SQLiteStore",
    "ServiceKey",
    "ServiceKeyError",
    "Sheet",
    "Space",
    "SignalTracker",
    "Signals",
    "Store",
    "TableValues",
    "Task",
    "TokenInfo",
    "TooLarge",
    "TooManyBlocks",
    "User",
    "VersionConflict",
    "compute_function",
    "create_executor",
    "space_place",
    "validate_content",
]
