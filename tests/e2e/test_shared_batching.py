"""One detectron2 queue for every stream: frames of several live sessions run as one batch.

The service runs in this process (uvicorn on loopback serving the app `spatial
serve` serves, built from the same settings) so that the test can read the
shared queue's `BatchStats`, which no message carries; the sessions are real
WebSocket clients and the detector the project's real R18 model.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import pytest
import uvicorn

from data.make_shapes_dataset import scene
from harness.paths import DATA
from harness.ports import free_port
from spatial.api import create_app
from spatial.client import StreamClient
from spatial.config import Settings
from spatial.services import Services
from vision import Intrinsics
from vision.batching import BatchingDetector, DetectorClosedError

CAMERA = {"width": 640, "height": 480, "fov_y_deg": 60.0}
STREAMS = {"clock": "chelsea", "stop sign": "rocket", "donut": "rocket"}
"""Each session films one object on its own background."""
FRAMES = 16
FRAME_INTERVAL_S = 0.1
BATCH_WAIT_MS = 150.0


@contextmanager
def running(settings: Settings) -> Iterator[tuple[Services, str, str]]:
    """The service on a free loopback port: its services, stream URL and a token; stopped (and closed) after."""
    services = Services.build(settings)
    token = services.accounts.issue_token(services.accounts.ensure_user("local"), label="test")
    server = uvicorn.Server(uvicorn.Config(
        create_app(services), host="127.0.0.1", port=settings.port, log_level="warning",
        ws_max_size=settings.transport_max_bytes,
    ))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the service did not come up within 30 s"
    try:
        yield services, f"ws://127.0.0.1:{settings.port}/v1/stream", token
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def frames_of(label: str) -> list[bytes]:
    """JPEG frames of one object sliding right over a fixed background."""
    return [
        cv2.imencode(".jpg", scene([(label, (200 + 12 * i, 230), 170)], photo_name=STREAMS[label], seed=0).image,
                     [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
        for i in range(FRAMES)
    ]


async def session(url: str, token: str, frames: list[bytes]) -> list[dict]:
    client = await StreamClient.open(url, token, CAMERA)
    for index, frame in enumerate(frames):
        await client.frame(index, frame)
        await asyncio.sleep(FRAME_INTERVAL_S)
    await client.close()
    return client.of_type("objects")


def test_frames_of_several_sessions_run_as_one_batch_and_each_session_gets_its_own_objects_in_order(
    tmp_path: Path,
) -> None:
    settings = Settings(
        store=tmp_path / "store.db", port=free_port(), detector="detectron2", demo=False,
        detector_options={"config": str(DATA / "models" / "shapes_r18_fpn.yaml"), "score_threshold": 0.8},
        batch_size=len(STREAMS), batch_wait_ms=BATCH_WAIT_MS,
    )
    streams = {label: frames_of(label) for label in STREAMS}
    with running(settings) as (services, url, token):
        detector = services.pipeline.detector
        assert isinstance(detector, BatchingDetector)
        assert (detector.max_batch, detector.max_wait_s) == (len(STREAMS), BATCH_WAIT_MS / 1e3)

        async def all_sessions() -> list[list[dict]]:
            return await asyncio.gather(*(session(url, token, frames) for frames in streams.values()))

        results = dict(zip(streams, asyncio.run(all_sessions())))
        submitted = sum("detect_submit" in m["timing"] for objects in results.values() for m in objects)
        deadline = time.monotonic() + 10
        while detector.stats().frames < submitted and time.monotonic() < deadline:
            time.sleep(0.05)  # the last frames handed over are still waiting for their batch
        stats = detector.stats()
    with pytest.raises(DetectorClosedError):  # the queue closed with the service
        detector.submit(scene([("clock", (320, 240), 170)]).image, Intrinsics.from_fov(640, 480, 60.0))

    for label, objects in results.items():
        assert [m["frame_id"] for m in objects] == list(range(FRAMES)), label
        reported = [o["class"] for m in objects for o in m["objects"]]
        assert len(reported) >= 4 and set(reported) == {label}, (label, reported)
        assert len({o["id"] for m in objects for o in m["objects"]}) == 1, label
        # Detections land frames after their own frame, and no frame waits for one.
        landed = [m["timing"] for m in objects if "detect_age" in m["timing"]]
        assert landed and all(timing["total"] < timing["detect_age"] for timing in landed), landed
    # Every frame a session's tracker handed over went through the one shared queue, and frames of
    # different sessions ran together (a session has at most one frame in flight, so a batch of two or
    # more holds frames of two or more sessions).
    assert stats.frames == submitted
    assert max(stats.batch_sizes) >= 2, stats.batch_sizes
