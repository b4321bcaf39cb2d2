"""Load: many stream clients at a steady frame rate plus REST writes, against one server.

Each client sends the 640x480 sample frames at `--fps` without waiting for
replies (frames the server cannot take are dropped: latest frame wins) and
records the round trip of each frame that comes back. One extra client stops
reading altogether, to show that a stalled client does not slow the others.
The server's resident memory is sampled throughout.

Run: `python -m bench.load [--clients 50] [--fps 15] [--seconds 60] [--write]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import threading
import time
from pathlib import Path

from bench.report import machine, option, percentile, run_benchmark

from websockets.exceptions import ConnectionClosed

from harness.samples import sample_camera, sample_jpegs
from harness.servers import Server, running_server
from spatial.client import StreamClient
from spatial.protocol import pack_frame

SECTION = "## Load: {clients} stream clients for {seconds:g} s, with REST writes"
OPTIONS = (
    option("--clients", 50),
    option("--fps", 15.0),
    option("--seconds", 60.0),
)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def steady_client(server: Server, token: str, frames: list[bytes], fps: float, seconds: float) -> dict:
    client = await StreamClient.open(server.ws_url, token, sample_camera())
    sent_at: dict[int, float] = {}
    rtts: list[float] = []
    errors: list[dict] = []

    async def read() -> None:
        while True:
            message = await client.recv(timeout=seconds + 30)
            if message["type"] == "objects" and message["frame_id"] in sent_at:
                rtts.append((time.perf_counter() - sent_at.pop(message["frame_id"])) * 1e3)
            elif message["type"] == "error":
                errors.append(message)

    reader = asyncio.create_task(read())
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds:
        sent_at[i] = time.perf_counter()
        await client.ws.send(pack_frame(i, 0.0, frames[i % len(frames)]))
        i += 1
        await asyncio.sleep(max(0.0, start + i / fps - time.perf_counter()))
    await asyncio.sleep(1.0)
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    await client.send_json({"type": "stats"})
    stats = None
    while stats is None:
        message = await client.recv()
        stats = message if message["type"] == "stats" else None
    await client.close()
    return {"sent": i, "rtts": rtts, "errors": errors, "stats": stats}


async def stalled_client(server: Server, token: str, frames: list[bytes], seconds: float) -> None:
    """Sends frames at 15 fps and never reads a reply."""
    client = await StreamClient.open(server.ws_url, token, sample_camera())
    start = time.perf_counter()
    i = 0
    try:
        while time.perf_counter() - start < seconds:
            await asyncio.wait_for(client.ws.send(pack_frame(i, 0.0, frames[i % len(frames)])), 5)
            i += 1
            await asyncio.sleep(1 / 15)
    except (ConnectionClosed, asyncio.TimeoutError):
        return  # its own socket gave up (it never reads, so pings go unanswered): expected
    client.ws.transport.abort()


def rest_writer(server: Server, stop: threading.Event, latencies: list[float], failures: list[int]) -> None:
    with server.rest() as rest:
        n = 0
        while not stop.is_set():
            started = time.perf_counter()
            reply = rest.post("/v1/blocks", json={"kind": "markdown", "title": f"load {n}", "content": "x" * 500})
            latencies.append((time.perf_counter() - started) * 1e3)
            if reply.status_code != 201:
                failures.append(reply.status_code)
            n += 1
            time.sleep(0.05)


async def run(server: Server, clients: int, fps: float, seconds: float) -> tuple[list[dict], list[float], list[int], list[float]]:
    frames = list(sample_jpegs())
    stop = threading.Event()
    rest_latencies: list[float] = []
    failures: list[int] = []
    memory: list[float] = []
    writer = threading.Thread(target=rest_writer, args=(server, stop, rest_latencies, failures))
    writer.start()

    async def sample_memory() -> None:
        while True:
            memory.append(rss_mb(server.process.pid))
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample_memory())
    # Sessions per user are capped (16), so the clients sign in as several users, ten each.
    tokens = [server.new_token(f"load{i}") for i in range(clients // 10 + 1)]
    try:
        results = await asyncio.gather(
            stalled_client(server, server.new_token("stalled"), frames, seconds),
            *(steady_client(server, tokens[i // 10], frames, fps, seconds) for i in range(clients)),
        )
    finally:
        sampler.cancel()
        stop.set()
        writer.join()
    return list(results[1:]), rest_latencies, failures, memory


def report(clients: int, fps: float, seconds: float, results: list[dict], rest: list[float], failures: list[int], memory: list[float]) -> str:
    rtts = [v for r in results for v in r["rtts"]]
    processed = sum(r["stats"]["processed"] for r in results)
    dropped = sum(r["stats"]["dropped"] for r in results)
    sent = sum(r["sent"] for r in results)
    intended = int(clients * fps * seconds)
    errors = sum(len(r["errors"]) for r in results)
    third = max(1, len(memory) // 3)
    return "\n".join([
        SECTION.format(clients=clients, seconds=seconds),
        "",
        f"Measured {machine()}, `markers` detector, "
        f"{clients} clients at {fps:g} fps each for {seconds:g} s over loopback, plus one client that never reads and a "
        "REST writer creating a block every 50 ms.",
        "",
        f"Command: `python -m bench.load --clients {clients} --fps {fps:g} --seconds {seconds:g} --write`",
        "",
        "| measure | value |",
        "| --- | ---: |",
        f"| frames meant to be sent / sent | {intended} / {sent} |",
        f"| frames sent / processed / dropped (latest frame wins) | {sent} / {processed} / {dropped} |",
        f"| processed frames per second, all clients | {processed / seconds:.0f} |",
        f"| round trip of processed frames p50 / p95 ms | {statistics.median(rtts):.0f} / {percentile(rtts, 95):.0f} |",
        f"| REST write p50 / p95 ms | {statistics.median(rest):.1f} / {percentile(rest, 95):.1f} |",
        f"| stream errors / REST failures | {errors} / {len(failures)} |",
        f"| server memory first third / last third, MB (mean RSS) | {statistics.mean(memory[:third]):.0f} / {statistics.mean(memory[-third:]):.0f} |",
        f"| server memory at each fifth of the run, MB (RSS) | {' / '.join(f'{memory[min(len(memory) - 1, len(memory) * k // 5)]:.0f}' for k in range(1, 6))} |",
        "",
        "The clients send faster than two cores can detect, so most frames are dropped by design: each session",
        "keeps only its newest frame, and the server never queues a frame behind another.",
        *generator_note(intended, sent),
        "",
    ])


def generator_note(intended: int, sent: int) -> list[str]:
    """A warning when the load generator, on the same machine, could not keep its own pace."""
    if sent >= 0.95 * intended:
        return []
    return [
        f"The clients run in one process on the same cores as the server and sent only {sent / intended:.0%} of",
        "their frames: they were short of CPU themselves, so the round trips include the clients' own backlog",
        "(reading replies late), not only the server's time.",
    ]


def run_clients(args: argparse.Namespace, command: str) -> str:
    """The clients and the REST writes against one service: the section."""
    with running_server() as server:
        results, rest, failures, memory = asyncio.run(run(server, args.clients, args.fps, args.seconds))
    return report(args.clients, args.fps, args.seconds, results, rest, failures, memory)


if __name__ == "__main__":
    raise SystemExit(run_benchmark("bench.load", __doc__, run_clients, *OPTIONS))
