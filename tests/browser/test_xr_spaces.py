"""WebXR mode in a space: the page relocalises on a landmark marker and draws a space anchor in its own frame.

Marker 7 of the sample video is a landmark of a space; a note is placed in the
space 30 cm to the marker's right. The page (opened with `?space=`) sends its
posed frames, the server relocalises it from the marker and sends the note
with `placement.frame` "device": the page must draw it there directly, beside
the marker as the page itself places the marker.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Browser, Page

from tests.browser.helpers import MARKER, install_iwer, matrix, new_page, translation

FOV_Y_RAD = 2 * math.atan(240 / 525)  # the sample camera's vertical field of view
LIFT_M = 0.06  # webxr_client/geometry.js: a panel's bottom is 6 cm above its anchor

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page, errors = new_page(browser, {"width": 800, "height": 600})
    install_iwer(page, FOV_Y_RAD)
    yield page
    page.context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def row_major(pose: np.ndarray) -> list[float]:
    return [float(v) for v in pose.reshape(16)]


def test_a_space_anchor_is_drawn_in_the_reference_space_beside_its_landmark(page: Page, server: Any) -> None:
    rest = server.rest()
    landmark = translation(1.0, 1.2, -2.0)  # where the space's frame has marker 7
    space = rest.post("/v1/spaces", json={"name": "poster"}).json()["id"]
    assert rest.put(f"/v1/spaces/{space}/map", json={"points": "", "landmarks": {MARKER: row_major(landmark)}}).is_success
    note = rest.post("/v1/blocks", json={"kind": "markdown", "title": "Beside", "content": "beside the poster"}).json()
    placed = landmark @ translation(0.3, 0.0, 0.0)
    anchor = rest.post(f"/v1/spaces/{space}/anchors", json={"block_id": note["id"], "pose": row_major(placed)}).json()

    page.goto(f"{server.url}/?space={space}#token={server.token}")
    page.wait_for_selector("#start-xr", state="visible", timeout=10_000)
    page.click("#start-xr")
    page.wait_for_function(
        "(window.spatialClient.xr()?.panels || []).some(p => p.visible && p.objectId.startsWith('space:'))",
        timeout=30_000,
    )
    relocalised = page.evaluate("window.spatialClient.relocalised")
    assert relocalised["success"] and relocalised["method"] == "markers", relocalised
    snapshot = page.evaluate("window.spatialClient.xr()")
    [panel] = [p for p in snapshot["panels"] if p["overlayId"] == anchor["id"]]
    overlay = page.evaluate(f"window.spatialClient.overlays['{anchor['id']}']")
    assert overlay["placement"]["frame"] == "device"

    drawn = matrix(panel["centre"])
    expected = matrix(overlay["placement"]["pose"]) @ translation(0, LIFT_M + panel["size"][1] / 2, 0)
    assert np.allclose(drawn, expected, atol=1e-4), "placed directly in the reference space"
    marker_in_page = matrix(snapshot["objects"][MARKER]["pose"])
    beside = marker_in_page @ translation(0.3, LIFT_M + panel["size"][1] / 2, 0)
    assert np.linalg.norm(drawn[:3, 3] - beside[:3, 3]) < 0.03, "30 cm right of the marker the page sees"
