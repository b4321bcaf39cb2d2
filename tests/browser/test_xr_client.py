"""WebXR mode in a real headless Chromium, with iwer emulating a phone's immersive-ar session.

The emulated phone has the sample camera's field of view and a 4:3 screen, and
its camera is Chromium's fake camera playing the sample video (getUserMedia, as
on Quest). The page must send frames with the view's pose and intrinsics, draw
the demo panels world-locked above marker 7 at the pose the server found, lying
on the marker's surface and sized for their distance, keep them anchored there
while the emulated device moves and no server update arrives, keep every
panel's angular size as the device comes closer and goes away (panels of an
object with no surface turning to face it), and attach new blocks to a tapped
object, edit a note and switch a view, all through the REST API.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Browser, Page

from harness.poses import matrix
from tests.browser.helpers import (
    FLIP, MARKER, PHONE_SCREEN, READING_DISTANCE_M, StreamTap, client, emulated_phone, freeze_video, next_paint,
    panel_samples, project, save_screenshot, screenshot, stacked_centres, teach_cup, viewer_scale,
)
from vision.poses import pose_difference

SAMPLE_INTRINSICS = (525.0, 525.0, 319.5, 239.5)  # data/sample_path.json
PANEL_BG = np.array([0x0F, 0x1A, 0x24], dtype=float)  # spatial/render/layout.py BACKGROUND, #0f1a24e6
PANEL_ALPHA = 0xE6 / 255
CELL_FILLS = np.array([[0x16, 0x28, 0x3A], [0x24, 0x41, 0x5C]], dtype=float)  # table cells and header

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def xr(browser: Browser) -> Iterator[tuple[Page, StreamTap]]:
    for page in emulated_phone(browser):
        yield page, StreamTap(page)


def start_ar(page: Page, server: Any) -> None:
    page.goto(f"{server.url}/#token={server.token}")
    page.wait_for_selector("#start-xr", state="visible", timeout=10_000)
    assert page.is_visible("#start"), "camera-window mode stays on offer"
    page.click("#start-xr")
    page.wait_for_function("window.spatialClient.mode === 'xr' && window.spatialClient.state === 'streaming'",
                           timeout=15_000)
    page.wait_for_function(f"{visible_panels_js(MARKER)} >= 2", timeout=20_000)


def visible_panels_js(object_id: str) -> str:
    return f"(window.spatialClient.xr()?.panels || []).filter(p => p.visible && p.objectId === '{object_id}').length"


def freeze(page: Page, panels: int = 2, above: bool = False) -> None:
    """Pause the video on a frame where the marker has this many panels shown (`above`: all standing above it,
    the layout's first choice)."""
    spot = f"(window.spatialClient.xr()?.panels || []).filter(p => p.objectId === '{MARKER}').every(p => p.spot === 'above')"
    freeze_video(page, f"{visible_panels_js(MARKER)} === {panels}" + (f" && {spot}" if above else ""))


def caught_up_js(object_id: str) -> str:
    """True once an object's drawn pose, smoothed over its measurements, is within a millimetre (and a tenth of a
    degree) of its latest measurement: so it is, a moment after the video stops (webxr_client/pose_filter.js)."""
    return (f"(() => {{ const o = window.spatialClient.xr()?.objects['{object_id}']; if (!o?.measured) return false;"
            " const p = o.pose, m = o.measured;"
            " return Math.hypot(p[3] - m[3], p[7] - m[7], p[11] - m[11]) < 1e-3"
            " && [0, 1, 2, 4, 5, 6, 8, 9, 10].every((i) => Math.abs(p[i] - m[i]) < 1e-3); })()")


def expected_centres(object_pose: np.ndarray, overlays: list[dict[str, Any]], side: float,
                     scale: float) -> dict[str, np.ndarray]:
    """Panel centres by the world-locked rule, for a stack above its marker: on the marker's surface, stacked up
    its y axis from just above it, `scale` times their size."""
    ordered = sorted(overlays, key=lambda o: o["placement"]["slot"])
    anchor = object_pose @ matrix(ordered[0]["placement"]["pose"])
    heights = [o["placement"]["size_m"][1] for o in ordered]
    return {o["id"]: c for o, c in zip(ordered, stacked_centres(anchor, heights, side, scale))}


def drawn_size(panel: dict[str, Any]) -> list[float]:
    """A panel's size as drawn, in metres."""
    return [v * panel["scale"] for v in panel["size"]]


def panel_colours(video: np.ndarray) -> np.ndarray:
    """The colours a panel shows over `video` pixels: its background blended over them, and opaque table cells."""
    blend = PANEL_ALPHA * PANEL_BG + (1 - PANEL_ALPHA) * video
    cells = np.broadcast_to(CELL_FILLS[:, None, :], (len(CELL_FILLS), *video.shape))
    return np.concatenate([blend[None], cells])


def drawn_like_a_panel(shot: np.ndarray, bare: np.ndarray, points: np.ndarray) -> tuple[float, float]:
    """At these screen points: the share of pixels showing a panel colour, and the share of
    bare-video pixels that already look like one. Text covers part of a panel, so about half
    its points show the background or a cell; without the panel, next to none would."""
    inside = [(x, y) for x, y in points if 0 <= x < shot.shape[1] and 0 <= y < shot.shape[0]]
    assert len(inside) > 0.8 * len(points), "the panel is off screen"
    drawn = np.array([shot[y, x] for x, y in inside])
    video = np.array([bare[y, x] for x, y in inside])
    colours = panel_colours(video)

    def share(pixels: np.ndarray) -> float:
        return float((np.abs(colours - pixels[None]).max(axis=2) <= 20).any(axis=0).mean())

    return share(drawn), share(video)


def screenshots_with_and_without_xr(page: Page) -> tuple[np.ndarray, np.ndarray]:
    shot = screenshot(page)
    page.evaluate("() => { document.getElementById('xr-canvas').style.visibility = 'hidden'; }")
    next_paint(page)
    bare = screenshot(page)
    page.evaluate("() => { document.getElementById('xr-canvas').style.visibility = ''; }")
    next_paint(page)
    return shot, bare


def test_ar_session_sends_posed_frames_and_keeps_panels_world_locked(xr: tuple[Page, StreamTap], server: Any) -> None:
    page, tap = xr
    start_ar(page, server)
    state = client(page)
    assert state["xr"]["cameraSource"] == "getUserMedia"

    # Frames reach the server with the view's pose (camera-to-reference, OpenCV camera axes) and intrinsics.
    page.wait_for_function("window.spatialClient.framesSent >= 3", timeout=10_000)
    view_pose = matrix(state["xr"]["view"]["transform"]) @ FLIP
    answered = [fid for fid in tap.frames if fid in tap.objects]
    assert len(answered) >= 2
    for fid in answered:
        header = tap.frames[fid]
        assert header.intrinsics == pytest.approx(SAMPLE_INTRINSICS, abs=1e-3)
        assert header.device_pose is not None and np.allclose(header.device_pose, view_pose, atol=1e-5)

    freeze(page, above=True)
    page.wait_for_function(caught_up_js(MARKER), timeout=10_000)
    tap.hold(page)  # from here on no server message reaches the page
    before = client(page)
    snap = before["xr"]

    # The object is measured where the frame's device pose and the server's object pose put it, and drawn there,
    # smoothed over its measurements (webxr_client/pose_filter.js): the video is still, so they agree closely.
    marker = snap["objects"][MARKER]
    header, answer = tap.frames[marker["frameId"]], tap.objects[marker["frameId"]]
    (found,) = [o for o in answer["objects"] if o["id"] == MARKER]
    assert np.allclose(matrix(marker["measured"]), header.device_pose @ matrix(found["pose"]), atol=1e-4)
    object_pose = matrix(marker["pose"])
    apart_m, apart_deg = pose_difference(object_pose, matrix(marker["measured"]))
    assert apart_m < 0.001 and apart_deg < 0.2, f"drawn {apart_m * 1e3:.1f} mm, {apart_deg:.2f} degrees from where it is measured"

    # Its panels lie on the marker's surface, stacked on it by the world-locked rule, as large as their
    # distance needs to look as large as their size_m does from reading distance.
    pinned = [o for o in before["overlays"].values() if o["object_id"] == MARKER]
    scale = viewer_scale(object_pose[:3, 3], snap["view"])
    centres = expected_centres(object_pose, pinned, marker["side"], scale)
    panels = {p["overlayId"]: p for p in snap["panels"] if p["objectId"] == MARKER}
    assert set(panels) == set(centres)
    for overlay_id, centre in centres.items():
        assert panels[overlay_id]["facing"] == "surface" and panels[overlay_id]["scale"] == pytest.approx(scale, rel=1e-4)
        assert np.allclose(matrix(panels[overlay_id]["centre"]), centre, atol=1e-4), overlay_id

    # With the device where the video camera was, the marker outline lands on the marker in the video
    # (scaled from 640x480 to the screen) and the panels are drawn where their centres project.
    box = np.array(found["box"]) * PHONE_SCREEN[0] / 640
    outline_centre = project(object_pose[:3, 3], snap["view"], PHONE_SCREEN)
    assert outline_centre == pytest.approx([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], abs=3)
    shot, bare = screenshots_with_and_without_xr(page)
    for overlay_id, centre in centres.items():
        points = panel_samples(centre, drawn_size(panels[overlay_id]), snap["view"], PHONE_SCREEN)
        on_panel, video_alike = drawn_like_a_panel(shot, bare, points)
        assert on_panel > 0.3 and video_alike < 0.1, f"panel {overlay_id} is not drawn where it projects"

    # The device moves (8 cm right, turned 6 degrees right) while no server update arrives.
    frames_before = page.evaluate("window.spatialClient.xr().xrFrames")  # now: the screenshots took a while
    page.evaluate(
        """() => { const d = window.xrDevice; d.position.x += 0.08;
                   const a = -6 * Math.PI / 180; d.quaternion.set(0, Math.sin(a / 2), 0, Math.cos(a / 2)); }"""
    )
    page.wait_for_function(f"window.spatialClient.xr().xrFrames >= {frames_before + 5}", timeout=10_000)
    moved = client(page)["xr"]
    assert not np.allclose(matrix(moved["view"]["transform"]), matrix(snap["view"]["transform"]), atol=1e-3)
    assert moved["objects"][MARKER]["frameId"] == marker["frameId"], "no new server update was applied"
    assert matrix(moved["objects"][MARKER]["pose"]) == pytest.approx(matrix(marker["pose"]), abs=1e-9), "world-locked"
    centres = expected_centres(object_pose, pinned, marker["side"], viewer_scale(object_pose[:3, 3], moved["view"]))
    shot, bare = screenshots_with_and_without_xr(page)
    for panel in moved["panels"]:
        if panel["objectId"] != MARKER:
            continue
        assert panel["visible"] and panel["spot"] == "above", "nothing made the stack move"
        assert matrix(panel["centre"]) == pytest.approx(centres[panel["overlayId"]], abs=1e-4)
        centre = matrix(panel["centre"])
        shift = project(centre[:3, 3], moved["view"], PHONE_SCREEN) - project(centre[:3, 3], snap["view"], PHONE_SCREEN)
        assert np.linalg.norm(shift) > 40, "the panel must move on screen as the head moves"
        points = panel_samples(centre, drawn_size(panel), moved["view"], PHONE_SCREEN)
        on_panel, video_alike = drawn_like_a_panel(shot, bare, points)
        assert on_panel > 0.3 and video_alike < 0.1, "the panel is not drawn at its world pose after the move"
    tap.release()


def angular_sizes(snap: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Per visible panel: the angle its height spans from the viewer, by its size and its stack's distance, and
    its height on screen in pixels."""
    view = snap["view"]
    eye = matrix(view["transform"])[:3, 3]
    sizes = {}
    for panel in snap["panels"]:
        if not panel["visible"]:
            continue
        height = panel["size"][1] * panel["scale"]
        angle = 2 * np.arctan(height / 2 / np.linalg.norm(np.asarray(panel["anchor"]) - eye))
        centre = matrix(panel["centre"])
        top, bottom = (project((centre @ np.array([0, y, 0, 1.0]))[:3], view, PHONE_SCREEN) for y in (height / 2, -height / 2))
        sizes[panel["overlayId"]] = (float(angle), float(np.linalg.norm(top - bottom)))
    return sizes


def test_panels_keep_their_angular_size_as_the_device_moves(xr: tuple[Page, StreamTap], server: Any) -> None:
    page, tap = xr
    cup = teach_cup(server)  # no size: the server finds it with a box and no pose, so it has no surface
    with server.rest() as rest:
        note = rest.post("/v1/blocks", json={"kind": "markdown", "title": "Cup", "content": "Descale me"}).json()
        rest.post(f"/v1/objects/{cup}/anchors", json={"block_id": note["id"]}).raise_for_status()
    start_ar(page, server)
    freeze_video(page, f"{visible_panels_js(MARKER)} === 2 && {visible_panels_js(cup)} === 1")
    tap.hold(page)  # the objects stay where the page last put them
    before = client(page)["xr"]
    sizes = angular_sizes(before)

    def check(snap: dict[str, Any]) -> None:
        view = matrix(snap["view"]["transform"])
        for panel in snap["panels"]:
            if panel["objectId"] == cup:
                assert panel["facing"] == "viewer", "an object with no surface: its panel faces the viewer"
                assert np.allclose(matrix(panel["centre"])[:3, :3], view[:3, :3], atol=1e-6)
            elif panel["objectId"] == MARKER:
                assert panel["facing"] == "surface", "a marker's panels lie on it"
                assert np.allclose(matrix(panel["centre"])[:3, :3], matrix(snap["objects"][MARKER]["pose"])[:3, :3],
                                   atol=1e-6)
        now = angular_sizes(snap)
        assert set(now) == set(sizes), "every panel stays visible"
        for overlay_id, (angle, pixels) in now.items():
            panel = next(p for p in snap["panels"] if p["overlayId"] == overlay_id)
            size_m = panel["size"][1] * panel["shrink"]
            assert angle == pytest.approx(2 * np.arctan(size_m / 2 / READING_DISTANCE_M), rel=1e-3), overlay_id
            if panel["shrink"] == next(p for p in before["panels"] if p["overlayId"] == overlay_id)["shrink"]:
                assert pixels == pytest.approx(sizes[overlay_id][1], rel=0.1), f"{overlay_id}: {pixels:.0f} px on screen"

    check(before)
    start = page.evaluate("window.xrDevice.position.z")
    scales = {p["overlayId"]: p["scale"] for p in before["panels"]}
    for dz, yaw in ((-0.25, 10), (0.30, 0)):  # 25 cm closer, turned 10 degrees; then 30 cm further away than at first
        frames = page.evaluate("window.spatialClient.xr().xrFrames")
        page.evaluate(f"""() => {{ const d = window.xrDevice; d.position.z = {start + dz};
                                  const a = {yaw} * Math.PI / 180; d.quaternion.set(0, Math.sin(a / 2), 0, Math.cos(a / 2)); }}""")
        page.wait_for_function(f"window.spatialClient.xr().xrFrames >= {frames + 5}", timeout=10_000)
        moved = client(page)["xr"]
        assert moved["objects"][MARKER]["frameId"] == before["objects"][MARKER]["frameId"], "no server update came"
        check(moved)
        ratios = [p["scale"] / scales[p["overlayId"]] for p in moved["panels"]]
        assert all(abs(r - 1) > 0.1 for r in ratios), f"the panels were resized for their new distance: {ratios}"
    tap.release()


def test_tap_an_object_in_ar_to_attach_edit_and_switch_views(xr: tuple[Page, StreamTap], server: Any) -> None:
    page, _ = xr
    start_ar(page, server)
    freeze(page)
    snap = client(page)["xr"]

    # Tap the marker (its outline's centre on screen): its sheet lists the two demo blocks.
    centre = project(matrix(snap["objects"][MARKER]["pose"])[:3, 3], snap["view"], PHONE_SCREEN)
    page.mouse.click(*centre)
    page.wait_for_selector("#sheet", state="visible", timeout=5_000)
    assert page.text_content("#sheet-title") == MARKER
    page.wait_for_function("document.querySelectorAll('#sheet-blocks li[data-block-id]').length === 2")
    assert client(page)["selected"] == MARKER

    # Attach a note to this marker: a block is created and anchored through the REST API, and its panel appears.
    page.fill("#attach-form input[name=title]", "Descale")
    page.fill("#attach-text", "Descale on Fridays")
    page.click("#attach-form button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#sheet-blocks li[data-block-id]').length === 3")
    with server.rest() as rest:
        attached = rest.get(f"/v1/objects/{MARKER}/anchors").json()
    (note,) = [a for a in attached if a["block"]["title"] == "Descale"]
    assert note["block"]["kind"] == "markdown" and note["block"]["content"] == "Descale on Fridays"
    page.wait_for_function(f"{visible_panels_js(MARKER)} === 3", timeout=10_000)
    overlay_id = note["anchor"]["id"]
    texts = page.evaluate(f"window.spatialClient.overlays['{overlay_id}'].content.ops.map(o => o.text || '')")
    assert "Descale on Fridays" in texts

    # Edit its text from the sheet: the overlay is re-sent with the new text.
    page.click(f"#sheet-blocks li[data-block-id='{note['block']['id']}'] button[data-action=edit]")
    page.fill("#edit-text", "Descale on Mondays")
    page.click("#edit-form button[type=submit]")
    page.wait_for_function(
        f"window.spatialClient.overlays['{overlay_id}']?.content.ops.some(o => o.text === 'Descale on Mondays')",
        timeout=10_000,
    )

    # Attach to the whole class: every marker in view gets it, with the overlay id <anchor>@<object>.
    page.fill("#attach-form input[name=title]", "Every marker")
    page.fill("#attach-text", "Markers are 10 cm")
    page.check("#attach-form input[name=scope][value=class]")
    page.click("#attach-form button[type=submit]")
    page.wait_for_function(f"{visible_panels_js(MARKER)} === 4", timeout=10_000)
    with server.rest() as rest:
        (shared,) = rest.get("/v1/objects/class:marker/anchors").json()
    assert f"{shared['anchor']['id']}@{MARKER}" in client(page)["overlays"]

    # Attach a kanban (a table with a status field, shown by a kanban view), then switch it to a list.
    page.check("#attach-form input[name=scope][value=object]")
    page.check("#attach-form input[name=kind][value=kanban]")
    page.fill("#attach-form input[name=title]", "Chores")
    page.fill("#attach-text", "Buy filters")
    page.click("#attach-form button[type=submit]")
    page.wait_for_function(f"{visible_panels_js(MARKER)} === 5", timeout=10_000)
    with server.rest() as rest:
        (board,) = [a for a in rest.get(f"/v1/objects/{MARKER}/anchors").json() if a["block"]["title"] == "Chores"]
    assert board["block"]["kind"] == "view" and board["block"]["content"]["layout"] == "kanban"
    kanban_hash = client(page)["overlays"][board["anchor"]["id"]]["hash"]
    page.select_option(f"#sheet-blocks li[data-block-id='{board['block']['id']}'] select[data-action=layout]", "list")
    page.wait_for_function("document.getElementById('sheet-message').textContent.includes('shown as')"
                           " || document.getElementById('sheet-message').classList.contains('error')", timeout=10_000)
    assert page.text_content("#sheet-message") == "“Chores” shown as list", "the page saved the view's new layout"
    page.wait_for_function(
        f"window.spatialClient.overlays['{board['anchor']['id']}']?.hash !== '{kanban_hash}'", timeout=10_000
    )
    with server.rest() as rest:
        assert rest.get(f"/v1/blocks/{board['block']['id']}").json()["content"]["layout"] == "list"

    page.click("#sheet-close")
    assert page.is_hidden("#sheet")
    next_paint(page)
    save_screenshot(screenshot(page), "xr_client.png")
