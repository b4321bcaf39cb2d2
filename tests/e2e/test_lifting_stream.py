"""End to end: objects placed in 3D through a real server and a real WebSocket.

The physical place is a synthetic room (vision.scenes) holding a crate and a
poster board, each covered in a photo so that it can be taught (REST
`/v1/taught`) and recognised by its features. The device's reference space is
the room's turned and shifted by a transform only the test knows. Frames carry
colour, and a depth map and the device pose where a test says so; the server
lifts the crate from depth, and triangulates it from the device poses of
frames without depth. The scene is `harness/lifting.py`'s; `bench/lifting.py` times it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from harness.lifting import (
    CAMERA, CRATE, DEVICE_FROM_ROOM, EYE, INTRINSICS, NOISE, ROOM, K, point_in, printed, sideways, teach,
)
from harness.samples import jpeg
from harness.servers import Server
from spatial.client import StreamClient

DEPTH_K = K.scaled_to(320, 240)  # depth sensors give coarser maps than the colour camera


@pytest.fixture(scope="module")
def crate_id(server: Server) -> str:
    return teach(server, CRATE)


def object_of(message: dict[str, Any], object_id: str) -> dict[str, Any]:
    [found] = [o for o in message["objects"] if o["id"] == object_id]
    return found


def test_the_crate_is_lifted_from_depth_into_the_device_frame(server: Server, crate_id: str) -> None:
    poses = [sideways(EYE, CRATE.centre, k, 0.02) for k in range(8)]

    async def scenario() -> tuple[list[dict], dict, dict, list[dict]]:
        client = await StreamClient.open(server.ws_url, server.token, CAMERA)
        lifted = []
        for k, pose in enumerate(poses):
            view = ROOM.render(K, pose)
            depth = ROOM.render(DEPTH_K, pose, NOISE, k).depth
            lifted.append(await client.frame(k, jpeg(printed(view)), intrinsics=INTRINSICS,
                                             device_pose=DEVICE_FROM_ROOM @ pose, depth=depth))
        view = ROOM.render(K, poses[-1])
        no_pose = await client.frame(8, jpeg(printed(view)), intrinsics=INTRINSICS, depth=view.depth)
        hollow = view.depth.copy()
        x0, y0, x1, y1 = (int(v) for v in view.box(0))
        hollow[y0:y1, x0:x1] = 0.0  # the sensor measured nothing on the crate
        no_points = await client.frame(9, jpeg(printed(view)), intrinsics=INTRINSICS,
                                       device_pose=DEVICE_FROM_ROOM @ poses[-1], depth=hollow)
        square = np.ones((100, 100), np.float32)  # not the image's 4:3 aspect
        wrong_shape = [await client.frame(10, jpeg(printed(view)), intrinsics=INTRINSICS,
                                          device_pose=DEVICE_FROM_ROOM @ poses[-1], depth=square)]
        wrong_shape.append(await client.next_of("objects", "error"))
        wrong_shape.append(await client.frame(11, jpeg(printed(view)), intrinsics=INTRINSICS,
                                              device_pose=DEVICE_FROM_ROOM @ poses[-1], depth=view.depth))
        await client.close()
        return lifted, no_pose, no_points, wrong_shape

    lifted, no_pose, no_points, wrong_shape = asyncio.run(scenario())
    truth = point_in(DEVICE_FROM_ROOM, CRATE.centre)
    for pose, message in zip(poses, lifted):
        assert message["type"] == "objects", message
        assert "lift" in message["timing"]
        crate = object_of(message, crate_id)
        assert crate["backend"] == "taught" and crate["pose_source"] == "depth"
        box = crate["box3d"]
        assert box["frame"] == "device" and box["points"] > 100
        assert np.linalg.norm(np.subtract(box["centre"], truth)) < 0.03, (message["frame_id"], box["centre"], truth)
        extent = np.array(box["extent"])
        footprint = np.sort(extent[[0, 2]]) / np.sort(CRATE.size[[0, 2]])
        assert np.abs(np.append(footprint, extent[1] / CRATE.size[1]) - 1.0).max() < 0.10, extent
        rotation = np.reshape(box["rotation"], (3, 3))
        assert np.allclose(rotation[:, 1], (0, 1, 0), atol=1e-6), "upright in the y-up reference space"
        object_to_camera = np.reshape(crate["pose"], (4, 4))
        assert np.allclose((DEVICE_FROM_ROOM @ pose @ object_to_camera)[:3, 3], box["centre"], atol=1e-3)

    crate = object_of(no_pose, crate_id)
    assert "box3d" not in crate and crate["pose"] is None and crate["pose_source"] is None, \
        "without the device's up, a box alone cannot tell the crate from the floor"
    crate = object_of(no_points, crate_id)
    assert "box3d" not in crate and crate["pose"] is None, "no depth on the crate: processed, not lifted"

    processed, error, after = wrong_shape
    assert processed["type"] == "objects" and "box3d" not in object_of(processed, crate_id)
    assert error["type"] == "error" and error["code"] == "bad_depth" and error["ref"] == "frame:10", error
    assert "100x100" in error["message"] and "640x480" in error["message"], error["message"]
    assert "box3d" in object_of(after, crate_id), "the session goes on lifting with the next good depth map"


def test_the_crate_is_triangulated_from_device_poses_without_depth(server: Server, crate_id: str) -> None:
    """Stepping 5 cm to the right per frame, 1.6 m from the crate, with no depth: a position once views are
    10 degrees apart. Its accuracy is the boxes': the recogniser's box of a 3D crate is the taught box under
    one homography, tens of pixels too wide from a new side, and tracking carries that error; with exact
    boxes the triangulation is within 3 cm (tests/unit_spatial/test_object_placement.py)."""
    poses = [sideways(EYE, CRATE.centre, k, 0.05) for k in range(16)]

    async def scenario() -> list[dict]:
        client = await StreamClient.open(server.ws_url, server.token, CAMERA)
        replies = []
        for k, pose in enumerate(poses):
            view = ROOM.render(K, pose)
            replies.append(await client.frame(k, jpeg(printed(view)), intrinsics=INTRINSICS,
                                              device_pose=DEVICE_FROM_ROOM @ pose))
        await client.close()
        return replies

    replies = asyncio.run(scenario())
    crates = [object_of(message, crate_id) for message in replies]
    assert all("position" not in crate for crate in crates[:4]), "views up to 15 cm apart are too close to call"
    placed = [crate for crate in crates if "position" in crate]
    assert len(placed) >= 5 and all(crate["pose_source"] == "triangulated" for crate in placed)
    assert all(crate["pose"] is None and "box3d" not in crate for crate in placed)
    assert all("lift" in message["timing"] for message in replies)
    error = np.linalg.norm(np.subtract(placed[-1]["position"], point_in(DEVICE_FROM_ROOM, CRATE.centre)))
    assert error < 0.4, error
