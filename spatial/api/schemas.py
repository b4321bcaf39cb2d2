"""Request and response bodies of the REST API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from anchors import Anchor, Block
from anchors.model import IDENTITY_POSE

Pose = list[float]
POSE_DOC = "Row-major 4x4 matrix (16 numbers) placing the block in the object's frame, metres."


class BlockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["markdown", "json", "table"]
    title: str = Field(default="", max_length=200)
    content: Any = Field(description="markdown: a string; json: any JSON value; table: {columns, rows}")


class BlockPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, max_length=200)
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

    @classmethod
    def of(cls, block: Block) -> BlockOut:
        return cls(**block.__dict__)


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
    object_id: str
    pose: Pose
    owner: str
    created_at: float

    @classmethod
    def of(cls, anchor: Anchor) -> AnchorOut:
        return cls(**{**anchor.__dict__, "pose": list(anchor.pose)})


class AttachedOut(BaseModel):
    anchor: AnchorOut
    block: BlockOut


class UserOut(BaseModel):
    id: str
    name: str
