"""Pose helpers: validation with named errors, inversion, comparison and the WebXR camera flip."""

import numpy as np
import pytest

from vision.poses import (
    PoseError,
    check_pose,
    invert_pose,
    make_pose,
    opencv_from_webxr_view,
    pose_difference,
    rotation_about,
    transform_points,
)


def test_inverse_undoes_a_pose() -> None:
    pose = make_pose(rotation_about((1, 2, 3), 70), (0.5, -1.0, 2.0))
    assert np.allclose(invert_pose(pose) @ pose, np.eye(4))
    points = np.random.default_rng(0).normal(size=(5, 3))
    assert np.allclose(transform_points(invert_pose(pose), transform_points(pose, points)), points)


def test_difference_reports_metres_and_degrees() -> None:
    a = make_pose(rotation_about((0, 1, 0), 10), (1.0, 0.0, 0.0))
    b = make_pose(rotation_about((0, 1, 0), 40), (1.0, 0.3, 0.4))
    distance, angle = pose_difference(a, b)
    assert distance == pytest.approx(0.5) and angle == pytest.approx(30.0)


def test_webxr_view_flips_only_the_camera_axes() -> None:
    view = make_pose(rotation_about((0, 1, 0), 30), (0.2, 1.6, -0.3))
    camera = opencv_from_webxr_view(view)
    assert np.allclose(camera[:3, 3], view[:3, 3])
    assert np.allclose(camera[:3, 2], -view[:3, 2])  # OpenCV forward is WebXR's -z
    assert np.allclose(camera[:3, 1], -view[:3, 1])  # OpenCV down is WebXR's -y
    assert np.allclose(opencv_from_webxr_view(camera), view)


@pytest.mark.parametrize("bad, message", [
    (np.eye(3), "4x4"),
    ([[1, 2], [3, 4]], "4x4"),
    ("pose", "4x4 matrix of numbers"),
    (np.full((4, 4), np.nan), "non-finite"),
    (np.diag([1.0, 1.0, -1.0, 1.0]), "proper rotation"),
    (np.diag([2.0, 1.0, 1.0, 1.0]), "proper rotation"),
    (np.vstack([np.eye(4)[:3], [0, 0, 1, 1]]), "last row"),
])
def test_bad_poses_name_the_argument(bad, message: str) -> None:
    with pytest.raises(PoseError, match=message) as raised:
        check_pose(bad, "anchor pose")
    assert "anchor pose" in str(raised.value)
