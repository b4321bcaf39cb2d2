"""What the lifting tests and benchmark share: a 640x480 camera stepping sideways through a synthetic
room (`vision.scenes`), pictures fixed to the objects' surfaces, and points in the device's frame."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vision.camera import Intrinsics
from vision.depth import backproject
from vision.poses import invert_pose, make_pose, transform_points
from vision.scenes import RenderedView, SceneObject, look_at

K = Intrinsics.from_fov(640, 480, 60)
INTRINSICS = (K.fx, K.fy, K.cx, K.cy)
CAMERA = {"width": 640, "height": 480, "fov_y_deg": 60}
"""The camera as the stream's `hello` gives it."""
NOISE = 0.001
"""Depth noise, in metres at 1 m."""


def sideways(eye: Sequence[float], target: Sequence[float], step: int, sideways_m: float) -> np.ndarray:
    """The camera `step` steps of `sideways_m` to the right of `eye`, looking the way `eye` looks at
    `target` (it does not turn)."""
    return make_pose(look_at(eye, target)[:3, :3], np.asarray(eye, dtype=float) + (sideways_m * step, 0.0, 0.0))


def surface(view: RenderedView, index: int, obj: SceneObject) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pixels (rows, columns) of object `index` in `view`, and where each lies on `obj`: in the
    object's box scaled to a unit cube, each side from -0.5 to 0.5."""
    rows, cols = np.nonzero(view.object_index == index)
    world = transform_points(view.camera_to_world, backproject(view.depth, view.intrinsics, rows, cols))
    return rows, cols, transform_points(invert_pose(obj.pose), world) / obj.size


def point_in(frame_from_room: np.ndarray, point: Sequence[float]) -> np.ndarray:
    """A point of the room in another frame (the device's reference space)."""
    return transform_points(frame_from_room, np.asarray(point, dtype=float)[None])[0]
