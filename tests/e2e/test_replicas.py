"""Two `spatial serve` replicas on one PostgreSQL database agree: what is written through one is what a
viewer on the other sees, with that viewer's next frame; neither start revokes the other's tokens."""

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.postgres import PostgresServer
from harness.samples import sample_camera, sample_jpegs
from harness.servers import Server, start_server, stop_server
from spatial.client import StreamClient

MARKER = "marker:aruco/7"
pytestmark = pytest.mark.timeout(180)


@dataclass
class Replicas:
    a: Server
    b: Server

    def token(self, user: str) -> str:
        return self.a.new_token(user)


def start_replicas(postgres: PostgresServer, folder: Path, name: str) -> tuple[Server, Server]:
    """Two replicas on a new database, started one after the other, sharing one service key file."""
    url, key = postgres.new_database(name), folder / "service.key"
    first = start_server(url, key_file=key)
    return first, start_server(url, key_file=key)


@pytest.fixture(scope="module")
def replicas(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    a, b = start_replicas(postgres, tmp_path_factory.mktemp("replicas"), "replicas")
    yield Replicas(a, b)
    stop_server(a)
    stop_server(b)


def texts(overlay: dict[str, Any]) -> str:
    return " ".join(op["text"] for op in overlay["content"]["ops"] if "text" in op)


def overlays_by_frame(client: StreamClient) -> dict[int, dict[str, Any]]:
    return {m["frame_id"]: m for m in client.of_type("overlays")}


def test_replicas_started_on_one_store_keep_each_others_login_tokens(replicas: Replicas) -> None:
    for token in (replicas.a.token, replicas.b.token):
        for replica in (replicas.a, replicas.b):
            assert replica.rest(token).get("/v1/me").status_code == 200
    devices = [t["device"] for t in replicas.a.rest().get("/v1/tokens").json()]
    ports = [replica.url.rsplit(":", 1)[1] for replica in (replicas.a, replicas.b)]
    assert all(any(d.startswith("serve@") and d.endswith(f":{port}") for d in devices) for port in ports), devices


def test_a_block_made_pinned_edited_and_detached_through_a_reaches_a_viewer_on_b_with_the_next_frame(
    replicas: Replicas,
) -> None:
    token = replicas.token("erin")
    writer = replicas.a.rest(token)
    frames = list(sample_jpegs())[:6]

    async def scenario() -> StreamClient:
        client = await StreamClient.open(replicas.b.ws_url, token, sample_camera())
        await client.frame(0, frames[0])
        note = (await asyncio.to_thread(writer.post, "/v1/blocks", json={
            "kind": "markdown", "title": "From A", "content": "written through replica A"})).json()
        pinned = await asyncio.to_thread(writer.post, f"/v1/objects/{MARKER}/anchors", json={"block_id": note["id"]})
        assert pinned.status_code == 201, pinned.text
        await client.frame(1, frames[1])
        edited = await asyncio.to_thread(writer.patch, f"/v1/blocks/{note['id']}",
                                         json={"content": "edited through replica A", "version": 1})
        assert edited.status_code == 200, edited.text
        await client.frame(2, frames[2])
        await client.frame(3, frames[3])
        detached = await asyncio.to_thread(writer.delete, f"/v1/anchors/{pinned.json()['id']}")
        assert detached.status_code == 204, detached.text
        await client.frame(4, frames[4])
        await client.frame(5, frames[5])  # reads the overlays of frame 4 on its way
        await client.close()
        return client

    client = asyncio.run(scenario())
    by_frame = overlays_by_frame(client)
    assert 0 not in by_frame, "nothing pinned yet"
    [added] = by_frame[1]["added"]
    assert "written through replica A" in texts(added)
    [updated] = by_frame[2]["updated"]
    assert updated["id"] == added["id"] and "edited through replica A" in texts(updated)
    assert 3 not in by_frame, "an unchanged overlay is not sent again"
    assert by_frame[4]["removed"] == [added["id"]]


def test_sharing_and_unsharing_through_one_replica_is_seen_on_the_other(replicas: Replicas) -> None:
    owner, reader = replicas.token("frank"), replicas.token("grace")
    frames = list(sample_jpegs())[:4]

    async def scenario(through: Server, viewer_on: Server) -> StreamClient:
        rest = through.rest(owner)
        note = rest.post("/v1/blocks", json={"kind": "markdown", "title": "", "content": "for grace"}).json()
        assert rest.post(f"/v1/objects/{MARKER}/anchors", json={"block_id": note["id"]}).status_code == 201
        client = await StreamClient.open(viewer_on.ws_url, reader, sample_camera())
        await client.frame(0, frames[0])
        shared = await asyncio.to_thread(rest.post, f"/v1/blocks/{note['id']}/shares", json={"user": "grace", "role": "read"})
        assert shared.status_code == 204
        await client.frame(1, frames[1])
        unshared = await asyncio.to_thread(rest.delete, f"/v1/blocks/{note['id']}/shares/grace")
        assert unshared.status_code == 204
        await client.frame(2, frames[2])
        await client.frame(3, frames[3])
        await client.close()
        return client

    for through, viewer_on in ((replicas.a, replicas.b), (replicas.b, replicas.a)):
        by_frame = overlays_by_frame(asyncio.run(scenario(through, viewer_on)))
        assert 0 not in by_frame
        [added] = by_frame[1]["added"]
        assert "for grace" in texts(added)
        assert by_frame[2]["removed"] == [added["id"]]


def test_a_token_revoked_through_a_stops_a_session_on_b_with_its_next_frame(replicas: Replicas) -> None:
    owner = replicas.a.rest(replicas.token("heidi"))
    device = owner.post("/v1/tokens", json={"device": "headset"}).json()
    frames = list(sample_jpegs())[:3]

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        client = await StreamClient.open(replicas.b.ws_url, device["token"], sample_camera())
        first = await client.frame(0, frames[0])
        revoked = await asyncio.to_thread(owner.delete, f"/v1/tokens/{device['id']}")
        assert revoked.status_code == 204
        refused = await client.frame(1, frames[1])
        await client.close()
        return first, refused

    first, refused = asyncio.run(scenario())
    assert first["type"] == "objects"
    assert refused["type"] == "error" and refused["code"] == "unauthorized" and "revoked" in refused["message"]
    assert replicas.b.rest(device["token"]).get("/v1/me").status_code == 401
