"""The frame pipeline: decode, detect, place objects in 3D, then the overlays of what is in view.

`process_image` is CPU work and runs in a worker thread; the only session
state it touches is the session's own tracker and triangulator, passed in.
`Viewer` holds one viewer's view-dependent state (what is in view, what the
client already has).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from anchors import BlockService, ComputeService, SignalTracker, User
from spatial.lifting import Placement, Triangulator, place_objects
from spatial.overlays import LayoutCache, Outbox, OverlayDelta, build_overlays, class_key
from spatial.protocol import FrameHeader, pose_to_list
from spatial.objects import ObjectMemory
from vision import Detection, Detector, Intrinsics, decode_image
from vision.depth import DepthMapError, check_depth
from vision.tracking import Tracker


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

    def objects_message(self) -> dict[str, Any]:
        return {
            "type": "objects",
            "frame_id": self.frame_id,
            "timestamp": self.timestamp_ms,
            "image_size": list(self.image_size),
            "objects": [self._object(d) for d in self.detections],
            "timing": {k: round(v, 2) for k, v in self.timing_ms.items()},
        }

    def object_pose(self, detection: Detection) -> tuple[np.ndarray | None, str | None]:
        """The object's pose in the camera and where it came from: its backend's, else the box lifted from depth
        (a triangulated object has a position only: no pose, source "triangulated")."""
        if detection.pose is not None:
            return detection.pose, "backend"
        placed = self.placements.get(detection.object_id)
        return (placed.object_to_camera, placed.source) if placed is not None else (None, None)

    def _object(self, detection: Detection) -> dict[str, Any]:
        """One object of the `objects` message; an object its backend gives no pose takes the lifted box's."""
        placed = self.placements.get(detection.object_id)
        pose, pose_source = self.object_pose(detection)
        return {
            "id": detection.object_id,
            "class": detection.label,
            "score": round(detection.score, 4),
            "box": [round(v, 1) for v in detection.box],
            "pose": pose_to_list(pose),
            "pose_source": pose_source,
            "backend": detection.backend,
            "source": detection.source,
            "velocity": None if detection.velocity is None else [round(v, 1) for v in detection.velocity],
            **(placed.to_json() if placed is not None else {}),
        }


def frame_intrinsics(header: FrameHeader, camera: Intrinsics | None, width: int, height: int, fov_y_deg: float) -> Intrinsics:
    """Intrinsics for this image: from its header, else the session's camera scaled to the image, else a default FOV."""
    if header.intrinsics is not None:
        return Intrinsics(*header.intrinsics, width, height)
    if camera is not None:
        return camera if (camera.width, camera.height) == (width, height) else camera.scaled_to(width, height)
    return Intrinsics.from_fov(width, height, fov_y_deg)


class FramePipeline:
    def __init__(
        self, detector: Detector, blocks: BlockService, default_fov_y_deg: float = 60.0,
        compute: ComputeService | None = None, objects: ObjectMemory | None = None, detect_every: int = 5,
        max_placed_objects: int = 8,
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

    def new_tracker(self, asynchronous: bool | None = None) -> Tracker | None:
        """A tracker for one stream (None when the detector's ids are stable and it runs every frame);
        `asynchronous=False` makes it wait for each detection (see `ObjectMemory.tracker_for`)."""
        if self.objects is None:
            return None
        return self.objects.tracker_for(self.detector, self.detect_every, asynchronous)

    def decode(self, image_bytes: bytes) -> tuple[np.ndarray, float]:
        """The BGR image and the time decoding took; raises vision.FrameDecodeError for a bad image."""
        start = time.perf_counter()
        image = decode_image(image_bytes)
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


@dataclass
class Viewer:
    """One viewer's view: the objects seen lately and the overlays their client holds."""

    user: User
    linger_s: float
    metres_per_pixel: float
    last_seen: dict[str, tuple[float, str]] = field(default_factory=dict)
    last_placed: dict[str, tuple[float, np.ndarray]] = field(default_factory=dict)
    outbox: Outbox = field(default_factory=Outbox)
    signals: SignalTracker = field(default_factory=SignalTracker)

    def in_view(self, result: FrameResult, now: float) -> dict[str, str]:
        """Object id to label for objects in this frame, plus those seen within the linger time
        (which rides out missed detections)."""
        for detection in result.detections:
            self.last_seen[detection.object_id] = (now, detection.label)
        self.last_seen = {oid: seen for oid, seen in self.last_seen.items() if now - seen[0] <= self.linger_s}
        return {oid: label for oid, (_, label) in self.last_seen.items()}

    def placed_in_view(self, placed: dict[str, np.ndarray], now: float) -> dict[str, np.ndarray]:
        """Space anchors in this frame's view, plus those in view within the linger time at their last pose
        (so a panel at the edge of the view does not flicker)."""
        for key, pose in placed.items():
            self.last_placed[key] = (now, pose)
        self.last_placed = {key: seen for key, seen in self.last_placed.items() if now - seen[0] <= self.linger_s}
        return {key: pose for key, (_, pose) in self.last_placed.items()}

    def overlay_delta(self, pipeline: FramePipeline, result: FrameResult, now: float,
                      placed: dict[str, np.ndarray] | None = None) -> OverlayDelta:
        """What changed in this viewer's overlays; its time is added to the frame's timing.

        `placed` maps the place keys of the space anchors in view to their
        poses in the device's frame: only those (and those lingering) are computed and shown.
        """
        start = time.perf_counter()
        in_view = self.in_view(result, now)
        placed = self.placed_in_view(placed or {}, now)
        keys = [*in_view, *{class_key(label) for label in in_view.values()}, *placed]
        poses = {d.object_id: result.object_pose(d)[0] for d in result.detections}
        signals = self.signals.observe(in_view, poses, now, time.time())
        pinned = pipeline.compute.evaluate_visible(self.user, keys, signals)
        delta = self.outbox.delta(build_overlays(pinned, in_view, pipeline.layouts, self.metres_per_pixel, placed))
        result.add_timing("overlays", (time.perf_counter() - start) * 1e3)
        return delta
