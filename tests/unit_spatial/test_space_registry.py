"""The service's space registry: an anchor index that follows the store, and per-session relocalisation state."""

import numpy as np

from harness.poses import matrix
from harness.stores import AnchorServices
from spatial.spaces import SpaceRegistry, SpaceSession, device_placements
from vision.camera import Intrinsics
from vision.depth import DepthView
from vision.detection import Detection
from vision.poses import invert_pose, make_pose, pose_difference, rotation_about
from vision.relocalise import Relocalisation
from vision.scenes import look_at

K = Intrinsics.from_fov(320, 240, 60)
CAMERA = look_at((0.0, 1.5, 3.0), (0.0, 1.0, 0.0))  # looking down -z from z = 3


def at(x: float, y: float, z: float) -> list[float]:
    return [1, 0, 0, x, 0, 1, 0, y, 0, 0, 1, z, 0, 0, 0, 1]


def setup() -> tuple[AnchorServices, SpaceRegistry, object, str, str]:
    services = AnchorServices.in_memory()
    alice = services.accounts.create_user("alice")
    space = services.spaces.create_space(alice, "room")
    note = services.blocks.create_block(alice, "markdown", "", "note")
    return services, SpaceRegistry(services.spaces, max_view_distance_m=10.0), alice, space.id, note.id


def test_changes_through_the_registry_apply_in_place_and_others_reload() -> None:
    services, registry, alice, space_id, note_id = setup()
    front, revision = services.spaces.attach_in_space(alice, note_id, space_id, at(0.0, 1.0, 0.0))
    registry.placed(front, revision)  # nothing loaded yet: ignored, the first query loads
    assert set(registry.visible(space_id, CAMERA, K)) == {front.object_id}
    loaded = registry.anchors(space_id)

    behind, revision = services.spaces.attach_in_space(alice, note_id, space_id, at(0.0, 1.0, 5.0))
    registry.placed(behind, revision)
    moved, revision = services.spaces.move_anchor(alice, front.id, at(0.0, 1.0, -20.0))
    registry.placed(moved, revision)
    assert registry.anchors(space_id) is loaded, "applied in place, no reload"
    assert loaded.revision == 3 and registry.visible(space_id, CAMERA, K) == {}, "one behind, one beyond 10 m"

    services.spaces.move_anchor(alice, front.id, at(1.0, 1.0, 0.0))  # a change the registry does not hear of
    assert registry.anchors(space_id) is not loaded
    [(key, pose)] = registry.visible(space_id, CAMERA, K).items()
    assert key == front.object_id and pose[0, 3] == 1.0

    revision = services.blocks.detach(alice, front.id)
    registry.removed(front, revision)
    assert registry.visible(space_id, CAMERA, K) == {}
    services.blocks.delete_block(alice, note_id)
    assert registry.anchors(space_id).poses == {}, "anchors deleted with their block are dropped too"


def test_a_relocalised_session_gets_anchors_in_its_own_frame() -> None:
    services, registry, alice, space_id, note_id = setup()
    anchor, _ = services.spaces.attach_in_space(alice, note_id, space_id, at(0.0, 1.0, 0.0))
    device_from_space = make_pose(rotation_about((0, 1, 0), 90), (2.0, 0.0, 0.0))
    landmark = make_pose(None, (0.0, 1.2, -1.0))
    space = services.spaces.set_space_map(alice, space_id, np.zeros((0, 3)), landmarks={"marker:aruco/3": landmark.ravel()})
    session = SpaceSession(space)
    camera_in_device = device_from_space @ CAMERA
    assert device_placements(session, registry, camera_in_device, K) == {}, "nothing before relocalisation"

    seen = Detection(box=(0, 0, 10, 10), label="marker", score=1.0, object_id="marker:aruco/3", backend="markers",
                     pose=np.linalg.inv(camera_in_device) @ device_from_space @ landmark)
    failure = Relocalisation(np.eye(4), 0.0, 1.0, False, "markers", "markers disagree")
    assert session.accept(failure) and not session.accept(failure), "one report for a run of marker failures"
    assert session.accept(Relocalisation(np.eye(4), 0.1, 1.0, False, "registration", "only 10% match"))
    found = session.from_markers([seen], camera_in_device)
    assert found.success and session.accept(found)
    assert not session.accept(Relocalisation(np.eye(4), 0.0, 1.0, False, "registration", "later")), "success stays"
    [(key, pose)] = device_placements(session, registry, camera_in_device, K).items()
    assert key == anchor.object_id
    distance, angle = pose_difference(pose, device_from_space @ matrix(at(0.0, 1.0, 0.0)))
    assert distance < 1e-6 and angle < 1e-4


def test_depth_views_are_handed_out_three_at_a_time_one_job_at_a_time() -> None:
    services, _, alice, space_id, _ = setup()
    session = SpaceSession(services.spaces.get_space(alice, space_id))
    depth = np.ones((24, 32), np.float32)
    views = iter(matrix(at(0.2 * k, 0.0, 0.0)) for k in range(20))
    assert session.add_depth(depth, K, next(views)) is None
    assert session.add_depth(depth, K, next(views)) is None
    assert len(session.add_depth(depth, K, next(views))) == 3
    for _ in range(4):
        assert session.add_depth(depth, K, next(views)) is None, "a job is running"
    session.registering = False
    assert len(session.add_depth(depth, K, next(views))) == 6, "the newest views, at most six"


def test_a_depth_view_from_where_the_last_one_was_taken_is_not_kept() -> None:
    services, _, alice, space_id, _ = setup()
    session = SpaceSession(services.spaces.get_space(alice, space_id))
    depth = np.ones((24, 32), np.float32)
    still = np.eye(4)
    for _ in range(5):
        assert session.add_depth(depth, K, still) is None
    assert len(session.views) == 1, "a device standing still adds one view"
    nudged = make_pose(rotation_about((0, 1, 0), 10.0), (0.05, 0.0, 0.0))
    assert session.add_depth(depth, K, nudged) is None and len(session.views) == 1, "5 cm and 10 degrees are not enough"
    assert session.add_depth(depth, K, make_pose(rotation_about((0, 1, 0), 20.0), (0.0, 0.0, 0.0))) is None
    assert len(session.add_depth(depth, K, make_pose(None, (0.0, 0.0, 0.15)))) == 3, "turned 20 degrees, then moved 15 cm"

def test_a_registration_while_relocalised_is_taken_only_when_it_corrects_drift() -> None:
    services, _, alice, space_id, _ = setup()
    session = SpaceSession(services.spaces.get_space(alice, space_id))
    views = [DepthView(np.ones((24, 32), np.float32), K, matrix(at(x, 1.5, 0.0))) for x in (0.0, 1.0)]
    slid = make_pose(None, (0.05, 0.0, 0.0))
    assert not session.accept_drift(Relocalisation(slid, 1.0, 0.01, True, "registration"), views), "not relocalised"
    assert session.accept(Relocalisation(np.eye(4), 1.0, 0.0, True, "markers"))
    noise = make_pose(rotation_about((0, 1, 0), 0.5), (0.01, 0.0, 0.0))
    assert not session.accept_drift(Relocalisation(noise, 0.95, 0.01, True, "registration"), views), "within noise"
    assert not session.accept_drift(Relocalisation(slid, 0.5, 0.1, False, "registration"), views), "a failure"
    assert session.accept_drift(Relocalisation(slid, 0.95, 0.01, True, "registration"), views)
    assert np.allclose(session.device_from_space, invert_pose(slid))
