"""The frame pipeline: the whole work of one stream frame, from image bytes to the messages that answer it.

`FramePipeline.step` decodes the image, detects and tracks the objects in it,
places them in 3D, records the frame when asked to, relocalises the session
in its space and places the space's anchors in view, and works out what
changed in the session's overlays. It is CPU work and runs in a worker
thread; the session state it touches is the session's own (tracker,
triangulator, recent frames, space session, viewer). `spatial.api.stream`
only receives, checks the token and sends; `spatial.controller` hands it the
session's frames.

`process_image` is the vision part alone, which `spatial replay` runs over a video.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from anchors import BlockService, ComputeService, User
from spatial.lifting import Placement, Triangulator, place_objects, placement_fields
from spatial.objects import ObjectMemory
from spatial.overlays import LayoutCache, OverlayDelta, overlay_panel
from spatial.protocol import (
    FrameHeader,
    ObjectsMessage,
    OverlaysMessage,
    ProtocolError,
    RelocalisedMessage,
    frame_ref,
    objects_message,
    overlays_message,
    relocalised_message,
    tracked_object,
)
from spatial.recording import FrameRecorder
from spatial.spaces import Registration, SpaceRegistry, SpaceSession, device_placements
from vision import Detection, Detector, FrameDecodeError, ImageTooLarge, Intrinsics, decode_frame
from vision.depth import DepthMapError, check_depth
from vision.poses import PoseError, check_pose
from vision.tracking import Tracker

if TYPE_CHECKING:
    from spatial.session import Session, Viewer

DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096


@dataclass
class FrameResult:
    frame_id: int
    timestamp_ms: float
    image_size: tuple[int, int]
    detections: list[Detection]
    timing_ms: dict[str, float]
    placements: dict[str, Placement] = field(default_factory=dict)
    """Object id to its 3D box (from depth) or position (triangulated), for objects placed in this frame."""
    depth_error: str | None = None
    """Why the frame's depth map could not be used (the frame is processed without it)."""
    depth: np.ndarray | None = None
    """The frame's depth map, checked (vision.depth.check_depth); None when it had none or it did not fit."""
    intrinsics: Intrinsics | None = None
    """The camera of this image (`frame_intrinsics`)."""

    def add_timing(self, stage: str, ms: float) -> None:
        self.timing_ms[stage] = ms
        self.timing_ms["total"] += ms

    def objects_message(self) -> ObjectsMessage:
        objects = [tracked_object(d, *self.object_pose(d), self._placed_fields(d)) for d in self.detections]
        return objects_message(self.frame_id, self.timestamp_ms, self.image_size, objects, self.timing_ms)

    def object_pose(self, detection: Detection) -> tuple[np.ndarray | None, str | None]:
        """The object's pose in the camera and where it came from: its backend's, else the box lifted from depth
        (a triangulated object has a position only: no pose, source "triangulated")."""
        if detection.pose is not None:
            return detection.pose, "backend"
        placed = self.placements.get(detection.object_id)
        return (placed.object_to_camera, placed.source) if placed is not None else (None, None)

    def object_labels(self) -> dict[str, str]:
        """Object id to class label, for the objects of this frame."""
        return {d.object_id: d.label for d in self.detections}

    def object_poses(self) -> dict[str, np.ndarray | None]:
        """Object id to its pose in the camera (`object_pose`), None where none is known."""
        return {d.object_id: self.object_pose(d)[0] for d in self.detections}

    def _placed_fields(self, detection: Detection) -> dict[str, Any] | None:
        placed = self.placements.get(detection.object_id)
        return None if placed is None else placement_fields(placed)


def overlay_step(viewer: Viewer, result: FrameResult, now: float,
                 placed: dict[str, np.ndarray] | None = None) -> OverlayDelta:
    """What changed in the viewer's overlays with this frame (`Viewer.overlay_delta`); its time goes into
    the frame's timing as `overlays`."""
    start = time.perf_counter()
    delta = viewer.overlay_delta(result.object_labels(), result.object_poses(), now, placed)
    result.add_timing("overlays", (time.perf_counter() - start) * 1e3)
    return delta


def frame_intrinsics(header: FrameHeader, camera: Intrinsics | None, width: int, height: int, fov_y_deg: float) -> Intrinsics:
    """Intrinsics for this image: from its header, else the session's camera scaled to the image, else a default FOV."""
    if header.intrinsics is not None:
        return Intrinsics(*header.intrinsics, width, height)
    if camera is not None:
        return camera if (camera.width, camera.height) == (width, height) else camera.scaled_to(width, height)
    return Intrinsics.from_fov(width, height, fov_y_deg)


@dataclass
class SpaceStep:
    """What a frame did for the session's space: anchors placed in view, a relocalisation to report, a job to start."""

    placed: dict[str, np.ndarray] = field(default_factory=dict)
    relocalised: RelocalisedMessage | None = None
    registration: Registration | None = None
    error: ProtocolError | None = None


@dataclass
class FrameOutcome:
    """What one frame gives its session, in the order the stream sends it: the objects, the errors about this
    frame (it was processed all the same), a relocalisation, then the overlays that changed (None: nothing
    did). `registration`, when set, is a job for the stream to start beside its frames."""

    objects: ObjectsMessage
    errors: list[ProtocolError] = field(default_factory=list)
    relocalised: RelocalisedMessage | None = None
    overlays: OverlaysMessage | None = None
    registration: Registration | None = None
    outage: int | None = None
    """The number of the detector's outage this frame reported (`detector_unavailable`); None when it reported none."""


class FramePipeline:
    def __init__(
        self, detector: Detector, blocks: BlockService, default_fov_y_deg: float = 60.0,
        compute: ComputeService | None = None, objects: ObjectMemory | None = None, detect_every: int = 5,
        max_placed_objects: int = 8, spaces: SpaceRegistry | None = None, recorder: FrameRecorder | None = None,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    ) -> None:
        self.detector = detector
        self.blocks = blocks
        self.compute = compute or ComputeService(blocks)
        self.objects = objects
        self.detect_every = detect_every
        self.max_placed_objects = max_placed_objects
        """Objects lifted (or triangulated) per frame at most, highest scores first: this bounds the frame's time."""
        self.default_fov_y_deg = default_fov_y_deg
        self.layouts = LayoutCache()
        self.spaces = spaces or SpaceRegistry(blocks)
        self.recorder = recorder
        """Writes every processed frame (faces blurred) when the service was asked to record; else None."""
        self.max_image_pixels = max_image_pixels
        """A frame whose image header declares more pixels is refused (`too_large`) before it is decoded."""

    def new_tracker(self, asynchronous: bool | None = None) -> Tracker | None:
        """A tracker for one stream (None when the detector's ids are stable and it runs every frame);
        `asynchronous=False` makes it wait for each detection (see `ObjectMemory.tracker_for`)."""
        if self.objects is None:
            return None
        return self.objects.tracker_for(self.detector, self.detect_every, asynchronous)

    def step(self, session: Session, header: FrameHeader, image_bytes: bytes,
             outage_reported: int | None = None) -> FrameOutcome:
        """The whole work of one frame of a session that said `hello` (worker-thread work).

        `outage_reported` is the number of the detector's last outage the session was told of; a new
        one is reported (`FrameOutcome.outage`), so each outage is told once to each session.

        Raises ProtocolError for a frame it cannot process (`bad_image`, `too_large`); any other
        exception is a fault, which the stream answers with `internal`.
        """
        viewer, space_session = session.viewer, session.space
        assert viewer is not None, "a session's frames are processed after its hello"
        image, decode_ms = self.decode(image_bytes, frame_ref(header.frame_id))
        session.remember(header.frame_id, image)
        result = self.process_image(header, image, session.camera, session.tracker, session.triangulator)
        result.add_timing("decode", decode_ms)
        space = SpaceStep()
        if space_session is not None:
            space = self._space_step(space_session, viewer.user, header, result)
        delta = overlay_step(viewer, result, time.monotonic(), space.placed)
        objects = result.objects_message()
        if self.recorder is not None:
            self.recorder.record(session.id, header.frame_id, header.timestamp_ms, image,
                                 [o.to_json() for o in objects.objects])
        outcome = FrameOutcome(objects, relocalised=space.relocalised, registration=space.registration)
        if space.error is not None:
            outcome.errors.append(space.error)
        outage = self.detector.outage()
        if outage is not None and outage.number != outage_reported:
            outcome.outage = outage.number
            outcome.errors.append(ProtocolError("detector_unavailable", outage.reason, frame_ref(header.frame_id)))
        if result.depth_error is not None:
            outcome.errors.append(ProtocolError("bad_depth", result.depth_error, frame_ref(header.frame_id)))
        if delta:
            fmt, rasters = session.content_format, self.layouts.rasters
            outcome.overlays = overlays_message(
                header.frame_id, [overlay_panel(o, fmt, rasters) for o in delta.added],
                [overlay_panel(o, fmt, rasters) for o in delta.updated], delta.removed,
            )
        return outcome

    def decode(self, image_bytes: bytes, ref: str | None = None) -> tuple[np.ndarray, float]:
        """The BGR image (an `EncodedFrame`, keeping `image_bytes` for a detector on a cluster) and the time
        decoding took; raises ProtocolError (`bad_image`, or `too_large` for an image whose header declares
        more than `max_image_pixels`, refused before decoding)."""
        start = time.perf_counter()
        try:
            image = decode_frame(image_bytes, self.max_image_pixels)
        except ImageTooLarge as exc:
            raise ProtocolError("too_large", str(exc), ref) from None
        except FrameDecodeError as exc:
            raise ProtocolError("bad_image", str(exc), ref) from None
        return image, (time.perf_counter() - start) * 1e3

    def process_image(
        self, header: FrameHeader, image: np.ndarray, camera: Intrinsics | None, tracker: Tracker | None = None,
        triangulator: Triangulator | None = None,
    ) -> FrameResult:
        """Objects in a decoded BGR image: detected, or carried by `tracker` between its detections, and
        placed in 3D from the frame's depth map, or by `triangulator` from the device poses of several frames."""
        start = time.perf_counter()
        height, width = image.shape[:2]
        intrinsics = frame_intrinsics(header, camera, width, height, self.default_fov_y_deg)
        if tracker is None:
            detections = self.detector.detect(image, intrinsics)
            timing = {"detect": (time.perf_counter() - start) * 1e3}
        else:
            detections = tracker.update(image, intrinsics, header.timestamp_ms)
            timing = dict(tracker.timing_ms)
            if self.objects is not None:
                self.objects.save_new_views()
        lift_start = time.perf_counter()
        depth = depth_error = None
        if header.depth is not None:
            try:
                depth = check_depth(header.depth, intrinsics)
            except DepthMapError as exc:
                depth_error = str(exc)
        placements = place_objects(detections, intrinsics, depth, header.device_pose, triangulator,
                                   self.max_placed_objects)
        if placements is not None:
            timing["lift"] = (time.perf_counter() - lift_start) * 1e3
        timing["total"] = (time.perf_counter() - start) * 1e3
        return FrameResult(header.frame_id, header.timestamp_ms, (width, height), detections, timing,
                           placements or {}, depth_error, depth, intrinsics)

    def _space_step(self, space_session: SpaceSession, user: User, header: FrameHeader,
                    result: FrameResult) -> SpaceStep:
        """Relocalise from this frame (or correct drift from landmarks in view); place the space anchors in view.

        The space is read again when its map or landmarks changed since. Markers
        relocalise here (a few milliseconds); depth views are kept, and when
        enough are new, the stream starts a registration job beside its frames
        (to relocalise, or once relocalised, to follow the device's drift).
        """
        step = SpaceStep()
        intrinsics = result.intrinsics
        assert intrinsics is not None
        space_session.space = self.spaces.current(user, space_session.space)
        device_pose = header.device_pose
        if device_pose is not None:
            try:
                device_pose = check_pose(device_pose, "device pose")
            except PoseError as exc:
                return SpaceStep(error=ProtocolError("bad_header", str(exc), frame_ref(header.frame_id)))
        if device_pose is not None:
            found = space_session.from_markers(result.detections, device_pose)
            if found is not None and space_session.accept(found):
                step.relocalised = relocalised_message(space_session.space.id, found)
            if result.depth is not None:
                views = space_session.add_depth(result.depth, intrinsics, device_pose)
                if views is not None:
                    step.registration = Registration(space_session, user, views, header.frame_id)
        step.placed = device_placements(space_session, self.spaces, device_pose, intrinsics)
        return step
