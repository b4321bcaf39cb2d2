"""End to end: the sample video through a real server over a real WebSocket."""

import asyncio
import time

import httpx
import pytest
import yaml

from spatial.asyncapi import asyncapi_yaml
from spatial.protocol import pack_frame

from harness.poses import pose_errors
from harness.samples import sample_camera, sample_jpegs, sample_truth
from spatial.client import StreamClient

MARKER = "marker:aruco/7"
MAX_TRANSLATION_M = 0.01
MAX_ROTATION_DEG = 2.0


def test_demo_overlays_pinned_to_marker_7_follow_the_camera_path(server) -> None:
    truth = sample_truth()["frames"]

    async def scenario() -> StreamClient:
        client = await StreamClient.open(server.ws_url, server.token, sample_camera())
        start = time.monotonic()
        for index, jpeg in enumerate(sample_jpegs()):
            # At the video's 30 frames a second, as a camera sends them (faster would meet the frame-rate limit).
            await asyncio.sleep(max(0.0, start + index / 30 - time.monotonic()))
            reply = await client.frame(index, jpeg)
            assert reply["type"] == "objects", reply
        await client.stats()
        await client.close()
        return client

    client = asyncio.run(scenario())
    objects = client.of_type("objects")
    assert len(objects) == len(truth) == 90
    worst_t = worst_r = 0.0
    for message, expected in zip(objects, truth):
        [marker] = [o for o in message["objects"] if o["id"] == MARKER]
        t_err, r_err = pose_errors(marker["pose"], expected["marker_to_camera"])
        worst_t, worst_r = max(worst_t, t_err), max(worst_r, r_err)
    assert worst_t <= MAX_TRANSLATION_M, f"worst translation error {worst_t * 100:.2f} cm"
    assert worst_r <= MAX_ROTATION_DEG, f"worst rotation error {worst_r:.2f} deg"

    overlay_messages = client.of_type("overlays")
    assert len(overlay_messages) == 1, "the marker stays in view, so its overlays are sent once"
    added = overlay_messages[0]["added"]
    assert {o["object_id"] for o in added} == {MARKER} and len(added) == 2
    texts = " ".join(op["text"] for o in added for op in o["content"]["ops"] if "text" in op)
    assert "Hello from marker 7" in texts and "Kitchen stock" in texts and "coffee beans" in texts
    assert sorted(o["placement"]["slot"] for o in added) == [0, 1]
    assert all(o["hash"].startswith("sha256:") for o in added)

    stats = client.of_type("stats")[-1]
    assert stats["received"] == stats["processed"] == 90 and stats["dropped"] == 0


def test_an_edit_is_sent_as_one_update_and_nothing_else_is_resent(server) -> None:
    frames = list(sample_jpegs())[:12]
    rest = server.rest()
    note = next(b for b in rest.get("/v1/blocks").json() if b["kind"] == "markdown")

    async def scenario() -> StreamClient:
        client = await StreamClient.open(server.ws_url, server.token, sample_camera())
        for index, jpeg in enumerate(frames[:6]):
            await client.frame(index, jpeg)
        patched = await asyncio.to_thread(
            rest.patch, f"/v1/blocks/{note['id']}", json={"content": "Edited while streaming", "version": note["version"]}
        )
        assert patched.status_code == 200, patched.text
        for index, jpeg in enumerate(frames[6:], start=6):
            await client.frame(index, jpeg)
        await asyncio.sleep(0.05)
        await client.close()
        return client

    client = asyncio.run(scenario())
    first, second = client.of_type("overlays")
    assert len(first["added"]) == 2
    assert second["added"] == [] and second["removed"] == []
    [updated] = second["updated"]
    assert updated["block_id"] == note["id"]
    assert updated["hash"] != next(o["hash"] for o in first["added"] if o["block_id"] == note["id"])
    assert any(op.get("text") == "Edited while streaming" for op in updated["content"]["ops"])


def test_latest_frame_wins_when_frames_arrive_faster_than_processing(server) -> None:
    frames = list(sample_jpegs())[:25]  # a burst within the frame-rate limit's allowance

    async def scenario() -> StreamClient:
        client = await StreamClient.open(server.ws_url, server.token, sample_camera())
        for index, jpeg in enumerate(frames):
            await client.ws.send(pack_frame(index, 0.0, jpeg))
        while True:
            message = await client.recv()
            if message["type"] == "objects" and message["frame_id"] == len(frames) - 1:
                break
        await client.stats()
        await client.close()
        return client

    client = asyncio.run(scenario())
    stats = client.of_type("stats")[-1]
    processed_ids = [m["frame_id"] for m in client.of_type("objects")]
    assert stats["received"] == 25 and stats["refused"] == 0
    assert stats["processed"] + stats["dropped"] == 25
    assert len(processed_ids) == stats["processed"]
    assert processed_ids == sorted(processed_ids), "frames are processed in order, older ones only dropped"
    assert processed_ids[-1] == 24, "the newest frame is always processed"


def test_other_users_do_not_get_the_demo_overlays(server) -> None:
    token = server.new_token("stranger")
    jpeg = next(iter(sample_jpegs()))

    async def scenario() -> StreamClient:
        client = await StreamClient.open(server.ws_url, token, sample_camera())
        reply = await client.frame(0, jpeg)
        assert any(o["id"] == MARKER for o in reply["objects"])
        await asyncio.sleep(0.2)
        await client.close()
        return client

    assert asyncio.run(scenario()).of_type("overlays") == []


@pytest.mark.parametrize("quality", [60])
def test_frames_with_header_intrinsics_override_the_session_camera(server, quality: int) -> None:
    truth = sample_truth()
    k = truth["intrinsics"]
    jpeg = next(iter(sample_jpegs(quality)))

    async def scenario() -> tuple[dict, dict]:
        client = await StreamClient.open(server.ws_url, server.token, sample_camera())
        plain = await client.frame(0, jpeg)
        doubled = await client.frame(1, jpeg, intrinsics=(k["fx"] * 2, k["fy"] * 2, k["cx"], k["cy"]))
        await client.close()
        return plain, doubled

    plain, doubled = asyncio.run(scenario())
    z_plain = plain["objects"][0]["pose"][11]
    z_doubled = doubled["objects"][0]["pose"][11]
    assert z_doubled == pytest.approx(2 * z_plain, rel=0.02)


def test_the_server_describes_its_stream_as_asyncapi(server) -> None:
    reply = httpx.get(f"{server.url}/v1/stream/asyncapi.yaml")
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/yaml"
    assert reply.text == asyncapi_yaml()
    document = yaml.safe_load(reply.text)
    assert document["channels"]["stream"]["address"] == "/v1/stream"
    assert "/v1/stream/asyncapi.yaml" in httpx.get(f"{server.url}/openapi.json").json()["paths"]
