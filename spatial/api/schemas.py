"""Request and response bodies of the REST API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from anchors import Access, Anchor, Block, BlockKind, Space
from anchors.model import IDENTITY_POSE

Pose = list[float]
POSE_DOC = "Row-major 4x4 matrix (16 numbers) placing the block in the object's frame, metres."


class BlockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: BlockKind
    title: str = Field(default="", description="At most 200 characters (the service's max_title_chars).")
    content: Any = Field(
        default=None,
        description="page: {} ; markdown: a string; json: any JSON value; table: {fields, rows?} or {columns, rows};"
        " row: {cells}; view: {table, layout, ...}; compute: {function, inputs, triggers?} (docs/blocks.md)",
    )
    parent: str | None = Field(default=None, description="The block to create this one under (a table, for a row).")
    index: int | None = Field(default=None, ge=0, description="Position among the parent's children (default: last).")


class BlockPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = None
    content: Any = None
    version: int | None = Field(default=None, description="The version this edit is based on; a stale one is refused (409).")


class BlockOut(BaseModel):
    id: str
    kind: str
    owner: str
    title: str
    content: Any
    version: int
    created_at: float
    updated_at: float
    parent: str | None = None
    children: list[str] = []
    public: bool = Field(default=False, description="Made readable by every signed-in user, with what is under it.")

    @classmethod
    def of(cls, block: Block) -> BlockOut:
        return cls(**{**block.__dict__, "children": list(block.children)})


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parent: str | None = Field(description="The new parent, or null for the top level.")
    index: int | None = Field(default=None, ge=0, description="Position among the new siblings (default: last).")


class CellError(BaseModel):
    code: str = Field(description="As spreadsheets write it: #DIV/0!, #REF!, #NAME?, #VALUE!, #NUM!, #N/A, #CYCLE!, #COMPUTE!")
    message: str


class RowOut(BaseModel):
    id: str
    version: int
    cells: dict[str, Any] = Field(description="What is stored: values, formulas (=...), compute specs.")
    values: dict[str, Any] = Field(description="Computed values (a date as {\"date\": \"YYYY-MM-DD\"}); a failed cell is null here and listed in errors.")
    errors: dict[str, CellError] = {}


class TableOut(BaseModel):
    table: BlockOut
    fields: list[dict[str, Any]]
    rows: list[RowOut]


class RowsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=10_000, description="Cells by field name, one object a row.")
    index: int | None = Field(default=None, ge=0)


class CellsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cells: dict[str, Any] = Field(description="Cells to set by field name; null clears one. Others are kept.")
    version: int | None = Field(default=None, description="The row version this edit is based on; a stale one is refused (409).")


class FormulaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    formula: str = Field(max_length=4000, description="A formula starting with '=', as if written in a new column.")
    row: int | None = Field(default=None, ge=0, description="The row it is evaluated in (from 0), for field references.")


class ValueOut(BaseModel):
    value: Any = None
    error: CellError | None = None


class ResultOut(BaseModel):
    block_id: str
    function: str
    value: Any = None
    error: str | None = None


class FunctionOut(BaseModel):
    name: str
    doc: str


class DisplayOut(BaseModel):
    id: str
    kind: str = Field(description="How it is laid out: markdown, json, view or compute.")
    title: str
    content: Any


class ShareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str = Field(description="Name of the user to share with.")
    role: Literal["read", "write"] = "read"


class AnchorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    block_id: str
    pose: Pose = Field(default_factory=lambda: list(IDENTITY_POSE), min_length=16, max_length=16, description=POSE_DOC)


class AnchorOut(BaseModel):
    id: str
    block_id: str
    object_id: str = Field(description="The object it is pinned to; for an anchor in a space, its place: space:<space>/<anchor>.")
    pose: Pose
    owner: str
    created_at: float
    space_id: str | None = Field(default=None, description="The space it is placed in, if any.")
    space_pose: Pose | None = Field(default=None, description="Row-major 4x4 pose in the space's frame, metres.")

    @classmethod
    def of(cls, anchor: Anchor) -> AnchorOut:
        space_pose = list(anchor.space_pose) if anchor.space_pose is not None else None
        return cls(**{**anchor.__dict__, "pose": list(anchor.pose), "space_pose": space_pose})


class AttachedOut(BaseModel):
    anchor: AnchorOut
    block: BlockOut


class UserOut(BaseModel):
    id: str
    name: str


class PublicIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public: bool = Field(description="true: every signed-in user may read the block and what is under it.")


class ShareOut(BaseModel):
    user: str
    role: Literal["read", "write"]


class AccessOut(BaseModel):
    block_id: str
    owner: str
    public: bool
    shares: list[ShareOut]

    @classmethod
    def of(cls, access: Access) -> AccessOut:
        return cls(
            block_id=access.block_id, owner=access.owner, public=access.public,
            shares=[ShareOut(user=u.name, role=role) for u, role in access.shares],  # type: ignore[arg-type]
        )


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: str = Field(min_length=1, max_length=64, description="A name for the device the token is for.")


class TokenOut(BaseModel):
    id: str
    device: str
    created_at: float


class NewTokenOut(BaseModel):
    id: str
    device: str
    token: str = Field(description="Shown once; the service keeps only its hash.")


class JoinLink(BaseModel):
    url: str = Field(description="The web client's address on one LAN address, the token in its `#token=` fragment.")
    qr_png: str = Field(description="The URL as a QR code, a PNG `data:` URI.")


class JoinOut(NewTokenOut):
    links: list[JoinLink] = Field(description="One for each address another device reaches the service at; empty"
                                              " when it listens on loopback only.")


SPACE_POSE_DOC = "Row-major 4x4 rigid transform (16 numbers) placing the block in the space's frame, metres."


class SpaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="", max_length=200)


class SpaceOut(BaseModel):
    id: str
    owner: str
    name: str
    voxel_size: float = Field(description="The map's point spacing in metres.")
    point_count: int
    landmarks: dict[str, Pose] = Field(description="Marker or taught-object ids to their poses in the space frame.")
    map_version: int = Field(description="Grows by one with each map upload.")
    created_at: float
    updated_at: float

    @classmethod
    def of(cls, space: Space) -> SpaceOut:
        fields = {k: v for k, v in space.__dict__.items() if k != "revision"}
        return cls(**{**fields, "landmarks": {k: list(v) for k, v in space.landmarks.items()}})


class SpaceMapIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    points: str = Field(
        description="The map's points in the space frame: base64 of little-endian float32 x, y, z (12 bytes a point),"
        " at most max_map_points (200,000) points.",
    )
    voxel_size: float = Field(default=0.05, ge=0.005, le=1.0, description="Point spacing in metres.")
    landmarks: dict[str, Pose] | None = Field(
        default=None, description="Marker or taught-object ids to poses in the space frame; null keeps the current ones.",
    )


class SpaceMapOut(BaseModel):
    points: str = Field(description="Base64 of little-endian float32 x, y, z.")
    voxel_size: float
    landmarks: dict[str, Pose]


class SpaceAnchorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    block_id: str
    pose: Pose = Field(min_length=16, max_length=16, description=SPACE_POSE_DOC)


class AnchorMoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    space_pose: Pose = Field(min_length=16, max_length=16, description=SPACE_POSE_DOC)
