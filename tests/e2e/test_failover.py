"""Failover: two replicas on one PostgreSQL database behind nginx, configured as docs/scaling.md says.
The replica serving a stream is killed with SIGKILL mid-stream; the client reconnects through nginx to the
other replica, and every write it was answered for is there."""

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psutil
import pytest
from websockets.exceptions import ConnectionClosed

from harness.nginx import Nginx, scaling_nginx_config, start_nginx, stop_nginx
from harness.ports import free_port
from harness.postgres import PostgresServer
from harness.samples import sample_camera, sample_jpegs
from harness.servers import Server, start_server, stop_server
from spatial.client import StreamClient

MARKER = "marker:aruco/7"
pytestmark = pytest.mark.timeout(180)


@dataclass
class Proxied:
    replicas: list[Server]
    nginx: Nginx


@pytest.fixture
def proxied(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    url, key = postgres.new_database("failover"), tmp_path_factory.mktemp("failover") / "service.key"
    ports = [free_port(), free_port()]
    replicas = [start_server(url, key_file=key, port=port) for port in ports]
    nginx = start_nginx(scaling_nginx_config(free_port(), ports))
    yield Proxied(replicas, nginx)
    stop_nginx(nginx)
    for replica in replicas:
        if replica.process.poll() is None:
            stop_server(replica)


def serving(replicas: list[Server]) -> Server:
    """The replica holding the one open stream: the one with an established connection on its port."""
    holding = []
    for replica in (r for r in replicas if r.process.poll() is None):
        port = int(replica.url.rsplit(":", 1)[1])
        connections = psutil.Process(replica.process.pid).net_connections(kind="tcp")
        if any(c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port for c in connections):
            holding.append(replica)
    assert len(holding) == 1, f"{len(holding)} replicas hold a stream"
    return holding[0]


class Writer(threading.Thread):
    """Writes notes pinned to marker 7 through nginx until stopped, keeping the ids it was answered for."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.rest = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        self.acknowledged: list[str] = []
        self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.is_set() and len(self.acknowledged) < 40:
            n += 1
            try:
                note = self.rest.post("/v1/blocks", json={"kind": "markdown", "title": "", "content": f"note {n}"})
                pinned = self.rest.post(f"/v1/objects/{MARKER}/anchors", json={"block_id": note.json()["id"]}) \
                    if note.status_code == 201 else note
            except (httpx.TransportError, ValueError):
                self.failed += 1
                continue
            if pinned.status_code == 201:
                self.acknowledged.append(note.json()["id"])
            else:
                self.failed += 1
            self.stop.wait(0.03)


def test_a_replica_killed_mid_stream_its_client_reconnects_through_nginx_and_nothing_acknowledged_is_lost(
    proxied: Proxied,
) -> None:
    token = proxied.replicas[0].new_token("ivan")
    frames = list(sample_jpegs())[:40]
    writer = Writer(proxied.nginx.url, token)

    async def stream_until(client: StreamClient, start: int, acknowledged: int) -> int:
        """Stream frames at about 15 a second until the writer was answered for `acknowledged` writes."""
        i = start
        while len(writer.acknowledged) < acknowledged:
            assert (await client.frame(i, frames[i % len(frames)]))["type"] == "objects"
            await asyncio.sleep(0.06)
            i += 1
        return i

    async def scenario() -> tuple[Server, Server, set[str], int]:
        client = await StreamClient.open(proxied.nginx.ws_url, token, sample_camera())
        first = serving(proxied.replicas)
        writer.start()
        i = await stream_until(client, 0, 5)
        first.process.kill()  # SIGKILL: no goodbye to anyone
        first.process.wait()
        before_kill = len(writer.acknowledged)
        with pytest.raises(ConnectionClosed):
            for i in range(i, i + 10):
                await client.frame(i, frames[i % len(frames)])
        client = await StreamClient.open(proxied.nginx.ws_url, token, sample_camera())
        second = serving(proxied.replicas)
        i = await stream_until(client, i, before_kill + 5)
        await asyncio.to_thread(lambda: (writer.stop.set(), writer.join()))
        for i in range(i, i + 3):
            await client.frame(i, frames[i % len(frames)])
        await client.close()
        seen = {o["block_id"] for m in client.of_type("overlays") for o in m["added"]}
        return first, second, seen, before_kill

    first, second, seen, before_kill = asyncio.run(scenario())
    assert second is not first, "the stream came back on the other replica"
    assert before_kill >= 5 and len(writer.acknowledged) >= before_kill + 5, "writes went on before and after the kill"
    missing = [b for b in writer.acknowledged if b not in seen]
    assert not missing, f"acknowledged notes not shown after reconnecting: {missing}"
    rest = httpx.Client(base_url=proxied.nginx.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    stored = {b["id"] for b in rest.get("/v1/blocks").json()}
    assert set(writer.acknowledged) <= stored
