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
  of the object's true box in D (the nearest object of its class wholly in the
  picture in D and in N: of an object cut by the frame's edge a detector boxes
  the part in view). It adds the detector's and the server tracker's own
  errors, which are also given for the server's boxes in the frames they are
  about.

Both are reported during pans (the picture moving at least 2 px a frame) and
over all frames, for each compensation (`webxr_client/latency.js`). The
compensations take turns, a fresh page each, for several rounds, so that other
work on the machine weighs on all of them alike.

Run: `python -m bench.registration [--seconds 60] [--rounds 4] [--compensation flow velocity none] [--write]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from playwright.sync_api import Browser, sync_playwright

from bench.report import machine, option, percentile, run_benchmark
from harness.browser import CHROMIUM, chromium_args
from harness.samples import load_camera_clips
from harness.servers import Server, start_server, stop_server

clips = load_camera_clips()

SECTION = "## Registration: boxes on their objects while the camera pans"
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
OPTIONS = (
    option("--seconds", 60.0, "sampling time per compensation"),
    option("--rounds", 4, "turns each compensation takes"),
    option("--compensation", ["flow", "velocity", "none"], "compensations to measure, in this order", nargs="+"),
)


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
    server: list[float] = field(default_factory=list)
    """The server's own boxes against the truth, in the frames they are about."""
    server_pans: list[float] = field(default_factory=list)
    ages_ms: list[float] = field(default_factory=list)
    frames_behind: list[int] = field(default_factory=list)
    track_ms: list[float] = field(default_factory=list)
    samples: int = 0
    unread: int = 0
    frames_sent: int = 0
    seconds: float = 0.0
    status: str = ""

    def add(self, other: Scores) -> None:
        """Take in the scores of another run of the same compensation."""
        for name, value in vars(other).items():
            if isinstance(value, list | int | float) and not isinstance(value, bool):
                setattr(self, name, getattr(self, name) + value)
        self.status = other.status


def pan_speeds(truth: dict[str, Any]) -> list[float]:
    """How far the picture moves into each frame, pixels (the desk point at the image centre)."""
    maps = [affine(f["desk_to_image"]) for f in truth["frames"]]
    middle = np.array([truth["width"] / 2, truth["height"] / 2, 1.0])
    speeds = [0.0]
    for before, after in zip(maps, maps[1:]):
        speeds.append(float(np.linalg.norm((after @ np.linalg.inv(before) @ middle)[:2] - middle[:2])))
    speeds[0] = float(np.linalg.norm((maps[0] @ np.linalg.inv(maps[-1]) @ middle)[:2] - middle[:2]))  # the loop
    return speeds


def nearest_truth(box: list[float], label: str, objects: list[dict[str, Any]], width: int,
                  back: np.ndarray | None = None) -> float | None:
    """How far `box`'s centre is from the nearest true box of its class among objects wholly in the picture
    (a true box cut by the frame's edge has another centre than the part a detector boxes), and, with `back`
    (the image motion to the frame the server saw), wholly in that frame too; None if none is within half
    the box's diagonal."""
    def whole(b: list[float]) -> bool:
        if back is not None:
            xs = [(back @ np.array([x, y, 1.0]))[0] for x in (b[0], b[2]) for y in (b[1], b[3])]
            if min(xs) <= 0.5 or max(xs) >= width - 0.5:
                return False
        return b[0] > 0.5 and b[2] < width - 0.5

    boxes = [o["box"] for o in objects if o["class"] == label and whole(o["box"])]
    off = min((float(np.linalg.norm(centre(box) - centre(b))) for b in boxes), default=None)
    return off if off is not None and off < np.hypot(box[2] - box[0], box[3] - box[1]) / 2 else None


def score(recorded: dict[str, Any], truth: dict[str, Any], seconds: float) -> Scores:
    frames = truth["frames"]
    count, width = len(frames), truth["width"]
    maps = [affine(f["desk_to_image"]) for f in frames]
    speeds = pan_speeds(truth)
    sent = {int(k): v for k, v in recorded["sent"].items()}
    answers = {int(k): v for k, v in recorded["answers"].items()}
    scores = Scores(frames_sent=recorded["framesSent"], seconds=seconds, status=recorded["status"] or "")
    scores.ages_ms = [a["age"] for a in answers.values() if a["age"] is not None]
    scores.track_ms = [s["trackMs"] for s in recorded["samples"] if s["trackMs"] is not None]
    for frame_id, answer in answers.items():
        seen = sent.get(frame_id)
        for found in answer["objects"] if seen is not None and seen < count else []:
            label = found["id"].split(":")[1].split("/")[0] if found["id"].startswith("object:") else "marker"
            off = nearest_truth(found["box"], label, frames[seen]["objects"], width)
            if off is not None:
                scores.server.append(off)
                if speeds[seen] >= PAN_PX_PER_FRAME:
                    scores.server_pans.append(off)
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
            off = nearest_truth(drawn["box"], drawn["label"], frames[shown]["objects"], width, np.linalg.inv(motion))
            if off is not None:
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
        "two cups and a cat on a desk, the camera holding, panning at up to 16 px a frame and back), the `auto`",
        "detector every 5th frame with the server's tracker between, the browser and the server sharing the",
        "machine's 2 cores. The compensations took turns, a fresh page each, so other work on the machine",
        "weighed on all alike. Errors are distances between box centres in pixels of the 640x480 video, per drawn",
        "box, read in the animation frame it was drawn in, as median / p90 / p99. *Registration*: against the",
        "server's box carried from the frame it was found in to the frame on screen by the clip's exact motion,",
        "what latency compensation is about. *Truth*: against the object's true box in the frame on screen,",
        "objects wholly in the picture there and in the frame the server saw; it adds the server's own box error",
        "(last row), which no compensation in the page can take away.",
        "",
        "| compensation | registration during pans | registration, all frames | truth during pans | truth, all frames "
        "| boxes | target |",
        "| --- | --- | --- | --- | --- | ---: | --- |",
    ]
    for name, s in runs.items():
        lines.append(f"| {name} | {px(s.registration_pans)} | {px(s.registration)} | {px(s.truth_pans)} | {px(s.truth)} "
                     f"| {len(s.registration)} | p90 <= {TARGET_P90_PX:g} px during pans |")
    server = [v for s in runs.values() for v in s.server]
    server_pans = [v for s in runs.values() for v in s.server_pans]
    lines += [
        f"| (the server's boxes, in the frames they are about) | | | {px(server_pans)} | {px(server)} | {len(server)} | |",
        "",
        "| compensation | frames the video moved on, median (p90) | answer age ms, median (p90) | frames sent/s "
        "| tracking ms in the page, median (p90) |",
        "| --- | --- | --- | ---: | --- |",
    ]
    for name, s in runs.items():
        behind = f"{statistics.median(s.frames_behind):.0f} ({percentile(s.frames_behind, 90):.0f})" if s.frames_behind else "–"
        ages = f"{statistics.median(s.ages_ms):.0f} ({percentile(s.ages_ms, 90):.0f})" if s.ages_ms else "–"
        track = f"{statistics.median(s.track_ms):.1f} ({percentile(s.track_ms, 90):.1f})" if s.track_ms else "–"
        lines.append(f"| {name} | {behind} | {ages} | {s.frames_sent / s.seconds:.1f} | {track} |")
    lines += [
        "",
        "*Answer age*: from sending a frame to the first animation frame its answer was drawn in. *Tracking ms*:",
        "the worker's time per message (a frame shown, or an answer taken), OpenCV.js at 320x240.",
        "",
    ]
    return "\n".join(lines)


def run(compensations: list[str], seconds: float, rounds: int, out: Path) -> dict[str, Scores]:
    """Render the clip, start a server with `auto`, and measure the compensations in turn, `rounds` times,
    `seconds` in all for each."""
    y4m, truth_path = clips.write("pan", out)
    truth = json.loads(truth_path.read_text())
    server = start_server(out / "store.db", detector="auto")
    runs = {name: Scores() for name in compensations}
    try:
        pin_notes(server)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args(y4m))
            try:
                for _ in range(rounds):
                    for name in compensations:
                        runs[name].add(measure(browser, server, truth, name, seconds / rounds))
            finally:
                browser.close()
    finally:
        stop_server(server)
    return runs


def run_all(args: argparse.Namespace, command: str) -> str:
    """Each compensation's turns, in a fresh page each: the section."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        runs = run(args.compensation, args.seconds, args.rounds, Path(tmp))
    for name, s in runs.items():
        print(f"{name} ({s.status}): registration during pans {px(s.registration_pans)}; all {px(s.registration)}; "
              f"truth {px(s.truth)}; {len(s.registration)} boxes, {s.unread} of {s.samples} samples unread")
    return report(runs, command, load)


if __name__ == "__main__":
    raise SystemExit(run_benchmark("bench.registration", __doc__, run_all, *OPTIONS))
