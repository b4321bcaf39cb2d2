"""The synthetic rooms that the geometry tests measure against: their renders must match their ground truth."""

import numpy as np
import pytest

from vision.camera import Intrinsics
from vision.poses import invert_pose, make_pose
from vision.scenes import NOTHING, STRUCTURE, Room, SceneObject, look_at, make_room

K = Intrinsics.from_fov(320, 240, 60)


def test_depth_is_z_depth_along_the_optical_axis() -> None:
    room = Room((6.0, 3.0, 5.0))
    down = look_at((0.3, 1.2, -0.4), (0.3, 0.0, -0.4), up=(0.0, 0.0, -1.0))
    view = room.render(K, down)
    # Every floor pixel of a camera looking straight down is 1.2 m deep, not just the centre one.
    assert np.allclose(view.depth, 1.2, atol=1e-4)
    assert (view.object_index == STRUCTURE).all()


def test_objects_render_where_their_pose_puts_them() -> None:
    box = SceneObject("crate", "box", np.array([0.4, 0.3, 0.5]), make_pose(None, (0.5, 0.15, -1.0)), (0, 0, 255))
    room = Room((6.0, 3.0, 5.0), [box])
    camera = look_at((0.5, 1.4, 0.6), (0.5, 0.15, -1.0))
    view = room.render(K, camera)
    centre = invert_pose(camera) @ np.append(box.centre, 1.0)
    u, v = (K.matrix() @ centre[:3])[:2] / centre[2]
    assert view.object_index[int(round(v)), int(round(u))] == 0
    x0, y0, x1, y1 = view.box(0)
    assert x0 < u < x1 and y0 < v < y1
    # The crate's top face is 0.3 m above the floor: its nearest point is closer than the floor under it.
    assert view.depth[view.mask(0)].min() < view.depth[view.object_index == STRUCTURE].min() + 1.0
    assert view.colour[int(round(v)), int(round(u)), 2] > view.colour[int(round(v)), int(round(u)), 0]


def test_look_at_uses_opencv_axes() -> None:
    pose = look_at((0.0, 1.5, 0.0), (0.0, 1.5, -2.0))
    assert np.allclose(pose[:3, 2], [0, 0, -1])  # z forward, towards the target
    assert np.allclose(pose[:3, 1], [0, -1, 0])  # y down
    assert np.allclose(pose[:3, 0], [1, 0, 0])  # x right


def test_rooms_are_reproducible_and_objects_do_not_overlap() -> None:
    first, again = make_room(3), make_room(3)
    assert [o.name for o in first.objects] == [o.name for o in again.objects]
    assert all(np.allclose(a.pose, b.pose) for a, b in zip(first.objects, again.objects, strict=True))
    floor = [o for o in first.objects if o.pose[1, 3] - o.size[1] / 2 < 0.01]
    for i, a in enumerate(floor):
        for b in floor[i + 1:]:
            gap = np.linalg.norm(a.centre[[0, 2]] - b.centre[[0, 2]])
            assert gap > (np.hypot(a.size[0], a.size[2]) + np.hypot(b.size[0], b.size[2])) / 2


def test_visible_fraction_sees_occlusion() -> None:
    near = SceneObject("near", "box", np.array([0.4, 0.4, 0.1]), make_pose(None, (0.0, 1.0, -1.0)), (255, 0, 0))
    far = SceneObject("far", "box", np.array([0.4, 0.4, 0.1]), make_pose(None, (0.0, 1.0, -2.0)), (0, 255, 0))
    room = Room((6.0, 3.0, 5.0), [near, far])
    view = room.render(K, look_at((0.0, 1.0, 0.5), (0.0, 1.0, -2.0)))
    assert room.visible_fraction(view, 0) == pytest.approx(1.0)
    assert room.visible_fraction(view, 1) < 0.5


def test_rays_that_leave_the_room_hit_nothing() -> None:
    room = Room((6.0, 3.0, 5.0))
    outside = room.render(K, look_at((0.0, 1.5, 10.0), (0.0, 1.5, 20.0)))
    assert (outside.depth == 0).all() and (outside.object_index == NOTHING).all()
