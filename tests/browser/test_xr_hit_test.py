"""WebXR hit tests place an object that has no pose of its own.

The cup on the sample video's poster is taught from the first frame without a
size, so the server finds it with a box and no pose. The page first guesses
its distance from the box, then asks a WebXR hit test along the ray through
the box centre. iwer's synthetic environment, fed by the test, answers with
the poster's plane (marker 7 lies on it). The page must put the cup where
that ray meets the poster.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Browser, Page

from harness.poses import matrix
from tests.browser.helpers import FLIP, MARKER, client, emulated_phone, freeze_video, teach_cup

FX, FY, CX, CY = 525.0, 525.0, 319.5, 239.5  # the sample camera, which the emulated view matches

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from emulated_phone(browser, hit_test=True)


def iwer_from_reference(page: Page, view_in_reference: np.ndarray) -> np.ndarray:
    """iwer's own frame from the session's reference space, from where each puts the (still) device."""
    device = page.evaluate("""() => { const { position: p, quaternion: q } = window.xrDevice;
                                      return [p.x, p.y, p.z, q.x, q.y, q.z, q.w]; }""")
    x, y, z, w = device[3:]
    rotation = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])
    view_in_iwer = np.eye(4)
    view_in_iwer[:3, :3], view_in_iwer[:3, 3] = rotation, device[:3]
    return view_in_iwer @ np.linalg.inv(view_in_reference)


def test_an_object_without_a_pose_is_placed_where_a_hit_test_meets_the_poster(page: Page, server: Any) -> None:
    cup = teach_cup(server)
    page.goto(f"{server.url}/#token={server.token}")
    page.wait_for_selector("#start-xr", state="visible", timeout=10_000)
    page.click("#start-xr")
    both_seen = (f"['{cup}', '{MARKER}'].every(id => (window.spatialClient.lastObjects?.objects || [])"
                 ".some(o => o.id === id))")
    page.wait_for_function(both_seen, timeout=30_000)
    freeze_video(page, both_seen)
    snapshot = client(page)["xr"]
    [found] = [o for o in page.evaluate("window.spatialClient.lastObjects.objects") if o["id"] == cup]
    assert found["pose"] is None and found["backend"] == "taught", "taught without a size: a box, no pose"

    # The poster's plane in iwer's frame, for its hit tests: through marker 7, facing along the marker's z axis.
    view = matrix(snapshot["view"]["transform"])
    marker = matrix(snapshot["objects"][MARKER]["measured"])
    to_iwer = iwer_from_reference(page, view)
    point, normal = (to_iwer @ marker[:, 3])[:3], to_iwer[:3, :3] @ marker[:3, 2]
    camera = view @ FLIP  # the device pose the page sends: OpenCV axes
    box = found["box"]  # the video is paused: every frame has this box
    ray = camera[:3, :3] @ np.array([((box[0] + box[2]) / 2 - CX) / FX, ((box[1] + box[3]) / 2 - CY) / FY, 1.0])
    origin, plane_normal = camera[:3, 3], marker[:3, 2]
    expected = origin + ray * ((marker[:3, 3] - origin) @ plane_normal) / (ray @ plane_normal)

    page.evaluate("([point, normal]) => { window.testPlane = { point, normal }; }", [point.tolist(), normal.tolist()])
    # A hit test asked before the video was paused may answer first; the next ones use the paused frame's box.
    page.wait_for_function(
        f"""(() => {{ const o = window.spatialClient.xr().objects['{cup}'];
             if (o?.source !== 'hit-test') return false;
             const p = o.pose;
             return Math.hypot(p[3] - {expected[0]}, p[7] - {expected[1]}, p[11] - {expected[2]}) < 0.01; }})()""",
        timeout=15_000,
    )
    placed = matrix(client(page)["xr"]["objects"][cup]["pose"])
    assert np.linalg.norm(placed[:3, 3] - marker[:3, 3]) < 0.5, "on the poster, beside the marker"
