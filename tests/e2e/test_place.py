"""End to end: devices place and move space anchors over the stream (`place`), through a real server.

Marker 7 of the sample video is a landmark of a space. Two devices look at it
through the same camera picture, each with its own XR reference space: B's
differs from A's by a transform only the test knows. Both relocalise from the
marker; A places a block at a pose in its own frame and moves it, and B must
see it at the same physical place, and moved with its next frame.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from harness.samples import sample_camera, sample_jpegs, sample_truth
from harness.servers import Server
from spatial.client import StreamClient
from tests.e2e.test_spaces import MARKER, matrix, row_major
from vision.poses import invert_pose, make_pose, pose_difference, rotation_about

LANDMARK = make_pose(rotation_about((0, 1, 0), 30), (2.0, 1.4, -2.4))  # marker 7 in the space's frame
CAMERA_IN_A = make_pose(rotation_about((0, 1, 0), 25), (0.4, 1.5, -0.2))  # the camera in A's reference space
B_FROM_A = make_pose(rotation_about((0, 1, 0), -75) @ rotation_about((1, 0, 0), 4), (0.8, 0.1, -1.9))
CAMERA_IN_B = B_FROM_A @ CAMERA_IN_A
MARKER_IN_A = CAMERA_IN_A @ matrix(sample_truth()["frames"][0]["marker_to_camera"])
NOTE_IN_A = MARKER_IN_A @ make_pose(None, (0.15, 0.0, 0.0))  # 15 cm right of the marker, facing like it
MOVED_IN_A = MARKER_IN_A @ make_pose(rotation_about((0, 1, 0), 20), (0.15, 0.1, 0.05))
NO_BLOCK = "blk_0000000000000000"


def new_space(server: Server, name: str, token: str | None = None) -> str:
    rest = server.rest(token)
    space_id = rest.post("/v1/spaces", json={"name": name}).json()["id"]
    put = rest.put(f"/v1/spaces/{space_id}/map", json={"points": "", "landmarks": {MARKER: row_major(LANDMARK)}})
    assert put.status_code == 200, put.text
    return space_id


def new_note(server: Server, text: str, token: str | None = None) -> str:
    created = server.rest(token).post("/v1/blocks", json={"kind": "markdown", "title": text, "content": text})
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def open_in_space(server: Server, space_id: str | None, token: str | None = None) -> StreamClient:
    token = token or server.token
    client = await StreamClient.open(server.ws_url, token, hello=False)
    await client.hello(token, sample_camera(), **({"space": space_id} if space_id else {}))
    return client


async def show_marker(client: StreamClient, frame_id: int, camera_in_device: np.ndarray) -> dict[str, Any]:
    """Send the marker picture seen from `camera_in_device`; its `objects` message."""
    image = next(iter(sample_jpegs()))
    reply = await client.frame(frame_id, image, device_pose=camera_in_device)
    assert reply["type"] == "objects" and any(o["id"] == MARKER for o in reply["objects"]), reply
    return reply


async def overlays_of(client: StreamClient, frame_id: int) -> dict[str, Any]:
    while True:
        message = await client.next_of("overlays")
        if message["frame_id"] == frame_id:
            return message


async def place(client: StreamClient, ref: str, pose: np.ndarray | list[Any], **target: str) -> dict[str, Any]:
    values = row_major(pose) if isinstance(pose, np.ndarray) else pose
    await client.send_json({"type": "place", "id": ref, "pose": values, **target})
    reply = await client.next_of("placed", "error")
    assert reply["ref"] == ref, reply
    return reply


def test_a_block_placed_by_one_device_shows_for_another_at_the_same_place_and_moves(server: Server) -> None:
    space_id = new_space(server, "poster wall, placed from the stream")
    block_id = new_note(server, "placed from A")

    async def scenario() -> dict[str, Any]:
        a, b = await open_in_space(server, space_id), await open_in_space(server, space_id)
        found = {}
        for name, client, camera in (("a", a, CAMERA_IN_A), ("b", b, CAMERA_IN_B)):
            await show_marker(client, 0, camera)
            found[name] = await client.next_of("relocalised")
        placed = await place(a, "p1", NOTE_IN_A, block=block_id)
        await show_marker(b, 1, CAMERA_IN_B)
        seen_b = await overlays_of(b, 1)
        await show_marker(a, 1, CAMERA_IN_A)
        seen_a = await overlays_of(a, 1)
        moved = await place(a, "p2", MOVED_IN_A, anchor=placed["anchor"])
        await show_marker(b, 2, CAMERA_IN_B)
        after_move = await overlays_of(b, 2)
        listed = (await asyncio.to_thread(server.rest().get, f"/v1/spaces/{space_id}/anchors")).json()
        await a.close()
        await b.close()
        return {"found": found, "placed": placed, "seen_a": seen_a, "seen_b": seen_b, "moved": moved,
                "after_move": after_move, "listed": listed}

    out = asyncio.run(scenario())
    a_from_space, b_from_space = (matrix(out["found"][k]["device_from_space"]) for k in ("a", "b"))
    assert all(out["found"][k]["success"] and out["found"][k]["method"] == "markers" for k in ("a", "b")), out["found"]
    distance, angle = pose_difference(b_from_space, B_FROM_A @ a_from_space)
    assert distance < 0.002 and angle < 0.1, "the two devices found the same space (their frames differ by B_FROM_A)"

    placed = out["placed"]
    assert placed["type"] == "placed" and placed["block"] == block_id and placed["space"] == space_id
    assert placed["anchor"].startswith("anc_")
    assert np.allclose(matrix(placed["space_pose"]), invert_pose(a_from_space) @ NOTE_IN_A, atol=1e-4)
    [listed] = [item for item in out["listed"] if item["anchor"]["id"] == placed["anchor"]]
    assert listed["block"]["id"] == block_id and listed["anchor"]["object_id"] == f"space:{space_id}/{placed['anchor']}"

    for seen, device_from_space, truth in ((out["seen_b"], b_from_space, B_FROM_A),
                                           (out["seen_a"], a_from_space, np.eye(4))):
        [overlay] = [o for o in seen["added"] if o["id"] == placed["anchor"]]
        assert overlay["placement"]["frame"] == "device" and overlay["block_id"] == block_id
        in_device = matrix(overlay["placement"]["pose"])
        distance, angle = pose_difference(invert_pose(device_from_space) @ in_device, matrix(placed["space_pose"]))
        assert distance < 0.01 and angle < 0.5, "the same place in the space, through each device's transform"
        distance, angle = pose_difference(invert_pose(truth) @ in_device, NOTE_IN_A)
        assert distance < 0.01 and angle < 0.5, "the same physical place"

    assert out["moved"]["anchor"] == placed["anchor"] and out["moved"]["block"] == block_id
    after_move = out["after_move"]
    assert [o["id"] for o in after_move["updated"]] == [placed["anchor"]], after_move
    assert after_move["added"] == [] and after_move["removed"] == []
    distance, angle = pose_difference(invert_pose(B_FROM_A) @ matrix(after_move["updated"][0]["placement"]["pose"]),
                                      MOVED_IN_A)
    assert distance < 0.01 and angle < 0.5, "B sees it moved with its next frame"


def test_place_errors_are_clear_and_the_connection_stays_usable(server: Server) -> None:
    space_id = new_space(server, "errors")
    mine = new_note(server, "mine")
    stranger = server.new_token("place-stranger")
    theirs = new_note(server, "theirs", stranger)
    their_space = new_space(server, "theirs", stranger)
    their_anchor = server.rest(stranger).post(f"/v1/spaces/{their_space}/anchors",
                                              json={"block_id": theirs, "pose": row_major(np.eye(4))}).json()["id"]
    pinned = server.rest().get(f"/v1/objects/{MARKER}/anchors").json()[0]["anchor"]["id"]  # a demo note on marker 7
    assert server.rest().post(f"/v1/spaces/{space_id}/shares", json={"user": "place-stranger", "role": "read"}).is_success
    rotation_and_scale = row_major(make_pose(None, (0, 0, 1)) @ np.diag([2.0, 1.0, 1.0, 1.0]))

    async def scenario() -> dict[str, dict[str, Any]]:
        outside = await open_in_space(server, None)
        waiting = await open_in_space(server, space_id)
        a = await open_in_space(server, space_id)
        reader = await open_in_space(server, space_id, stranger)
        replies = {
            "no space": await place(outside, "e1", NOTE_IN_A, block=mine),
            "not relocalised": await place(waiting, "e2", NOTE_IN_A, block=mine),
        }
        for client in (a, reader):
            await show_marker(client, 0, CAMERA_IN_A)
            assert (await client.next_of("relocalised"))["success"]
        replies.update({
            "unknown block": await place(a, "e3", NOTE_IN_A, block=NO_BLOCK),
            "their block": await place(a, "e4", NOTE_IN_A, block=theirs),
            "their anchor": await place(a, "e5", NOTE_IN_A, anchor=their_anchor),
            "pinned to an object": await place(a, "e6", NOTE_IN_A, anchor=pinned),
            "not rigid": await place(a, "e7", rotation_and_scale, block=mine),
            "15 numbers": await place(a, "e8", row_major(NOTE_IN_A)[:15], block=mine),
            "block and anchor": await place(a, "e9", NOTE_IN_A, block=mine, anchor=pinned),
            "read-only space": await place(reader, "e10", NOTE_IN_A, block=theirs),
            "afterwards": await place(a, "ok", NOTE_IN_A, block=mine),
        })
        await a.send_json({"type": "stats", "id": "s"})
        stats = await a.next_of("stats")
        await show_marker(a, 1, CAMERA_IN_A)
        replies["overlays"] = await overlays_of(a, 1)
        for client in (outside, waiting, a, reader):
            await client.close()
        replies["stats"] = stats
        return replies

    replies = asyncio.run(scenario())
    expected = {
        "no space": ("not_relocalised", "in no space"),
        "not relocalised": ("not_relocalised", f"not relocalised in space {space_id}"),
        "unknown block": ("not_found", f"no block {NO_BLOCK}"),
        "their block": ("not_found", f"no block {theirs}"),
        "their anchor": ("not_found", f"no anchor {their_anchor}"),
        "pinned to an object": ("bad_place", f"anchor {pinned} is pinned to {MARKER}"),
        "not rigid": ("bad_message", "pose rotation block is not a proper rotation"),
        "15 numbers": ("bad_message", "pose"),
        "block and anchor": ("bad_message", "give one of block"),
        "read-only space": ("forbidden", f"may not do this to space {space_id}"),
    }
    for case, (code, text) in expected.items():
        reply = replies[case]
        assert reply["type"] == "error" and reply["code"] == code and text in reply["message"], (case, reply)
    assert replies["their block"]["message"] == f"no block {theirs}", "another user's block reads as unknown"
    assert server.rest().patch(f"/v1/anchors/{their_anchor}", json={"space_pose": row_major(np.eye(4))}).json() == {
        "error": {"code": "not_found", "message": replies["their anchor"]["message"]}}, "as REST says it"

    assert replies["afterwards"]["type"] == "placed", "the connection stays usable after errors"
    assert replies["stats"]["errors"] == 7, "the errors of session a, counted"
    assert replies["afterwards"]["anchor"] in {o["id"] for o in replies["overlays"]["added"]}
    assert [a["block"]["id"] for a in server.rest().get(f"/v1/spaces/{space_id}/anchors").json()] == [mine]
    assert server.rest(stranger).get(f"/v1/spaces/{their_space}/anchors").json()[0]["anchor"]["space_pose"] == \
        row_major(np.eye(4)), "nothing of theirs was moved"
