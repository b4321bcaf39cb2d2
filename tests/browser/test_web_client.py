"""The web client (webxr_client/) in a real headless Chromium against a real server.

Chromium's fake camera plays the sample video (ArUco marker 7 on a poster); the
page streams it to /v1/stream and must draw the two demo overlays stacked above
the marker (where they fit; elsewhere the layout moves them: test_panel_layout.py).
Placement is checked from the client's own record of what it drew and again
from the pixels of a screenshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Browser, Page

from spatial.protocol import pack_frame
from spatial.render.placement import stack_above
from tests.browser.helpers import (
    MARKER, client, freeze_video, luminance, new_page, next_paint, save_screenshot, screenshot,
)

VIEWPORT = {"width": 1280, "height": 720}
VIDEO_SCALE = 1.5  # a 640x480 video fills the 720 px height of the viewport
GAP_PX = 8 * VIDEO_SCALE  # placement.GAP, in screen pixels
PANEL_BG = np.array([0x0F, 0x1A, 0x24], dtype=float)
PANEL_ALPHA = 0xE6 / 255

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context (empty localStorage), failing the test on uncaught JS errors."""
    page, errors = new_page(browser, VIEWPORT)
    yield page
    page.context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def freeze_on_marker(page: Page) -> None:
    """Pause the camera video on a frame where both panels are drawn over marker 7, where the layout's first
    choice had room for them: standing above it, full size."""
    freeze_video(page, f"window.spatialClient.drawn.filter(d => d.objectId === '{MARKER}').length === 2 && "
                       f"window.spatialClient.stacks.some(s => s.objectId === '{MARKER}' && s.spot === 'above' "
                       "&& s.scale === 1)")


def panel_region(image: np.ndarray, rect: dict[str, float], inset: int = 3) -> np.ndarray:
    """The pixels of a drawn panel, clipped to the viewport, without its anti-aliased edge."""
    height, width = image.shape[:2]
    x0, y0 = max(0, round(rect["x"]) + inset), max(0, round(rect["y"]) + inset)
    x1 = min(width, round(rect["x"] + rect["w"]) - inset)
    y1 = min(height, round(rect["y"] + rect["h"]) - inset)
    return image[y0:y1, x0:x1]


def same_rects(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    return len(a) == len(b) and all(
        ra["overlayId"] == rb["overlayId"] and all(abs(ra[k] - rb[k]) <= 1 for k in "xywh") for ra, rb in zip(a, b)
    )


def test_streams_frames_and_draws_overlays_above_the_marker(page: Page, server: Any) -> None:
    page.goto(f"{server.url}/?autostart=1#token={server.token}")
    page.wait_for_function("window.spatialClient?.state === 'streaming'", timeout=15_000)
    assert "token" not in page.url, "the token must be removed from the visible URL"
    page.wait_for_function(
        f"window.spatialClient.drawn.filter(d => d.objectId === '{MARKER}').length === 2", timeout=20_000
    )

    # Frames keep going out, and the server answered with marker 7 and the two demo overlays.
    page.wait_for_function("window.spatialClient.framesSent >= 3", timeout=10_000)
    state = client(page)
    assert MARKER in [o["id"] for o in state["lastObjects"]["objects"]]
    pinned = [o for o in state["overlays"].values() if o["object_id"] == MARKER]
    assert len(pinned) == 2
    kinds = {o["placement"]["slot"]: {op["op"] for op in o["content"]["ops"]} for o in pinned}
    assert set(kinds) == {0, 1}
    assert "cell" not in kinds[0] and "text" in kinds[0], "slot 0 is the markdown note"
    assert "cell" in kinds[1], "slot 1 is the table"
    assert "connected as local" in page.text_content("#status-main")

    freeze_on_marker(page)
    state = client(page)
    pixels = screenshot(page)
    page.evaluate("() => { document.getElementById('overlay').style.visibility = 'hidden'; }")
    next_paint(page)
    video_only = screenshot(page)
    page.evaluate("() => { document.getElementById('overlay').style.visibility = ''; }")
    assert same_rects(client(page)["drawn"], state["drawn"]), "the drawing moved while the video was paused"

    # Placement, from the client's record: stacked directly above the box, slot 0 nearest.
    (box,) = [b for b in state["boxes"] if b["objectId"] == MARKER]
    slot = {o["id"]: o["placement"]["slot"] for o in pinned}
    panels = sorted((d for d in state["drawn"] if d["objectId"] == MARKER), key=lambda d: slot[d["overlayId"]])
    centre = box["x"] + box["w"] / 2
    bottom = box["y"]
    for panel in panels:
        assert panel["y"] + panel["h"] == pytest.approx(bottom - GAP_PX, abs=0.5), "panels stack GAP apart"
        assert panel["x"] <= centre <= panel["x"] + panel["w"], "panel over the box centre"
        assert 0 <= panel["x"] and panel["x"] + panel["w"] <= VIEWPORT["width"]
        assert panel["w"] == pytest.approx(320 * 0.75 * VIDEO_SCALE)
        bottom = panel["y"]
    # The rule clamps panels horizontally only, so on a few frames of the clip
    # the upper panel pokes a few pixels above the window; most of it must show.
    assert panels[0]["y"] >= 0
    assert panels[1]["y"] >= -0.1 * panels[1]["h"]

    # Placement, from the pixels: each panel region is the dark panel colour
    # (#0f1a24 at alpha e6 over the video) with bright text, unlike the video there.
    for panel in panels:
        drawn, video = panel_region(pixels, panel), panel_region(video_only, panel)
        assert drawn.size and drawn.shape == video.shape
        dark = luminance(drawn) < 90
        assert dark.mean() > 0.6, f"panel {panel['overlayId']} region is not mostly dark"
        assert (luminance(drawn) > 170).sum() > 150, f"panel {panel['overlayId']} region has no bright text"
        assert (luminance(video) < 90).mean() < dark.mean() - 0.3, "the video there is as dark"
        assert np.abs(drawn - video).mean() > 30, "the panel region looks like the bare video"
    note, video = panel_region(pixels, panels[0]), panel_region(video_only, panels[0])
    blend = PANEL_ALPHA * PANEL_BG + (1 - PANEL_ALPHA) * video
    on_background = np.abs(note - blend).max(axis=2) <= 16
    assert on_background.mean() > 0.5, "the note panel's background is not #0f1a24e6 over the video"

    # The box outline is drawn too: its top edge differs from the bare video.
    top, left, right = round(box["y"]), round(box["x"]) + 4, round(box["x"] + box["w"]) - 4
    top_edge = (slice(top - 1, top + 2), slice(left, right))
    assert np.abs(pixels[top_edge] - video_only[top_edge]).max(axis=2).mean() > 20

    save_screenshot(pixels, "web_client.png")

    # Tap the marker's box: its sheet lists what is attached to it, through the REST API.
    page.mouse.click(box["x"] + box["w"] / 2, box["y"] + box["h"] / 2)
    page.wait_for_selector("#sheet", state="visible", timeout=5_000)
    assert page.text_content("#sheet-title") == MARKER
    assert page.text_content("#sheet-class") == "class: marker"
    page.wait_for_function("document.querySelectorAll('#sheet-blocks li[data-block-id]').length === 2")
    titles = page.eval_on_selector_all("#sheet-blocks .block-name", "els => els.map(e => e.textContent)")
    assert sorted(titles) == ["Hello from marker 7", "Kitchen stock"]
    assert client(page)["selected"] == MARKER
    next_paint(page)
    save_screenshot(screenshot(page), "web_client_sheet.png")


def test_wrong_token_shows_unauthorized_and_page_recovers(page: Page, server: Any) -> None:
    page.goto(f"{server.url}/?autostart=1#token=not-a-valid-token")
    page.wait_for_function(
        "document.getElementById('status').textContent.includes('unauthorized')", timeout=15_000
    )
    assert "token" not in page.url
    state = client(page)
    assert state["state"] != "streaming"
    assert state["framesSent"] == 0
    assert page.is_visible("#token-form"), "the page asks for another token"
    assert page.evaluate("() => localStorage.getItem('spatial.token')") is None

    # The page stays alive: a valid token typed into the form starts the stream.
    page.fill("#token-input", server.token)
    page.click("#token-form button[type=submit]")
    page.wait_for_function("window.spatialClient.state === 'streaming'", timeout=10_000)
    page.wait_for_function("window.spatialClient.framesSent > 0", timeout=10_000)
    assert "unauthorized" not in page.text_content("#status")
    assert page.evaluate("() => localStorage.getItem('spatial.token')") == server.token


def test_asks_for_a_token_and_ports_match_the_server(page: Page, server: Any) -> None:
    page.goto(f"{server.url}/")
    page.wait_for_function("window.spatialClient?.state === 'idle'")
    assert page.is_visible("#token-form"), "without a token the page asks for one"

    # protocol.js packs frames byte for byte like the server's reference packer.
    packed = page.evaluate(
        """async () => {
            const { packFrame } = await import('/protocol.js');
            const image = new Uint8Array([0xff, 0xd8, 1, 2, 3]);
            const pose = [1, 0, 0, 0.25, 0, -1, 0, 1.5, 0, 0, -1, -0.75, 0, 0, 0, 1];
            return [Array.from(new Uint8Array(packFrame(7, 1795614493933.5, image))),
                    Array.from(new Uint8Array(packFrame(4294967295, 0.25, image,
                                                        {fx: 525, fy: 525.5, cx: 319.5, cy: 239.5}))),
                    Array.from(new Uint8Array(packFrame(8, 2.5, image,
                                                        {fx: 525, fy: 525, cx: 319.5, cy: 239.5}, pose)))];
        }"""
    )
    image = bytes([0xFF, 0xD8, 1, 2, 3])
    assert bytes(packed[0]) == pack_frame(7, 1795614493933.5, image)
    assert bytes(packed[1]) == pack_frame(4294967295, 0.25, image, (525, 525.5, 319.5, 239.5))
    pose = np.array([[1, 0, 0, 0.25], [0, -1, 0, 1.5], [0, 0, -1, -0.75], [0, 0, 0, 1]])
    assert bytes(packed[2]) == pack_frame(8, 2.5, image, (525, 525, 319.5, 239.5), pose)

    # overlay.js stacks panels exactly like spatial/render/placement.py.
    cases = [
        ([259.6, 179.6, 379.4, 299.4], [[320, 141], [320, 146]], [640, 480]),
        ([2.0, 300.0, 40.0, 340.0], [[320, 100]], [640, 480]),  # clamped at the left edge
        ([600.0, 50.0, 638.0, 90.0], [[320, 100], [200, 60]], [640, 480]),  # right edge, above the top
        ([10.0, 10.0, 20.0, 20.0], [[320, 100]], [200, 150]),  # panel wider than the image
    ]
    ported = page.evaluate(
        """async (cases) => {
            const { stackAbove } = await import('/overlay.js');
            return cases.map(([box, sizes, size]) => stackAbove(box, sizes, size));
        }""",
        cases,
    )
    for (box, sizes, size), got in zip(cases, ported):
        expected = stack_above(tuple(box), [tuple(s) for s in sizes], tuple(size))
        assert got == [list(p) for p in expected]  # same float operations, so exactly equal
