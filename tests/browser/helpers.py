"""Helpers for the web client tests: pages, the client's state, screenshots, iwer, and a tap on the stream socket."""

from __future__ import annotations

import base64
import io
import json
import math
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import cv2
import numpy as np
from PIL import Image
from playwright.sync_api import Browser, Page, Route, WebSocketRoute, sync_playwright

from harness.browser import CHROMIUM, chromium_args
from harness.poses import matrix
from harness.samples import sample_jpegs
from spatial.protocol import FrameHeader, parse_frame

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DOCS_IMG = ROOT / "docs" / "img"
MARKER = "marker:aruco/7"
SAMPLE_FOV_Y_RAD = 2 * math.atan(240 / 525)
"""The sample camera's vertical field of view: an emulated phone with it sees what the fake camera's video shows."""
CUP_BOX = (60, 70, 350, 355)
"""The cup and saucer in the sample video's first frame."""
PHONE_SCREEN = (800, 600)
"""The emulated phone's screen: 4:3 like the sample camera, so the view and the video line up."""
READING_DISTANCE_M = 0.6
"""webxr_client/xr_layout.js: a panel keeps the angular size its size_m has from this far."""
GAP_M = 0.01
"""webxr_client/xr_layout.js: between a stack and its object, and between stacked panels, at reading distance."""


def launch_browser(camera: Path) -> Iterator[Browser]:
    """Debian's Chromium, headless, its fake camera playing `camera`, for a module's `browser` fixture to
    `yield from` (one browser per module: the sync Playwright API keeps an event loop running while it is open)."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args(camera))
        yield browser
        browser.close()


def teach_cup(server: Any) -> str:
    """The sample video's cup, taught from its first frame without a size: its recognitions carry no pose.
    Returns its instance id."""
    frame = cv2.imdecode(np.frombuffer(next(iter(sample_jpegs())), np.uint8), cv2.IMREAD_COLOR)
    png = cv2.imencode(".png", frame)[1].tobytes()
    taught = server.rest().post("/v1/taught", json={
        "image": base64.b64encode(png).decode(), "box": list(CUP_BOX), "label": "cup",
    })
    assert taught.status_code == 201, taught.text
    return taught.json()["instance_id"]


def new_page(browser: Browser, viewport: dict[str, int]) -> tuple[Page, list[str]]:
    """A page in a fresh context (empty localStorage) and the list its uncaught JS errors go to."""
    context = browser.new_context(viewport=viewport, device_scale_factor=1)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


def client(page: Page) -> dict[str, Any]:
    """The page's `window.spatialClient` as plain data."""
    return page.evaluate(
        "() => { const c = window.spatialClient;"
        " return {mode: c.mode, state: c.state, framesSent: c.framesSent, lastObjects: c.lastObjects,"
        " overlays: c.overlays, drawn: c.drawn, boxes: c.boxes, selected: c.selected, xr: c.xr()}; }"
    )


def next_paint(page: Page) -> None:
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def screenshot(page: Page) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB"), dtype=float)


def luminance(pixels: np.ndarray) -> np.ndarray:
    return pixels @ np.array([0.299, 0.587, 0.114])


def save_screenshot(pixels: np.ndarray, name: str) -> None:
    """Keep a screenshot as a test artifact; with SPATIAL_DOCS_IMAGES=1 (`make docs-images`) also as the
    docs' picture, so that an ordinary test run leaves the repository as it was."""
    ARTIFACTS.mkdir(exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(ARTIFACTS / name)
    if os.environ.get("SPATIAL_DOCS_IMAGES") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / name, DOCS_IMG / name)


SYNTHETIC_ENVIRONMENT = """
      // iwer's synthetic environment stand-in, fed by the test: depth sensing reads the map in
      // window.testDepth ({width, height, values: metres row by row from the top left}), resampled
      // to the size iwer asks for; hit tests meet the plane in window.testPlane ({point, normal},
      // in iwer's own frame). Nothing is found while they are unset.
      class TestEnvironment {
        constructor() {
          this.environmentCanvas = document.createElement('canvas');
          this.trackedPlanes = new Set();
          this.trackedMeshes = new Set();
        }
        render() {}
        computeDepthBuffer(viewMatrix, projectionMatrix, width, height) {
          const source = window.testDepth;
          if (!source) return null;
          const out = new Float32Array(width * height);
          for (let row = 0; row < height; row += 1) {
            const from = Math.floor(((row + 0.5) * source.height) / height) * source.width;
            for (let col = 0; col < width; col += 1) {
              out[row * width + col] = source.values[from + Math.floor(((col + 0.5) * source.width) / width)];
            }
          }
          return { data: out.buffer, width, height, rawValueToMeters: 1 };
        }
        computeHitTestResults(ray) {  // ray: column-major 4x4 taking (0, 0, 0) looking down -z to the ray
          const plane = window.testPlane;
          if (!plane) return [];
          const origin = [ray[12], ray[13], ray[14]];
          const direction = [-ray[8], -ray[9], -ray[10]];
          const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
          const along = dot(direction, plane.normal);
          if (Math.abs(along) < 1e-9) return [];
          const t = dot(plane.point.map((v, i) => v - origin[i]), plane.normal) / along;
          if (t <= 0) return [];
          const hit = new Float32Array(16);
          hit[0] = hit[5] = hit[10] = hit[15] = 1;
          [0, 1, 2].forEach((i) => { hit[12 + i] = origin[i] + t * direction[i]; });
          return [hit];
        }
      }
      device.installSEM(TestEnvironment);
"""


def iwer_setup(fov_y_rad: float, depth_sensing: bool = False, hit_test: bool = False) -> str:
    """A module script that installs iwer's WebXR runtime as a phone with immersive-ar.

    With `depth_sensing` or `hit_test`, the phone offers them, over what the test puts in
    `window.testDepth` and `window.testPlane`. Module scripts run in document order, so this
    runs before app.js touches `navigator.xr`.
    """
    features = (["viewer", "local", "dom-overlay"] + (["depth-sensing"] if depth_sensing else [])
                + (["hit-test"] if hit_test else []))
    return f"""<script type="module">
      import {{ XRDevice }} from './vendor/iwer/iwer.module.js';
      const device = new XRDevice({{
        name: 'Emulated phone', controllerConfig: undefined,
        supportedSessionModes: ['inline', 'immersive-ar'],
        supportedFeatures: {json.dumps(features)},
        supportedFrameRates: [60], isSystemKeyboardSupported: false, internalNominalFrameRate: 60,
        environmentBlendModes: {{ 'immersive-ar': 'alpha-blend' }}, interactionMode: 'screen-space',
        userAgent: navigator.userAgent,
      }}, {{ stereoEnabled: false, ipd: 0, fovy: {fov_y_rad!r} }});
      {SYNTHETIC_ENVIRONMENT if depth_sensing or hit_test else ""}
      device.installRuntime({{ forceInstall: true }});
      window.xrDevice = device;
    </script>
    """


def emulated_phone(
    browser: Browser, depth_sensing: bool = False, hit_test: bool = False, html: str | None = None
) -> Iterator[Page]:
    """A page on a phone emulated by iwer (the sample camera's view, `PHONE_SCREEN`), for a fixture to
    `yield from`; afterwards it fails the test on errors the page did not catch."""
    page, errors = new_page(browser, {"width": PHONE_SCREEN[0], "height": PHONE_SCREEN[1]})
    install_iwer(page, SAMPLE_FOV_Y_RAD, depth_sensing, hit_test, html)
    yield page
    page.context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def install_iwer(
    page: Page, fov_y_rad: float, depth_sensing: bool = False, hit_test: bool = False, html: str | None = None
) -> None:
    """Serve the client's index.html with the iwer set-up injected before app.js.

    The route fetches the served page, unless the test hands it in as `html` (fetched over HTTPS
    by the test itself, trusting the service's CA: Playwright's own fetch would not)."""
    app = '<script type="module" src="app.js"></script>'

    def injected(page_html: str) -> str:
        assert app in page_html, "index.html no longer loads app.js as expected"
        return page_html.replace(app, iwer_setup(fov_y_rad, depth_sensing, hit_test) + app)

    def inject(route: Route) -> None:
        if html is not None:
            route.fulfill(status=200, content_type="text/html", body=injected(html))
            return
        response = route.fetch()
        route.fulfill(response=response, body=injected(response.text()))

    page.route(lambda url: urlparse(url).path == "/", inject)


class StreamTap:
    """Sits on the page's stream socket (Playwright's WebSocket routing) and forwards
    everything, recording the frame headers the server gets and the `objects` it sends.
    While held (`hold`), nothing from the server reaches the page."""

    def __init__(self, page: Page) -> None:
        self.frames: dict[int, FrameHeader] = {}
        self.objects: dict[int, dict[str, Any]] = {}
        self.holding = False
        self.forwarded = 0
        """Server messages handed to the page so far."""
        page.route_web_socket(re.compile(r".*/v1/stream$"), self._route)

    def hold(self, page: Page) -> None:
        """Stop the server's messages here, once the page has taken in every one forwarded before."""
        self.holding = True
        page.wait_for_function(f"window.spatialClient.messagesReceived >= {self.forwarded}", timeout=10_000)

    def release(self) -> None:
        self.holding = False

    def _route(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def to_server(message: str | bytes) -> None:
            if isinstance(message, bytes):
                header, _ = parse_frame(message)
                self.frames[header.frame_id] = header
            server.send(message)

        def to_page(message: str | bytes) -> None:
            if isinstance(message, str) and '"objects"' in message:
                parsed = json.loads(message)
                if parsed.get("type") == "objects":
                    self.objects[parsed["frame_id"]] = parsed
            if not self.holding:
                self.forwarded += 1
                ws.send(message)

        ws.on_message(to_server)
        server.on_message(to_page)


def freeze_video(page: Page, ready: str, attempts: int = 5) -> None:
    """Pause the camera video on a frame where the JS condition `ready` holds.

    Frames keep streaming, but all show the paused picture, so the server's
    answers stop moving; once the panel layout has settled, nothing on screen moves.
    """
    for _ in range(attempts):
        frame_id = page.evaluate(
            "() => { document.getElementById('video').pause(); return window.spatialClient.lastObjects.frame_id; }"
        )
        # frame_id + 1 may have been grabbed before the pause; frame_id + 2 was not.
        page.wait_for_function(f"window.spatialClient.lastObjects.frame_id >= {frame_id + 2}", timeout=10_000)
        # A stack may still be waiting to go back to a better spot (webxr_client/layout.js): let it.
        page.wait_for_function("window.spatialClient.layoutSettled", timeout=30_000)
        next_paint(page)
        if page.evaluate(f"() => Boolean({ready})"):
            return
        # Let the video play on for a third of a second, to another picture.
        played = page.evaluate("() => { const video = document.getElementById('video'); video.play(); return video.currentTime; }")
        page.wait_for_function(f"document.getElementById('video').currentTime >= {played + 0.3}", timeout=10_000)
    raise AssertionError(f"no paused frame satisfied {ready}")


FLIP = np.diag([1.0, -1.0, -1.0, 1.0])
"""OpenCV camera axes (y down, z forward) to WebXR camera axes (y up, z backward), and back."""


def translation(x: float, y: float, z: float) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = (x, y, z)
    return m


def project(point: np.ndarray, view: dict[str, Any], size: tuple[int, int]) -> np.ndarray:
    """Screen pixels (x right, y down) of a reference-space point seen by a WebXR view
    ({transform: row-major camera-to-reference, projection: column-major})."""
    in_view = np.linalg.inv(matrix(view["transform"])) @ np.append(point, 1.0)
    clip = np.asarray(view["projection"], dtype=float).reshape(4, 4).T @ in_view
    ndc = clip[:3] / clip[3]
    return np.array([(ndc[0] + 1) / 2 * size[0], (1 - ndc[1]) / 2 * size[1]])


def viewer_scale(point: np.ndarray, view: dict[str, Any]) -> float:
    """How much larger than its size_m a panel anchored at `point` is drawn, to keep its angular size."""
    return float(np.linalg.norm(point - matrix(view["transform"])[:3, 3]) / READING_DISTANCE_M)


def facing_viewer(point: np.ndarray, view: dict[str, Any]) -> np.ndarray:
    """A pose at `point` turned as the view is: a panel there faces the viewer, parallel to the screen."""
    pose = matrix(view["transform"]).copy()
    pose[:3, 3] = point
    return pose


def stacked_centres(anchor: np.ndarray, heights: list[float], side: float, scale: float) -> list[np.ndarray]:
    """Centres of panels (heights in metres at reading distance, slot 0 first) stacked upwards on their object,
    the layout's first choice: in the anchor's xy-plane, from GAP_M above the object (`side` metres across,
    centred on the anchor's origin), GAP_M apart, all `scale` times their size."""
    centres = []
    bottom = side / 2 + GAP_M * scale
    for height in heights:
        centres.append(anchor @ translation(0, bottom + height * scale / 2, 0))
        bottom += (height + GAP_M) * scale
    return centres


def panel_samples(centre: np.ndarray, size_m: list[float], view: dict[str, Any], screen: tuple[int, int]) -> np.ndarray:
    """Screen points on a grid over the inner 80 % of a panel (centre pose, width and height in metres)."""
    w, h = size_m
    points = [
        project((centre @ np.array([fx * w / 2, fy * h / 2, 0.0, 1.0]))[:3], view, screen)
        for fx in np.linspace(-0.8, 0.8, 9)
        for fy in np.linspace(-0.8, 0.8, 5)
    ]
    return np.round(points).astype(int)
