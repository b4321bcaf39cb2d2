"""Detection and compute on a real local Ray cluster that two `spatial serve` replicas share.

One cluster (`ray start --head`, token authentication, TLS under a certificate
authority the test makes) and two replicas, each with its own SQLite store,
serve the whole module: Ray starts slowly on two cores. Both replicas run
`--detector-cluster` with the test's own backend `faulty` (markers, and a
fault on frames of one colour; a `--plugin`, which the deployment imports
too), so their sessions' frames go to one Ray Serve deployment; replica A
also runs its compute there (`--ray-address`, the same address). Each replica's session has at most one
frame in flight (`--detect-every 1` keeps one there), so a batch of two holds
a frame of each replica. With batches of up to four, the deployment keeps its
one replica (Serve adds one only when more than a batch of frames waits for
each). The test reads the deployment through a driver script of its own, and
kills the deployment's replica process as a crash would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from cryptography import x509

from harness.paths import ROOT
from harness.ports import free_port
from harness.samples import jpeg
from harness.servers import Server, start_server, stop_server
from spatial.client import StreamClient
from spatial.rest_client import RestClient
from tests.ray_cluster import RayCluster, driver, start_ray_cluster, stop_ray_cluster

MARKER_ID = 3
MARKER = f"marker:aruco/{MARKER_ID}"
CAMERA = {"width": 640, "height": 480, "fov_y_deg": 60.0}
FRAME_INTERVAL_S = 0.05
BATCH_WAIT_MS = 300
DEPLOYMENT_STATS = """
name, application = next((n, a) for n, a in serve.status().applications.items()
                         if n.startswith('spatial-detector-faulty-'))
stats = serve.get_app_handle(name).stats.remote().result()
print(json.dumps({'pid': stats.pid, 'frames': stats.batches.frames,
                  'batch_sizes': {str(k): v for k, v in stats.batches.batch_sizes.items()},
                  'replicas': application.deployments['detector'].replica_states.get('RUNNING', 0)}))
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    started = start_ray_cluster(cpus=2)
    yield started
    stop_ray_cluster(started)


@pytest.fixture(scope="module")
def replicas(cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    shared = ("--detector-cluster", cluster.address, "--plugin", "tests.faulty_detector", "--detect-every", "1",
              "--batch-size", "4", "--batch-wait-ms", str(BATCH_WAIT_MS))
    first = start_server(tmp_path_factory.mktemp("replica_a") / "store.db", *shared, "--ray-address", cluster.address,
                         "--plugin", "tests.ray_compute", detector="faulty", env=cluster.env)
    try:
        second = start_server(tmp_path_factory.mktemp("replica_b") / "store.db", *shared, detector="faulty",
                              env=cluster.env)
    except BaseException:
        stop_server(first)
        raise
    yield first, second
    stop_server(first)
    stop_server(second)


def marker_frames(count: int = 40) -> list[bytes]:
    """JPEG frames of ArUco marker 3 sliding over a textured background."""
    rng = np.random.default_rng(MARKER_ID)
    background = cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (0, 0), 2)
    marker = cv2.aruco.generateImageMarker(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50), MARKER_ID, 120)
    marker = cv2.cvtColor(cv2.copyMakeBorder(marker, 20, 20, 20, 20, cv2.BORDER_CONSTANT, value=255), cv2.COLOR_GRAY2BGR)
    frames = []
    for i in range(count):
        image = background.copy()
        x, y = 180 + 4 * i, 120 + 2 * i
        image[y:y + marker.shape[0], x:x + marker.shape[1]] = marker
        frames.append(jpeg(image))
    return frames


FRAMES = marker_frames()


def deployment_stats(cluster: RayCluster) -> dict[str, Any]:
    return driver(cluster, DEPLOYMENT_STATS)


def summary(client: StreamClient) -> str:
    """What a client got, for a failure's message: error codes, objects messages, and detections among them."""
    errors = [(i, m["code"]) for i, m in enumerate(client.messages) if m["type"] == "error"]
    return f"errors {errors}, {len(client.of_type('objects'))} objects messages, {len(found(client.messages, 'detection'))} detections"


async def stream_until(clients: list[StreamClient], done: Callable[[], bool] | asyncio.Event, timeout_s: float) -> None:
    """Each client streams FRAMES in a loop until `done` (a condition, or an event another task sets)."""
    finished = done.is_set if isinstance(done, asyncio.Event) else done

    async def one(client: StreamClient) -> None:
        index = 0
        while not finished():
            assert time.monotonic() < deadline, f"still waiting after {timeout_s} s: {[summary(c) for c in clients]}"
            await client.frame(index, FRAMES[index % len(FRAMES)])
            index += 1
            await asyncio.sleep(FRAME_INTERVAL_S)

    deadline = time.monotonic() + timeout_s
    await asyncio.gather(*(one(client) for client in clients))


def found(messages: list[dict[str, Any]], source: str | None = None) -> list[dict[str, Any]]:
    return [o for m in messages if m["type"] == "objects" for o in m["objects"]
            if source is None or o["source"] == source]


def test_the_cluster_speaks_only_tls_under_the_certificate_the_test_made(cluster: RayCluster) -> None:
    context = ssl.create_default_context(cafile=str(cluster.ca_file))
    context.load_cert_chain(cluster.cert_file, cluster.key_file)
    context.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", cluster.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            presented = tls.getpeercert(binary_form=True)
    assert presented is not None and x509.load_der_x509_certificate(presented) == cluster.certificate
    # A client that speaks plain gRPC (HTTP/2 without TLS) gets no answer: the connection is closed.
    with socket.create_connection(("127.0.0.1", cluster.port), timeout=10) as raw:
        raw.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        assert raw.recv(100) == b""


def test_sessions_of_two_replicas_are_detected_in_the_same_batches_of_one_deployment(
    cluster: RayCluster, replicas: tuple[Server, Server],
) -> None:
    async def scenario() -> list[StreamClient]:
        clients = [await StreamClient.open(server.ws_url, server.token, CAMERA) for server in replicas]
        await stream_until(clients, lambda: all(len(c.of_type("objects")) >= 30 for c in clients), 120)
        for client in clients:
            await client.close()
        return clients

    clients = asyncio.run(scenario())
    stats = deployment_stats(cluster)
    for client in clients:
        assert client.of_type("error") == []
        assert found(client.messages, "detection") and {o["id"] for o in found(client.messages)} == {MARKER}
        assert client.messages[0]["detector"] == "ray"
    submitted = sum("detect_submit" in m["timing"] for c in clients for m in c.of_type("objects"))
    assert stats["frames"] == submitted, "every frame a session handed over went through the one deployment"
    assert stats["batch_sizes"].get("2", 0) >= 5 and stats["replicas"] == 1, stats


def test_a_frame_the_backend_fails_on_is_answered_as_a_fault_and_the_cluster_stays_in_use(
    cluster: RayCluster, replicas: tuple[Server, Server],
) -> None:
    one_colour = cv2.imencode(".png", np.full((480, 640, 3), 128, np.uint8))[1].tobytes()

    async def scenario() -> StreamClient:
        client = await StreamClient.open(replicas[1].ws_url, replicas[1].token, CAMERA)
        await stream_until([client], lambda: bool(found(client.messages, "detection")), 60)
        deadline = time.monotonic() + 60
        frame_id = 1000
        while not client.of_type("error"):  # until a detection runs on one of these frames
            assert time.monotonic() < deadline, summary(client)
            await client.frame(frame_id, one_colour)
            frame_id += 1
            await asyncio.sleep(FRAME_INTERVAL_S)
        failed = len(client.messages)
        await stream_until([client], lambda: len(found(client.messages[failed:], "detection")) >= 3, 60)
        await client.close()
        return client

    before = deployment_stats(cluster)
    client = asyncio.run(scenario())
    errors = client.of_type("error")
    assert errors and all(e["code"] == "internal" and "InjectedFault" in e["message"] for e in errors), errors
    assert deployment_stats(cluster)["frames"] > before["frames"], "its detections still came from the cluster"


def test_a_crashed_deployment_gives_each_session_an_error_and_local_detection_until_it_is_back(
    cluster: RayCluster, replicas: tuple[Server, Server],
) -> None:
    before = deployment_stats(cluster)
    assert before["replicas"] == 1, before

    async def back_on_the_cluster(stop: asyncio.Event) -> None:
        """Wait until both replicas' frames reach the restarted deployment: a new process, batches of two."""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            now = await asyncio.to_thread(deployment_stats, cluster)
            if now["pid"] != before["pid"] and now["batch_sizes"].get("2", 0) >= 3:
                break
            await asyncio.sleep(1)
        stop.set()

    def detected_after_an_error(clients: list[StreamClient]) -> bool:
        for client in clients:
            error = next((i for i, m in enumerate(client.messages) if m["type"] == "error"), None)
            if error is None or len(found(client.messages[error:], "detection")) < 3:
                return False
        return True

    async def scenario() -> tuple[list[StreamClient], list[int]]:
        clients = [await StreamClient.open(server.ws_url, server.token, CAMERA) for server in replicas]
        await stream_until(clients, lambda: all(found(c.messages, "detection") for c in clients), 60)
        os.kill(before["pid"], signal.SIGKILL)
        at_kill = [len(client.messages) for client in clients]
        await stream_until(clients, lambda: detected_after_an_error(clients), 60)
        stop = asyncio.Event()
        await asyncio.gather(back_on_the_cluster(stop), stream_until(clients, stop, 120))
        for client in clients:
            await client.close()
        return clients, at_kill

    clients, at_kill = asyncio.run(scenario())
    after = deployment_stats(cluster)
    assert after["pid"] != before["pid"] and after["batch_sizes"].get("2", 0) >= 3, after
    for client in clients:
        errors = client.of_type("error")
        assert errors and {e["code"] for e in errors} == {"detector_unavailable"}, errors
        assert "does not answer" in errors[0]["message"] and errors[0]["ref"].startswith("frame:")
        assert {o["id"] for o in found(client.messages)} == {MARKER}
    handed_over = sum("detect_submit" in m["timing"] for client, first in zip(clients, at_kill)
                      for m in client.messages[first:] if m["type"] == "objects")
    assert handed_over - after["frames"] >= 6, "the replicas detected frames themselves while the deployment was away"


def test_compute_runs_on_the_cluster_the_detector_runs_on(replicas: tuple[Server, Server]) -> None:
    replica = replicas[0]
    with RestClient(replica.url, replica.token) as api:
        block = api.create_block("compute", "Where it ran", {"function": "process_id", "inputs": {"label": {"value": "a"}}})
        result = api.result(block["id"])
    assert result["error"] is None and result["value"]["label"] == "a"
    assert result["value"]["pid"] != replica.process.pid, "a Ray worker ran it, not the service"


def serve_exits_with(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spatial.cli", "serve", "--store", str(tmp_path / "store.db"),
                           "--detector", "markers", *flags], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_a_detector_cluster_that_does_not_answer_stops_the_start_with_a_clear_error(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    done = serve_exits_with(tmp_path, "--detector-cluster", address)
    assert done.returncode == 2 and f"error: no Ray cluster answers at {address}" in done.stderr, done.stderr[-2000:]


def test_compute_and_detection_on_two_different_clusters_are_refused(tmp_path: Path) -> None:
    done = serve_exits_with(tmp_path, "--detector-cluster", "127.0.0.1:6379", "--ray-address", "auto")
    assert done.returncode != 0 and "name two Ray clusters; a service joins one" in done.stderr, done.stderr[-2000:]
