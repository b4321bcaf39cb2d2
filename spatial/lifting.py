"""Objects of a frame in 3D: lifted from the frame's depth map, or triangulated across frames.

With a depth map (`lift_objects`), each object without an exact pose from its
backend gets an upright 3D box from the depth pixels of its mask (on frames
where the detector ran and segments) or of its box (every other frame, the
tracked box), in the device's reference frame when the frame carries a device
pose, else in the camera frame. A box alone needs the device pose: the
reference space's up tells the object from the floor or table under it.

Without depth but with device poses (`Triangulator`, one per session), the
box centres an object had in recent frames are triangulated once the views
are far enough apart, giving its position in the device's reference frame.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vision import Detection, Intrinsics
from vision.depth import check_depth
from vision.lifting import WORLD_UP, LiftingError, OrientedBox, lift, triangulate_boxes
from vision.poses import PoseError, check_pose, invert_pose, pose_difference

EXACT_POSE_BACKENDS = frozenset({"markers", "taught"})
"""Backends whose pose, when they give one, is measured (marker corners, a taught face of known size):
such objects need no lifting. Objectron's pose rests on a guessed size, so its objects are lifted."""


@dataclass(frozen=True)
class Placement:
    """Where one object of a frame is in 3D.

    `frame` is "device" (the client's reference space) or "camera" (this
    frame's camera, OpenCV axes). `source` is "depth" (then `box` is its
    upright bounding box, fitted to `points` depth points, and
    `object_to_camera` its pose for the protocol's `pose`) or "triangulated"
    (a position only, from `views` frames).
    """

    source: str
    frame: str
    position: np.ndarray
    box: OrientedBox | None = None
    points: int = 0
    object_to_camera: np.ndarray | None = None
    views: int = 0


def placement_fields(placement: Placement) -> dict[str, Any]:
    """The `box3d` (lifted from depth) or `position` (triangulated) field of the object in an `objects` message."""
    if placement.box is None:
        return {"position": _rounded(placement.position)}
    box = placement.box
    return {"box3d": {
        "centre": _rounded(box.centre), "extent": _rounded(box.extent),
        "rotation": [round(float(v), 6) for v in box.rotation.reshape(9)], "frame": placement.frame,
        "points": placement.points,
    }}


def _rounded(vector: np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in vector]


def needs_placing(detection: Detection) -> bool:
    """False for objects whose backend measured their pose (markers, taught faces of known size)."""
    return detection.pose is None or detection.backend not in EXACT_POSE_BACKENDS


def device_pose_of(header_pose: np.ndarray | None) -> np.ndarray | None:
    """The frame's camera-to-device pose when it is a proper rigid transform, else None."""
    if header_pose is None:
        return None
    try:
        return check_pose(header_pose, "device pose")
    except PoseError:
        return None


def place_objects(detections: list[Detection], intrinsics: Intrinsics, depth: np.ndarray | None,
                  device_pose: np.ndarray | None, triangulator: Triangulator | None,
                  max_objects: int) -> dict[str, Placement] | None:
    """The 3D placements of a frame's objects; None when the frame offers no way to place them.
    Raises vision.depth.DepthMapError for a depth map that does not fit the image.

    Depth wins: a frame with a depth map is lifted (every frame, from the
    mask where the detector ran and segments, else from the tracked box);
    without one, a frame with a device pose feeds the session's
    triangulator. A device pose that is not a rigid transform counts as none.
    """
    device_pose = device_pose_of(device_pose)
    if depth is not None:
        return lift_objects(detections, depth, intrinsics, device_pose, max_objects)
    if device_pose is not None and triangulator is not None:
        return triangulator.observe(detections, intrinsics, device_pose, max_objects)
    return None


def lift_objects(detections: list[Detection], depth: np.ndarray, intrinsics: Intrinsics,
                 device_pose: np.ndarray | None, max_objects: int) -> dict[str, Placement]:
    """Object id to its depth placement, for at most `max_objects` objects (highest scores first).

    An object with too few depth points (hidden, out of the sensor's range, a
    map with holes) is simply left out; so is every object when the map does
    not cover the image's view. Without `device_pose` only masks are lifted.
    Raises vision.depth.DepthMapError for a map that does not fit the image.
    """
    depth = check_depth(depth, intrinsics)
    wanted = [d for d in detections if needs_placing(d) and (d.mask is not None or device_pose is not None)]
    wanted.sort(key=lambda d: d.score, reverse=True)
    up = WORLD_UP if device_pose is not None else None
    placed = {}
    for detection in wanted[:max_objects]:
        try:
            lifted = lift(depth, intrinsics, detection.box, detection.mask, device_pose, up)
        except LiftingError:
            continue
        to_camera = lifted.pose if device_pose is None else invert_pose(device_pose) @ lifted.pose
        placed[detection.object_id] = Placement(
            "depth", "camera" if device_pose is None else "device", lifted.centre, lifted.box, lifted.points, to_camera
        )
    return placed


@dataclass(frozen=True)
class _View:
    box: tuple[float, float, float, float]  # its centre is what is triangulated
    intrinsics: Intrinsics
    camera_to_device: np.ndarray


@dataclass
class Triangulator:
    """One session's recent views of its objects, triangulated into positions in the device's frame.

    Memory is bounded: `max_views` views per object and the `max_objects`
    objects seen most recently. A view taken from nearly where the last one
    was (within `min_move_m` and `min_turn_deg`) replaces it; when an object
    has `max_views`, the inner view whose neighbours' cameras stand closest
    together goes, so the views keep the widest baseline seen.

    A position is reported once the rays span `min_angle_deg` and meet within
    `max_ray_rms_m`. Boxes from tracking and recognition are off by a few
    pixels, and a pixel of error in a box centre moves an object 2 m away by
    about 2 cm along the view at 10 degrees (4 cm at 5). While the rays miss,
    the view whose ray passes farthest from their point is forgotten, one at
    a time while three remain: a box the detector misplaced, or views from
    before the object was moved, drop out. Box centres are not quite the
    projection of an object's centre: the error grows with its depth extent
    (`vision.lifting.triangulate_boxes`).
    """

    max_objects: int = 32
    max_views: int = 12
    min_angle_deg: float = 10.0
    min_move_m: float = 0.01
    min_turn_deg: float = 1.0
    max_ray_rms_m: float = 0.05
    _views: OrderedDict[str, list[_View]] = field(default_factory=OrderedDict)

    def observe(self, detections: list[Detection], intrinsics: Intrinsics, device_pose: np.ndarray,
                max_objects: int) -> dict[str, Placement]:
        """Add this frame's views; object id to position for those (up to `max_objects`) that triangulate."""
        wanted = sorted((d for d in detections if needs_placing(d)), key=lambda d: d.score, reverse=True)
        placed = {}
        for detection in wanted[:max_objects]:
            views = self._remember(detection.object_id, _View(detection.box, intrinsics, device_pose))
            position = self._triangulate(views)
            if position is not None:
                placed[detection.object_id] = Placement("triangulated", "device", position, views=len(views))
        return placed

    def _triangulate(self, views: list[_View]) -> np.ndarray | None:
        """The point the views' rays meet at, forgetting the farthest ray while they miss; None if they do not meet."""
        while len(views) >= 2:
            try:
                found = triangulate_boxes([v.box for v in views], [v.intrinsics for v in views],
                                          [v.camera_to_device for v in views], self.min_angle_deg)
            except LiftingError:
                return None
            if found.ray_rms <= self.max_ray_rms_m:
                return found.position
            if len(views) < 3:
                return None
            del views[int(np.argmax([_ray_distance(v, found.position) for v in views]))]
        return None

    def _remember(self, object_id: str, view: _View) -> list[_View]:
        views = self._views.get(object_id)
        if views is None:
            views = self._views[object_id] = []
            while len(self._views) > self.max_objects:
                self._views.popitem(last=False)
        self._views.move_to_end(object_id)
        if views and self._close(views[-1].camera_to_device, view.camera_to_device):
            views[-1] = view
            return views
        if len(views) >= max(self.max_views, 3):
            centres = np.array([v.camera_to_device[:3, 3] for v in views])
            gaps = np.linalg.norm(centres[2:] - centres[:-2], axis=1)  # what dropping each inner view leaves
            del views[1 + int(np.argmin(gaps))]
        views.append(view)
        return views

    def _close(self, a: np.ndarray, b: np.ndarray) -> bool:
        moved, turned = pose_difference(a, b)
        return moved < self.min_move_m and turned < self.min_turn_deg


def _ray_distance(view: _View, point: np.ndarray) -> float:
    """How far `point` is from the ray through the centre of the view's box."""
    x0, y0, x1, y1 = view.box
    k, pose = view.intrinsics, view.camera_to_device
    direction = pose[:3, :3] @ np.array([((x0 + x1) / 2 - k.cx) / k.fx, ((y0 + y1) / 2 - k.cy) / k.fy, 1.0])
    return float(np.linalg.norm(np.cross(point - pose[:3, 3], direction)) / np.linalg.norm(direction))
