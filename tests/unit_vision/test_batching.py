"""The shared batching queue, with real detectors: ArUco markers (fast, exact) and the project's detectron2 model."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from data.make_shapes_dataset import scene
from harness.paths import DATA
from vision import Intrinsics, create_detector
from vision.backends.markers import MarkerDetector
from vision.batching import BatchingDetector, DetectorClosedError
from vision.detection import DetectorConfigError

CAMERA = Intrinsics.from_fov(320, 240, 60.0)


def marker_image(marker_id: int) -> np.ndarray:
    """A 320x240 white image with one ArUco 4x4_50 marker."""
    image = np.full((240, 320, 3), 255, np.uint8)
    marker = cv2.aruco.generateImageMarker(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50), marker_id, 120)
    image[60:180, 100:220] = marker[:, :, None]
    return image


def marker_ids(detections) -> list[str]:
    return [d.object_id for d in detections]


def test_each_session_gets_its_own_results_in_order() -> None:
    batcher = BatchingDetector(MarkerDetector(families=("aruco",)), max_batch=4, max_wait_ms=20)
    images = {i: marker_image(i) for i in range(30)}

    def session(first: int) -> list[list[str]]:
        return [marker_ids(batcher.detect(images[first + j], CAMERA)) for j in range(10)]

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(session, (0, 10, 20)))
    batcher.close()
    for first, got in zip((0, 10, 20), results):
        assert got == [[f"marker:aruco/{first + j}"] for j in range(10)]
    stats = batcher.stats()
    assert stats.frames == 30
    assert max(stats.batch_sizes) > 1, f"concurrent frames were never merged: {stats.batch_sizes}"


def test_concurrent_frames_run_as_one_detectron2_batch_and_are_routed_back() -> None:
    detector = create_detector("detectron2", config=str(DATA / "models" / "shapes_r18_fpn.yaml"), device="cpu",
                               batch_size=4, batch_wait_ms=500)
    labels = ["clock", "stop sign", "donut", "kite"]
    scenes = {label: scene([(label, (64, 64), 60)], size=(128, 128), seed=i) for i, label in enumerate(labels)}
    camera = Intrinsics.from_fov(128, 128, 60.0)
    start = threading.Barrier(len(labels))

    def session(label: str) -> list[str]:
        start.wait()
        return [d.label for d in detector.detect(scenes[label].image, camera)]

    with ThreadPoolExecutor(len(labels)) as pool:
        found = dict(zip(labels, pool.map(session, labels)))
    detector.close()
    for label in labels:
        assert found[label][:1] == [label], found
    assert detector.stats().batch_sizes == {4: 1}


def test_a_lone_frame_waits_for_the_budget_and_a_full_batch_leaves_at_once() -> None:
    batcher = BatchingDetector(MarkerDetector(), max_batch=2, max_wait_ms=1000)
    image = marker_image(3)
    start = time.monotonic()
    batcher.detect(image, CAMERA)
    alone = time.monotonic() - start
    assert 0.95 <= alone < 2.5, f"a lone frame should wait the 1 s budget, took {alone * 1e3:.0f} ms"

    with ThreadPoolExecutor(2) as pool:
        start = time.monotonic()
        list(pool.map(lambda _: batcher.detect(image, CAMERA), range(2)))
        together = time.monotonic() - start
    batcher.close()
    assert together < 0.5, f"a full batch should not wait for the budget, took {together * 1e3:.0f} ms"


def test_a_slow_session_does_not_delay_others_past_the_budget() -> None:
    budget_s = 0.05
    batcher = BatchingDetector(MarkerDetector(), max_batch=4, max_wait_ms=budget_s * 1e3)
    fast_latencies: list[float] = []

    def slow_session() -> None:
        for _ in range(2):
            batcher.detect(marker_image(1), CAMERA)
            time.sleep(1.0)

    def fast_session() -> None:
        for _ in range(15):
            start = time.monotonic()
            assert marker_ids(batcher.detect(marker_image(2), CAMERA)) == ["marker:aruco/2"]
            fast_latencies.append(time.monotonic() - start)

    slow = threading.Thread(target=slow_session)
    slow.start()
    fast_session()
    slow.join()
    batcher.close()
    assert max(fast_latencies) < budget_s + 0.4, f"slowest fast frame {max(fast_latencies) * 1e3:.0f} ms"
    assert batcher.stats().longest_wait_ms < budget_s * 1e3 + 150


def test_the_queue_is_bounded_and_callers_wait_for_room() -> None:
    batcher = BatchingDetector(MarkerDetector(), max_batch=1, max_wait_ms=0, max_pending=2)
    big = cv2.resize(marker_image(5), (1920, 1440))

    def session(_: int) -> list[list[str]]:
        return [marker_ids(batcher.detect(big, CAMERA)) for _ in range(3)]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(session, range(8)))
    batcher.close()
    assert all(r == [["marker:aruco/5"]] * 3 for r in results)
    assert batcher.stats().most_pending == 2


def test_a_failing_frame_fails_only_its_own_caller() -> None:
    batcher = BatchingDetector(MarkerDetector(), max_batch=2, max_wait_ms=2000)
    broken = np.zeros((240, 320, 7), np.uint8)
    with ThreadPoolExecutor(2) as pool:
        good = pool.submit(batcher.detect, marker_image(4), CAMERA)
        bad = pool.submit(batcher.detect, broken, CAMERA)
        assert marker_ids(good.result(timeout=10)) == ["marker:aruco/4"]
        with pytest.raises(cv2.error):
            bad.result(timeout=10)
    assert batcher.stats().batch_sizes[2] == 1
    batcher.close()


def test_a_closed_queue_refuses_frames() -> None:
    batcher = BatchingDetector(MarkerDetector())
    batcher.close()
    with pytest.raises(DetectorClosedError):
        batcher.detect(marker_image(1), CAMERA)


@pytest.mark.parametrize("options", [{"max_batch": 0}, {"max_wait_ms": -1}, {"max_batch": 4, "max_pending": 2}])
def test_bad_queue_settings_are_refused(options: dict) -> None:
    with pytest.raises(DetectorConfigError):
        BatchingDetector(MarkerDetector(), **options)
