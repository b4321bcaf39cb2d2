"""Objects of a frame placed in 3D (spatial.lifting): lifted from depth, or triangulated across frames.

Frames are rendered from a synthetic room (vision.scenes) whose objects' poses and sizes are known; the
device's reference space is the room's turned and shifted, as a WebXR session's would be.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.lifting import point_in
from harness.stores import AnchorServices
from spatial.lifting import Triangulator, lift_objects, place_objects, placement_fields
from spatial.pipeline import FramePipeline, FrameResult, overlay_step
from spatial.session import Viewer
from vision import create_detector
from vision.camera import Intrinsics
from vision.depth import DepthMapError
from vision.detection import Detection
from vision.poses import invert_pose, make_pose, rotation_about, transform_points
from vision.scenes import RenderedView, Room, SceneObject, look_at

K = Intrinsics.from_fov(640, 480, 60)
DEVICE_FROM_ROOM = make_pose(rotation_about((0, 1, 0), 70), (0.4, 0.0, -1.2))
CRATE = SceneObject("crate", "box", np.array([0.5, 0.4, 0.4]),
                    make_pose(rotation_about((0, 1, 0), 30), (0.3, 0.2, -0.5)), (180, 120, 60))
BALL = SceneObject("ball", "sphere", np.full(3, 0.3), make_pose(None, (-0.6, 0.15, -0.2)), (40, 160, 220))


@pytest.fixture(scope="module")
def room() -> Room:
    return Room((6.0, 3.0, 5.0), [CRATE, BALL])


@pytest.fixture(scope="module")
def view(room: Room) -> RenderedView:
    return room.render(K, look_at((0.0, 1.4, 1.3), (-0.1, 0.2, -0.4)), 0.001)


def detection(view: RenderedView, index: int, *, mask: bool = False, score: float = 0.9, backend: str = "detectron2",
              pose: np.ndarray | None = None) -> Detection:
    return Detection(f"object:thing/{index}", "thing", score, view.box(index), backend, pose=pose,
                     mask=view.mask(index) if mask else None)


def test_masks_and_boxes_lift_into_the_device_frame_with_a_pose_for_the_camera(view: RenderedView) -> None:
    device_pose = DEVICE_FROM_ROOM @ view.camera_to_world
    found = [detection(view, 0, mask=True), detection(view, 1)]
    placed = lift_objects(found, view.depth, K, device_pose, max_objects=8)
    crate, ball = placed["object:thing/0"], placed["object:thing/1"]
    assert crate.source == "depth" and crate.frame == "device" and crate.points > 100
    assert np.linalg.norm(crate.position - point_in(DEVICE_FROM_ROOM, CRATE.centre)) < 0.03
    assert np.allclose(np.sort(crate.box.extent), np.sort(CRATE.size), rtol=0.10)
    assert np.allclose(device_pose @ crate.object_to_camera, crate.box.pose())
    assert np.allclose(crate.box.rotation[:, 1], (0, 1, 0)), "upright in the (y up) reference space"
    # One view of a sphere sees its cap: the box sits towards the camera, but over the ball.
    assert np.linalg.norm((ball.position - point_in(DEVICE_FROM_ROOM, BALL.centre))[[0, 2]]) < 0.15
    message = placement_fields(ball)["box3d"]
    assert message["frame"] == "device" and len(message["rotation"]) == 9 and message["points"] == ball.points


def test_without_a_device_pose_masks_lift_in_the_camera_frame_and_boxes_wait(view: RenderedView) -> None:
    placed = lift_objects([detection(view, 0, mask=True), detection(view, 1)], view.depth, K, None, max_objects=8)
    assert list(placed) == ["object:thing/0"], "a box alone cannot tell the object from its floor without up"
    crate = placed["object:thing/0"]
    truth = transform_points(invert_pose(view.camera_to_world), CRATE.centre[None])[0]
    assert crate.frame == "camera" and np.linalg.norm(crate.position - truth) < 0.03
    assert np.allclose(crate.object_to_camera, crate.box.pose())


def test_exact_poses_are_kept_and_the_cap_takes_the_best_scores(view: RenderedView) -> None:
    device_pose = DEVICE_FROM_ROOM @ view.camera_to_world
    marker = detection(view, 0, backend="markers", pose=np.eye(4))
    guessed = detection(view, 0, backend="mediapipe", pose=np.eye(4), score=0.5)  # Objectron: a guessed size
    assert set(lift_objects([marker, guessed], view.depth, K, device_pose, 8)) == {guessed.object_id}
    weak, strong = detection(view, 0, score=0.3), detection(view, 1, score=0.8)
    assert set(lift_objects([weak, strong], view.depth, K, device_pose, max_objects=1)) == {strong.object_id}


def test_an_object_without_depth_points_is_left_out_and_a_map_of_another_shape_is_refused(
        view: RenderedView) -> None:
    device_pose = DEVICE_FROM_ROOM @ view.camera_to_world
    depth = view.depth.copy()
    depth[view.mask(0)] = 0.0
    found = [detection(view, 0, mask=True), detection(view, 1, mask=True)]
    assert set(lift_objects(found, depth, K, device_pose, 8)) == {"object:thing/1"}
    with pytest.raises(DepthMapError, match="100x100"):
        lift_objects(found, np.ones((100, 100), np.float32), K, device_pose, 8)


def sideways_views(room: Room, count: int, step: float) -> list[RenderedView]:
    """A camera sliding to the right, looking straight ahead (no turn), as a person stepping aside."""
    start = look_at((-0.3, 1.3, 1.6), (-0.3, 0.4, -0.4))
    return [room.render(K, make_pose(start[:3, :3], start[:3, 3] + (step * k, 0.0, 0.0))) for k in range(count)]


def test_triangulation_needs_an_angle_then_places_the_ball_in_the_device_frame(room: Room) -> None:
    views = sideways_views(room, 12, 0.05)
    triangulator = Triangulator()
    positions = []
    for view in views:
        placed = triangulator.observe([detection(view, 1)], K, DEVICE_FROM_ROOM @ view.camera_to_world, 8)
        positions.append(placed.get("object:thing/1"))
    assert positions[:7] == [None] * 7, "views up to 30 cm apart, 2.2 m away, are within 10 degrees"
    assert all(p is not None for p in positions[9:])
    final = positions[-1]
    assert final.source == "triangulated" and final.frame == "device" and final.views == 12
    assert np.linalg.norm(final.position - point_in(DEVICE_FROM_ROOM, BALL.centre)) < 0.03, "a sphere's box centre is its centre's image"
    assert placement_fields(final) == {"position": [round(float(v), 4) for v in final.position]}


def test_triangulator_memory_is_bounded_and_a_still_camera_adds_no_views(room: Room) -> None:
    views = sideways_views(room, 6, 0.1)
    triangulator = Triangulator(max_objects=3, max_views=4)
    for view in views:
        for _ in range(3):  # a camera standing still replaces its last view
            triangulator.observe([detection(view, 1)], K, view.camera_to_world, 8)
    assert [len(v) for v in triangulator._views.values()] == [4]
    for k in range(5):
        triangulator.observe([Detection(f"object:cup/{k}", "cup", 0.9, (10, 10, 50, 50), "mediapipe")], K,
                             views[0].camera_to_world, 8)
    assert list(triangulator._views) == ["object:cup/2", "object:cup/3", "object:cup/4"]


def test_an_object_that_moved_between_views_is_not_triangulated(room: Room) -> None:
    views = sideways_views(room, 6, 0.1)
    triangulator = Triangulator()
    placed = {}
    for k, view in enumerate(views):
        box = view.box(1) if k < 3 else view.box(0)  # the same id, suddenly elsewhere
        placed = triangulator.observe([Detection("object:ball/1", "ball", 0.9, box, "mediapipe")], K,
                                      view.camera_to_world, 8)
    assert placed == {}


def test_objects_message_names_where_each_pose_came_from(view: RenderedView) -> None:
    device_pose = DEVICE_FROM_ROOM @ view.camera_to_world
    marker = Detection("marker:aruco/7", "marker", 1.0, (1, 1, 9, 9), "markers", pose=make_pose(None, (0, 0, 1)))
    too_small = Detection("object:x/1", "x", 0.5, (0, 0, 2, 2), "m")  # 4 pixels: too few to lift
    found = [detection(view, 0, mask=True), detection(view, 1), marker, too_small]
    placements = place_objects(found, K, view.depth, device_pose, Triangulator(), 8)
    message = FrameResult(3, 0.0, (640, 480), found, {"total": 1.0}, placements).objects_message().to_json()
    crate, ball, seen_marker, unplaced = message["objects"]
    assert crate["pose_source"] == "depth" and crate["box3d"]["frame"] == "device"
    assert np.allclose(device_pose @ np.reshape(crate["pose"], (4, 4)), placements[crate["id"]].box.pose(), atol=1e-4)
    assert ball["pose_source"] == "depth" and "box3d" in ball
    assert seen_marker["pose_source"] == "backend" and "box3d" not in seen_marker
    assert unplaced["pose_source"] is None and unplaced["pose"] is None and "box3d" not in unplaced
    assert place_objects(found, K, None, device_pose, None, 8) is None, "no depth, no triangulator: nothing placed"
    assert place_objects(found, K, None, None, Triangulator(), 8) is None, "no depth, no device pose"
    assert place_objects(found, K, None, np.diag([1.0, 1.0, -1.0, 1.0]), Triangulator(), 8) is None, "not rigid"


def test_compute_signals_see_the_lifted_pose_of_an_object_its_backend_gives_none(view: RenderedView) -> None:
    services = AnchorServices.in_memory()
    pipeline = FramePipeline(create_detector("markers"), services.blocks)
    viewer = Viewer(services.accounts.create_user("alice"), pipeline.compute, pipeline.layouts, linger_s=0.5,
                    metres_per_pixel=0.0005)
    found = [detection(view, 1)]
    placements = place_objects(found, K, view.depth, DEVICE_FROM_ROOM @ view.camera_to_world, Triangulator(), 8)
    result = FrameResult(0, 0.0, (640, 480), found, {"total": 0.0}, placements)
    overlay_step(viewer, result, 1.0)
    lifted = placements[found[0].object_id].object_to_camera
    assert np.allclose(viewer.signals.poses[found[0].object_id], lifted.reshape(16), atol=1e-4)
