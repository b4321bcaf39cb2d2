"""Which anchors a viewer sees: frustum culling over the anchor index."""

import numpy as np
import pytest

from spatial.visibility import AnchorIndex, AnchorIndexError, UnknownAnchorError
from vision.camera import Intrinsics
from vision.poses import PoseError, make_pose, opencv_from_webxr_view, rotation_about
from vision.scenes import look_at

K = Intrinsics.from_fov(640, 480, 60)  # 60 degrees vertical, about 75 horizontal
# At the origin, eye height 1.5 m, looking along world -z (the WebXR default direction).
CAMERA = look_at((0.0, 1.5, 0.0), (0.0, 1.5, -1.0))


def visible(index: AnchorIndex, camera: np.ndarray = CAMERA, max_distance: float = 10.0, **options) -> set[str]:
    return set(index.query(camera, K, max_distance, **options).ids)


def brute_force(positions: np.ndarray, radii: np.ndarray, camera: np.ndarray, max_distance: float,
                near: float = 0.05) -> set[int]:
    """The reference answer: every anchor tested, one by one, against the planes of the frustum."""
    local = (positions - camera[:3, 3]) @ camera[:3, :3]
    corners = [(0, 0), (K.width, 0), (K.width, K.height), (0, K.height)]
    rays = [np.array([(u - K.cx) / K.fx, (v - K.cy) / K.fy, 1.0]) for u, v in corners]
    normals = [np.cross(rays[i], rays[(i + 1) % 4]) for i in range(4)]  # inward: corners run clockwise
    normals = [n / np.linalg.norm(n) for n in normals]
    kept = set()
    for i, (p, r) in enumerate(zip(local, radii, strict=True)):
        if p[2] >= near - r and np.linalg.norm(p) <= max_distance + r and all(n @ p >= -r for n in normals):
            kept.add(i)
    return kept


def test_culls_behind_outside_and_too_far_keeps_in_view() -> None:
    index = AnchorIndex()
    index.set("ahead", (0.0, 1.5, -3.0))
    index.set("ahead-low", (0.5, 0.3, -4.0))
    index.set("behind", (0.0, 1.5, 3.0))
    index.set("left-out", (-4.0, 1.5, -3.0))  # 53 degrees left, beyond the 37.5 degree half-width
    index.set("right-in", (2.0, 1.5, -3.0))  # 34 degrees right
    index.set("above-out", (0.0, 4.0, -3.0))  # 40 degrees up, beyond the 30 degree half-height
    index.set("too-far", (0.0, 1.5, -12.0))
    index.set("at-the-eye", (0.0, 1.5, -0.01))  # closer than the near plane
    assert visible(index) == {"ahead", "ahead-low", "right-in"}
    assert visible(index, max_distance=20.0) == {"ahead", "ahead-low", "right-in", "too-far"}
    assert visible(index, near=0.0) == {"ahead", "ahead-low", "right-in", "at-the-eye"}


def test_a_large_object_just_outside_the_view_still_counts() -> None:
    index = AnchorIndex()
    index.set("edge", (-3.0, 1.5, -3.0), radius=0.0)  # 45 degrees left: outside
    index.set("big-edge", (-3.0, 1.5, -3.0 + 1e-6), radius=0.6)  # its sphere reaches into view
    assert visible(index) == {"big-edge"}
    index.set("far-big", (0.0, 1.5, -10.4), radius=0.5)
    assert "far-big" in visible(index)


def test_results_are_nearest_first_with_pixels_and_a_limit() -> None:
    index = AnchorIndex()
    for k, z in enumerate((-6.0, -2.0, -4.0, -8.0)):
        index.set(f"a{k}", (0.1 * k, 1.5, z))
    result = index.query(CAMERA, K, 10.0)
    assert result.ids == ["a1", "a2", "a0", "a3"]
    assert np.all(np.diff(result.distances) > 0)
    # a1 at 2 m straight ahead, 0.1 m to the right: x right in the image, y down.
    assert result.pixels[0] == pytest.approx((K.cx + K.fx * 0.1 / 2.0, K.cy))
    assert index.query(CAMERA, K, 10.0, limit=2).ids == ["a1", "a2"]


def test_moves_and_removals_take_effect_at_once() -> None:
    index = AnchorIndex(rebuild_after=1000)
    index.set("note", (0.0, 1.5, 3.0))
    assert visible(index) == set()
    index.set("note", (0.0, 1.5, -3.0))  # moved in front of the viewer
    assert visible(index) == {"note"}
    index.remove("note")
    assert visible(index) == set() and "note" not in index and len(index) == 0
    index.set("again", (0.0, 1.5, -2.0))
    assert visible(index) == {"again"}
    with pytest.raises(UnknownAnchorError):
        index.remove("note")


def test_matches_brute_force_through_loads_moves_and_rebuilds() -> None:
    rng = np.random.default_rng(3)
    count = 20_000
    positions = np.column_stack((rng.uniform(-40, 40, count), rng.uniform(0, 3, count), rng.uniform(-40, 40, count)))
    radii = rng.uniform(0, 0.5, count)
    ids = [f"a{k}" for k in range(count)]
    index = AnchorIndex(cell_size=2.0, rebuild_after=300)
    index.set_many(ids, positions, radii)
    removed: set[int] = set()
    for step in range(6):
        for k in rng.choice(count, 250, replace=False):  # some moves stay pending, some trigger a re-sort
            if k in removed:
                continue
            positions[k] = rng.uniform((-40, 0, -40), (40, 3, 40))
            index.set(ids[k], positions[k], radii[k])
        for k in rng.choice(count, 20, replace=False):
            if k not in removed:
                index.remove(ids[k])
                removed.add(k)
        eye = rng.uniform((-30, 1.2, -30), (30, 1.8, 30))
        camera = look_at(eye, eye + rng.normal(size=3) * (1.0, 0.3, 1.0))
        for max_distance in (5.0, 15.0, 200.0):
            expected = {ids[k] for k in brute_force(positions, radii, camera, max_distance) - removed}
            assert visible(index, camera, max_distance) == expected, (step, max_distance)


def test_webxr_view_poses_convert_to_opencv_cameras() -> None:
    """A WebXR view looks down its -z with y up; an anchor above the view's centre shows in the image's top half."""
    view = make_pose(rotation_about((0, 1, 0), 90), (0.0, 1.5, 0.0))  # turned left: looking along world -x
    camera = opencv_from_webxr_view(view)
    index = AnchorIndex()
    index.set("left", (-3.0, 1.5, 0.0))
    index.set("above-left", (-3.0, 2.5, 0.0))
    index.set("ahead-of-default", (0.0, 1.5, -3.0))
    result = index.query(camera, K, 10.0)
    assert set(result.ids) == {"left", "above-left"}
    pixels = dict(zip(result.ids, result.pixels, strict=True))
    assert pixels["left"] == pytest.approx((K.cx, K.cy))
    assert pixels["above-left"][1] < K.cy


def test_bad_input_gets_named_errors() -> None:
    index = AnchorIndex()
    with pytest.raises(AnchorIndexError, match="not finite"):
        index.set("a", (np.nan, 0.0, 0.0))
    with pytest.raises(AnchorIndexError, match="three numbers"):
        index.set("a", (1.0, 2.0))
    with pytest.raises(AnchorIndexError, match="radius"):
        index.set("a", (0.0, 0.0, 0.0), radius=-1.0)
    with pytest.raises(AnchorIndexError, match="unique"):
        index.set_many(["a", "a"], np.zeros((2, 3)))
    with pytest.raises(AnchorIndexError, match="near"):
        index.query(CAMERA, K, max_distance=0.01, near=0.05)
    with pytest.raises(AnchorIndexError, match="limit"):
        index.query(CAMERA, K, 10.0, limit=-1)
    with pytest.raises(PoseError, match="camera pose"):
        index.query(np.eye(3), K, 10.0)
    with pytest.raises(PoseError, match="WebXR view pose"):
        opencv_from_webxr_view(np.diag([1.0, 1.0, -1.0, 1.0]))
    assert len(index) == 0
