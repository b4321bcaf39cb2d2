"""One inference queue for every stream: frames from all sessions, run in batches.

`BatchingDetector` puts every frame it is given, from any thread, into one
shared queue; a single inference thread takes up to `max_batch` frames, or
what has arrived `max_wait_ms` after the oldest waiting frame, whichever comes
first, runs them as one batch and hands each caller its own result.
`submit` queues a frame and returns a future of its detections without waiting
for them; `detect` waits. The service's trackers (`vision.tracking.Tracker`)
submit their streams' due frames and keep tracking while the batch runs.

A frame never waits for other sessions longer than the latency budget: the
budget starts when the frame arrives, so a frame that queued while a batch was
running leaves with the next batch at once. The queue is bounded: with
`max_pending` frames waiting, a caller blocks until there is room. Each
stream's tracker has at most one frame in flight and skips the frames that
fall due meanwhile, and each session keeps only its latest frame waiting
(`spatial.session.LatestFrame`), so a stream that sends faster than the model
runs is thinned there rather than queued here.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from vision.camera import Intrinsics
from vision.detection import Detection, DetectorConfigError, Detector


@runtime_checkable
class BatchDetector(Protocol):
    """A detector that runs several images in one call."""

    name: str

    def detect_batch(self, images: Sequence[np.ndarray], intrinsics: Sequence[Intrinsics]) -> list[list[Detection]]:
        """The detections of each image, in the order given."""


@runtime_checkable
class QueuedDetector(Protocol):
    """A detector that takes frames without waiting for their detections (a tracker runs it asynchronously)."""

    name: str

    def submit(self, image: np.ndarray, intrinsics: Intrinsics) -> Future[list[Detection]]:
        """Queue one frame; the future holds its detections."""


class OneByOne:
    """Runs a detector without a batched entry point one image at a time, so any backend can share the queue."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.name = detector.name

    def detect_batch(self, images: Sequence[np.ndarray], intrinsics: Sequence[Intrinsics]) -> list[list[Detection]]:
        return [self.detector.detect(image, k) for image, k in zip(images, intrinsics)]


class DetectorClosedError(RuntimeError):
    """The batching detector was closed; no more frames are taken."""


@dataclass
class BatchStats:
    """What the queue has done so far."""

    batches: int = 0
    frames: int = 0
    batch_sizes: Counter[int] = field(default_factory=Counter)
    most_pending: int = 0
    """The most frames that were waiting at once."""
    longest_wait_ms: float = 0.0
    """The longest a frame waited between arriving and its batch starting."""


@dataclass
class _Request:
    image: np.ndarray
    intrinsics: Intrinsics
    arrived: float
    result: Future[list[Detection]] = field(default_factory=Future)


class BatchingDetector(Detector):
    """A detector shared by all sessions that merges their concurrent frames into batches."""

    def __init__(
        self,
        inner: BatchDetector | Detector,
        max_batch: int = 8,
        max_wait_ms: float = 10.0,
        max_pending: int | None = None,
    ) -> None:
        max_pending = 4 * max_batch if max_pending is None else max_pending
        if max_batch < 1:
            raise DetectorConfigError(f"batch size must be at least 1, got {max_batch}")
        if max_wait_ms < 0:
            raise DetectorConfigError(f"batch wait must be 0 ms or more, got {max_wait_ms}")
        if max_pending < max_batch:
            raise DetectorConfigError(f"max_pending ({max_pending}) must be at least the batch size ({max_batch})")
        self.inner: BatchDetector = inner if isinstance(inner, BatchDetector) else OneByOne(inner)
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1e3
        self.max_pending = max_pending
        self._pending: deque[_Request] = deque()
        self._changed = threading.Condition()
        self._closed = False
        self._stats = BatchStats()
        self._thread = threading.Thread(target=self._serve, name=f"{self.inner.name}-batches", daemon=True)
        self._thread.start()

    def detect(self, image: np.ndarray, intrinsics: Intrinsics) -> list[Detection]:
        return self.submit(image, intrinsics).result()

    def detect_batch(self, images: Sequence[np.ndarray], intrinsics: Sequence[Intrinsics]) -> list[list[Detection]]:
        futures = [self.submit(image, k) for image, k in zip(images, intrinsics)]
        return [f.result() for f in futures]

    def submit(self, image: np.ndarray, intrinsics: Intrinsics) -> Future[list[Detection]]:
        """Queue one frame; blocks while the queue is full. The future holds its detections."""
        with self._changed:
            while len(self._pending) >= self.max_pending and not self._closed:
                self._changed.wait()
            if self._closed:
                raise DetectorClosedError(f"the {self.inner.name} detector is closed")
            request = _Request(image, intrinsics, time.monotonic())
            self._pending.append(request)
            self._stats.most_pending = max(self._stats.most_pending, len(self._pending))
            self._changed.notify_all()
        return request.result

    def stats(self) -> BatchStats:
        with self._changed:
            return BatchStats(self._stats.batches, self._stats.frames, Counter(self._stats.batch_sizes),
                              self._stats.most_pending, self._stats.longest_wait_ms)

    def close(self) -> None:
        """Stop taking frames; frames still waiting fail with DetectorClosedError."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join()

    def _next_batch(self) -> list[_Request] | None:
        with self._changed:
            while not self._pending and not self._closed:
                self._changed.wait()
            if self._closed:
                for request in self._pending:
                    request.result.set_exception(DetectorClosedError(f"the {self.inner.name} detector was closed"))
                self._pending.clear()
                return None
            deadline = self._pending[0].arrived + self.max_wait_s
            while len(self._pending) < self.max_batch and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            batch = [self._pending.popleft() for _ in range(min(self.max_batch, len(self._pending)))]
            now = time.monotonic()
            self._stats.batches += 1
            self._stats.frames += len(batch)
            self._stats.batch_sizes[len(batch)] += 1
            self._stats.longest_wait_ms = max(self._stats.longest_wait_ms, (now - batch[0].arrived) * 1e3)
            self._changed.notify_all()
            return batch

    def _serve(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._run(batch)

    def _run(self, batch: list[_Request]) -> None:
        try:
            results = self.inner.detect_batch([r.image for r in batch], [r.intrinsics for r in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{self.inner.name} returned {len(results)} results for {len(batch)} images")
        except Exception as exc:  # noqa: BLE001  (handed to the caller whose frame failed)
            if len(batch) == 1:
                batch[0].result.set_exception(exc)
                return
            for request in batch:  # find the frame that failed; the others still get their results
                self._run([request])
            return
        for request, detections in zip(batch, results):
            request.result.set_result(detections)
