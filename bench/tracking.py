"""Tracking benchmark: MOTA, IDF1, identity switches and box IoU on generated sequences, with frames/s.

The sequences come from `data/make_sequences.py` (photos that ship with
scikit-image, moved under known camera paths, with occlusions and objects
leaving and re-entering the view). Each sequence runs through a fresh
`vision.tracking.Tracker` around the chosen detector; py-motmetrics scores the
tracks against the ground truth (a match needs IoU >= 0.5).
Run: `python -m bench.tracking [--detector auto] [--detect-every 5] [--write]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import motmetrics as mm
import numpy as np

from bench.report import machine, option, run_benchmark
from harness.samples import load_data_script
from vision import Intrinsics, create_detector
from vision.boxes import iou_matrix
from vision.tracking import Tracker

SECTION = "## Tracking: identities and frames per second"
MIN_IOU = 0.5
METRICS = ["num_frames", "mota", "idf1", "num_switches", "precision", "recall"]
OPTIONS = (
    option("--detector", "auto", "detector backend"),
    option("--detect-every", 5, "frames between detections"),
    option("names", help="sequences to run (default: all)", nargs="*"),
)


def load_make_sequences() -> ModuleType:
    """`data/make_sequences.py`, which renders the tracking sequences and their ground truth."""
    return load_data_script("make_sequences")


@dataclass
class SequenceRun:
    """One sequence through one tracker: the motmetrics accumulator, IoUs of matches and timings."""

    name: str
    accumulator: mm.MOTAccumulator
    frame_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    track_ms: list[float] = field(default_factory=list)
    track_cpu_ms: list[float] = field(default_factory=list)
    detect_ms: list[float] = field(default_factory=list)
    numbers: dict[str, int] = field(default_factory=dict)

    def number(self, object_id: str) -> int:
        """motmetrics wants numeric ids: a number per object id (ground truth and found share no names)."""
        return self.numbers.setdefault(object_id, len(self.numbers) + 1)

    def ids_given(self) -> dict[str, list[str]]:
        """For each ground-truth object, the ids the tracker gave it."""
        names = {n: object_id for object_id, n in self.numbers.items()}
        events = self.accumulator.mot_events
        given: dict[str, set[str]] = {}
        for _, row in events[events["Type"].isin(["MATCH", "SWITCH"])].iterrows():
            given.setdefault(names[int(row["OId"])], set()).add(names[int(row["HId"])])
        return {truth: sorted(ids) for truth, ids in given.items()}

    def mean_iou(self) -> float:
        events = self.accumulator.mot_events
        matches = events[events["Type"] == "MATCH"]
        return float((1.0 - matches["D"]).mean()) if len(matches) else 0.0


def distances(truth_boxes: list[Any], found_boxes: list[Any]) -> np.ndarray:
    """motmetrics distances, 1 - IoU, NaN where IoU < MIN_IOU.

    (motmetrics' own `iou_matrix` calls `np.asfarray`, gone in numpy 2.)
    """
    if not truth_boxes or not found_boxes:
        return np.empty((len(truth_boxes), len(found_boxes)))
    overlaps = iou_matrix(truth_boxes, found_boxes)
    return np.where(overlaps >= MIN_IOU, 1.0 - overlaps, np.nan)


def run_sequence(sequence: Any, tracker: Tracker, intrinsics: Intrinsics) -> SequenceRun:
    """Feed every frame of `sequence` to `tracker`, scoring each against the ground truth."""
    run = SequenceRun(sequence.name, mm.MOTAccumulator(auto_id=True))
    for image, truth in sequence.frames():
        start, cpu = time.perf_counter(), time.process_time()
        found = tracker.update(image, intrinsics)
        run.frame_ms.append((time.perf_counter() - start) * 1e3)
        run.cpu_ms.append((time.process_time() - cpu) * 1e3)
        run.track_ms.append(tracker.timing_ms["track"])
        if "detect" in tracker.timing_ms:
            run.detect_ms.append(tracker.timing_ms["detect"])
        else:
            run.track_cpu_ms.append(run.cpu_ms[-1])
        run.accumulator.update(
            [run.number(t.object_id) for t in truth],
            [run.number(d.object_id) for d in found],
            distances([t.box for t in truth], [d.box for d in found]),
        )
    return run


def run_all(detector: str, detect_every: int, names: list[str] | None = None) -> list[SequenceRun]:
    make_sequences = load_make_sequences()
    intrinsics = Intrinsics(*make_sequences.intrinsics_values(), make_sequences.WIDTH, make_sequences.HEIGHT)
    backend = create_detector(detector)
    backend.detect(make_sequences.sequences(names)[0].frame(0)[0], intrinsics)  # warm-up
    return [
        run_sequence(sequence, Tracker(backend, detect_every=detect_every), intrinsics)
        for sequence in make_sequences.sequences(names)
    ]


def summary(runs: list[SequenceRun]) -> Any:
    """motmetrics' table: one row per sequence and an overall row."""
    return mm.metrics.create().compute_many(
        [r.accumulator for r in runs], metrics=METRICS, names=[r.name for r in runs], generate_overall=True
    )


def run_sequences(args: argparse.Namespace, command: str) -> str:
    """Every sequence (or those named), tracked and scored: the section."""
    load = os.getloadavg()[0]
    runs = run_all(args.detector, args.detect_every, args.names or None)
    for run in runs:
        print(run.name, run.ids_given())
    return report(runs, args.detector, args.detect_every, command, load)


def report(runs: list[SequenceRun], detector: str, detect_every: int, command: str, load: float) -> str:
    table = summary(runs)
    rows = []
    for run in [*runs, None]:
        name = run.name if run else "OVERALL"
        m = table.loc[name]
        chosen = [run] if run else runs
        frames = [v for r in chosen for v in r.frame_ms]
        cpu = [v for r in chosen for v in r.cpu_ms]
        tracks = [v for r in chosen for v in r.track_ms]
        tracks_cpu = [v for r in chosen for v in r.track_cpu_ms]
        ious = statistics.mean(r.mean_iou() for r in chosen)
        rows.append(
            f"| {name} | {int(m['num_frames'])} | {m['mota']:.3f} | {m['idf1']:.3f} | {int(m['num_switches'])} | "
            f"{m['precision']:.3f} | {m['recall']:.3f} | {ious:.3f} | {1e3 * len(frames) / sum(frames):.0f} | "
            f"{np.percentile(frames, 95):.1f} | {statistics.mean(cpu):.1f} | {1e3 / statistics.mean(cpu):.0f} | "
            f"{statistics.mean(tracks):.2f} | {statistics.mean(tracks_cpu):.2f} |"
        )
    detect = [v for r in runs for v in r.detect_ms]
    return "\n".join([
        SECTION,
        "",
        f"Measured {machine()}, `{detector}` detector run every {detect_every} frames (sooner when tracking",
        "confidence drops) by `vision.tracking.Tracker`, 640x480 frames of the sequences from",
        "`data/make_sequences.py`; scored with py-motmetrics, a match needing IoU >= 0.5. The machine's",
        f"load average (shared with other work) was {load:.1f} when the run started.",
        "",
        f"Command: `{command}`",
        "",
        "| sequence | frames | MOTA | IDF1 | ID switches | precision | recall | mean IoU | frames/s | p95 ms "
        "| CPU ms/frame | frames/s by CPU time | tracking ms/frame | tracking CPU ms/frame |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        f"Frames/s is detection plus tracking for one stream, wall clock ({len(detect)} detector runs, "
        f"{statistics.mean(detect):.1f} ms mean each);",
        "p95 ms is the slowest 5% of frames (those the detector runs on). CPU ms/frame is the process's CPU time",
        "per frame, all threads, which other work on the machine inflates less than wall time; frames/s by CPU",
        "time (1000 / CPU ms) is then what one otherwise idle core sustains, a lower bound as MediaPipe may use",
        "both cores. Tracking ms/frame (wall clock) is the optical-flow step that moves every object on every",
        "frame; tracking CPU ms/frame is the whole CPU time of the frames the detector skipped. `reentry` has",
        "objects leave and come back, `two_cups` two cups side by side, `occlusion` a board sliding over them;",
        "ID switches count every change of the id given to one ground-truth object.",
        "",
    ])


if __name__ == "__main__":
    raise SystemExit(run_benchmark("bench.tracking", __doc__, run_sequences, *OPTIONS))
