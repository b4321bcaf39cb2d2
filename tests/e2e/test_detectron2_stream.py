"""End to end: a real server running the detectron2 backend with the project's checkpoint, over a real WebSocket."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import pytest

from data.make_shapes_dataset import Scene, scene
from harness.ports import free_port
from harness.samples import jpeg
from harness.servers import Server, start_detectron2_server, stop_server
from spatial.client import StreamClient
from vision.boxes import box_iou

CAMERA = {"width": 640, "height": 480, "fov_y_deg": 60.0}
FRAMES = 16
FRAME_INTERVAL_S = 0.1
"""Frames come at a camera's pace: detection runs asynchronously, so objects show from the second detection
on, a few hundred milliseconds into a stream, however fast frames come."""


@pytest.fixture(scope="module")
def d2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_detectron2_server(tmp_path_factory.mktemp("d2") / "store.db")
    yield srv
    stop_server(srv)


def moving(label: str, count: int, photo_name: str) -> list[Scene]:
    """`count` frames of one object sliding to the right over a fixed background."""
    return [scene([(label, (200 + 12 * i, 230), 170)], photo_name=photo_name, seed=0) for i in range(count)]


def test_a_block_pinned_to_a_class_follows_the_detected_clock(d2_server: Server) -> None:
    rest = d2_server.rest()
    block = rest.post("/v1/blocks", json={"kind": "markdown", "title": "Clock", "content": "Wind me on Sundays"}).json()
    anchor = rest.post("/v1/objects/class:clock/anchors", json={"block_id": block["id"]})
    assert anchor.status_code == 201, anchor.text
    frames = moving("clock", FRAMES, "rocket")

    async def scenario() -> tuple[dict, StreamClient]:
        client = await StreamClient.open(d2_server.ws_url, d2_server.token, CAMERA)
        welcome = client.of_type("welcome")[0]
        for index, frame in enumerate(frames):
            reply = await client.frame(index, jpeg(frame.image))
            assert reply["type"] == "objects", reply
            await asyncio.sleep(FRAME_INTERVAL_S)
        await asyncio.sleep(0.2)
        await client.close()
        return welcome, client

    welcome, client = asyncio.run(scenario())
    assert welcome["detector"] == "detectron2"
    objects = client.of_type("objects")
    assert [m["frame_id"] for m in objects] == list(range(FRAMES))
    seen = [(m, frames[m["frame_id"]]) for m in objects if m["objects"]]
    assert len(seen) >= 6, "the tracker reports a detectron2 object from its second detection on"
    ids = set()
    for message, frame in seen:
        [clock] = message["objects"]
        assert clock["class"] == "clock" and clock["backend"] == "detectron2"
        if clock["source"] == "detection":  # between detections the tracker moves the box
            assert box_iou(clock["box"], frame.instances[0].box) > 0.7
        ids.add(clock["id"])
    [clock_id] = ids

    added = [o for m in client.of_type("overlays") for o in m["added"]]
    [overlay] = [o for o in added if o["block_id"] == block["id"]]
    assert overlay["object_id"] == clock_id
    assert overlay["id"] == f"{anchor.json()['id']}@{clock_id}"
    assert any(op.get("text") == "Wind me on Sundays" for op in overlay["content"]["ops"])


def test_concurrent_sessions_share_the_model_and_each_gets_its_own_objects_in_order(d2_server: Server) -> None:
    streams = {"clock": moving("clock", FRAMES, "chelsea"), "stop sign": moving("stop sign", FRAMES, "rocket")}

    async def session(frames: list[Scene]) -> list[dict]:
        client = await StreamClient.open(d2_server.ws_url, d2_server.token, CAMERA)
        for index, frame in enumerate(frames):
            await client.frame(index, jpeg(frame.image))
            await asyncio.sleep(FRAME_INTERVAL_S)
        await client.close()
        return client.of_type("objects")

    async def both() -> list[list[dict]]:
        return await asyncio.gather(*(session(frames) for frames in streams.values()))

    for label, objects in zip(streams, asyncio.run(both())):
        assert [m["frame_id"] for m in objects] == list(range(FRAMES))
        reported = [o["class"] for m in objects for o in m["objects"]]
        assert len(reported) >= 6 and set(reported) == {label}, (label, reported)


def test_a_bad_detectron2_config_stops_the_server_with_a_clear_error(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "spatial.cli", "serve", "--store", str(tmp_path / "store.db"), "--port", str(free_port()),
         "--detector", "detectron2", "--detector-option", "config=COCO-Detection/no_such_model.yaml"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert "unknown detectron2 config 'COCO-Detection/no_such_model.yaml'" in done.stderr
