"""Asynchronous detection: a slow detector no longer stalls the frames of a stream.

One camera pans and zooms over a scene with three of the shapes the project's
detectron2 model knows (`data/models/shapes_r18_fpn`, the real model on the
CPU). The same frames go through `vision.tracking.Tracker` twice: with the
detector called synchronously on due frames (every `--detect-every` frames,
as before) and asynchronously (the frame is handed to the shared queue and
tracking goes on; the result lands frames later, brought up to date by
optical flow). Each mode runs twice: frames fed back to back (what one
stream can get out of this machine) and live, from a 30 frames/s camera
whose frames are dropped while the tracker is busy, as a session's are. A
frame's time is its `update` call, the time a client waits for that frame's
`objects`. Accuracy is scored against the exact ground truth with
py-motmetrics (a match needs IoU >= 0.5), as in `bench.tracking`.

    python -m bench.async_detection [--frames 150] [--detect-every 5] [--write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import motmetrics as mm
import numpy as np

from bench.report import machine, option, percentile, run_benchmark
from bench.tracking import SequenceRun, distances, load_make_sequences, summary
from data.make_shapes_dataset import scene
from harness.paths import DATA
from vision import Intrinsics, create_detector
from vision.batching import BatchingDetector
from vision.tracking import Tracker

SECTION = "## Asynchronous detection: detectron2 behind the tracker"
CONFIG = DATA / "models" / "shapes_r18_fpn.yaml"
WIDTH, HEIGHT = 640, 480
CAMERA = Intrinsics.from_fov(WIDTH, HEIGHT, 60.0)
CAMERA_FRAME_MS = 1000 / 30
SHAPES = (("clock", (390, 300), 150), ("stop sign", (600, 300), 140), ("donut", (500, 480), 120))
"""The scene's objects: label, centre and size in scene pixels."""
Truth = load_make_sequences().Truth
OPTIONS = (
    option("--frames", 150, "frames in the sequence"),
    option("--detect-every", 5, "frames between detections"),
)


@dataclass
class ShapesPan:
    """A camera panning and zooming over one drawn scene: frames and their exact ground truth.

    The scene (1000 x 760 pixels, shapes on a crop of a photo) is drawn once; a
    frame is a window of it, `WIDTH / zoom` pixels wide, scaled to WIDTH x
    HEIGHT. Every object stays fully in view.
    """

    length: int = 150
    period: int = 100
    """Frames of one sweep of the pan and the zoom."""
    name: str = "shapes_pan"

    def __post_init__(self) -> None:
        drawn = scene(SHAPES, size=(1000, 760), photo_name="rocket", seed=0)
        self.image = drawn.image
        self.boxes = [(instance.label, np.asarray(instance.box)) for instance in drawn.instances]

    def __len__(self) -> int:
        return self.length

    def window(self, index: int) -> tuple[float, float, float]:
        """Left, top and zoom of frame `index`: a left-right pan with a slower drift down and a zoom in and out."""
        t = 2 * np.pi * index / self.period
        zoom = 1.0 + 0.1 * (1 - np.cos(t)) / 2
        centre_x, centre_y = 500 + 90 * np.sin(t), 380 + 30 * np.sin(t / 2)
        return centre_x - WIDTH / zoom / 2, centre_y - HEIGHT / zoom / 2, zoom

    def frame(self, index: int) -> tuple[np.ndarray, list[Truth]]:
        """The BGR frame `index` and its ground truth (each object's id is its label)."""
        left, top, zoom = self.window(index)
        to_frame = np.array([[zoom, 0.0, -left * zoom], [0.0, zoom, -top * zoom]])
        image = cv2.warpAffine(self.image, to_frame, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)
        truth = [
            Truth(label, label, tuple(float(v) for v in (box - [left, top, left, top]) * zoom))
            for label, box in self.boxes
        ]
        return image, truth

    def frames(self) -> Iterator[tuple[np.ndarray, list[Truth]]]:
        for index in range(self.length):
            yield self.frame(index)


def shapes_detector() -> BatchingDetector:
    """The project's detectron2 model on the CPU behind its queue, with no batch wait (one stream)."""
    detector = create_detector("detectron2", config=str(CONFIG), device="cpu", score_threshold=0.8, batch_wait_ms=0)
    assert isinstance(detector, BatchingDetector)
    return detector


@dataclass
class ModeResult:
    mode: str
    feed: str
    run: SequenceRun
    detections: int = 0
    ages_ms: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    """Live: from the camera taking a frame to its objects."""
    dropped: int = 0


def run_mode(
    frames: list[tuple[np.ndarray, list[Truth]]], detector: BatchingDetector, asynchronous: bool, detect_every: int,
    live: bool,
) -> ModeResult:
    """The frames through a fresh tracker, timed and scored against the ground truth.

    Back to back (`live` False): every frame, the next as soon as the last is
    done. Live: the camera takes a frame every CAMERA_FRAME_MS; when the
    tracker is free it takes the latest one, and frames taken meanwhile are
    dropped, as a session does (latest frame wins).
    """
    tracker = Tracker(detector, detect_every=detect_every, asynchronous=asynchronous)
    mode = "asynchronous" if asynchronous else "synchronous"
    feed = "live, 30 frames/s" if live else "back to back"
    result = ModeResult(mode, feed, SequenceRun(f"{mode}, {feed}", mm.MOTAccumulator(auto_id=True)))
    run = result.run
    began = time.perf_counter()
    index = 0
    while index < len(frames):
        taken = began + index * CAMERA_FRAME_MS / 1e3
        if live:
            time.sleep(max(0.0, taken - time.perf_counter()))
        image, truth = frames[index]
        start = time.perf_counter()
        found = tracker.update(image, CAMERA)
        end = time.perf_counter()
        run.frame_ms.append((end - start) * 1e3)
        result.latency_ms.append((end - taken) * 1e3)
        result.detections += "detect" in tracker.timing_ms or "detect_age" in tracker.timing_ms
        if "detect_age" in tracker.timing_ms:
            result.ages_ms.append(tracker.timing_ms["detect_age"])
        run.accumulator.update(
            [run.number(t.object_id) for t in truth],
            [run.number(d.object_id) for d in found],
            distances([t.box for t in truth], [d.box for d in found]),
        )
        latest = int((time.perf_counter() - began) * 1e3 // CAMERA_FRAME_MS) if live else index
        result.dropped += max(0, latest - index - 1)
        index = max(index + 1, latest)
    return result


def report(
    results: list[ModeResult], length: int, detect_every: int, detect_ms: float, command: str, load: float
) -> str:
    table = summary([r.run for r in results])
    rows = []
    for result in results:
        frames = result.run.frame_ms
        metrics = table.loc[result.run.name]
        late = sum(ms > CAMERA_FRAME_MS for ms in frames)
        age = f"{statistics.median(result.ages_ms):.0f}" if result.ages_ms else "—"
        latency = f"{percentile(result.latency_ms, 95):.0f}" if result.feed.startswith("live") else "—"
        rows.append(
            f"| {result.mode} | {result.feed} | {len(frames)} | {result.dropped} | "
            f"{1e3 * len(frames) / sum(frames):.0f} | {statistics.mean(frames):.1f} | {percentile(frames, 95):.1f} | "
            f"{max(frames):.1f} | {late} | {latency} | {result.detections} | {age} | {result.run.mean_iou():.3f} | "
            f"{metrics['mota']:.3f} | {metrics['idf1']:.3f} | {int(metrics['num_switches'])} |"
        )
    return "\n".join([
        SECTION,
        "",
        f"Measured {machine()}; the machine's load average (shared with other work) was {load:.1f} when the run",
        "started. The project's detectron2 model (R18-FPN, `data/models/shapes_r18_fpn`) on the CPU,",
        f"{detect_ms:.0f} ms a frame alone, behind its queue with no batch wait (one stream). {length} 640x480",
        "frames of a camera panning and zooming over three shapes (`ShapesPan`); detector due every",
        f"{detect_every} frames. The same frames through `vision.tracking.Tracker` with the detector called",
        "synchronously on due frames and asynchronously, fed back to back (what one stream can get out of the",
        "machine) and live (a 30 frames/s camera: when the tracker is free it takes the newest frame, the frames",
        "taken meanwhile are dropped, as a session does). All rows in one process, one after another.",
        "",
        f"Command: `{command}`",
        "",
        "| detection | feed | frames processed | dropped | frames/s | mean ms/frame | p95 ms | max ms "
        "| frames over 33 ms | camera to objects p95 ms | detections | detection age ms | mean IoU | MOTA | IDF1 "
        "| ID switches |",
        "| --- | --- |" + " ---: |" * 14,
        *rows,
        "",
        "ms/frame is the `Tracker.update` call, the time a client waits for that frame's objects; frames/s is",
        "1000 over its mean. Frames over 33 ms hold up a 30 frames/s camera. Camera to objects is the time from",
        "the camera taking a frame to its objects (waiting for the tracker included). Asynchronously the",
        "detector runs on its own thread; a detection lands frames after its own frame (detection age, median),",
        "moved to the frame it lands on by the optical flow of probe points; at most one is in flight, so",
        "detections are fewer when frames come faster than the model. Objects are reported from their second",
        "detection on: fed back to back, the asynchronous tracker processes many frames before that, which",
        "lowers its MOTA and IDF1 there; IoU is over matched objects, MOTA and IDF1 over processed frames.",
        "",
    ])


def run(args: argparse.Namespace, command: str) -> str:
    """Synchronous and asynchronous detection, replayed as fast as it goes and live: the section."""
    load = os.getloadavg()[0]
    frames = list(ShapesPan(args.frames).frames())
    detector = shapes_detector()
    for image, _ in frames[:3]:
        detector.detect(image, CAMERA)  # warm-up
    timed = []
    for image, _ in frames[:: max(1, args.frames // 10)]:
        start = time.perf_counter()
        detector.detect(image, CAMERA)
        timed.append((time.perf_counter() - start) * 1e3)
    results = [
        run_mode(frames, detector, asynchronous, args.detect_every, live)
        for live in (False, True) for asynchronous in (False, True)
    ]
    detector.close()
    for result in results:
        print(result.mode, result.run.ids_given())
    return report(results, args.frames, args.detect_every, statistics.median(timed), command, load)


if __name__ == "__main__":
    raise SystemExit(run_benchmark("bench.async_detection", __doc__, run, *OPTIONS))
