"""Real objects through the service: MediaPipe and markers (`auto`), tracking, class pins, teach by example."""

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.samples import sample_camera, sample_jpegs
from harness.servers import Server, start_server, stop_server
from spatial.client import StreamClient

FRAMES = list(sample_jpegs())


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("objects") / "store.db"


@pytest.fixture(scope="module")
def auto_server(store: Path) -> Iterator[Server]:
    srv = start_server(store, detector="auto")
    yield srv
    stop_server(srv)


async def stream(server: Server, frames: range) -> StreamClient:
    client = await StreamClient.open(server.ws_url, server.token, sample_camera())
    for i in frames:
        reply = await client.frame(i, FRAMES[i])
        assert reply["type"] == "objects", reply
    return client


def objects_of(client: StreamClient, **where: str) -> list[dict]:
    return [o for m in client.of_type("objects") for o in m["objects"] if all(o[k] == v for k, v in where.items())]


def test_cup_and_marker_found_tracked_and_pinned_by_class(auto_server: Server) -> None:
    rest = auto_server.rest()
    note = rest.post("/v1/blocks", json={"kind": "markdown", "title": "Every cup", "content": "Rinse me"}).json()
    assert rest.post("/v1/objects/class:cup/anchors", json={"block_id": note["id"]}).status_code == 201

    async def scenario() -> StreamClient:
        client = await stream(auto_server, range(30))
        await asyncio.sleep(0.1)
        await client.close()
        return client

    client = asyncio.run(scenario())
    cups = objects_of(client, **{"class": "cup"})
    assert cups and all(c["backend"] == "mediapipe" for c in cups)
    assert len({c["id"] for c in cups}) == 1, "one cup, one id while it stays in view"
    assert Counter(c["source"] for c in cups).keys() == {"detection", "tracking"}
    markers = objects_of(client, id="marker:aruco/7")
    assert len(markers) == 30 and markers[0]["pose"] is not None

    added = [o for m in client.of_type("overlays") for o in m["added"]]
    [cup_overlay] = [o for o in added if o["block_id"] == note["id"]]
    assert cup_overlay["object_id"] == cups[0]["id"]


def test_teach_an_object_then_recognise_it_in_new_sessions_and_after_restart(store: Path, auto_server: Server) -> None:
    async def teach() -> tuple[StreamClient, dict]:
        client = await stream(auto_server, range(20))
        poster = [150, 80, 520, 420]  # most of the (flat, textured) photo in frame 19
        await client.send_json({"type": "teach", "id": "t1", "frame_id": 19, "box": poster, "label": "espresso"})
        taught = await client.next_of("taught", "error")
        await client.send_json({"type": "teach", "id": "t2", "frame_id": 0, "box": poster})
        unknown = await client.next_of("error")
        await client.send_json({"type": "teach", "id": "t3", "frame_id": 19, "box": [900, 900, 1000, 1000]})
        outside = await client.next_of("error")
        await client.close()
        return taught, unknown, outside

    taught, unknown, outside = asyncio.run(teach())
    assert taught["type"] == "taught" and taught["label"] == "espresso" and taught["ref"] == "t1"
    assert unknown["code"] == "unknown_frame" and unknown["ref"] == "t2"
    assert outside["code"] == "bad_teach" and "outside" in outside["message"]

    async def recognise(server: Server) -> list[dict]:
        client = await stream(server, range(40, 60))
        await client.close()
        return objects_of(client, id=taught["instance_id"])

    seen = asyncio.run(recognise(auto_server))
    assert seen and all(o["class"] == "espresso" for o in seen)
    assert any(o["backend"] == "taught" and o["source"] == "detection" for o in seen)
    assert [t["instance_id"] for t in auto_server.rest().get("/v1/taught").json()] == [taught["instance_id"]]

    stop_server(auto_server)
    restarted = start_server(store, detector="auto")
    try:
        assert asyncio.run(recognise(restarted)), "taught objects survive a restart"
        assert restarted.rest().delete(f"/v1/taught/{taught['instance_id']}").status_code == 204
        assert restarted.rest().get("/v1/taught").json() == []
    finally:
        stop_server(restarted)


def test_rest_teach_rejects_bad_input(tmp_path: Path) -> None:
    server = start_server(tmp_path / "store.db")
    try:
        rest = server.rest()
        not_base64 = rest.post("/v1/taught", json={"image": "%%%", "box": [0, 0, 10, 10]})
        assert not_base64.status_code == 422 and "base64" in not_base64.json()["error"]["message"]
        import base64

        image = base64.b64encode(FRAMES[0]).decode()
        empty = rest.post("/v1/taught", json={"image": image, "box": [10, 10, 10, 10]})
        assert empty.status_code == 422 and empty.json()["error"]["code"] == "bad_request"
        ok = rest.post("/v1/taught", json={"image": image, "box": [150, 80, 520, 420], "label": "poster", "size_m": 0.6})
        assert ok.status_code == 201, ok.text
        assert rest.delete("/v1/taught/nope").status_code == 404
    finally:
        stop_server(server)
