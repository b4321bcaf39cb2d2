"""Relocalising a device into a stored space, in rooms rendered by open3d's raycaster."""

import numpy as np
import pytest

from vision.camera import Intrinsics
from vision.depth import DepthView, fuse_depth_views
from vision.poses import PoseError, invert_pose, make_pose, pose_difference, rotation_about, transform_points
from vision.relocalise import (
    PreparedCloud,
    RelocalisationError,
    prepare_cloud,
    relocalise,
    track,
    transform_from_markers,
)
from vision.scenes import Room, look_at, make_room, panorama_poses

K = Intrinsics.from_fov(320, 240, 60)
NOISE = 0.001
# Where the second device's XR session put its origin: turned 140 degrees, slightly tilted, 2 m away.
DEVICE_FROM_SPACE = make_pose(rotation_about((0, 1, 0), 140) @ rotation_about((1, 0, 1), 3), (1.3, -0.2, -2.1))


def survey(room: Room, centre: tuple[float, float, float], count: int, start_deg: float,
           frame_from_world: np.ndarray, seed: int = 0) -> list[DepthView]:
    """Depth views turning around `centre`, with camera poses expressed in another frame."""
    return [DepthView(room.render(K, pose, NOISE, seed + k).depth, K, frame_from_world @ pose)
            for k, pose in enumerate(panorama_poses(centre, count, -20.0, start_deg))]


@pytest.fixture(scope="module")
def room() -> Room:
    return make_room(0)


@pytest.fixture(scope="module")
def space_map(room: Room) -> PreparedCloud:
    """The space as the first session mapped it: two turns around the room, in the space frame."""
    views = survey(room, (-1.0, 1.5, -0.8), 8, 0.0, np.eye(4)) + survey(room, (1.0, 1.5, 0.8), 8, 20.0, np.eye(4))
    return prepare_cloud(fuse_depth_views(views, 0.025))


@pytest.fixture(scope="module")
def device_points(room: Room) -> np.ndarray:
    """What a second device saw in its first seconds, in its own XR frame: three views from one spot."""
    return fuse_depth_views(survey(room, (0.4, 1.4, 0.3), 4, 35.0, DEVICE_FROM_SPACE, seed=100)[:3], 0.025)


def test_second_session_recovers_its_frame(space_map: PreparedCloud, device_points: np.ndarray) -> None:
    result = relocalise(device_points, space_map)
    assert result.success, result.detail
    distance, angle = pose_difference(result.space_from_device, invert_pose(DEVICE_FROM_SPACE))
    assert distance < 0.05 and angle < 3.0
    assert result.fitness > 0.85 and result.inlier_rmse < 0.05
    assert result.method == "registration" and result.detail == ""


def test_anchors_reappear_at_their_objects_in_the_second_device(room: Room, space_map: PreparedCloud,
                                                                device_points: np.ndarray) -> None:
    """Anchors stored in the space frame, sent in the device's frame, land on their objects in its camera."""
    device_from_space = relocalise(device_points, space_map).device_from_space
    camera_in_space = look_at((0.4, 1.6, 1.8), (0.0, 0.5, -0.5))
    camera_in_device = DEVICE_FROM_SPACE @ camera_in_space  # the device's tracking reports this pose
    view = room.render(K, camera_in_space)
    landed = 0
    for index, obj in enumerate(room.objects):
        anchor_in_device = device_from_space @ obj.pose
        true_in_device = DEVICE_FROM_SPACE @ obj.pose
        assert np.linalg.norm(anchor_in_device[:3, 3] - true_in_device[:3, 3]) < 0.05
        in_camera = transform_points(invert_pose(camera_in_device), anchor_in_device[None, :3, 3])[0]
        u, v = (K.matrix() @ in_camera)[:2] / in_camera[2]
        if in_camera[2] > 0 and 0 <= u < K.width and 0 <= v < K.height and room.visible_fraction(view, index) > 0.9:
            assert view.object_index[int(v), int(u)] == index, obj.name
            landed += 1
    assert landed >= 3


def test_tracking_corrects_a_small_drift_from_the_transform_found_before(space_map: PreparedCloud,
                                                                         device_points: np.ndarray) -> None:
    truth = invert_pose(DEVICE_FROM_SPACE)
    drifted = make_pose(rotation_about((0, 1, 0), 1.5), (0.06, 0.0, -0.04)) @ truth
    tracked = track(device_points, space_map, drifted)
    assert tracked.success and tracked.method == "registration", tracked.detail
    distance, angle = pose_difference(tracked.space_from_device, truth)
    assert distance < 0.02 and angle < 0.5, (distance, angle)
    lost = track(device_points, space_map, make_pose(rotation_about((0, 1, 0), 90), (1.0, 0.0, 0.0)) @ truth)
    assert not lost.success and "match the map" in lost.detail, "too far off for ICP alone"


def test_relocalisation_is_deterministic_with_a_seed(space_map: PreparedCloud, device_points: np.ndarray) -> None:
    first = relocalise(device_points, space_map, seed=7)
    again = relocalise(device_points, space_map, seed=7)
    # The same RANSAC draw; open3d's parallel sums may still differ in the last bits.
    assert np.allclose(first.space_from_device, again.space_from_device, atol=1e-9)
    assert first.fitness == again.fitness


def test_a_device_in_another_room_is_told_it_failed(space_map: PreparedCloud) -> None:
    elsewhere = make_room(5, size=(4.5, 2.6, 7.0))
    points = fuse_depth_views(survey(elsewhere, (0.0, 1.4, 1.0), 4, 0.0, np.eye(4))[:3], 0.025)
    result = relocalise(points, space_map)
    assert not result.success
    assert "match the map" in result.detail


def test_too_little_to_register_is_a_failure_not_a_crash(space_map: PreparedCloud, device_points: np.ndarray) -> None:
    result = relocalise(np.array([[0.0, 1.0, 0.0], [0.1, 1.0, 0.0]]), space_map)
    assert not result.success and "too few points" in result.detail
    with pytest.raises(RelocalisationError, match="finite"):
        relocalise(np.full((10, 3), np.nan), space_map)
    with pytest.raises(RelocalisationError, match="prepared at"):
        relocalise(prepare_cloud(np.random.default_rng(0).random((500, 3)), voxel_size=0.1), space_map)
    with pytest.raises(RelocalisationError, match="fine_normals"):
        relocalise(device_points, prepare_cloud(np.random.default_rng(0).random((500, 3)), fine_normals=False))


def test_two_devices_share_anchors_and_moves(room: Room, space_map: PreparedCloud, device_points: np.ndarray) -> None:
    """Device A places an anchor in its frame; device B, in another frame, sees it at the same physical spot."""
    a_from_space = make_pose(rotation_about((0, 1, 0), -60), (-0.7, 0.0, 1.5))
    a_points = fuse_depth_views(survey(room, (-0.5, 1.5, 1.0), 4, 200.0, a_from_space, seed=50)[:3], 0.025)
    a = relocalise(a_points, space_map)
    b = relocalise(device_points, space_map)
    assert a.success and b.success
    spot = np.array([0.2, 0.75, -0.6])  # a physical place, in the space frame
    placed_by_a = make_pose(None, transform_points(a_from_space, spot[None])[0])  # where A's frame has it
    stored = a.space_from_device @ placed_by_a
    seen_by_b = b.device_from_space @ stored
    assert np.linalg.norm(seen_by_b[:3, 3] - transform_points(DEVICE_FROM_SPACE, spot[None])[0]) < 0.05
    moved_by_a = placed_by_a @ make_pose(None, (0.3, 0.0, 0.0))
    seen_by_b = b.device_from_space @ a.space_from_device @ moved_by_a
    moved_spot = transform_points(invert_pose(a_from_space), moved_by_a[None, :3, 3])[0]
    assert np.linalg.norm(seen_by_b[:3, 3] - transform_points(DEVICE_FROM_SPACE, moved_spot[None])[0]) < 0.05


def marker_pose(position: tuple[float, float, float], yaw: float) -> np.ndarray:
    return make_pose(rotation_about((0, 1, 0), yaw) @ rotation_about((1, 0, 0), 90), position)


def test_one_marker_fixes_the_transform() -> None:
    in_space = marker_pose((1.0, 1.2, -2.4), 10)
    result = transform_from_markers({"marker:aruco/3": DEVICE_FROM_SPACE @ in_space}, {"marker:aruco/3": in_space})
    assert result.success and result.method == "markers" and result.fitness == 1.0
    distance, angle = pose_difference(result.space_from_device, invert_pose(DEVICE_FROM_SPACE))
    assert distance < 1e-9 and angle < 1e-3


def test_several_noisy_markers_are_combined_and_a_moved_one_is_dropped() -> None:
    rng = np.random.default_rng(1)
    known = {f"marker:aruco/{k}": marker_pose(tuple(rng.uniform(-2, 2, 3)), rng.uniform(0, 360)) for k in range(4)}
    seen = {}
    for key, pose in known.items():
        jitter = make_pose(rotation_about(rng.normal(size=3), 1.0), rng.normal(0, 0.005, 3))  # 1 degree, 5 mm
        seen[key] = DEVICE_FROM_SPACE @ pose @ jitter
    seen["marker:aruco/2"] = DEVICE_FROM_SPACE @ known["marker:aruco/2"] @ make_pose(None, (0.0, 0.5, 0.0))
    seen["marker:aruco/9"] = np.eye(4)  # seen only by the device: ignored
    result = transform_from_markers(seen, known)
    assert result.success, result.detail
    assert result.fitness == pytest.approx(3 / 4)
    distance, angle = pose_difference(result.space_from_device, invert_pose(DEVICE_FROM_SPACE))
    assert distance < 0.02 and angle < 1.5


def test_markers_that_cannot_be_trusted_fail_with_a_reason() -> None:
    assert "no marker" in transform_from_markers({"a": np.eye(4)}, {"b": np.eye(4)}).detail
    known = {"a": marker_pose((0.0, 1.0, 0.0), 0), "b": marker_pose((2.0, 1.0, 0.0), 0)}
    seen = {"a": known["a"], "b": known["b"] @ make_pose(None, (0.0, 0.4, 0.0))}
    result = transform_from_markers(seen, known)
    assert not result.success and "disagree" in result.detail
    with pytest.raises(PoseError, match="device pose of 'a'"):
        transform_from_markers({"a": np.zeros((4, 4))}, known)
