"""Panel draw ops: the models the layout builds and the protocol sends in a panel's `content`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import MISSING, Field

from spatial.wire import WireModel


class OpRef(WireModel):
    """What an op shows, so that a client can tell what a tap on it meant: a grid cell (`row`, `field`), a
    column header (`field`), a kanban card (`row`, `lane`) or lane (`lane`), or a pager button (`first`:
    the window of rows it shows, for a `page` message)."""

    row: str = MISSING  # type: ignore[assignment]
    field: str = MISSING  # type: ignore[assignment]
    lane: str = MISSING  # type: ignore[assignment]
    first: int = MISSING  # type: ignore[assignment]


class RectOp(WireModel):
    op: Literal["rect"] = "rect"
    x: float
    y: float
    w: float
    h: float
    fill: str
    radius: float
    ref: OpRef = MISSING  # type: ignore[assignment]


class TextOp(WireModel):
    """One line of text; `y` is its top."""

    op: Literal["text"] = "text"
    x: float
    y: float
    text: str
    size: int
    color: str
    bold: bool


class CellOp(WireModel):
    """A table cell."""

    op: Literal["cell"] = "cell"
    x: float
    y: float
    w: float
    h: float
    text: str
    size: int
    color: str
    fill: str
    stroke: str
    align: Literal["left", "right"]
    ref: OpRef = MISSING  # type: ignore[assignment]


DrawOp = Annotated[RectOp | TextOp | CellOp, Field(discriminator="op")]
