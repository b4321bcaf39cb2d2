"""Asynchronous detection in the tracker, with the project's real detectron2 model as the slow detector.

The camera pans and zooms over drawn shapes with exact ground truth
(`bench.async_detection.ShapesPan`); the model takes tens of milliseconds a
frame on this CPU, the tracker a few.
"""

from __future__ import annotations

import statistics
import time

from concurrent.futures import Future

import cv2
import numpy as np
import pytest

from bench.async_detection import CAMERA, ShapesPan, shapes_detector
from bench.report import percentile
from vision import Detection, create_detector
from vision.boxes import box_iou
from vision.tracking import PendingDetection, Tracker, moved_detection


@pytest.fixture(scope="module")
def detector():
    detector = shapes_detector()
    detector.detect(ShapesPan(1).frame(0)[0], CAMERA)  # the first run is slower: allocations
    yield detector
    detector.close()


def test_a_slow_detector_never_holds_up_a_frame_and_objects_keep_their_ids_and_boxes(detector) -> None:
    """A 60 frames/s camera sweeping fast (11 pixels a frame at most): objects move while each detection runs."""
    sequence = ShapesPan(100, period=50)
    tracker = Tracker(detector)
    assert tracker.asynchronous
    batched_before = detector.stats().frames
    update_ms, events, ious, landed_ious, truths = [], [], [], [], []
    ids: dict[str, set[str]] = {}
    all_seen_from = None
    began = time.perf_counter()
    for index, (image, truth) in enumerate(sequence.frames()):
        time.sleep(max(0.0, began + index / 60 - time.perf_counter()))
        start = time.perf_counter()
        found = tracker.update(image, CAMERA)
        update_ms.append((time.perf_counter() - start) * 1e3)
        if "detect_age" in tracker.timing_ms:
            events.append(("land", index, tracker.timing_ms["detect_age"]))
        if "detect_submit" in tracker.timing_ms:
            events.append(("submit", index, 0.0))
        truth_boxes = {t.label: t.box for t in truth}
        truths.append(truth_boxes)
        assert {d.label for d in found} <= set(truth_boxes), [d.label for d in found]
        for d in found:
            ids.setdefault(d.label, set()).add(d.object_id)
            overlap = box_iou(d.box, truth_boxes[d.label])
            ious.append(overlap)
            if d.source == "detection":
                landed_ious.append(overlap)
        if all_seen_from is None and len(found) == len(truth):
            all_seen_from = index
        elif all_seen_from is not None:
            assert len(found) == len(truth), f"frame {index}: {[d.label for d in found]}"

    # One detection in flight at a time: submissions and landings alternate, one batched frame per submission.
    kinds = [kind for kind, _, _ in events]
    assert kinds[::2] == ["submit"] * len(kinds[::2]) and set(kinds[1::2]) <= {"land"}, kinds
    landings = [(event, submitted) for event, submitted in zip(events[1::2], events[::2])]
    assert len(landings) >= 3
    batched = detector.stats().frames - batched_before  # the last frame handed over may still wait for its batch
    assert kinds.count("submit") - 1 <= batched <= kinds.count("submit")
    # Tracking went on while each detection ran: every one landed frames later, and no frame waited for it.
    assert min(land[1] - submit[1] for land, submit in landings) >= 2, landings
    ages = [land[2] for land, _ in landings]
    assert percentile(update_ms, 90) < min(ages) / 2, (percentile(update_ms, 90), ages)

    assert all_seen_from is not None and all_seen_from <= 60, "objects are reported from their second detection on"
    assert set(ids) == {"clock", "stop sign", "donut"} and all(len(v) == 1 for v in ids.values()), ids
    # Detections are brought up to the frame they land on: boxes stay on their objects then and in between,
    # though objects moved while detections ran (a box left where it was found would have missed).
    moved_while_running = min(
        box_iou(truths[submit[1]][label], truths[land[1]][label])
        for land, submit in landings for label in truths[0]
    )
    assert moved_while_running < 0.7, moved_while_running
    assert landed_ious and min(landed_ious) >= 0.75, sorted(landed_ious)[:5]
    assert min(ious) >= 0.75 and statistics.mean(ious) >= 0.85, (min(ious), statistics.mean(ious))


def test_a_new_resolution_drops_the_detection_in_flight(detector) -> None:
    sequence = ShapesPan(2)
    tracker = Tracker(detector)
    tracker.update(sequence.frame(0)[0], CAMERA)
    assert "detect_submit" in tracker.timing_ms
    small, camera = cv2.resize(sequence.frame(1)[0], (320, 240)), CAMERA.scaled_to(320, 240)
    changed = time.perf_counter()
    tracker.update(small, camera)
    assert "detect_submit" in tracker.timing_ms, "with the old detection dropped, a new one goes out at once"
    landed = None
    while landed is None and time.perf_counter() - changed < 10:
        tracker.update(small, camera)
        if "detect_age" in tracker.timing_ms:
            landed = tracker.timing_ms["detect_age"], (time.perf_counter() - changed) * 1e3
        time.sleep(0.01)
    assert landed is not None
    age, since_change = landed
    assert age <= since_change, "the first detection to land is one of the new frames"


def test_detectors_without_a_queue_run_synchronously_as_before() -> None:
    markers = create_detector("markers")
    assert not Tracker(markers).asynchronous
    with pytest.raises(ValueError, match="asynchronously"):
        Tracker(markers, asynchronous=True)


def test_a_detection_moves_with_the_probes_inside_its_box_else_with_the_camera() -> None:
    grid = np.stack(np.meshgrid(np.arange(20, 640, 40), np.arange(20, 480, 40)), -1).reshape(-1, 2).astype(np.float32)
    in_box = (grid[:, 0] > 100) & (grid[:, 0] < 300) & (grid[:, 1] > 100) & (grid[:, 1] < 300)
    now = grid + (10, 5)  # the camera moved...
    now[in_box] = grid[in_box] + (40, -20)  # ...and the object in the box moved farther
    pending = PendingDetection(Future(), 0.0, grid, now)
    assert np.allclose(pending.motion_of(np.array([100.0, 100.0, 300.0, 300.0])), [[1, 0, 40], [0, 1, -20]], atol=1e-3)
    assert np.allclose(pending.motion_of(np.array([400.0, 300.0, 430.0, 330.0])), [[1, 0, 10], [0, 1, 5]], atol=1e-3)
    assert PendingDetection(Future(), 0.0, grid[:3], now[:3]).motion_of(np.array([0.0, 0.0, 640.0, 480.0])) is None


def test_a_moved_detection_keeps_box_mask_corners_and_pose_together() -> None:
    mask = np.zeros((480, 640), bool)
    mask[100:200, 100:300] = True
    pose = np.eye(4)
    pose[:3, 3] = [0.0, 0.0, 2.0]
    detection = Detection("detectron2:clock/0", "clock", 0.9, (100.0, 100.0, 300.0, 200.0), "detectron2",
                          pose=pose, corners=np.float32([[100, 100], [300, 100], [300, 200], [100, 200]]), mask=mask)
    moved = moved_detection(detection, np.array([[1.0, 0.0, 30.0], [0.0, 1.0, 40.0]]), CAMERA)
    assert moved.box == (130.0, 140.0, 330.0, 240.0)
    ys, xs = np.nonzero(moved.mask)
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (130, 140, 330, 240)
    assert np.allclose(moved.corners, detection.corners + (30, 40))
    assert np.allclose(moved.pose[:3, 3], [30 / CAMERA.fx * 2.0, 40 / CAMERA.fy * 2.0, 2.0])
    assert (moved.object_id, moved.label, moved.score) == (detection.object_id, "clock", 0.9)
