"""Registration benchmark: how far the web client draws each box from its object in the video frame on screen.

Camera-window mode in headless Chromium (Debian's `chromium`), its fake camera
playing the `pan` clip (`data/make_camera_clips.py`: two cups side by side and
a cat, the camera holding and panning; each frame's index is coded into its
bottom-left corner), a real server with the `auto` detector, a note pinned to
each class, all on this machine. In the page, in every animation frame right
after the client drew, the code of the video frame on screen is read from the
video element and the boxes the client just drew are taken; the frames the
page sends are decoded too (the code in each JPEG on the socket), so each
drawn box is known to come from the server's answer about frame N and to be
drawn over frame D. Per drawn box:

- registration error: the distance from its centre to the centre of the
  server's box in N carried to D by the clip's exact motion. This is the error
  latency compensation is about, whatever the detector's own box error;
- error against the ground truth: the distance from its centre to the centre
  of the object's true box in D (the nearest object of its class).

Both are reported during pans (the picture moving at least 2 px a frame) and
over all frames, for each compensation (`webxr_client/latency.js`).

Run: `python -m bench.registration [--seconds 30] [--compensation flow velocity none] [--write]`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from playwright.sync_api import Browser, sync_playwright

from bench.report import machine, percentile, write_section
from tests.support import Server, start_server, stop_server

ROOT = Path(__file__).resolve().parents[1]


def load_camera_clips() -> Any:
    """`data/make_camera_clips.py` as a module (`data/` is a folder of scripts, not a package)."""
    if "make_camera_clips" not in sys.modules:
        spec = importlib.util.spec_from_file_location("make_camera_clips", ROOT / "data" / "make_camera_clips.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["make_camera_clips"] = module  # dataclasses look their module up while it loads
        spec.loader.exec_module(module)
    return sys.modules["make_camera_clips"]


clips = load_camera_clips()

SECTION = "## Registration: boxes on their objects while the camera pans"
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 720}
PAN_PX_PER_FRAME = 2.0  # frames where the picture moves at least this much count as "during pans"
TARGET_P90_PX = 8.0
NOTES = {"class:cup": "Cup note", "class:cat": "Cat note"}

INSTRUMENT_JS = """
(() => {
  const [BITS, CELL, MARGIN, WIDTH, HEIGHT] = %s;
  const record = { sent: {}, answers: {}, samples: [] };
  window.registration = record;
  const canvas = document.createElement('canvas');
  canvas.width = WIDTH;
  canvas.height = HEIGHT;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  // The frame index coded into a picture's bottom-left corner (data/make_camera_clips.py), or null.
  function readCode(source, sourceHeight) {
    ctx.drawImage(source, 0, sourceHeight - HEIGHT, WIDTH, HEIGHT, 0, 0, WIDTH, HEIGHT);
    const pixels = ctx.getImageData(0, 0, WIDTH, HEIGHT).data;
    const top = HEIGHT - MARGIN - 2 * CELL;
    let index = 0;
    for (let bit = 0; bit < BITS; bit++) {
      const x = MARGIN + bit * CELL + CELL / 2;
      const upper = pixels[((top + CELL / 2) * WIDTH + x) * 4] < 128;
      const lower = pixels[((top + CELL + CELL / 2) * WIDTH + x) * 4] < 128;
      if (upper === lower) return null;
      if (upper) index |= 1 << bit;
    }
    return index;
  }
  // Every frame the page sends: its id and the code in its JPEG.
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (data instanceof ArrayBuffer && data.byteLength > 20) {
      const view = new DataView(data);
      const flags = view.getUint8(4);
      const id = view.getUint32(8, true);
      let offset = 20 + (flags & 1 ? 16 : 0) + (flags & 2 ? 64 : 0);
      if (flags & 4) offset += 8 + 2 * view.getUint16(offset, true) * view.getUint16(offset + 2, true);
      createImageBitmap(new Blob([data.slice(offset)], { type: 'image/jpeg' })).then((bitmap) => {
        record.sent[id] = readCode(bitmap, bitmap.height);
        bitmap.close();
      });
    }
    return send.call(this, data);
  };
  // In every animation frame after the client's own (it started first, so it runs first):
  // the frame on screen and the boxes just drawn over it.
  window.startSampling = () => {
    const video = document.getElementById('video');
    const tick = () => {
      const client = window.spatialClient;
      const answer = client.lastObjects;
      if (answer && client.boxes.length) {
        if (!(answer.frame_id in record.answers)) {
          const sent = client.pump.record(answer.frame_id);
          record.answers[answer.frame_id] = {
            objects: answer.objects.map((o) => ({ id: o.id, box: o.box })),
            age: sent ? performance.now() - sent.sentAt : null,
          };
        }
        record.samples.push({
          shown: readCode(video, video.videoHeight), frameId: answer.frame_id,
          boxes: client.boxes.map((b) => ({ id: b.objectId, label: b.label, box: b.imageBox })),
          trackMs: client.compensation?.ms ?? null,
        });
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  };
})();
""" % json.dumps([clips.CODE_BITS, clips.CODE_CELL_PX, clips.CODE_MARGIN_PX, *clips.CODE_SIZE])


def browser_args(y4m: Path) -> list[str]:
    return [
        "--no-sandbox", "--disable-gpu", "--no-first-run", "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={y4m}",
    ]


def pin_notes(server: Server) -> None:
    """A note on every cup and one on every cat, as a new user would pin them."""
    with server.rest() as rest:
        for target, title in NOTES.items():
            block = rest.post("/v1/blocks", json={"kind": "markdown", "title": title, "content": f"{title}: pinned"})
            block.raise_for_status()
            rest.post(f"/v1/objects/{target}/anchors", json={"block_id": block.json()["id"]}).raise_for_status()


def record_page(browser: Browser, server: Server, compensation: str, seconds: float) -> dict[str, Any]:
    """Stream the fake camera from a fresh page for `seconds` and return what the page recorded."""
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.add_init_script(INSTRUMENT_JS)
        page.goto(f"{server.url}/?autostart=1&compensation={compensation}#token={server.token}")
        page.wait_for_function("window.spatialClient?.state === 'streaming'", timeout=30_000)
        if compensation == "flow":
            page.wait_for_function("window.spatialClient.compensation?.status === 'optical flow'", timeout=30_000)
        page.wait_for_function("window.spatialClient.boxes.length > 0", timeout=60_000)
        page.evaluate("window.startSampling()")
        page.wait_for_timeout(seconds * 1000)
        recorded = page.evaluate("window.registration")
        recorded["framesSent"] = page.evaluate("window.spatialClient.framesSent")
        recorded["status"] = page.evaluate("window.spatialClient.compensation?.status")
        assert not errors, f"uncaught errors in the page: {errors}"
        return recorded
    finally:
        context.close()


# ---- scoring ---------------------------------------------------------------------------------------

def affine(values: list[float]) -> np.ndarray:
    """A 3x3 from a 2x3 given as 6 numbers."""
    return np.vstack([np.asarray(values, float).reshape(2, 3), [0, 0, 1]])


def carried(box: list[float], motion: np.ndarray) -> np.ndarray:
    """The centre of `box` moved by the 3x3 image motion `motion`."""
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2, 1.0])
    return (motion @ centre)[:2]


def centre(box: list[float]) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


@dataclass
class Scores:
    """Errors in pixels of the 640x480 video, per drawn box."""

    registration: list[float] = field(default_factory=list)
    registration_pans: list[float] = field(default_factory=list)
    truth: list[float] = field(default_factory=list)
    truth_pans: list[float] = field(default_factory=list)
    ages_ms: list[float] = field(default_factory=list)
    frames_behind: list[int] = field(default_factory=list)
    track_ms: list[float] = field(default_factory=list)
    samples: int = 0
    unread: int = 0
    frames_sent: int = 0
    seconds: float = 0.0
    status: str = ""


def pan_speeds(truth: dict[str, Any]) -> list[float]:
    """How far the picture moves into each frame, pixels (the desk point at the image centre)."""
    maps = [affine(f["desk_to_image"]) for f in truth["frames"]]
    middle = np.array([truth["width"] / 2, truth["height"] / 2, 1.0])
    speeds = [0.0]
    for before, after in zip(maps, maps[1:]):
        speeds.append(float(np.linalg.norm((after @ np.linalg.inv(before) @ middle)[:2] - middle[:2])))
    speeds[0] = float(np.linalg.norm((maps[0] @ np.linalg.inv(maps[-1]) @ middle)[:2] - middle[:2]))  # the loop
    return speeds


def score(recorded: dict[str, Any], truth: dict[str, Any], seconds: float) -> Scores:
    frames = truth["frames"]
    count = len(frames)
    maps = [affine(f["desk_to_image"]) for f in frames]
    speeds = pan_speeds(truth)
    sent = {int(k): v for k, v in recorded["sent"].items()}
    answers = {int(k): v for k, v in recorded["answers"].items()}
    scores = Scores(frames_sent=recorded["framesSent"], seconds=seconds, status=recorded["status"] or "")
    scores.ages_ms = [a["age"] for a in answers.values() if a["age"] is not None]
    scores.track_ms = [s["trackMs"] for s in recorded["samples"] if s["trackMs"] is not None]
    for sample in recorded["samples"]:
        scores.samples += 1
        shown, seen = sample["shown"], sent.get(sample["frameId"])
        if shown is None or seen is None or shown >= count or seen >= count:
            scores.unread += 1
            continue
        behind = (shown - seen) % count
        if behind > count // 2:
            scores.unread += 1  # the page's answer is about a later frame than the one shown: misread
            continue
        scores.frames_behind.append(behind)
        motion = maps[shown] @ np.linalg.inv(maps[seen])
        found = {o["id"]: o["box"] for o in answers[sample["frameId"]]["objects"]}
        panning = speeds[shown] >= PAN_PX_PER_FRAME
        for drawn in sample["boxes"]:
            if drawn["id"] not in found:
                continue
            error = float(np.linalg.norm(centre(drawn["box"]) - carried(found[drawn["id"]], motion)))
            scores.registration.append(error)
            if panning:
                scores.registration_pans.append(error)
            same_class = [o["box"] for o in frames[shown]["objects"] if o["class"] == drawn["label"]]
            off = min((float(np.linalg.norm(centre(drawn["box"]) - centre(b))) for b in same_class), default=None)
            size = np.hypot(drawn["box"][2] - drawn["box"][0], drawn["box"][3] - drawn["box"][1])
            if off is not None and off < size / 2:  # else a part of an object the ground truth leaves out
                scores.truth.append(off)
                if panning:
                    scores.truth_pans.append(off)
    return scores


def measure(browser: Browser, server: Server, truth: dict[str, Any], compensation: str, seconds: float) -> Scores:
    """Stream the clip from a fresh page with one compensation and score its drawn boxes."""
    return score(record_page(browser, server, compensation, seconds), truth, seconds)


# ---- report ------------------------------------------------------------------------------------------

def px(values: list[float]) -> str:
    """Median / p90 / p99."""
    if not values:
        return "–"
    return f"{statistics.median(values):.1f} / {percentile(values, 90):.1f} / {percentile(values, 99):.1f}"


def report(runs: dict[str, Scores], command: str, load: float) -> str:
    lines = [
        SECTION,
        "",
        f"Measured {machine()}. Command: `{command}`. Load average when it started: {load:.1f}.",
        "",
        "Camera-window mode in headless Chromium, the fake camera playing the `pan` clip (640x480, 30 frames/s;",
        "two cups and a cat, pans of up to 16 px a frame), the `auto` detector every 5th frame with tracking",
        "between, the browser and the server sharing the machine's cores. Errors are distances between box",
        "centres in pixels of the 640x480 video, per drawn box, read in the animation frame the box was drawn in.",
        "*Registration* compares the drawn box with the server's box carried from the frame it was found in",
        "to the frame on screen by the clip's exact motion (what latency compensation can fix); *truth* with the",
        "object's true box in the frame on screen (adds the detector's own error).",
        "",
        "Each error column gives median / p90 / p99 in pixels. *Frames behind*: how many frames the video had moved",
        "on from the frame the drawn answer is about; *answer age*: from sending a frame to drawing its answer.",
        "",
        "| compensation | registration during pans | registration, all frames | "
        "truth during pans | truth, all frames | boxes scored | frames behind, median (p90) | answer age ms, median "
        "(p90) | frames sent/s | target |",
        "| --- | --- | --- | --- | --- | ---: | --- | --- | ---: | --- |",
    ]
    for name, s in runs.items():
        behind = f"{statistics.median(s.frames_behind):.0f} ({percentile(s.frames_behind, 90):.0f})" if s.frames_behind else "–"
        ages = f"{statistics.median(s.ages_ms):.0f} ({percentile(s.ages_ms, 90):.0f})" if s.ages_ms else "–"
        lines.append(
            f"| {name} | {px(s.registration_pans)} | {px(s.registration)} | {px(s.truth_pans)} | {px(s.truth)} | "
            f"{len(s.registration)} | {behind} | {ages} | {s.frames_sent / s.seconds:.1f} | p90 <= {TARGET_P90_PX:g} px during pans |"
        )
    flow = runs.get("flow")
    if flow and flow.track_ms:
        lines += [
            "",
            f"Optical flow in the page's worker (OpenCV.js, 320x240): median {statistics.median(flow.track_ms):.1f} ms,"
            f" p90 {percentile(flow.track_ms, 90):.1f} ms per frame shown or answer taken.",
        ]
    lines.append("")
    return "\n".join(lines)


def run(compensations: list[str], seconds: float, out: Path) -> dict[str, Scores]:
    """Render the clip, start a server with `auto`, and measure each compensation from a fresh page."""
    y4m, truth_path = clips.write("pan", out)
    truth = json.loads(truth_path.read_text())
    server = start_server(out / "store.db", detector="auto")
    try:
        pin_notes(server)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=browser_args(y4m))
            try:
                return {name: measure(browser, server, truth, name, seconds) for name in compensations}
            finally:
                browser.close()
    finally:
        stop_server(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="sampling time per compensation (default: %(default)s)")
    parser.add_argument("--compensation", nargs="+", default=["flow", "velocity", "none"],
                        help="compensations to measure, in this order (default: %(default)s)")
    parser.add_argument("--write", action="store_true", help="write the results into docs/benchmarks.md")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        runs = run(args.compensation, args.seconds, Path(tmp))
    for name, s in runs.items():
        print(f"{name} ({s.status}): registration during pans {px(s.registration_pans)}; all {px(s.registration)}; "
              f"truth {px(s.truth)}; {len(s.registration)} boxes, {s.unread} of {s.samples} samples unread")
    command = "python -m bench.registration" + (f" --seconds {args.seconds:g}" if args.seconds != 30.0 else "")
    if args.compensation != parser.get_default("compensation"):
        command += " --compensation " + " ".join(args.compensation)
    text = report(runs, command + " --write", load)
    print(text)
    if args.write:
        write_section(text, SECTION)


if __name__ == "__main__":
    main()
