"""detectron2 benchmark: frames/s and latency by model, batch size, precision and compile mode.

Every row runs the same 640x480 synthetic frames (data/make_shapes_dataset.py)
through `Detectron2Model.detect_batch`, the backend's own path: upload (pinned
memory on CUDA), resize on the device, model, mask pasting, copy back. The first
row is always the baseline, eager fp32 at batch 1. `--streams 1,4,8,16` adds
rows for the service's shared queue, with the last precision and compile
setting: N threads, one per stream, each calling `detect` with one frame in
flight, batched by `Detectron2Detector`.

Models: `small`, the project's R18-FPN (data/models/shapes_r18_fpn), at its own
input size unless `--min-size` says otherwise; `r50`, model-zoo Mask R-CNN
R50-FPN with random weights set up to give exactly `--detections` boxes and
masks per frame, as a trained model would (`steady_outputs`).

    python -m bench.detectron2 --model small --batch 1,4 --write            # CPU, into docs/benchmarks.md
    python -m bench.detectron2 --model r50 --min-size 480 --batch 1,8,16,32 \\
        --precision fp32,bf16 --compile none,reduce-overhead --streams 1,4,8,16    # GPU
"""

from __future__ import annotations

import argparse
import itertools
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import machine, option, percentile, run_benchmark, stream_latencies
from scripts.train_detector import load_shapes
from vision import Intrinsics

ROOT = Path(__file__).resolve().parents[1]
SMALL_CONFIG = ROOT / "data" / "models" / "shapes_r18_fpn.yaml"
R50_CONFIG = "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml"
SECTION = "## detectron2: frames per second, {model} model on the {device}, {size}"
WIDTH, HEIGHT = 640, 480
OPTIONS = (
    option("--model", "small", choices=["small", "r50"]),
    option("--device", "auto"),
    option("--batch", "1,4", "batch sizes, comma-separated"),
    option("--precision", "fp32", "fp32, bf16, fp16, comma-separated"),
    option("--compile", "none", help="none, default, reduce-overhead, max-autotune, comma-separated", type=str),
    option("--min-size", 0, help="shortest side the model sees (default: the config's)", type=int),
    option("--detections", 10, "detections per frame for r50"),
    option("--streams", "", help="also measure N concurrent streams through the shared queue, with the last setting; "
                                         "counts comma-separated (e.g. 1,4,8,16)", type=str),
    option("--batch-wait-ms", 5.0, "the queue's latency budget"),
    option("--seconds", 10.0, "measuring time per row"),
    option("--warmup", 3, "batches run before measuring"),
)


@dataclass
class Row:
    label: str
    batch: int
    ms_per_batch: float
    fps: float
    p95_ms: float
    detections: float


def frames(count: int) -> list[np.ndarray]:
    return [scene.image for scene in load_shapes().make_split("val", count, (WIDTH, HEIGHT), seed=3)]


def steady_outputs(model: Any) -> None:
    """Make an untrained R-CNN behave like a trained one: zero box deltas, so proposals become boxes, and class
    logits that give one class (person) a score near 1, so each frame yields `max_detections` boxes and masks
    after the usual NMS, instead of the degenerate few an untrained model gives (or 80 tied classes, whose
    NMS over 80,000 candidates would dominate the timings)."""
    import torch

    predictor = model.roi_heads.box_predictor
    with torch.no_grad():
        for layer in (model.proposal_generator.rpn_head.anchor_deltas, predictor.bbox_pred, predictor.cls_score):
            layer.weight.zero_()
            layer.bias.zero_()
        predictor.cls_score.bias[0] = 10.0


def build(args: argparse.Namespace, precision: str, compile_mode: str, **queue: Any) -> Any:
    from vision.backends.detectron2 import Detectron2Detector

    options: dict[str, Any] = {"device": args.device, "precision": precision,
                               "compile": False if compile_mode == "none" else compile_mode}
    if args.min_size:
        options["min_size"] = args.min_size
    if args.model == "small":
        options.update(config=str(SMALL_CONFIG), score_threshold=0.5)
    else:
        options.update(config=R50_CONFIG, weights="random", score_threshold=0.5, max_detections=args.detections)
    detector = Detectron2Detector(**queue, **options)
    if args.model == "r50":
        steady_outputs(detector.model.model)
    return detector


def synchronize(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_batches(model: Any, images: list[np.ndarray], batch: int, seconds: float, warmup: int) -> tuple[list[float], float]:
    """Seconds per batch of `batch` frames (at least three batches, over about `seconds`), and detections per frame."""
    camera = Intrinsics.from_fov(WIDTH, HEIGHT, 60.0)
    cycle = itertools.cycle(images)

    def one_batch() -> tuple[float, int]:
        chunk = [next(cycle) for _ in range(batch)]
        synchronize(model.device)
        start = time.perf_counter()
        results = model.detect_batch(chunk, [camera] * batch)
        synchronize(model.device)
        return time.perf_counter() - start, sum(len(r) for r in results)

    for _ in range(warmup):
        one_batch()
    times: list[float] = []
    found = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 3:
        elapsed, count = one_batch()
        times.append(elapsed)
        found += count
    return times, found / (len(times) * batch)


def run_streams(detector: Any, images: list[np.ndarray], streams: int, seconds: float) -> list[float]:
    """Per-frame latencies (ms) of `streams` threads, each with one frame in flight."""
    camera = Intrinsics.from_fov(WIDTH, HEIGHT, 60.0)
    return stream_latencies(lambda i: detector.detect(images[i % len(images)], camera), streams, seconds)


def stream_row(args: argparse.Namespace, setting: tuple[str, str], images: list[np.ndarray], streams: int) -> str:
    """The table row for `streams` concurrent streams through the shared queue, batches of up to `streams` frames."""
    precision, compile_mode = setting
    detector = build(args, precision, compile_mode, batch_size=streams, batch_wait_ms=args.batch_wait_ms)
    run_streams(detector, images, streams, min(2.0, args.seconds))
    before = detector.stats()
    latencies = run_streams(detector, images, streams, args.seconds)
    after = detector.stats()
    detector.close()
    mean_batch = (after.frames - before.frames) / max(1, after.batches - before.batches)
    label = f"eager {precision}" if compile_mode == "none" else f"compile {compile_mode} {precision}"
    return (f"| {streams} | {label} | {args.batch_wait_ms:g} ms | {len(latencies) / args.seconds:.1f} | {mean_batch:.1f} | "
            f"{percentile(latencies, 50):.1f} | {percentile(latencies, 95):.1f} |")


def table(rows: list[Row]) -> list[str]:
    base = rows[0].fps
    lines = ["| setting | batch | ms per batch (median) | ms per frame | frames/s | vs baseline | p95 ms | detections/frame |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r.label} | {r.batch} | {r.ms_per_batch:.1f} | {r.ms_per_batch / r.batch:.1f} | {r.fps:.1f} | "
                     f"{r.fps / base:.2f}x | {r.p95_ms:.1f} | {r.detections:.1f} |")
    return lines


def device_name(device: Any) -> str:
    import torch

    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads), torch {torch.__version__}"


def run(args: argparse.Namespace, command: str) -> str:
    """Each setting's batches, then the streams through the shared queue: the section."""
    images = frames(32)
    batches = [int(b) for b in args.batch.split(",")]
    settings = [("fp32", "none")] + [
        (p, c) for p, c in itertools.product(args.precision.split(","), args.compile.split(",")) if (p, c) != ("fp32", "none")
    ]
    rows: list[Row] = []
    device = None
    for precision, compile_mode in settings:
        detector = build(args, precision, compile_mode)
        device = detector.model.device
        for batch in ([1] if not rows else []) + [b for b in batches if rows or b != 1]:
            times, per_frame = run_batches(detector.model, images, batch, args.seconds, args.warmup)
            median = statistics.median(times)
            label = f"eager {precision}" if compile_mode == "none" else f"compile {compile_mode} {precision}"
            rows.append(Row(label, batch, median * 1e3, batch / median, percentile(times, 95) * 1e3, per_frame))
            print(table(rows)[-1], flush=True)
        detector.close()
    stream_lines: list[str] = []
    for streams in [int(n) for n in args.streams.split(",") if n.strip()]:
        stream_lines = stream_lines or [
            "| streams | setting | latency budget | frames/s | mean batch | latency p50 ms | p95 ms |",
            "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        stream_lines.append(stream_row(args, settings[-1], images, streams))
        print(stream_lines[-1], flush=True)

    size = f"shortest side {args.min_size or detector.model.min_size}"
    return "\n".join([
        SECTION.format(model=args.model, device="GPU" if device.type == "cuda" else "CPU", size=size), "",
        f"{machine()}; {device_name(device)}.",
        f"{WIDTH}x{HEIGHT} frames. Command: `{command}`",
        "", *table(rows), "",
        "ms per batch covers upload, resize, model, mask pasting and copying the results back. "
        "Medians are the figures to read: p95 shows interference from other work on the machine.",
        *(["", "Through the service's shared queue, each stream with one frame in flight, batches of up to one "
               "frame per stream (latency includes the wait in the queue):", "", *stream_lines] if stream_lines else []),
    ])


if __name__ == "__main__":
    raise SystemExit(run_benchmark("bench.detectron2", __doc__, run, *OPTIONS))
