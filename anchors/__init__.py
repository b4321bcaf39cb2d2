"""Anchors: objects, the blocks people pin to them, their views and compute, and where blocks are stored.

Independent of `vision` and `spatial`. Three services are the way in, one a
subject: `AccountService` (users and their tokens), `BlockService` (blocks,
their shares, and anchors on objects) and `SpaceService` (spaces, their maps
and shares, and blocks placed in them). Every read and write through them is
checked against the owner and the shares (`anchors.access`). `ComputeService`
computes tables, views and compute blocks, only for what is asked for (the
blocks in view, or one REST request); `VisibleBlocks` keeps one viewer's blocks
in view from frame to frame and redoes only what the store's change log says
was written (`Store.changes_since`).

The package is in three wings beside the data model and the services at its
top level: `anchors.sheets` (cells, formulas, tables, the engine, import and
export), `anchors.storage` (the store, by subject, on SQLite or PostgreSQL)
and `anchors.compute` (compute blocks, their functions and executors).
"""

from anchors.access import Sharing
from anchors.accounts import AccountService
from anchors.blocks import Access, BlockService
from anchors.compute import builtin_functions as _builtin_functions  # noqa: F401  (registers the built-in compute functions)
from anchors.compute.compute_blocks import (
    REGISTRY,
    ObjectSignal,
    Signals,
    SignalTracker,
    compute_function,
)
from anchors.compute.executors import (
    Executor,
    LocalExecutor,
    Outcome,
    RayExecutor,
    Task,
    create_executor,
)
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
from anchors.limits import Limits
from anchors.model import Anchor, Block, BlockKind, Space, User, space_place, validate_content
from anchors.sheets.cell_values import CellError
from anchors.sheets.engine import ComputeService, Displayed
from anchors.sheets.formulas import FormulaSyntaxError
from anchors.sheets.sheet import Sheet
from anchors.spaces import SpaceService
from anchors.storage.change_log import ChangeSet
from anchors.storage.interface import Store, Subject, TokenInfo
from anchors.storage.schema import StoreFormatError
from anchors.storage.sqlite import SQLiteStore
from anchors.views import TableValues
from anchors.visible import VisibleBlocks

__all__ = [
    "REGISTRY",
    "Access",
    "AccountService",
    "Anchor",
    "AnchorsError",
    "Block",
    "BlockKind",
    "BlockService",
    "BlockShapeError",
    "CellError",
    "ChangeSet",
    "ComputeService",
    "Displayed",
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
    "Sharing",
    "Sheet",
    "Space",
    "SpaceService",
    "SignalTracker",
    "Signals",
    "Store",
    "StoreFormatError",
    "Subject",
    "TableValues",
    "Task",
    "TokenInfo",
    "TooLarge",
    "TooManyBlocks",
    "User",
    "VersionConflict",
    "VisibleBlocks",
    "compute_function",
    "create_executor",
    "space_place",
    "validate_content",
]
