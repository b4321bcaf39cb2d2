"""Placing space anchors from a device: the store and registry behind `place`, and space panels that linger."""

import numpy as np
import pytest

from anchors import NotFound
from harness.poses import row_major
from harness.stores import AnchorServices
from spatial.pipeline import FramePipeline, FrameResult, overlay_step
from spatial.session import Viewer
from spatial.spaces import PlaceError, SpaceRegistry, SpaceSession, place_from_device
from vision import create_detector
from vision.camera import Intrinsics
from vision.poses import invert_pose, make_pose, rotation_about
from vision.relocalise import Relocalisation
from vision.scenes import look_at

K = Intrinsics.from_fov(320, 240, 60)
IDENTITY = row_major(np.eye(4))
DEVICE_FROM_SPACE = make_pose(rotation_about((0, 1, 0), 90), (2.0, 0.0, 0.0))


def world() -> tuple[AnchorServices, SpaceRegistry, object, SpaceSession, str]:
    services = AnchorServices.in_memory()
    alice = services.accounts.create_user("alice")
    space = services.spaces.create_space(alice, "room")
    note = services.blocks.create_block(alice, "markdown", "", "note")
    return services, SpaceRegistry(services.spaces), alice, SpaceSession(space), note.id


def test_placing_converts_the_device_pose_to_the_space_and_keeps_the_registry_in_step() -> None:
    services, registry, alice, session, note_id = world()
    in_device = DEVICE_FROM_SPACE @ make_pose(None, (0.0, 1.0, 0.0))
    with pytest.raises(PlaceError, match="not relocalised") as info:
        place_from_device(registry, alice, session, in_device, block_id=note_id)
    assert info.value.code == "not_relocalised"
    session.accept(Relocalisation(invert_pose(DEVICE_FROM_SPACE), 1.0, 0.0, True, "markers"))

    camera = look_at((0.0, 1.5, 3.0), (0.0, 1.0, 0.0))
    assert registry.visible(session.space.id, camera, K) == {}, "the index is loaded before the anchor is placed"
    loaded = registry.anchors(session.space.id)
    anchor = place_from_device(registry, alice, session, in_device, block_id=note_id)
    assert np.allclose(np.reshape(anchor.space_pose, (4, 4)), make_pose(None, (0.0, 1.0, 0.0)), atol=1e-9)
    assert set(registry.visible(session.space.id, camera, K)) == {anchor.object_id}
    moved = place_from_device(registry, alice, session, DEVICE_FROM_SPACE @ make_pose(None, (0.5, 1.0, 0.0)),
                              anchor_id=anchor.id)
    assert moved.id == anchor.id and registry.anchors(session.space.id) is loaded, "applied in place, no reload"
    assert registry.visible(session.space.id, camera, K)[anchor.object_id][0, 3] == pytest.approx(0.5)

    other = SpaceSession(services.spaces.create_space(alice, "another room"))
    other.accept(Relocalisation(np.eye(4), 1.0, 0.0, True, "markers"))
    with pytest.raises(PlaceError, match=f"anchor {anchor.id} is not placed in this session's space {other.space.id}"):
        place_from_device(registry, alice, other, np.eye(4), anchor_id=anchor.id)
    bob = services.accounts.create_user("bob")
    with pytest.raises(NotFound, match=f"no block {note_id}"):
        place_from_device(registry, bob, session, np.eye(4), block_id=note_id)


def test_a_space_anchor_out_of_view_lingers_like_an_object_overlay() -> None:
    services, _, alice, session, note_id = world()
    anchor, _ = services.spaces.attach_in_space(alice, note_id, session.space.id, IDENTITY)
    pipeline = FramePipeline(create_detector("markers"), services.blocks)
    viewer = Viewer(alice, pipeline.compute, pipeline.layouts, linger_s=0.5, metres_per_pixel=0.0005)
    in_device = {anchor.object_id: DEVICE_FROM_SPACE}

    def delta(now: float, placed: dict) -> tuple[list, list, list]:
        result = FrameResult(0, 0.0, (320, 240), [], {"total": 0.0})
        found = overlay_step(viewer, result, now, placed)
        return [o.id for o in found.added], [o.id for o in found.updated], found.removed

    assert delta(10.0, in_device) == ([anchor.id], [], [])
    assert delta(10.3, {}) == ([], [], []), "out of view, or a frame without a device pose: it stays a moment"
    assert delta(10.6, in_device) == ([], [], []), "back in view before it went: nothing to send"
    moved = {anchor.object_id: DEVICE_FROM_SPACE @ make_pose(None, (0.1, 0.0, 0.0))}
    assert delta(10.7, moved) == ([], [anchor.id], [])
    assert delta(11.1, {}) == ([], [], [])
    assert delta(11.25, {}) == ([], [], [anchor.id]), "gone after the linger time"
