"""Detection on a Ray cluster against detection in this process, side by side in one run.

Part 1, the overhead per frame. A local Ray cluster starts in this process;
each backend is deployed on it as `spatial serve --detector-cluster` deploys it
(`vision.backends.ray_serve.RayServeDetector`: the bytes the client sent, a
Ray Serve handle call, decoded and detected in the deployment's replica, the
detections sent back) and is built here as well (the in-process detector,
which is also the fallback). Each frame goes through both in turn, and once
more to Ray as a bare image, encoded as JPEG again (A B C A B C ...), one frame
at a time, as one stream's detections go. The deployment's
batch wait is 0 here (a lone frame does not wait for company), so the
difference is what Ray adds, and that the deployment's replica has one CPU
where this process has all. Frames: the sample video (640x480) for `markers`
and `auto`, the shapes scenes for `detectron2` (the project's small model on
the CPU).

Part 2, batching in the deployment: several streams at once, each with one
frame in flight, through detectron2 behind (a) the batching queue of
vision/batching.py in this process, (b) the same queue inside the Ray
deployment (what ships) and (c) Ray Serve's own `@serve.batch` in an
otherwise identical deployment. The three take turns, twice each.

    python -m bench.ray_detection [--frames 60] [--streams 4] [--seconds 8] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import ray
from ray import serve
from ray.serve.handle import DeploymentHandle

from bench.report import machine, option, percentile, run_benchmark, stream_latencies
from harness.paths import DATA, ROOT
from harness.samples import jpeg, load_data_script, sample_jpegs
from vision import Intrinsics, create_detector
from vision.backends.ray_serve import RayServeDetector
from vision.frames import EncodedFrame, decode_frame, decode_image
from vision.serving import DetectorSpec, Reply, deploy

SECTION = "## Detection on a Ray cluster: overhead per frame, batching in the deployment"
SMALL_MODEL = {"config": str(DATA / "models" / "shapes_r18_fpn.yaml"), "device": "cpu", "score_threshold": 0.5}
WIDTH, HEIGHT = 640, 480
CAMERA = Intrinsics.from_fov(WIDTH, HEIGHT, 60.0)
OPTIONS = (
    option("--frames", 60, "frames per backend in part 1"),
    option("--streams", 4, "streams at once in part 2 (also the batch size)"),
    option("--seconds", 8.0, "seconds per turn in part 2"),
    option("--batch-wait-ms", 10.0, "the batch wait in part 2"),
)


def sample_frames(count: int) -> list[EncodedFrame]:
    """The sample video's frames as the service hands them to its detector: decoded, keeping their JPEG."""
    return [decode_frame(data) for data, _ in zip(sample_jpegs(), range(count))]


def shapes_frames(count: int) -> list[EncodedFrame]:
    """Shapes scenes, as a client would send them (JPEG, quality 90), decoded as the service decodes them."""
    make = load_data_script("make_shapes_dataset")
    return [decode_frame(jpeg(scene.image)) for scene in make.make_split("val", count, (WIDTH, HEIGHT), seed=3)]


def start_ray() -> None:
    """A local Ray cluster in this process; its workers import this checkout (PYTHONPATH), 8 logical CPUs so that
    every deployment here gets one (they take turns on the machine's cores)."""
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False, logging_level="ERROR")


def timed(detect: Callable[[np.ndarray, Intrinsics], Any], image: np.ndarray) -> float:
    start = time.perf_counter()
    detect(image, CAMERA)
    return (time.perf_counter() - start) * 1e3


def overhead_row(backend: str, options: dict[str, Any], frames: list[EncodedFrame]) -> str:
    """One backend, in-process against on Ray (the frame's own bytes, then the bare image encoded again), frame
    by frame in turn: the table row."""
    remote = RayServeDetector("local", backend, options, batch_size=8, batch_wait_ms=0)
    local = remote.local
    bare = [frame.view(np.ndarray) for frame in frames]
    for frame, image in zip(frames[:5], bare):  # warm all up
        local.detect(frame, CAMERA)
        remote.detect(frame, CAMERA)
        remote.detect(image, CAMERA)
    here, there, again = [], [], []
    for frame, image in zip(frames, bare):
        here.append(timed(local.detect, frame))
        there.append(timed(remote.detect, frame))
        again.append(timed(remote.detect, image))
    assert remote.outage() is None, "the deployment did not answer every frame"
    encode = [timed(lambda im, _k: cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, 90]), image) for image in bare]
    close(remote)
    overhead = [b - a for a, b in zip(here, there)]
    saved = [c - b for b, c in zip(there, again)]
    return (f"| {backend} | {len(frames)} | {statistics.median(here):.1f} | {percentile(here, 95):.1f} | "
            f"{statistics.median(there):.1f} | {percentile(there, 95):.1f} | {statistics.median(overhead):.1f} | "
            f"{statistics.median(again):.1f} | {statistics.median(saved):.1f} | {statistics.median(encode):.1f} |")


def close(detector: RayServeDetector) -> None:
    """Close the detector and delete its deployment, so that the next one has the cluster's CPUs."""
    detector.close()
    serve.delete(detector.handle.app_name)


class ServeBatchDeployment:
    """The deployment as it would be with Ray Serve's `@serve.batch` in place of the batching queue:
    detectron2's model, each batch taken by Serve."""

    def __init__(self, options: dict[str, Any], batch_size: int, batch_wait_ms: float) -> None:
        from vision.backends.detectron2 import Detectron2Model

        self.model = Detectron2Model(**options)
        self.detect.set_max_batch_size(batch_size)
        self.detect.set_batch_wait_timeout_s(batch_wait_ms / 1e3)
        self.sizes: Counter[int] = Counter()

    @serve.batch
    async def detect(self, frames: list[bytes], intrinsics: list[Intrinsics]) -> list[Reply]:
        self.sizes[len(frames)] += 1
        images = [decode_image(frame) for frame in frames]
        found = await asyncio.to_thread(self.model.detect_batch, images, intrinsics)
        return [Reply.of(detections) for detections in found]

    def batch_sizes(self) -> Counter[int]:
        return self.sizes


def serve_batch_handle(batch_size: int, batch_wait_ms: float) -> DeploymentHandle:
    deployment = serve.deployment(ServeBatchDeployment, name="detector", max_ongoing_requests=4 * batch_size,
                                  ray_actor_options={"num_cpus": 1})
    return serve.run(deployment.bind(SMALL_MODEL, batch_size, batch_wait_ms), name="bench-serve-batch",
                     route_prefix=None)


def batching_rows(args: argparse.Namespace, images: list[EncodedFrame]) -> list[str]:
    frames = [(image.encoded, image) for image in images]
    size, wait = args.streams, args.batch_wait_ms
    options = {**SMALL_MODEL, "batch_size": size, "batch_wait_ms": wait}
    local = create_detector("detectron2", **options)
    queue_handle = deploy(DetectorSpec("detectron2", options, size, wait))
    batch_handle = serve_batch_handle(size, wait)
    settings = {
        "in this process, batching queue": (lambda jpeg, image: local.detect(image, CAMERA), local.stats),
        "Ray deployment, batching queue (ships)": (
            lambda jpeg, image: queue_handle.detect.remote(jpeg, CAMERA).result(),
            lambda: queue_handle.stats.remote().result().batches),
        "Ray deployment, @serve.batch": (
            lambda jpeg, image: batch_handle.detect.remote(jpeg, CAMERA).result(),
            lambda: batch_handle.batch_sizes.remote().result()),
    }
    latencies: dict[str, list[float]] = {name: [] for name in settings}
    for name, (detect, _) in settings.items():  # warm-up
        stream_latencies(lambda i: detect(*frames[i % len(frames)]), size, 1.0, stride=7)
    before = {name: batches(stats()) for name, (_, stats) in settings.items()}
    for _ in range(2):
        for name, (detect, _) in settings.items():
            latencies[name] += stream_latencies(lambda i: detect(*frames[i % len(frames)]), size, args.seconds, stride=7)
    rows = []
    for name, (_, stats) in settings.items():
        done, count = batches(stats()), before[name]
        mean_batch = (done[0] - count[0]) / max(1, done[1] - count[1])
        found = latencies[name]
        rows.append(f"| {name} | {len(found) / (2 * args.seconds):.1f} | {mean_batch:.1f} | "
                    f"{percentile(found, 50):.1f} | {percentile(found, 95):.1f} |")
    local.close()
    return rows


def batches(stats: Any) -> tuple[int, int]:
    """(frames, batches) from the queue's BatchStats or from @serve.batch's batch sizes."""
    if isinstance(stats, Counter):
        return sum(size * n for size, n in stats.items()), sum(stats.values())
    return stats.frames, stats.batches


def run(args: argparse.Namespace, command: str) -> str:
    """Both parts, on a local Ray cluster started here: the section."""
    started = time.perf_counter()
    start_ray()
    ray_start_s = time.perf_counter() - started
    sample, shapes = sample_frames(args.frames), shapes_frames(args.frames)
    overhead = [
        overhead_row("markers", {}, sample),
        overhead_row("auto", {}, sample),
        overhead_row("detectron2", {**SMALL_MODEL, "batch_size": 8, "batch_wait_ms": 0}, shapes),
    ]
    batching = batching_rows(args, shapes)
    lines = [
        SECTION, "",
        f"{machine()}, load average {os.getloadavg()[0]:.1f} when it ended. "
        f"Command: `{command}`",
        "",
        f"A local Ray cluster in the benchmark's process (started in {ray_start_s:.1f} s); each backend deployed"
        " on it as `--detector-cluster` deploys it, and built in the process too. Every frame went through both,"
        " in turn, one at a time (batch wait 0), and once more to Ray as a bare image. Times in ms, per frame: the"
        " handle call with the bytes the client sent, decoding and detecting in the replica and the detections'"
        " way back are all in \"on Ray\"; \"re-encoding\" is the same with the frame encoded as JPEG first (what"
        " a bare image takes), and what forwarding the bytes saves is the difference, frame by frame. A"
        " replica of the deployment has one CPU, and Ray runs it with `OMP_NUM_THREADS=1`, where the process"
        " here uses both cores: part of what Ray adds to `auto` (MediaPipe) and `detectron2` (torch) is that;"
        " `markers`, single-threaded either way, shows Ray's own cost.",
        "",
        "| backend | frames | in-process p50 | p95 | on Ray p50 | p95 | Ray adds (p50 of differences) |"
        " on Ray, re-encoding p50 | forwarding the bytes saves (p50 of differences) | JPEG encoding alone p50 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *overhead,
        "",
        f"Batching in the deployment: {args.streams} streams at once, each with one frame in flight, detectron2"
        f" (the project's small model, CPU, shortest side 128) with batches of up to {args.streams} frames and a"
        f" {args.batch_wait_ms:g} ms batch wait; the three settings took turns, {args.seconds:g} s each, twice."
        " Latency is a frame's, from handing it over to its detections. The deployment ships with the queue,"
        " which behaves as it does in one process (the budget counts from each frame's arrival, a frame that"
        " fails fails alone); `@serve.batch` is here to compare.",
        "",
        "| setting | frames/s | mean batch | latency p50 ms | p95 ms |",
        "| --- | ---: | ---: | ---: | ---: |",
        *batching,
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(run_benchmark("bench.ray_detection", __doc__, run, *OPTIONS))
