"""Limits answered with errors that name them, while the session stays usable."""

import asyncio
from collections.abc import Iterator

import pytest

from harness.samples import sample_camera, sample_jpegs
from harness.servers import Server, start_server, stop_server
from spatial.client import StreamClient, StreamError
from spatial.protocol import pack_frame


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("limits") / "store.db", "--max-fps", "5")
    yield srv
    stop_server(srv)


def test_frames_over_the_rate_limit_are_refused_with_one_error(slow_server: Server) -> None:
    jpeg = next(iter(sample_jpegs()))

    async def scenario() -> StreamClient:
        client = await StreamClient.open(slow_server.ws_url, slow_server.token, sample_camera())
        for i in range(20):
            await client.ws.send(pack_frame(i, 0.0, jpeg))
        await client.next_of("error")
        await asyncio.sleep(1.2)
        await client.ws.send(pack_frame(99, 0.0, jpeg))
        while (reply := await client.next_of("objects", "error"))["type"] == "objects" and reply["frame_id"] != 99:
            pass
        assert reply["type"] == "objects", f"usable once under the limit again, got {reply}"
        await client.stats()
        await client.close()
        return client

    client = asyncio.run(scenario())
    errors = client.of_type("error")
    assert errors and {e["code"] for e in errors} == {"rate_limited"}
    assert len(errors) <= 5, "at most one rate_limited error a second (the test lasts under 5 s)"
    assert "5 frames a second" in errors[0]["message"]
    stats = client.of_type("stats")[-1]
    assert stats["refused"] >= 10 and stats["received"] == 21


def test_sessions_per_user_are_capped(server: Server) -> None:
    async def scenario() -> None:
        clients = [await StreamClient.open(server.ws_url, server.token) for _ in range(16)]
        extra = await StreamClient.open(server.ws_url, server.token, hello=False)
        with pytest.raises(StreamError, match="too_many_sessions"):
            await extra.hello(server.token)
        await clients.pop().close()
        await asyncio.sleep(0.2)
        await extra.hello(server.token)
        for client in [*clients, extra]:
            await client.close()

    asyncio.run(scenario())


def test_oversized_frames_and_text_name_the_limit(server: Server) -> None:
    async def scenario() -> StreamClient:
        client = await StreamClient.open(server.ws_url, server.token)
        await client.ws.send(pack_frame(1, 0.0, b"\xff\xd8\xff" + bytes(3 * 1024 * 1024)))
        big_frame = await client.next_of("error")
        await client.send_json({"type": "stats", "id": "x" * 70_000})
        big_text = await client.next_of("error")
        await client.close()
        return big_frame, big_text

    big_frame, big_text = asyncio.run(scenario())
    assert big_frame["code"] == big_text["code"] == "too_large"
    assert "2097152" in big_frame["message"] and "65536" in big_text["message"]
