"""Who may do what: every kind of user against every operation, over REST and over the stream.

Alice owns two notes pinned to ArUco marker 7 (which every frame of the sample
video shows): a private one shared with Bob (read) and Carol (write), and a
public one. Dave is a stranger; "revoked" is a token of Alice's that she
revoked; "no token" sends none. Each cell of the matrix is one real request
to a real server, or, for overlays, a real stream session.

Every test runs twice: on one service (SQLite), and on two replicas on one
PostgreSQL database, where Alice's notes are made through the first, each
actor's requests go to one replica and their stream to the other.
"""

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from harness.postgres import PostgresServer
from harness.samples import sample_camera, sample_jpegs
from harness.servers import Server, start_server, stop_server
from spatial.client import StreamClient, StreamError

MARKER = "marker:aruco/7"
ACTORS = ("owner", "reader", "writer", "stranger", "no token", "revoked")
OPERATIONS = ("read", "write", "delete", "attach", "overlay")
SEEN, NOT_SEEN, REFUSED = "seen", "not seen", "unauthorized"

EXPECTED = {
    "private": {
        "owner": (200, 200, 204, 201, SEEN),
        "reader": (200, 403, 403, 403, SEEN),
        "writer": (200, 200, 403, 201, SEEN),
        "stranger": (404, 404, 404, 404, NOT_SEEN),
        "no token": (401, 401, 401, 401, REFUSED),
        "revoked": (401, 401, 401, 401, REFUSED),
    },
    "public": {
        "owner": (200, 200, 204, 201, SEEN),
        "reader": (200, 403, 403, 403, SEEN),
        "writer": (200, 403, 403, 403, SEEN),
        "stranger": (200, 403, 403, 403, SEEN),
        "no token": (401, 401, 401, 401, REFUSED),
        "revoked": (401, 401, 401, 401, REFUSED),
    },
}


@dataclass
class World:
    server: Server
    tokens: dict[str, str | None]
    other: Server | None = None
    """The second replica, on the same database (None: one service)."""

    def rest(self, actor: str):
        return self.rest_server(actor).rest(self.tokens[actor] or "")

    def rest_server(self, actor: str) -> Server:
        """Where `actor`'s requests go: with two replicas, every other actor's to the second."""
        return self.other if self.other is not None and ACTORS.index(actor) % 2 else self.server

    def stream_server(self, actor: str) -> Server:
        """Where `actor`'s stream goes: with two replicas, the one their requests do not go to."""
        if self.other is None:
            return self.server
        return self.server if self.rest_server(actor) is self.other else self.other


def create_note(world: World, visibility: str, title: str) -> str:
    """A note of Alice's, shared with Bob and Carol (private) or public, pinned to marker 7."""
    alice = world.server.rest(world.tokens["owner"])
    note = alice.post("/v1/blocks", json={"kind": "markdown", "title": title, "content": f"{title} text"}).json()
    if visibility == "private":
        assert alice.post(f"/v1/blocks/{note['id']}/shares", json={"user": "bob", "role": "read"}).status_code == 204
        assert alice.post(f"/v1/blocks/{note['id']}/shares", json={"user": "carol", "role": "write"}).status_code == 204
    else:
        assert alice.put(f"/v1/blocks/{note['id']}/public", json={"public": True}).json()["public"] is True
    assert alice.post(f"/v1/objects/{MARKER}/anchors", json={"block_id": note["id"]}).status_code == 201
    return note["id"]


@pytest.fixture(scope="module", params=["one service", "two replicas"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("access")
    if request.param == "one service":
        servers = [start_server(folder / "store.db")]
    else:
        postgres: PostgresServer = request.getfixturevalue("postgres")
        url = postgres.new_database("access_matrix")
        servers = [start_server(url, key_file=folder / "service.key") for _ in range(2)]
    server = servers[0]
    tokens: dict[str, str | None] = {
        "owner": server.new_token("alice"), "reader": server.new_token("bob"),
        "writer": server.new_token("carol"), "stranger": server.new_token("dave"), "no token": None,
    }
    alice = server.rest(tokens["owner"])
    spare = alice.post("/v1/tokens", json={"device": "lost phone"}).json()
    assert alice.delete(f"/v1/tokens/{spare['id']}").status_code == 204
    tokens["revoked"] = spare["token"]
    yield World(server, tokens, servers[1] if len(servers) > 1 else None)
    for started in servers:
        stop_server(started)


async def overlays_seen(world: World, actor: str, frames: list[bytes]) -> set[str] | str:
    """Block ids of the overlays a stream session gets over a few frames, or the error code of a refused hello."""
    try:
        client = await StreamClient.open(world.stream_server(actor).ws_url, world.tokens[actor], sample_camera())
    except StreamError as exc:
        return str(exc).split(":")[0]
    for index, jpeg in enumerate(frames):
        reply = await client.frame(index, jpeg)
        assert reply["type"] == "objects" and any(o["id"] == MARKER for o in reply["objects"]), reply
    await client.close()
    return {o["block_id"] for m in client.of_type("overlays") for o in m["added"]}


@pytest.mark.parametrize("visibility", ["private", "public"])
def test_access_matrix(world: World, visibility: str) -> None:
    block = create_note(world, visibility, f"{visibility} note")
    frames = list(sample_jpegs())[:3]
    found: dict[str, tuple] = {}
    for actor in ACTORS:
        rest = world.rest(actor)
        read = rest.get(f"/v1/blocks/{block}").status_code
        write = rest.patch(f"/v1/blocks/{block}", json={"content": f"edited by {actor}"}).status_code
        doomed = create_note(world, visibility, f"{visibility} to delete")
        delete = rest.delete(f"/v1/blocks/{doomed}").status_code
        attach = rest.post("/v1/objects/marker:aruco/5/anchors", json={"block_id": block}).status_code
        seen = asyncio.run(overlays_seen(world, actor, frames))
        overlay = seen if isinstance(seen, str) else (SEEN if block in seen else NOT_SEEN)
        found[actor] = (read, write, delete, attach, overlay)
        if actor == "owner":
            assert rest.get(f"/v1/blocks/{doomed}").status_code == 404, "the delete happened"
        elif delete != 204:
            assert world.rest("owner").get(f"/v1/blocks/{doomed}").status_code == 200, "a refused delete left it"
    mismatches = {
        (actor, op): (found[actor][i], EXPECTED[visibility][actor][i])
        for actor in ACTORS for i, op in enumerate(OPERATIONS) if found[actor][i] != EXPECTED[visibility][actor][i]
    }
    assert not mismatches, f"(actor, operation): (got, expected) {mismatches}"
    content = world.rest("owner").get(f"/v1/blocks/{block}").json()["content"]
    assert content == ("edited by writer" if visibility == "private" else "edited by owner"), "refused writes wrote nothing"


def test_a_session_whose_token_is_revoked_gets_no_more_overlays(world: World) -> None:
    frames = list(sample_jpegs())[:6]
    alice = world.rest("owner")
    device = alice.post("/v1/tokens", json={"device": "headset"}).json()

    async def scenario() -> StreamClient:
        client = await StreamClient.open(world.stream_server("owner").ws_url, device["token"], sample_camera())
        await client.frame(0, frames[0])
        await client.next_of("overlays")
        revoked = await asyncio.to_thread(alice.delete, f"/v1/tokens/{device['id']}")
        assert revoked.status_code == 204
        refused = await client.frame(1, frames[1])
        late = await client.frame(2, frames[2])
        await client.hello(world.tokens["owner"], sample_camera())
        again = await client.frame(3, frames[3])
        await asyncio.sleep(0.1)
        await client.close()
        return client, refused, late, again

    client, refused, late, again = asyncio.run(scenario())
    assert refused["type"] == "error" and refused["code"] == "unauthorized" and "revoked" in refused["message"]
    assert late["type"] == "error" and late["code"] == "not_ready"
    assert again["type"] == "objects", "a new hello with a valid token makes the session usable again"
    overlay_frames = [m["frame_id"] for m in client.of_type("overlays")]
    assert overlay_frames[0] == 0 and all(f >= 3 for f in overlay_frames[1:]), "nothing between revocation and hello"
    assert world.server.rest(device["token"]).get("/v1/me").status_code == 401


def test_a_share_taken_back_removes_the_overlay_at_the_next_frame(world: World) -> None:
    frames = list(sample_jpegs())[:4]
    block = create_note(world, "private", "taken back")

    async def scenario() -> StreamClient:
        client = await StreamClient.open(world.stream_server("owner").ws_url, world.tokens["reader"], sample_camera())
        await client.frame(0, frames[0])
        first = await client.next_of("overlays")
        gone = await asyncio.to_thread(world.rest("owner").delete, f"/v1/blocks/{block}/shares/bob")
        assert gone.status_code == 204
        await client.frame(1, frames[1])
        second = await client.next_of("overlays")
        await client.close()
        return first, second

    first, second = asyncio.run(scenario())
    [added] = [o for o in first["added"] if o["block_id"] == block]
    assert added["id"] in second["removed"]
    assert world.rest("reader").get(f"/v1/blocks/{block}").status_code == 404
