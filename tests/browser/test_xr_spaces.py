"""WebXR mode in a space: the page relocalises on a landmark marker and draws a space anchor in its own frame.

Marker 7 of the sample video is a landmark of a space; a note is placed in the
space 30 cm to the marker's right. The page (opened with `?space=`) sends its
posed frames, the server relocalises it from the marker and sends the note
with `placement.frame` "device": the page must draw it there directly, beside
the marker as the page itself places the marker, facing the viewer (a place in
a space is no surface). A tap on nothing places the block chosen with `?place=`
along the tap's ray, and a second tap moves it.

The emulated device stands still while the sample video's camera moves, so
the server sees the landmark slide and corrects the session's drift. Once
relocalised, the tests pause the video so that the scene holds still.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Browser, Page

from harness.poses import matrix, row_major
from tests.browser.helpers import (
    MARKER, PHONE_SCREEN, emulated_phone, facing_viewer, freeze_video, project, stacked_centres, translation,
    viewer_scale,
)

ANCHOR_SIDE_M = 0.1  # webxr_client/xr_layout.js: a place with no object stands for an object this wide
PLACE_DISTANCE_M = 0.75  # webxr_client/xr_mode.js: a tap on nothing places the chosen block this far along its ray

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from emulated_phone(browser)


def poster_space(rest: Any) -> tuple[str, np.ndarray]:
    """A space whose landmark is marker 7; its id and the marker's pose in it."""
    landmark = translation(1.0, 1.2, -2.0)  # where the space's frame has marker 7
    space = rest.post("/v1/spaces", json={"name": "poster"}).json()["id"]
    assert rest.put(f"/v1/spaces/{space}/map", json={"points": "", "landmarks": {MARKER: row_major(landmark)}}).is_success
    return space, landmark


def test_a_space_anchor_is_drawn_in_the_reference_space_beside_its_landmark(page: Page, server: Any) -> None:
    rest = server.rest()
    space, landmark = poster_space(rest)
    note = rest.post("/v1/blocks", json={"kind": "markdown", "title": "Beside", "content": "beside the poster"}).json()
    placed = landmark @ translation(0.3, 0.0, 0.0)
    anchor = rest.post(f"/v1/spaces/{space}/anchors", json={"block_id": note["id"], "pose": row_major(placed)}).json()

    page.goto(f"{server.url}/?space={space}#token={server.token}")
    page.wait_for_selector("#start-xr", state="visible", timeout=10_000)
    page.click("#start-xr")
    page.wait_for_function("window.spatialClient.relocalised?.success", timeout=30_000)
    freeze_video(page, "(window.spatialClient.xr()?.panels || []).some(p => p.visible && p.objectId.startsWith('space:'))")
    relocalised = page.evaluate("window.spatialClient.relocalised")
    assert relocalised["success"] and relocalised["method"] == "markers", relocalised
    snapshot = page.evaluate("window.spatialClient.xr()")
    [panel] = [p for p in snapshot["panels"] if p["overlayId"] == anchor["id"]]
    overlay = page.evaluate(f"window.spatialClient.overlays['{anchor['id']}']")
    assert overlay["placement"]["frame"] == "device"

    place = matrix(overlay["placement"]["pose"])[:3, 3]
    check_drawn_at(panel, place, snapshot["view"])
    marker_in_page = matrix(snapshot["objects"][MARKER]["measured"])
    beside = (marker_in_page @ translation(0.3, 0, 0))[:3, 3]
    assert np.linalg.norm(np.asarray(panel["anchor"]) - beside) < 0.03, "30 cm right of the marker the page sees"


def check_drawn_at(panel: dict[str, Any], place: np.ndarray, view: dict[str, Any]) -> None:
    """A space anchor's panel is drawn at its place in the reference space, facing the viewer, sized for its
    distance: standing above the place, or, where that would leave the view or cover other panels, moved
    beside it in the viewer's plane (and made smaller where no spot had room)."""
    assert np.allclose(panel["anchor"], place, atol=1e-6), "placed directly in the reference space"
    drawn, scale = matrix(panel["centre"]), viewer_scale(place, view)
    assert panel["facing"] == "viewer" and np.allclose(drawn[:3, :3], matrix(view["transform"])[:3, :3], atol=1e-6)
    assert panel["shrink"] in (1, 0.75, 0.5) and panel["scale"] == pytest.approx(scale * panel["shrink"], rel=1e-4)
    if panel["spot"] == "above" and panel["shrink"] == 1:
        [above] = stacked_centres(facing_viewer(place, view), [panel["size"][1]], ANCHOR_SIDE_M, scale)
        assert np.allclose(drawn, above, atol=1e-4)
    offset = np.linalg.inv(facing_viewer(place, view)) @ drawn[:, 3]
    assert abs(offset[2]) < 1e-6 and np.hypot(*offset[:2]) < 0.25 * scale, "in the viewer's plane, beside its place"


def tap_ray(view: dict[str, Any], x: float, y: float, screen: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The ray in the reference space through screen point (x, y) of the view (origin, unit direction)."""
    ndc = np.array([x / screen[0] * 2 - 1, 1 - y / screen[1] * 2, 0.5, 1.0])
    in_view = np.linalg.inv(np.asarray(view["projection"]).reshape(4, 4).T) @ ndc  # WebXR matrices are column-major
    direction = in_view[:3] / in_view[3]
    transform = matrix(view["transform"])
    direction = transform[:3, :3] @ direction
    return transform[:3, 3], direction / np.linalg.norm(direction)


def test_a_tap_on_nothing_places_the_chosen_block_and_a_second_tap_moves_it(page: Page, server: Any) -> None:
    rest = server.rest()
    space, _ = poster_space(rest)
    note = rest.post("/v1/blocks", json={"kind": "markdown", "title": "Tapped", "content": "put here by a tap"}).json()
    page.goto(f"{server.url}/?space={space}&place={note['id']}#token={server.token}")
    page.wait_for_selector("#start-xr", state="visible", timeout=10_000)
    page.click("#start-xr")
    page.wait_for_function("window.spatialClient.relocalised?.success", timeout=30_000)
    freeze_video(page, "window.spatialClient.relocalised?.success")

    def tap(x: int, y: int, count: int) -> tuple[dict[str, Any], np.ndarray]:
        page.mouse.click(x, y)
        page.wait_for_function(f"window.spatialClient.lastPlaced?.ref === 'place{count}'", timeout=10_000)
        placed = page.evaluate("window.spatialClient.lastPlaced")
        origin, direction = tap_ray(page.evaluate("window.spatialClient.xr().view"), x, y, PHONE_SCREEN)
        expected = origin + PLACE_DISTANCE_M * direction
        page.wait_for_function(
            f"""(() => {{ const o = window.spatialClient.overlays['{placed["anchor"]}'];
                 if (!o) return false;
                 const p = o.placement.pose;
                 return Math.hypot(p[3] - {expected[0]}, p[7] - {expected[1]}, p[11] - {expected[2]}) < 0.01; }})()""",
            timeout=10_000,
        )
        return placed, expected

    first, expected = tap(80, 300, 1)
    assert first["block"] == note["id"] and first["space"] == space
    overlay = page.evaluate(f"window.spatialClient.overlays['{first['anchor']}']")
    pose = matrix(overlay["placement"]["pose"])
    assert overlay["placement"]["frame"] == "device" and np.allclose(pose[:3, 1], (0, 1, 0), atol=1e-4), "upright"
    page.wait_for_function(
        f"window.spatialClient.xr().panels.some(p => p.overlayId === '{first['anchor']}' && p.visible)", timeout=10_000)
    snapshot = page.evaluate("window.spatialClient.xr()")
    [panel] = [p for p in snapshot["panels"] if p["overlayId"] == first["anchor"]]
    check_drawn_at(panel, pose[:3, 3], snapshot["view"])
    drawn, w, h = matrix(panel["centre"]), *(v * panel["scale"] / 2 for v in panel["size"])
    corners = [project((drawn @ np.array([x, y, 0, 1]))[:3], snapshot["view"], PHONE_SCREEN) for x in (-w, w) for y in (-h, h)]
    assert all(0 <= x <= PHONE_SCREEN[0] and 0 <= y <= PHONE_SCREEN[1] for x, y in corners), "in view"

    second, expected_after = tap(720, 420, 2)
    assert second["anchor"] == first["anchor"], "the second tap moves the anchor the first one placed"
    assert page.evaluate("window.spatialClient.lastPlaced.ref") == "place2", "one place message a tap"
    assert np.linalg.norm(expected_after - expected) > 0.3
    placed_in_space = rest.get(f"/v1/spaces/{space}/anchors").json()
    assert [item["anchor"]["id"] for item in placed_in_space] == [first["anchor"]]
