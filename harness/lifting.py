"""The lifting scene the lifting tests and benchmark share: a synthetic room (`vision.scenes`) holding a crate
and a poster board, each covered in a photo so that it can be taught and recognised, a 640x480 camera stepping
sideways through it, and points in the device's frame (the room's, turned and shifted)."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import cv2
import numpy as np
import skimage.data

from harness.servers import Server
from vision.camera import Intrinsics
from vision.depth import backproject
from vision.poses import invert_pose, make_pose, rotation_about, transform_points
from vision.scenes import RenderedView, Room, SceneObject, look_at

K = Intrinsics.from_fov(640, 480, 60)
INTRINSICS = (K.fx, K.fy, K.cx, K.cy)
CAMERA = {"width": 640, "height": 480, "fov_y_deg": 60}
"""The camera as the stream's `hello` gives it."""
NOISE = 0.001
"""Depth noise, in metres at 1 m."""

DEVICE_FROM_ROOM = make_pose(rotation_about((0, 1, 0), -50), (0.8, 0.0, 1.1))
CRATE = SceneObject("crate", "box", np.array([0.5, 0.4, 0.4]),
                    make_pose(rotation_about((0, 1, 0), 30), (0.3, 0.2, -0.5)), (180, 120, 60))
BOARD = SceneObject("board", "box", np.array([0.8, 0.6, 0.03]), make_pose(None, (-0.5, 0.3, -0.2)), (90,) * 3)
ROOM = Room((6.0, 3.0, 5.0), [CRATE, BOARD])
PHOTOS = (skimage.data.astronaut(), skimage.data.coffee())
EYE = np.array([0.3, 1.4, 1.2])


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


def printed(view: RenderedView) -> np.ndarray:
    """The view's colour with each object's faces covered by its photo, fixed to the object (shaded as rendered)."""
    colour = view.colour.copy()
    for index, (obj, photo) in enumerate(zip(ROOM.objects, PHOTOS)):
        rows, cols, local = surface(view, index, obj)
        if rows.size == 0:
            continue
        face = np.argmax(np.abs(local), axis=1)[:, None]  # the face a point lies on: the axis it is farthest along
        uv = np.where(face == 0, local[:, [2, 1]], np.where(face == 1, local[:, [0, 2]], local[:, [0, 1]]))
        height, width = photo.shape[:2]
        u = np.clip(((uv[:, 0] + 0.5) * (width - 1)).astype(int), 0, width - 1)
        v = np.clip(((0.5 - uv[:, 1]) * (height - 1)).astype(int), 0, height - 1)
        shade = view.colour[rows, cols].astype(np.float64).mean(axis=1, keepdims=True) / 200.0
        colour[rows, cols] = np.clip(photo[v, u, ::-1] * (0.4 + 0.6 * shade), 0, 255).astype(np.uint8)
    return colour


def teach(server: Server, obj: SceneObject) -> str:
    """`obj` taught from a first view, without a size: its recognitions carry no pose of their own."""
    view = ROOM.render(K, look_at(EYE, obj.centre))
    png = cv2.imencode(".png", printed(view))[1].tobytes()
    taught = server.rest().post("/v1/taught", json={
        "image": base64.b64encode(png).decode(), "box": list(view.box(ROOM.index_of(obj.name))), "label": obj.name,
    })
    assert taught.status_code == 201, taught.text
    return taught.json()["instance_id"]
