"""Supervision end to end: a fault on the server in a frame, a registration job, `teach` or `place` is logged
and answered with `internal`; the session goes on; ten failed frames in a row close it with code 1011.

Faults come from real components: a detector backend that raises on the frames the test chooses
(tests/faulty_detector.py, loaded with `--plugin` like any backend of one's own), and a store that refuses
or no longer opens what it holds (a trigger, a sealed value altered on disk).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed

from harness.samples import jpeg, sample_camera, sample_jpegs
from harness.servers import Server, start_server, stop_server
from spatial.client import StreamClient
from spatial.protocol import pack_frame
from tests.e2e.test_place import CAMERA_IN_A, MARKER, NOTE_IN_A, new_note, new_space, open_in_space, place, show_marker
from tests.e2e.test_spaces import K
from tests.support import upload_room_map
from vision.scenes import make_room, panorama_poses

FAULTY = ("--plugin", "tests.faulty_detector")
FRAMES = list(sample_jpegs())[:20]
GOOD = FRAMES[0]
ONE_COLOUR = cv2.imencode(".png", np.full((480, 640, 3), 90, np.uint8))[1].tobytes()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("supervision") / "store.db", *FAULTY, detector="faulty")
    yield srv
    stop_server(srv)


async def expect_internal(client: StreamClient, ref: str) -> dict[str, Any]:
    error = await client.next_of("error", "objects", "taught", "placed")
    assert error["type"] == "error" and error["code"] == "internal", error
    assert error["ref"] == ref and "goes on" in error["message"], error
    return error


def test_a_frame_that_fails_is_answered_and_the_session_goes_on(server: Server) -> None:
    async def scenario() -> dict[str, Any]:
        client = await StreamClient.open(server.ws_url, server.token, sample_camera())
        assert (await client.frame(0, GOOD))["type"] == "objects"
        await client.ws.send(pack_frame(1, 0.0, ONE_COLOUR))
        error = await expect_internal(client, "frame:1")
        assert "frame 1" in error["message"] and "InjectedFault" in error["message"]
        reply = await client.frame(2, GOOD)
        assert reply["type"] == "objects" and any(o["id"] == MARKER for o in reply["objects"])
        stats = await client.stats()
        await client.close()
        return stats

    stats = asyncio.run(scenario())
    assert stats["processed"] == 2 and stats["errors"] == 1


def test_ten_failed_frames_in_a_row_close_the_session_with_1011_and_are_logged(tmp_path: Path) -> None:
    server = start_server(tmp_path / "store.db", *FAULTY, detector="faulty")

    async def scenario() -> tuple[int, str, int]:
        client = await StreamClient.open(server.ws_url, server.token, sample_camera())
        frame_id = 0
        for _ in range(9):
            await client.ws.send(pack_frame(frame_id, 0.0, ONE_COLOUR))
            await expect_internal(client, f"frame:{frame_id}")
            frame_id += 1
        assert (await client.frame(frame_id, GOOD))["type"] == "objects", "a frame that works resets the count"
        for _ in range(9):
            frame_id += 1
            await client.ws.send(pack_frame(frame_id, 0.0, ONE_COLOUR))
            await expect_internal(client, f"frame:{frame_id}")
        assert (await client.frame(frame_id + 1, GOOD))["type"] == "objects", "nine in a row leave it open"
        for k in range(10):
            await client.ws.send(pack_frame(frame_id + 2 + k, 0.0, ONE_COLOUR))
            await expect_internal(client, f"frame:{frame_id + 2 + k}")
        with pytest.raises(ConnectionClosed) as closed:
            await client.recv()
        other = await StreamClient.open(server.ws_url, server.token, sample_camera())
        reply = await other.frame(0, GOOD)
        await other.close()
        assert reply["type"] == "objects", "the service and other sessions stay up"
        received = closed.value.rcvd
        assert received is not None
        return received.code, received.reason, len(client.of_type("error"))

    try:
        code, reason, errors = asyncio.run(scenario())
    finally:
        stop_server(server)
    assert code == 1011 and reason == "10 frames in a row failed on the server", reason
    assert errors == 28
    log = server.process.stdout.read()
    assert log.count("Traceback (most recent call last)") == 28, log[-3000:]
    assert "InjectedFault: faulty detector: a frame of one colour (90) fails, as asked" in log


def in_store(server: Server, sql: str, *args: Any) -> None:
    """Change the server's store behind its back, as a failing disk or a tampered file would."""
    with sqlite3.connect(server.store) as db:
        db.execute(sql, args)


def test_a_teach_the_store_refuses_is_answered_and_the_session_goes_on(server: Server) -> None:
    poster = [150, 80, 520, 420]  # most of the (flat, textured) photo in frame 19
    in_store(server, "CREATE TRIGGER full_disk BEFORE INSERT ON signatures BEGIN SELECT RAISE(ABORT, 'disk full'); END")

    async def scenario() -> dict[str, Any]:
        client = await StreamClient.open(server.ws_url, server.token, sample_camera())
        assert (await client.frame(19, FRAMES[19]))["type"] == "objects"
        await client.send_json({"type": "teach", "id": "t1", "frame_id": 19, "box": poster, "label": "espresso"})
        error = await expect_internal(client, "t1")
        assert "the teach message" in error["message"]
        in_store(server, "DROP TRIGGER full_disk")
        await client.send_json({"type": "teach", "id": "t2", "frame_id": 19, "box": poster, "label": "espresso"})
        taught = await client.next_of("taught", "error")
        await client.close()
        return taught

    taught = asyncio.run(scenario())
    assert taught["type"] == "taught" and taught["ref"] == "t2", taught


def test_a_place_the_store_refuses_is_answered_and_the_session_goes_on(server: Server) -> None:
    space_id = new_space(server, "wall with a failing disk")
    block_id = new_note(server, "placed after the disk was replaced")
    in_store(server, "CREATE TRIGGER full_disk BEFORE INSERT ON anchors BEGIN SELECT RAISE(ABORT, 'disk full'); END")

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        client = await open_in_space(server, space_id)
        await show_marker(client, 0, CAMERA_IN_A)
        assert (await client.next_of("relocalised"))["success"] is True
        refused = await place(client, "p1", NOTE_IN_A, block=block_id)
        in_store(server, "DROP TRIGGER full_disk")
        placed = await place(client, "p2", NOTE_IN_A, block=block_id)
        await client.close()
        return refused, placed

    refused, placed = asyncio.run(scenario())
    assert refused["code"] == "internal" and "the place message" in refused["message"], refused
    assert placed["type"] == "placed" and placed["block"] == block_id, placed
    anchors = server.rest().get(f"/v1/spaces/{space_id}/anchors").json()
    assert [a["anchor"]["block_id"] for a in anchors] == [block_id], "the refused place stored nothing"


def test_a_registration_job_on_a_tampered_map_is_answered_and_the_session_goes_on(server: Server) -> None:
    room = make_room(0)
    space_id = upload_room_map(server.rest(), room, "room whose map was tampered with")
    in_store(server, "UPDATE spaces SET points = zeroblob(length(points)) WHERE id = ?", space_id)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        client = await open_in_space(server, space_id)
        for k, pose in enumerate(panorama_poses((0.4, 1.4, 0.3), 4, -20.0, 35.0)[:3]):
            view = room.render(K, pose, 0.001, 100 + k)
            reply = await client.frame(k, jpeg(view.colour, 85), intrinsics=(K.fx, K.fy, K.cx, K.cy),
                                       device_pose=pose, depth=view.depth)
            assert reply["type"] == "objects", reply
        error = await expect_internal(client, "frame:2")
        reply = await client.frame(3, GOOD)
        await client.close()
        return error, reply

    error, reply = asyncio.run(scenario())
    assert "registering the depth views up to frame 2" in error["message"], error
    assert reply["type"] == "objects" and any(o["id"] == MARKER for o in reply["objects"])
