"""Stream protocol v1: the messages on `/v1/stream` (see docs/protocol.md).

Text messages are JSON objects with a `type`. Camera frames are binary
messages: a little-endian header followed by JPEG or WebP bytes.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from vision.poses import check_pose

PROTOCOL_VERSION = 1
FRAME_MAGIC = b"SPF1"

FLAG_INTRINSICS = 1
FLAG_POSE = 2
FLAG_DEPTH = 4
_KNOWN_FLAGS = FLAG_INTRINSICS | FLAG_POSE | FLAG_DEPTH

# magic, flags, 3 reserved bytes, frame id, capture timestamp (ms)
_FIXED = struct.Struct("<4sB3xId")
_INTRINSICS = struct.Struct("<4f")
_POSE = struct.Struct("<16f")
# depth map: width, height, sample format, 3 reserved bytes; then width x height samples, row by row
_DEPTH = struct.Struct("<HHB3s")
FIXED_HEADER_SIZE = _FIXED.size

DEPTH_FLOAT32 = 0
"""Depth samples as float32 metres (0 or non-finite: no measurement)."""
DEPTH_UINT16_MM = 1
"""Depth samples as uint16 millimetres (0: no measurement)."""
_DEPTH_SAMPLE = {DEPTH_FLOAT32: np.dtype("<f4"), DEPTH_UINT16_MM: np.dtype("<u2")}
MAX_DEPTH_SIDE = 1024


class ProtocolError(Exception):
    """A message the server cannot act on; sent back as an `error` message."""

    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


@dataclass(frozen=True)
class FrameHeader:
    frame_id: int
    timestamp_ms: float
    intrinsics: tuple[float, float, float, float] | None = None  # fx, fy, cx, cy
    device_pose: np.ndarray | None = None  # camera-to-world 4x4 in the client's reference space
    depth: np.ndarray | None = None  # HxW float32 z-depth in metres, 0 where nothing was measured


def pack_frame(
    frame_id: int,
    timestamp_ms: float,
    image: bytes,
    intrinsics: tuple[float, float, float, float] | None = None,
    device_pose: np.ndarray | None = None,
    depth: np.ndarray | None = None,
    depth_format: int = DEPTH_FLOAT32,
) -> bytes:
    """Encode a binary `frame` message; `depth` (HxW metres) is sent as float32 or uint16 millimetres."""
    flags = (
        (FLAG_INTRINSICS if intrinsics is not None else 0)
        | (FLAG_POSE if device_pose is not None else 0)
        | (FLAG_DEPTH if depth is not None else 0)
    )
    parts = [_FIXED.pack(FRAME_MAGIC, flags, frame_id, timestamp_ms)]
    if intrinsics is not None:
        parts.append(_INTRINSICS.pack(*intrinsics))
    if device_pose is not None:
        parts.append(_POSE.pack(*np.asarray(device_pose, dtype=np.float64).reshape(16)))
    if depth is not None:
        metres = np.asarray(depth, dtype=np.float32)
        height, width = metres.shape
        parts.append(_DEPTH.pack(width, height, depth_format, bytes(3)))
        if depth_format == DEPTH_UINT16_MM:
            valid = np.isfinite(metres) & (metres > 0)
            samples = np.zeros(metres.shape)
            samples[valid] = np.clip(np.round(metres[valid] * 1000.0), 0, 65535)
        else:
            samples = metres
        parts.append(samples.astype(_DEPTH_SAMPLE[depth_format]).tobytes())
    parts.append(image)
    return b"".join(parts)


def _parse_depth(data: bytes, offset: int, ref: str) -> tuple[np.ndarray, int]:
    """The depth section at `offset`: the map in metres and the offset after it."""
    if len(data) < offset + _DEPTH.size:
        raise ProtocolError("bad_header", f"frame header is truncated: the depth section needs {_DEPTH.size} bytes"
                            f" at offset {offset}, got {max(0, len(data) - offset)}", ref)
    width, height, sample_format, reserved = _DEPTH.unpack_from(data, offset)
    offset += _DEPTH.size
    if sample_format not in _DEPTH_SAMPLE:
        raise ProtocolError("bad_header", f"depth sample format {sample_format} is unknown; expected 0 (float32 metres)"
                            " or 1 (uint16 millimetres)", ref)
    if reserved != bytes(3):
        raise ProtocolError("bad_header", "the depth section's reserved bytes must be zero", ref)
    if not (2 <= width <= MAX_DEPTH_SIDE and 2 <= height <= MAX_DEPTH_SIDE):
        raise ProtocolError("bad_header", f"depth map is {width}x{height}; each side must be 2 to {MAX_DEPTH_SIDE}", ref)
    dtype = _DEPTH_SAMPLE[sample_format]
    size = width * height * dtype.itemsize
    if len(data) < offset + size:
        raise ProtocolError("bad_header", f"frame is truncated: a {width}x{height} depth map needs {size} bytes,"
                            f" {max(0, len(data) - offset)} are left", ref)
    samples = np.frombuffer(data, dtype=dtype, count=width * height, offset=offset).reshape(height, width)
    metres = samples.astype(np.float32) * (np.float32(0.001) if sample_format == DEPTH_UINT16_MM else np.float32(1.0))
    return metres, offset + size


def parse_frame(data: bytes) -> tuple[FrameHeader, bytes]:
    """Split a binary `frame` message into its header and image bytes."""
    if len(data) < _FIXED.size:
        raise ProtocolError("bad_header", f"frame is {len(data)} bytes, shorter than the {_FIXED.size}-byte header")
    magic, flags, frame_id, timestamp = _FIXED.unpack_from(data)
    ref = f"frame:{frame_id}"
    if magic != FRAME_MAGIC:
        raise ProtocolError("bad_header", f"frame header must start with {FRAME_MAGIC!r}, got {magic!r}")
    if flags & ~_KNOWN_FLAGS:
        raise ProtocolError("bad_header", f"frame header has unknown flags {flags:#04x}", ref)
    offset = _FIXED.size
    need = offset + (_INTRINSICS.size if flags & FLAG_INTRINSICS else 0) + (_POSE.size if flags & FLAG_POSE else 0)
    if len(data) < need:
        raise ProtocolError("bad_header", f"frame header is truncated: flags announce {need} bytes, got {len(data)}", ref)
    intrinsics = pose = None
    if flags & FLAG_INTRINSICS:
        intrinsics = _INTRINSICS.unpack_from(data, offset)
        offset += _INTRINSICS.size
        if not all(np.isfinite(intrinsics)) or intrinsics[0] <= 0 or intrinsics[1] <= 0:
            raise ProtocolError("bad_header", "frame intrinsics must be finite with positive focal lengths", ref)
    if flags & FLAG_POSE:
        pose = np.array(_POSE.unpack_from(data, offset), dtype=np.float64).reshape(4, 4)
        offset += _POSE.size
        if not np.all(np.isfinite(pose)):
            raise ProtocolError("bad_header", "frame device pose must be 16 finite numbers", ref)
    depth = None
    if flags & FLAG_DEPTH:
        depth, offset = _parse_depth(data, offset, ref)
    if offset == len(data):
        raise ProtocolError("bad_image", "frame has a header but no image bytes", ref)
    return FrameHeader(frame_id, timestamp, intrinsics, pose, depth), data[offset:]


class Camera(BaseModel):
    """Camera intrinsics in pixels, or a vertical field of view from which they are derived."""

    model_config = ConfigDict(extra="forbid")
    width: int = Field(gt=0, le=8192)
    height: int = Field(gt=0, le=8192)
    fx: float | None = Field(default=None, gt=0)
    fy: float | None = Field(default=None, gt=0)
    cx: float | None = None
    cy: float | None = None
    fov_y_deg: float | None = Field(default=None, gt=1, lt=179)

    @model_validator(mode="after")
    def _intrinsics_or_fov(self) -> Camera:
        given = [v is not None for v in (self.fx, self.fy, self.cx, self.cy)]
        if any(given) and not all(given):
            raise ValueError("give all of fx, fy, cx, cy, or none of them and fov_y_deg")
        if not any(given) and self.fov_y_deg is None:
            raise ValueError("give either fx, fy, cx, cy or fov_y_deg")
        return self


class Hello(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["hello"]
    id: str | None = None
    protocol: int
    token: str | None = None
    capabilities: list[str] = Field(default_factory=lambda: ["vector"], max_length=32)
    camera: Camera | None = None
    space: str | None = Field(default=None, min_length=1, max_length=100)


class StatsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["stats"]
    id: str | None = None


class Teach(BaseModel):
    """Remember the object in `box` of a recently sent frame."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["teach"]
    id: str | None = None
    frame_id: int = Field(ge=0)
    box: list[float] = Field(min_length=4, max_length=4)
    label: str = Field(default="object", min_length=1, max_length=64)
    size_m: float | list[float] | None = None


class Place(BaseModel):
    """Put a block in the session's space (`block`), or move an anchor placed there (`anchor`).

    `pose` is where, in the client's reference space: the frame its device
    poses are in, as `placement.pose` of a `device` overlay.
    """

    model_config = ConfigDict(extra="forbid")
    type: Literal["place"]
    id: str | None = None
    block: str | None = Field(default=None, min_length=1, max_length=100)
    anchor: str | None = Field(default=None, min_length=1, max_length=100)
    pose: list[float] = Field(min_length=16, max_length=16)

    @field_validator("pose")
    @classmethod
    def _rigid(cls, pose: list[float]) -> list[float]:
        check_pose(np.reshape(pose, (4, 4)), "pose")
        return pose

    @model_validator(mode="after")
    def _block_or_anchor(self) -> Place:
        if (self.block is None) == (self.anchor is None):
            raise ValueError("give one of block (to place a block) and anchor (to move an anchor placed before)")
        return self

    @property
    def matrix(self) -> np.ndarray:
        return np.asarray(self.pose, dtype=np.float64).reshape(4, 4)


ClientMessage = Annotated[Hello | StatsRequest | Teach | Place, Field(discriminator="type")]
_CLIENT_MESSAGE: TypeAdapter[Hello | StatsRequest | Teach | Place] = TypeAdapter(ClientMessage)
CLIENT_TYPES = ("hello", "stats", "teach", "place")


def parse_client_message(text: str) -> Hello | StatsRequest | Teach | Place:
    """Parse a text message from a client, or raise ProtocolError naming what is wrong."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError("bad_json", f"message is not valid JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(raw, dict):
        raise ProtocolError("bad_message", "a text message must be a JSON object with a 'type'")
    ref = raw.get("id") if isinstance(raw.get("id"), str) else None
    kind = raw.get("type")
    if kind not in CLIENT_TYPES:
        raise ProtocolError("unknown_type", f"unknown message type {kind!r}; expected one of {', '.join(CLIENT_TYPES)}", ref)
    try:
        return _CLIENT_MESSAGE.validate_python(raw)
    except ValidationError as exc:
        raise ProtocolError("bad_message", f"{kind} message is invalid: {_describe(exc)}", ref) from None


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "message"
    return f"{where}: {first['msg'].removeprefix('Value error, ')}"


def pose_to_list(pose: np.ndarray | None) -> list[float] | None:
    """A 4x4 pose as 16 row-major floats rounded to 0.1 mm / 1e-6, or None."""
    return None if pose is None else [round(float(v), 6) for v in np.asarray(pose).reshape(16)]


def error_message(code: str, message: str, ref: str | None = None) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, "ref": ref}
