"""Every bad input gets a clear error; the connection stays usable and stored data intact."""

import asyncio
import json
import struct

import cv2
import numpy as np
import pytest
from websockets.asyncio.client import connect

from harness.samples import sample_camera, sample_jpegs
from spatial.client import StreamClient, StreamError
from spatial.protocol import pack_frame

MARKER = "marker:aruco/7"


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return next(iter(sample_jpegs()))


def stored_blocks(server) -> list[dict]:
    return sorted(server.rest().get("/v1/blocks").json(), key=lambda b: b["id"])


async def expect_error(client: StreamClient, code: str, ref: str | None = None) -> dict:
    error = await client.next_of("error", "objects", "welcome")
    assert error["type"] == "error" and error["code"] == code, error
    assert error["message"] and len(error["message"]) > 10
    if ref is not None:
        assert error["ref"] == ref
    return error


async def still_works(client: StreamClient, jpeg: bytes, frame_id: int) -> None:
    reply = await client.frame(frame_id, jpeg)
    assert reply["type"] == "objects" and any(o["id"] == MARKER for o in reply["objects"])


BAD_FRAMES = {
    "corrupt_jpeg": (lambda jpeg: pack_frame(5, 0.0, jpeg[: len(jpeg) // 3]), "bad_image", "frame:5"),
    "not_an_image": (lambda jpeg: pack_frame(6, 0.0, b"hello world"), "bad_image", "frame:6"),
    "truncated_header": (lambda jpeg: b"SPF1\x00\x00", "bad_header", None),
    "wrong_magic": (lambda jpeg: b"XXXX" + pack_frame(7, 0.0, jpeg)[4:], "bad_header", None),
    "flags_promise_more": (lambda jpeg: struct.pack("<4sB3xId", b"SPF1", 3, 8, 0.0) + b"\x00" * 30, "bad_header", "frame:8"),
    "oversized": (lambda jpeg: pack_frame(9, 0.0, jpeg + bytes(3 * 1024 * 1024)), "too_large", "frame:9"),
}


@pytest.mark.parametrize("name", list(BAD_FRAMES))
def test_bad_frames(server, jpeg: bytes, name: str) -> None:
    build, code, ref = BAD_FRAMES[name]
    before = stored_blocks(server)

    async def scenario() -> None:
        client = await StreamClient.open(server.ws_url, server.token, sample_camera())
        await client.ws.send(build(jpeg))
        await expect_error(client, code, ref)
        await still_works(client, jpeg, 100)
        await client.close()

    asyncio.run(scenario())
    assert stored_blocks(server) == before


BAD_TEXT = {
    "not_json": ("{oops", "bad_json"),
    "unknown_type": (json.dumps({"type": "teleport", "id": "t1"}), "unknown_type"),
    "wrong_field_type": (json.dumps({"type": "hello", "protocol": "one"}), "bad_message"),
    "wrong_version": (json.dumps({"type": "hello", "protocol": 99, "token": "x", "id": "h9"}), "unsupported_version"),
    "missing_token": (json.dumps({"type": "hello", "protocol": 1}), "unauthorized"),
    "wrong_token": (json.dumps({"type": "hello", "protocol": 1, "token": "not-a-real-token"}), "unauthorized"),
    "oversized_text": (json.dumps({"type": "stats", "pad": "x" * 70_000}), "too_large"),
}


@pytest.mark.parametrize("name", list(BAD_TEXT))
def test_bad_text_messages(server, jpeg: bytes, name: str) -> None:
    text, code = BAD_TEXT[name]

    async def scenario() -> None:
        client = await StreamClient.open(server.ws_url, server.token, sample_camera())
        await client.ws.send(text)
        await expect_error(client, code)
        await still_works(client, jpeg, 1)
        await client.close()

    asyncio.run(scenario())


def test_frame_before_hello_then_hello_recovers(server, jpeg: bytes) -> None:
    async def scenario() -> None:
        client = StreamClient(await connect(server.ws_url))
        await client.ws.send(pack_frame(3, 0.0, jpeg))
        await expect_error(client, "not_ready", "frame:3")
        with pytest.raises(StreamError, match="unauthorized"):
            await client.hello("wrong", sample_camera())
        await client.ws.send(pack_frame(4, 0.0, jpeg))
        await expect_error(client, "not_ready", "frame:4")
        welcome = await client.hello(server.token, sample_camera(), id="h2")
        assert welcome["ref"] == "h2"
        await still_works(client, jpeg, 5)
        stats = await client.stats()
        assert stats["errors"] == 3 and stats["received"] == 3 and stats["processed"] == 1
        await client.close()

    asyncio.run(scenario())


def test_an_image_of_too_many_pixels_is_refused_naming_the_limit(server, jpeg: bytes) -> None:
    """A 4100 x 4100 PNG of one colour is 50 KB, within the frame-size limit; its 16.8 million pixels are not."""
    huge = cv2.imencode(".png", np.zeros((4100, 4100, 3), np.uint8))[1].tobytes()

    async def scenario() -> tuple[dict, dict]:
        client = await StreamClient.open(server.ws_url, server.token, hello=False)
        welcome = await client.hello(server.token, sample_camera())
        await client.ws.send(pack_frame(11, 0.0, huge))
        error = await expect_error(client, "too_large", "frame:11")
        await still_works(client, jpeg, 12)
        await client.close()
        return welcome, error

    welcome, error = asyncio.run(scenario())
    assert len(huge) < welcome["limits"]["max_frame_bytes"]
    assert welcome["limits"]["max_image_pixels"] == 4096 * 4096
    assert error["message"] == "image is 4100x4100 pixels (16,810,000), over the limit of 16,777,216 pixels"


def test_rest_unknown_ids_and_wrong_shapes(server) -> None:
    before = stored_blocks(server)
    rest = server.rest()
    missing = rest.get("/v1/blocks/blk_doesnotexist")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert "blk_doesnotexist" in missing.json()["error"]["message"]

    attach = rest.post("/v1/objects/marker:aruco/7/anchors", json={"block_id": "blk_nope"})
    assert attach.status_code == 404

    wrong = rest.post("/v1/blocks", json={"kind": "table", "title": "t", "content": {"columns": ["a"], "rows": [[1, 2]]}})
    assert wrong.status_code == 422 and "row 0" in wrong.json()["error"]["message"]

    bad_kind = rest.post("/v1/blocks", json={"kind": "spreadsheet", "content": "x"})
    assert bad_kind.status_code == 422 and "kind" in bad_kind.json()["error"]["message"]

    note = next(b for b in before if b["kind"] == "markdown")
    wrong_edit = rest.patch(f"/v1/blocks/{note['id']}", json={"content": {"a": 1}})
    assert wrong_edit.status_code == 422 and "string" in wrong_edit.json()["error"]["message"]

    not_json = rest.post("/v1/blocks", content=b"{nope", headers={"content-type": "application/json"})
    assert not_json.status_code == 422

    assert stored_blocks(server) == before


def test_rest_requires_a_valid_token(server) -> None:
    assert server.rest(token="").get("/v1/blocks").status_code == 401
    wrong = server.rest(token="forged").get("/v1/blocks")
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
