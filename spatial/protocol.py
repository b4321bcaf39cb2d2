"""Stream protocol v1: the messages on `/v1/stream` (see docs/protocol.md), both ways, in one place.

Text messages are JSON objects with a `type`. Camera frames are binary
messages: a little-endian header followed by JPEG, PNG or WebP bytes.
Messages from clients are parsed into pydantic models here; every message
the server sends is a pydantic model built by one of the `*_message`
functions at the end; the draw ops of a panel's content are the models of
`spatial.render.ops`, which the layout builds. The same models describe the
stream to client developers as an AsyncAPI document (`spatial.asyncapi`).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import (
    MISSING,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from spatial.render.ops import DrawOp
from spatial.wire import WireModel
from vision import Detection, Intrinsics
from vision.poses import check_pose

if TYPE_CHECKING:
    from anchors import Anchor
    from vision.relocalise import Relocalisation

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


def _parse_depth(data: bytes, offset: int, ref: str | None) -> tuple[np.ndarray, int]:
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


def peek_frame_id(data: bytes) -> int | None:
    """The frame id of a binary message, when it is long enough to hold the fixed header (nothing else is checked)."""
    if len(data) < _FIXED.size:
        return None
    return int(_FIXED.unpack_from(data)[2])


def frame_ref(frame_id: int | None) -> str | None:
    """The `ref` of an error about a binary frame: `frame:<id>`, or None when its id could not be read."""
    return None if frame_id is None else f"frame:{frame_id}"


def parse_frame(data: bytes) -> tuple[FrameHeader, bytes]:
    """Split a binary `frame` message into its header and image bytes."""
    if len(data) < _FIXED.size:
        raise ProtocolError("bad_header", f"frame is {len(data)} bytes, shorter than the {_FIXED.size}-byte header")
    magic, flags, frame_id, timestamp = _FIXED.unpack_from(data)
    ref = frame_ref(frame_id)
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

    def intrinsics(self) -> Intrinsics:
        if self.fx is not None:
            return Intrinsics(self.fx, self.fy, self.cx, self.cy, self.width, self.height)  # type: ignore[arg-type]
        return Intrinsics.from_fov(self.width, self.height, self.fov_y_deg)  # type: ignore[arg-type]


class Hello(BaseModel):
    """Introduce the session: protocol version, access token, camera, what the client draws; comes first."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["hello"]
    id: str | None = None
    protocol: int
    token: str | None = None
    capabilities: list[str] = Field(default_factory=lambda: ["vector"], max_length=32)
    camera: Camera | None = None
    space: str | None = Field(default=None, min_length=1, max_length=100)


class StatsRequest(BaseModel):
    """Ask for a `stats` message now."""

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


class Page(BaseModel):
    """Show another window of a table panel's rows: those from `first` on (counted from 0).

    A panel's pager buttons carry the `first` of the window before and after in their `ref`. The
    `overlays` of the session's next frame carry the panel with those rows.
    """

    model_config = ConfigDict(extra="forbid")
    type: Literal["page"]
    id: str | None = None
    overlay: str = Field(min_length=1, max_length=200, description="the overlay's id")
    first: int = Field(ge=0, le=10_000_000, description="the first row to show, from 0")


ClientMessage = Annotated[Hello | StatsRequest | Teach | Place | Page, Field(discriminator="type")]
_CLIENT_MESSAGE: TypeAdapter[Hello | StatsRequest | Teach | Place | Page] = TypeAdapter(ClientMessage)
CLIENT_TYPES = ("hello", "stats", "teach", "place", "page")


def parse_client_message(text: str) -> Hello | StatsRequest | Teach | Place | Page:
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


# Server to client: the models derive from spatial.wire.WireModel; a field that is sometimes left out
# defaults to MISSING.

Pose = Annotated[list[float], Field(min_length=16, max_length=16, description="4x4 matrix, row-major, metres")]


class ServerMessage(WireModel):
    """A text message the server sends; `to_text` is its JSON."""

    def to_text(self) -> str:
        return self.model_dump_json(by_alias=True)


class Limits(WireModel):
    max_frame_bytes: int = Field(description="the largest binary frame accepted, header included")
    max_text_bytes: int = Field(description="the largest text message accepted")
    max_image_pixels: int = Field(description="the most pixels (width x height) a frame's image may declare")


class WelcomeMessage(ServerMessage):
    """The answer to an accepted `hello`."""

    type: Literal["welcome"] = "welcome"
    protocol: int
    session: str
    user: str
    detector: str = Field(description="the detector backend the server runs")
    capabilities: list[str] = Field(description="the overlay content this session gets: vector, raster, raster:webp")
    limits: Limits
    ref: str | None


class Box3d(WireModel):
    """An object's upright bounding box, fitted to the depth points of its mask or box."""

    centre: list[float] = Field(min_length=3, max_length=3)
    extent: list[float] = Field(min_length=3, max_length=3, description="full side lengths in metres")
    rotation: list[float] = Field(min_length=9, max_length=9, description="3x3, row-major: the box's axes")
    frame: Literal["device", "camera"]
    points: int = Field(description="depth points the box was fitted to")


class TrackedObject(WireModel):
    """One object found in a frame."""

    model_config = ConfigDict(populate_by_name=True)
    id: str = Field(description="the instance id: stays with the same physical object")
    class_: str = Field(alias="class", description="a COCO category, marker, or a taught object's label")
    score: float
    box: list[float] = Field(min_length=4, max_length=4, description="[x0, y0, x1, y1] in pixels of the image as sent")
    pose: Pose | None = Field(description="object to camera (OpenCV axes), when known")
    pose_source: Literal["backend", "depth", "triangulated"] | None
    backend: str
    source: Literal["detection", "tracking"]
    velocity: list[float] | None = Field(min_length=2, max_length=2,
                                         description="how fast the box's centre moves in the image, [x, y] in pixels"
                                                     " a second, from the tracker; null where no tracker measured it")
    box3d: Box3d = MISSING  # type: ignore[assignment]
    position: list[float] = Field(default=MISSING, min_length=3, max_length=3,  # type: ignore[arg-type]
                                  description="triangulated, in the device's reference space")


class ObjectsMessage(ServerMessage):
    """Every object found in a processed frame."""

    type: Literal["objects"] = "objects"
    frame_id: int
    timestamp: float = Field(description="the frame's capture timestamp, as the client sent it")
    image_size: list[int] = Field(min_length=2, max_length=2)
    objects: list[TrackedObject]
    timing: dict[str, float] = Field(description="server time for this frame in milliseconds, by stage")


class RasterImage(WireModel):
    format: Literal["png", "webp"]
    scale: float = Field(description="image pixels per panel pixel")
    data: str = Field(description="the image, base64")


class PanelContent(WireModel):
    """A panel in panel pixels: vector ops, a painted image, or both (as the `hello` capabilities asked)."""

    width: int
    height: int
    ops: list[DrawOp] = MISSING  # type: ignore[assignment]
    image: RasterImage = MISSING  # type: ignore[assignment]


class PanelPlacement(WireModel):
    frame: Literal["object", "device"] = Field(description="what `pose` is relative to")
    pose: Pose
    size_m: list[float] = Field(min_length=2, max_length=2)
    slot: int


class OverlayPanel(WireModel):
    """A block shown pinned to an object, or at its place in a space."""

    id: str
    object_id: str
    block_id: str
    placement: PanelPlacement
    content: PanelContent
    hash: str = Field(description="changes exactly when content changes")


class OverlaysMessage(ServerMessage):
    """What the client should draw, as changes to what it has."""

    type: Literal["overlays"] = "overlays"
    frame_id: int
    added: list[OverlayPanel]
    updated: list[OverlayPanel]
    removed: list[str]


class RelocalisedMessage(ServerMessage):
    """Where the session's reference space sits in the space its `hello` named, or why that is not known yet."""

    type: Literal["relocalised"] = "relocalised"
    space: str
    success: bool
    method: Literal["markers", "registration"]
    fitness: float
    rmse: float | None
    device_from_space: Pose | None
    detail: str


class TaughtMessage(ServerMessage):
    type: Literal["taught"] = "taught"
    instance_id: str
    label: str
    ref: str | None


class PlacedMessage(ServerMessage):
    type: Literal["placed"] = "placed"
    anchor: str
    block: str
    space: str
    space_pose: Pose
    ref: str | None


class ErrorMessage(ServerMessage):
    """A message the server could not act on, or a fault on its side (`internal`); the connection stays open."""

    type: Literal["error"] = "error"
    code: str = Field(description=(
        "what went wrong, a code of docs/protocol.md's table: `bad_image`, `unauthorized`, ...;"
        " `detector_unavailable` when the detector's Ray cluster does not answer and objects are detected on the"
        " server until it does (once an outage, to each session); `internal` for a fault on the server"
    ))
    message: str
    ref: str | None = Field(description="the `id` of the text message, or `frame:<id>` of the frame it is about")


class StatsMessage(ServerMessage):
    type: Literal["stats"] = "stats"
    received: int
    processed: int
    dropped: int
    refused: int
    errors: int


SERVER_MESSAGES: tuple[type[ServerMessage], ...] = (
    WelcomeMessage, ObjectsMessage, OverlaysMessage, RelocalisedMessage, TaughtMessage, PlacedMessage,
    ErrorMessage, StatsMessage,
)
CLIENT_MESSAGES: tuple[type[BaseModel], ...] = (Hello, StatsRequest, Teach, Place, Page)


def welcome_message(session_id: str, user: str, detector: str, capabilities: list[str], limits: Limits,
                    ref: str | None) -> WelcomeMessage:
    return WelcomeMessage(protocol=PROTOCOL_VERSION, session=session_id, user=user, detector=detector,
                          capabilities=capabilities, limits=limits, ref=ref)


def tracked_object(detection: Detection, pose: np.ndarray | None, pose_source: str | None,
                   placed: dict[str, Any] | None = None) -> TrackedObject:
    """One object of an `objects` message: `pose` is its backend's or the lifted box's; `placed` adds
    `box3d` (lifted from depth) or `position` (triangulated), as `spatial.lifting.placement_fields` gives them."""
    return TrackedObject(
        id=detection.object_id, class_=detection.label, score=round(detection.score, 4),
        box=[round(v, 1) for v in detection.box], pose=pose_to_list(pose), pose_source=pose_source,  # type: ignore[arg-type]
        backend=detection.backend, source=detection.source,  # type: ignore[arg-type]
        velocity=None if detection.velocity is None else [round(v, 1) for v in detection.velocity],
        **(placed or {}),
    )


def objects_message(frame_id: int, timestamp_ms: float, image_size: tuple[int, int], objects: list[TrackedObject],
                    timing_ms: dict[str, float]) -> ObjectsMessage:
    return ObjectsMessage(frame_id=frame_id, timestamp=timestamp_ms, image_size=list(image_size), objects=objects,
                          timing={k: round(v, 2) for k, v in timing_ms.items()})


def overlays_message(frame_id: int, added: list[OverlayPanel], updated: list[OverlayPanel],
                     removed: list[str]) -> OverlaysMessage:
    return OverlaysMessage(frame_id=frame_id, added=added, updated=updated, removed=removed)


def relocalised_message(space_id: str, found: Relocalisation) -> RelocalisedMessage:
    rmse = found.inlier_rmse
    return RelocalisedMessage(
        space=space_id, success=found.success, method=found.method,  # type: ignore[arg-type]
        fitness=round(found.fitness, 4), rmse=round(rmse, 5) if np.isfinite(rmse) else None,
        device_from_space=pose_to_list(found.device_from_space) if found.success else None, detail=found.detail,
    )


def taught_message(instance_id: str, label: str, ref: str | None) -> TaughtMessage:
    return TaughtMessage(instance_id=instance_id, label=label, ref=ref)


def placed_message(anchor: Anchor, ref: str | None) -> PlacedMessage:
    assert anchor.space_id is not None and anchor.space_pose is not None, "only anchors placed in a space"
    return PlacedMessage(anchor=anchor.id, block=anchor.block_id, space=anchor.space_id,
                         space_pose=pose_to_list(np.asarray(anchor.space_pose)), ref=ref)  # type: ignore[arg-type]


def error_message(code: str, message: str, ref: str | None = None) -> ErrorMessage:
    return ErrorMessage(code=code, message=message, ref=ref)


def stats_message(received: int, processed: int, dropped: int, refused: int, errors: int) -> StatsMessage:
    return StatsMessage(received=received, processed=processed, dropped=dropped, refused=refused, errors=errors)

