"""Panels of objects close together never cover each other, in both modes, and stay by their objects.

Chromium's fake camera plays the `markers` clip (data/make_camera_clips.py):
ArUco markers 3, 7 and 12 a few centimetres apart, the camera drifting over
them. A note pinned to the class `marker` gives each marker a panel; marker 7
also has the demo's note and table. The stacks of panels cannot all stand
above their markers, so the layout (webxr_client/layout.js) must spread them.
Over a few seconds of frames, in camera-window mode and in WebXR (iwer): no
two drawn panels of different objects intersect, each stays in the view and
near its object, and a stack moves with its object rather than jumping
between spots. The layout itself is also run in the page on made-up scenes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Browser, Page

from harness.samples import load_camera_clips
from tests.browser.helpers import (
    PHONE_SCREEN,
    READING_DISTANCE_M,
    SAMPLE_FOV_Y_RAD,
    install_iwer,
    launch_browser,
    matrix,
    new_page,
    project,
)

VIEWPORT = {"width": 1280, "height": 720}
VIDEO_RECT = (160, 0, 1120, 720)  # the 640x480 clip shown in the 1280x720 viewport
SAMPLES = 40
MARKERS = ["marker:aruco/3", "marker:aruco/7", "marker:aruco/12"]

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Chromium whose fake camera plays the markers clip."""
    video, _ = load_camera_clips().write("markers", tmp_path_factory.mktemp("clip"))
    yield from launch_browser(video)


@pytest.fixture(scope="module")
def class_note(server: Any) -> None:
    """A note pinned to every marker."""
    with server.rest() as rest:
        block = rest.post("/v1/blocks", json={"kind": "markdown", "title": "Marker", "content": "A 10 cm marker"})
        rest.post("/v1/objects/class:marker/anchors", json={"block_id": block.json()["id"]}).raise_for_status()


def intersect(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether two rects (x0, y0, x1, y1) share more than a hairline."""
    return min(a[2], b[2]) - max(a[0], b[0]) > 0.5 and min(a[3], b[3]) - max(a[1], b[1]) > 0.5


def rect_gap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """The distance between two rects (0 where they touch or overlap)."""
    dx = max(0.0, a[0] - b[2], b[0] - a[2])
    dy = max(0.0, a[1] - b[3], b[1] - a[3])
    return float(np.hypot(dx, dy))


def check_no_overlap_in_view(panels: list[tuple[str, tuple[float, ...]]], view: tuple[float, ...]) -> None:
    """`panels`: (object id, screen rect) of every drawn panel."""
    for i, (owner, rect) in enumerate(panels):
        assert view[0] - 0.5 <= rect[0] and rect[2] <= view[2] + 0.5, f"a panel of {owner} leaves the view: {rect}"
        assert view[1] - 0.5 <= rect[1] and rect[3] <= view[3] + 0.5, f"a panel of {owner} leaves the view: {rect}"
        for other, rect2 in panels[i + 1:]:
            if other != owner:
                assert not intersect(rect, rect2), f"panels of {owner} and {other} overlap: {rect} {rect2}"


def next_answer(page: Page, frames: int = 1) -> None:
    """Wait until the server has answered `frames` more of the page's frames."""
    last = page.evaluate("window.spatialClient.lastObjects?.frame_id ?? 0")
    page.wait_for_function(f"(window.spatialClient.lastObjects?.frame_id ?? 0) >= {last + frames}", timeout=10_000)


def check_stable(tracks: dict[str, list[tuple[str, np.ndarray, np.ndarray]]]) -> None:
    """Per object, (spot, stack centre, object centre) over the samples: a stack moves with its object, and
    changes spot only now and then. Where the object is is what the stack is measured against: its centre on
    screen in the camera window; in WebXR, where the stack stands on it (`place_on_object`), which stays put
    whatever the object does, turning and coming closer included."""
    for owner, track in tracks.items():
        assert len(track) >= SAMPLES // 2, f"{owner}'s stack was drawn in only {len(track)} samples"
        changes = sum(a[0] != b[0] for a, b in zip(track, track[1:]))
        assert changes <= 3, f"{owner}'s stack changed spot {changes} times in {len(track)} samples"
        for (spot, stack, box), (spot2, stack2, box2) in zip(track, track[1:]):
            if spot == spot2:
                moved, carried = np.linalg.norm(stack2 - stack), np.linalg.norm(box2 - box)
                assert moved <= carried + 3, f"{owner}'s stack moved {moved:.1f} px where its object moved {carried:.1f}"


# ---- camera-window mode ------------------------------------------------------------------------------

def test_in_the_camera_window_panels_never_overlap_and_stay_by_their_markers(
    browser: Browser, server: Any, class_note: None
) -> None:
    page, errors = new_page(browser, VIEWPORT)
    page.goto(f"{server.url}/?autostart=1#token={server.token}")
    page.wait_for_function("window.spatialClient?.state === 'streaming'", timeout=15_000)
    page.wait_for_function("window.spatialClient.stacks.length === 3", timeout=30_000)
    tracks: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {m: [] for m in MARKERS}
    for _ in range(SAMPLES):
        drawn = page.evaluate("(({drawn, boxes, stacks}) => ({drawn, boxes, stacks}))(window.spatialClient)")
        panels = [(d["objectId"], (d["x"], d["y"], d["x"] + d["w"], d["y"] + d["h"])) for d in drawn["drawn"]]
        check_no_overlap_in_view(panels, VIDEO_RECT)
        boxes = {b["objectId"]: (b["x"], b["y"], b["x"] + b["w"], b["y"] + b["h"]) for b in drawn["boxes"]}
        for stack in drawn["stacks"]:
            rect = (stack["x"], stack["y"], stack["x"] + stack["w"], stack["y"] + stack["h"])
            box = boxes[stack["objectId"]]
            assert rect_gap(rect, box) <= max(stack["w"], stack["h"]) / 2, "a stack strayed from its object"
            assert not intersect(rect, box), "a stack covers its own object"
            x0, y0, x1, y1 = stack["leader"]
            assert rect_gap((x0, y0, x0, y0), rect) < 1 and rect_gap((x1, y1, x1, y1), box) < 1, \
                "the leader line runs from the stack to its object"
            tracks[stack["objectId"]].append(
                (f"{stack['spot']}@{stack['scale']}", np.array([(rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2]),
                 np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])))
        next_answer(page, frames=2)
    check_stable(tracks)
    page.context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


# ---- WebXR ---------------------------------------------------------------------------------------------

def screen_rect(panel: dict[str, Any], view: dict[str, Any]) -> tuple[float, ...]:
    """The screen rect around a drawn panel's corners."""
    centre = matrix(panel["centre"])
    w, h = (v * panel["scale"] / 2 for v in panel["size"])
    corners = np.array([project((centre @ np.array([x, y, 0.0, 1.0]))[:3], view, PHONE_SCREEN)
                        for x in (-w, w) for y in (-h, h)])
    return (*corners.min(axis=0), *corners.max(axis=0))


def box_anchor(spot: str, half: float) -> np.ndarray:
    """The point of the object's box (in its plane: x right, y up, metres) that the layout hangs a stack at
    `spot` from (webxr_client/layout.js, candidateSpots): a side's middle, a corner's edge, or the centre line."""
    x = half if spot.startswith("right") else -half if spot.startswith("left") else 0.0
    y = half if spot.startswith("above") else -half if spot.startswith("below") or spot.endswith("-up") else 0.0
    return np.array([x, y])


def place_on_object(panels: list[dict[str, Any]], view: dict[str, Any]) -> np.ndarray:
    """Where a stack stands on its object: its panels' mean centre in the plane they lie in, from the point of
    the object's box it hangs from, as many pixels as that offset spans on screen at reading distance (the
    layout scales a stack with its distance, so that it keeps its size in the view, while the box is the
    object's own size). It does not change as the object moves, turns or comes closer, only when the stack
    moves on it."""
    pixels_per_m = np.asarray(view["projection"], dtype=float)[5] * PHONE_SCREEN[1] / 2 / READING_DISTANCE_M
    offsets = []
    for panel in panels:
        centre = matrix(panel["centre"])
        distance_scale = panel["scale"] / panel["shrink"]
        in_plane = (centre[:3, :3].T @ (centre[:3, 3] - np.asarray(panel["anchor"])))[:2]
        offsets.append((in_plane - box_anchor(panel["spot"], panel["side"] / 2)) / distance_scale)
    return np.mean(offsets, axis=0) * pixels_per_m


def test_in_webxr_panels_never_overlap_in_the_view_and_stay_by_their_markers(
    browser: Browser, server: Any, class_note: None
) -> None:
    page, errors = new_page(browser, {"width": PHONE_SCREEN[0], "height": PHONE_SCREEN[1]})
    install_iwer(page, SAMPLE_FOV_Y_RAD)
    page.goto(f"{server.url}/#token={server.token}")
    page.wait_for_selector("#start-xr", state="visible", timeout=10_000)
    page.click("#start-xr")
    visible = "(window.spatialClient.xr()?.panels || []).filter(p => p.visible)"
    page.wait_for_function(f"new Set({visible}.map(p => p.objectId)).size === 3", timeout=30_000)
    tracks: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {m: [] for m in MARKERS}
    for _ in range(SAMPLES):
        snap = page.evaluate("window.spatialClient.xr()")
        view = snap["view"]
        shown = [p for p in snap["panels"] if p["visible"]]
        check_no_overlap_in_view([(p["objectId"], screen_rect(p, view)) for p in shown], (0, 0, *PHONE_SCREEN))
        for owner in MARKERS:
            mine = [p for p in shown if p["objectId"] == owner]
            if not mine:
                continue
            anchor = np.asarray(mine[0]["anchor"])
            for panel in mine:
                assert panel["facing"] == "surface", "a marker's panels lie on it"
                offset = np.linalg.norm(matrix(panel["centre"])[:3, 3] - anchor)
                assert offset < 0.5 * panel["scale"], f"a panel of {owner} strayed {offset:.2f} m from it"
            tracks[owner].append((f"{mine[0]['spot']}@{mine[0]['shrink']}", place_on_object(mine, view), np.zeros(2)))
        assert len(snap["leaders"]) == len({p["objectId"] for p in shown}), "one leader line per stack"
        next_answer(page, frames=2)
    check_stable(tracks)
    page.context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


# ---- the layout itself -----------------------------------------------------------------------------------

LAYOUT_JS = """async ([boxes, rounds, jitter, drift = null]) => {
  const { PanelLayout } = await import('/layout.js');
  const layout = new PanelLayout();
  const history = [];
  let seed = 7;
  const noise = () => { seed = (seed * 16807) % 2147483647; return (seed / 2147483647 - 0.5) * 2 * jitter; };
  for (let round = 0; round < rounds; round++) {
    const now = round * 33; // 30 layouts a second
    // `drift`: [amplitude px, period ms, rounds]: the boxes move up and down that long, then stay.
    const dy = drift && round < drift[2] ? drift[0] * Math.sin((2 * Math.PI * now) / drift[1]) : 0;
    const stacks = boxes.map((box, i) => {
      const moved = box.map((v, k) => v + (k % 2 ? dy : noise()));
      return { key: `o${i}`, box: moved, gap: 8, screenBox: moved, sizeAt: (s) => [240 * s, 110 * s] };
    });
    const placed = layout.place(stacks, [0, 0, 640, 480], now);
    history.push(boxes.map((_, i) => placed.get(`o${i}`)));
  }
  return history;
}"""


def test_the_layout_keeps_crowded_stacks_apart_in_view_and_steady(browser: Browser, server: Any) -> None:
    page, errors = new_page(browser, VIEWPORT)
    page.goto(f"{server.url}/")
    # Five objects in a row, closer than a stack is wide; their boxes shake by a pixel every layout.
    boxes = [[100 + 110 * i, 200, 180 + 110 * i, 280] for i in range(5)]
    history = page.evaluate(LAYOUT_JS, [boxes, 120, 1.0])
    for placed in history:
        shown = [(f"o{i}", tuple(p["screen"])) for i, p in enumerate(placed) if not p.get("hidden")]
        assert len(shown) >= 4, "at most one stack may find no room"
        check_no_overlap_in_view(shown, (0, 0, 640, 480))
        for i, p in enumerate(placed):
            assert p.get("hidden") or not intersect(tuple(p["screen"]), tuple(boxes[i])), "a stack covers its object"
    spots = [[p.get("spot") for p in placed] for placed in history]
    assert all(s == spots[0] for s in spots[10:]), "a pixel of shaking must not move any stack"
    assert spots[0][0] == "above", "the first stack takes the first choice"
    # A lone object: its stack stands above it, and stays there as it drifts.
    lone = page.evaluate(LAYOUT_JS, [[[300, 300, 380, 380]], 30, 3.0])
    assert {p[0]["spot"] for p in lone} == {"above"}
    page.context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


# ---- smoothing the poses panels are locked to ----------------------------------------------------------

POSE_FILTER_JS = """async ([steps, dt, noiseDeg, noiseM, speed, turnDegPerS, jumpAt, jumpM]) => {
  const { Matrix4, Quaternion, Vector3 } = await import('three');
  const { PoseFilter } = await import('/pose_filter.js');
  const filter = new PoseFilter();
  let seed = 11;
  const uniform = () => { seed = (seed * 16807) % 2147483647; return seed / 2147483647; };
  const gauss = () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
  const rows = [];
  for (let i = 0; i < steps; i++) {
    const t = i * dt;
    const along = speed * t + (jumpAt !== null && i >= jumpAt ? jumpM : 0);
    const truth = new Matrix4().compose(
      new Vector3(0.1 + along, 0, -0.55),
      new Quaternion().setFromAxisAngle(new Vector3(0, 0, 1), (turnDegPerS * t * Math.PI) / 180),
      new Vector3(1, 1, 1));
    const axis = new Vector3(gauss(), gauss(), gauss()).normalize();
    const noise = new Matrix4().compose(
      new Vector3(gauss(), gauss(), gauss()).multiplyScalar(noiseM),
      new Quaternion().setFromAxisAngle(axis, (gauss() * noiseDeg * Math.PI) / 180),
      new Vector3(1, 1, 1));
    const measured = truth.clone().multiply(noise);
    rows.push([truth.toArray(), measured.toArray(), filter.filter(measured, t).toArray()]);
  }
  return rows;
}"""


def run_pose_filter(page: Page, steps: int, noise_deg: float = 0.0, noise_m: float = 0.0, speed: float = 0.0,
                    turn_deg_per_s: float = 0.0, jump_at: int | None = None,
                    jump_m: float = 0.0) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(truth, measured, filtered) poses of an object measured ten times a second: still or moving along x at
    `speed` m/s, turning about its z axis, with noise, and moved `jump_m` at once at step `jump_at`."""
    rows = page.evaluate(POSE_FILTER_JS, [steps, 0.1, noise_deg, noise_m, speed, turn_deg_per_s, jump_at, jump_m])
    return [tuple(np.asarray(m, dtype=float).reshape(4, 4).T for m in row) for row in rows]


def turned_deg(a: np.ndarray, b: np.ndarray) -> float:
    cos = (np.trace(a[:3, :3].T @ b[:3, :3]) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def lever_shake_m(a: np.ndarray, b: np.ndarray, lever_m: float = 0.15) -> float:
    """How far a point `lever_m` above the object's centre in its plane (where its panels stand) moves
    between two poses."""
    point = np.array([0.0, lever_m, 0.0, 1.0])
    return float(np.linalg.norm((a @ point - b @ point)[:3]))


def test_a_still_objects_pose_is_smoothed_and_a_moving_one_followed(browser: Browser, server: Any) -> None:
    page, errors = new_page(browser, VIEWPORT)
    page.goto(f"{server.url}/")
    # Still, with a marker's noise: about a degree and two millimetres a measurement.
    still = run_pose_filter(page, 60, noise_deg=1.0, noise_m=0.002)[10:]
    raw = np.mean([lever_shake_m(a[1], b[1]) for a, b in zip(still, still[1:])])
    smooth = np.mean([lever_shake_m(a[2], b[2]) for a, b in zip(still, still[1:])])
    assert smooth < raw / 3, f"panels 15 cm from a still marker shake {smooth * 1e3:.1f} mm a frame (raw {raw * 1e3:.1f})"
    assert max(turned_deg(t, f) for t, _, f in still) < max(turned_deg(t, m) for t, m, _ in still), \
        "smoothed, it stays nearer the still marker than its measurements"
    # Moving at 30 cm/s and turning at 30 degrees/s, measured without noise: followed closely.
    moving = run_pose_filter(page, 30, speed=0.3, turn_deg_per_s=30)[10:]
    assert max(np.linalg.norm(t[:3, 3] - f[:3, 3]) for t, _, f in moving) < 0.02
    assert max(turned_deg(t, f) for t, _, f in moving) < 3
    # Moved 30 cm at once (picked up and put down): caught up within 1 cm two measurements later.
    jumped = run_pose_filter(page, 20, jump_at=10, jump_m=0.3)
    assert np.linalg.norm(jumped[12][0][:3, 3] - jumped[12][2][:3, 3]) < 0.01
    page.context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def test_a_stack_pushed_off_its_spot_again_and_again_stops_going_back_and_forth(browser: Browser, server: Any) -> None:
    page, errors = new_page(browser, VIEWPORT)
    page.goto(f"{server.url}/")
    # A lone object near the top of the view drifting 45 px up and down every 4 s: its stack (110 px high,
    # 8 px above it) is pushed off its first choice, above it, on every drift up, for 24 s; then it stays put.
    # Going back every time, it would change spot 11 times.
    history = page.evaluate(LAYOUT_JS, [[[280, 140, 360, 220]], 1200, 0.0, [45, 4000, 720]])
    spots = [placed[0]["spot"] for placed in history]
    changes = [i for i, (a, b) in enumerate(zip(spots, spots[1:])) if a != b]
    drifting = [i for i in changes if i < 720]
    assert spots[0] == "above"
    assert len(drifting) <= 3, f"the stack changed spot {len(drifting)} times in 24 s of drifting"
    assert spots[-1] == "above", "once the object stays where its stack fits above it, the stack goes back there"
    page.context.close()
    assert not errors, f"uncaught errors in the page: {errors}"
