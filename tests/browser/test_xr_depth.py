"""WebXR depth sensing: the page sends the view's depth with its frames and relocalises into a space from it.

The physical place is a synthetic room (vision.scenes) whose map a first
device uploaded in the room's own frame. The emulated phone (iwer) stands in
that room turned and shifted by a transform only the test knows, and offers
CPU depth sensing of what it sees: the room rendered from the phone's pose.
The page must resample that depth to its camera image, send it with each
frame, and the server must relocalise the session from it, by registration,
with no landmark in the space. A tap then places a block on the surface the
tap points at.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import pytest
from playwright.sync_api import Browser, Page

from harness.poses import matrix
from tests.browser.helpers import FLIP, PHONE_SCREEN, SAMPLE_FOV_Y_RAD, StreamTap, emulated_phone
from tests.support import upload_room_map
from vision.camera import Intrinsics
from vision.poses import invert_pose, make_pose, pose_difference, rotation_about
from vision.scenes import make_room, panorama_poses

DEPTH_CAMERA = Intrinsics.from_fov(200, 150, math.degrees(SAMPLE_FOV_Y_RAD))  # a quarter of the view, as iwer asks
# Where the phone's XR session has its origin, in the room's terms.
XR_FROM_ROOM = make_pose(rotation_about((0, 1, 0), 140) @ rotation_about((1, 0, 1), 3), (1.3, -0.2, -2.1))

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from emulated_phone(browser, depth_sensing=True)


def quaternion(rotation: np.ndarray) -> list[float]:
    """x, y, z, w of a rotation matrix."""
    vector, _ = cv2.Rodrigues(rotation)
    angle = float(np.linalg.norm(vector))
    axis = vector.ravel() / angle if angle > 1e-12 else np.zeros(3)
    return [*(axis * math.sin(angle / 2)), math.cos(angle / 2)]


def stand_at(page: Page, camera_in_room: np.ndarray, depth: np.ndarray) -> None:
    """Put the phone where its camera sees the room from `camera_in_room`, seeing `depth`, in one step."""
    view = XR_FROM_ROOM @ camera_in_room @ FLIP
    page.evaluate(
        """([position, q, width, height, values]) => {
             window.xrDevice.position.set(...position);
             window.xrDevice.quaternion.set(...q);
             window.testDepth = { width, height, values: new Float32Array(values) };
           }""",
        [view[:3, 3].tolist(), quaternion(view[:3, :3]), depth.shape[1], depth.shape[0], depth.ravel().tolist()],
    )


def test_the_page_sends_view_depth_relocalises_from_it_and_places_a_tap_on_the_surface(page: Page, server: Any) -> None:
    room = make_room(0)
    rest = server.rest()
    space = upload_room_map(rest, room, "phone room")
    note = rest.post("/v1/blocks", json={"kind": "markdown", "title": "On the wall", "content": "tapped"}).json()
    tap = StreamTap(page)
    views = panorama_poses((0.4, 1.4, 0.3), 4, -20.0, 35.0)[:3]
    depths = [room.render(DEPTH_CAMERA, pose, 0.001, 200 + k).depth for k, pose in enumerate(views)]
    page.goto(f"{server.url}/?space={space}&place={note['id']}#token={server.token}")
    page.wait_for_selector("#start-xr", state="visible", timeout=10_000)
    stand_at(page, views[0], depths[0])
    page.click("#start-xr")
    page.wait_for_function("window.spatialClient.xr()?.depthSensing === true", timeout=20_000)
    page.wait_for_function("document.getElementById('status-main').textContent.includes('AR with depth')",
                           timeout=10_000)
    assert "finding the space: look around" in page.text_content("#status-main")

    sent = []  # per view: the first frame sent from there, with its depth
    for camera_in_room, depth in zip(views, depths):
        stand_at(page, camera_in_room, depth)
        turned = XR_FROM_ROOM @ camera_in_room  # in iwer's own frame; the session's 'local' space is shifted from it

        def from_here() -> Any:
            return next((h for _, h in sorted(tap.frames.items()) if h.depth is not None and h.device_pose is not None
                         and pose_difference(h.device_pose, turned)[1] < 0.1), None)

        sent_before = page.evaluate("window.spatialClient.framesSent")
        for more in range(1, 100):  # each frame the page sends from here, until one carries depth
            if from_here() is not None:
                break
            page.wait_for_function(f"window.spatialClient.framesSent >= {sent_before + more}", timeout=10_000)
        header = from_here()
        assert header is not None, f"no frame with depth was sent from view {len(sent)}"
        sent.append((header, depth, camera_in_room))
    truths = [header.device_pose @ invert_pose(camera_in_room) for header, _, camera_in_room in sent]
    assert all(pose_difference(truth, truths[0])[0] < 1e-3 for truth in truths), "one session frame throughout"

    page.wait_for_function("window.spatialClient.relocalised != null", timeout=60_000)
    found = page.evaluate("window.spatialClient.relocalised")
    assert found["success"], found
    assert found["method"] == "registration", found
    assert "in the space (found by depth)" in page.text_content("#status-main"), "the status line says so"

    header, depth, camera_in_room = sent[0]
    image_camera = Intrinsics(*header.intrinsics, 640, 480)
    assert header.depth.shape == (120, 160), "the image's aspect, at most 160 samples on its long side"
    drawn = sample_depth_like_the_page(depth, image_camera, header.depth.shape)
    valid = drawn > 0
    assert valid.mean() > 0.9
    assert np.abs(header.depth[valid] - drawn[valid]).max() < 0.002, "millimetres of the view's depth, resampled"
    distance, angle = pose_difference(matrix(found["device_from_space"]), truths[0])
    assert distance < 0.05 and angle < 3.0, (distance, angle)

    # A tap on the middle of the screen: on the surface the view's axis meets, not a fixed distance along it.
    header, depth, _ = sent[-1]
    middle = depth[depth.shape[0] // 2 - 1:depth.shape[0] // 2 + 1, depth.shape[1] // 2 - 1:depth.shape[1] // 2 + 1]
    surface = (header.device_pose @ [0.0, 0.0, float(middle.mean()), 1.0])[:3]
    page.mouse.click(PHONE_SCREEN[0] // 2, PHONE_SCREEN[1] // 2)
    page.wait_for_function("window.spatialClient.lastPlaced?.ref === 'place1'", timeout=10_000)
    anchor = page.evaluate("window.spatialClient.lastPlaced.anchor")
    page.wait_for_function(f"Boolean(window.spatialClient.overlays['{anchor}'])", timeout=10_000)
    placed = matrix(page.evaluate(f"window.spatialClient.overlays['{anchor}'].placement.pose"))
    assert np.linalg.norm(placed[:3, 3] - surface) < 0.03, (placed[:3, 3], surface)


def sample_depth_like_the_page(depth: np.ndarray, camera: Intrinsics, shape: tuple[int, int]) -> np.ndarray:
    """The depth the page should send: for each sample of the image's grid, the view's depth along its ray."""
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    x = (cols + 0.5) * camera.width / shape[1] - 0.5
    y = (rows + 0.5) * camera.height / shape[0] - 0.5
    u = ((x - camera.cx) / camera.fx * DEPTH_CAMERA.fx + DEPTH_CAMERA.cx) / DEPTH_CAMERA.width
    v = ((y - camera.cy) / camera.fy * DEPTH_CAMERA.fy + DEPTH_CAMERA.cy) / DEPTH_CAMERA.height
    inside = (u >= 0) & (u < 1) & (v >= 0) & (v < 1)
    picked = np.zeros(shape, np.float32)
    picked[inside] = depth[(v[inside] * depth.shape[0]).astype(int), (u[inside] * depth.shape[1]).astype(int)]
    return picked
