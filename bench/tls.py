"""HTTPS benchmark: the round trip of a 640x480 frame over TLS (wss://) against plain WebSocket (ws://).

Two services run side by side on loopback, one with `--https` (the local CA's P-256
certificate), one plain, both with the `markers` detector. One client streams the sample
video to each in turn, frame by frame, with one frame in flight, alternating which goes
first, so both see the same frames under the same load. Target: TLS adds at most 1 ms.

Run: `python -m bench.tls [--frames N] [--write]`.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import statistics
import time
from dataclasses import dataclass, field

from bench.report import machine, option, percentile, run_benchmark
from harness.samples import sample_camera, sample_jpegs
from harness.servers import Server, running_server
from spatial.client import StreamClient

SECTION = "## HTTPS: round trip over TLS against plain WebSocket"
TARGET_MS = 1.0
OPTIONS = (
    option("--frames", 600, "frames to each service"),
)


@dataclass
class Side:
    name: str
    rtt_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)

    @property
    def transport_ms(self) -> list[float]:
        """Round trip less the server's own time: the socket, TLS, framing and the event loops."""
        return [rtt - server for rtt, server in zip(self.rtt_ms, self.server_ms)]


async def one_frame(client: StreamClient, side: Side | None, frame_id: int, image: bytes) -> None:
    """Send a frame and wait for its answer; record the times on `side` (None: a warm-up frame)."""
    sent = time.perf_counter()
    reply = await client.frame(frame_id, image)
    rtt_ms = (time.perf_counter() - sent) * 1e3
    assert reply["type"] == "objects", reply
    if side is not None:
        side.rtt_ms.append(rtt_ms)
        side.server_ms.append(reply["timing"]["total"])


def negotiated(client: StreamClient) -> str:
    """The TLS version and cipher suite of the client's connection."""
    tls: ssl.SSLObject = client.ws.transport.get_extra_info("ssl_object")
    return f"{tls.version()}, {tls.cipher()[0]}"


async def measure(
    plain: Server, secure: Server, frames: list[bytes], count: int, warm_up: int
) -> tuple[Side, Side, str]:
    clients = (
        await StreamClient.open(plain.ws_url, plain.token, sample_camera()),
        await StreamClient.open(secure.ws_url, secure.token, sample_camera(), tls=secure.tls()),
    )
    sides = (Side("ws:// (plain)"), Side("wss:// (TLS)"))
    for i in range(warm_up + count):
        image = frames[i % len(frames)]
        for k in ((0, 1) if i % 2 == 0 else (1, 0)):
            await one_frame(clients[k], sides[k] if i >= warm_up else None, i, image)
    suite = negotiated(clients[1])
    for client in clients:
        await client.close()
    return sides[0], sides[1], suite


def paired_difference(tls: list[float], plain: list[float]) -> list[float]:
    return [a - b for a, b in zip(tls, plain)]


def report(plain: Side, secure: Side, suite: str, frames: list[bytes], count: int, command: str) -> str:
    def row(side: Side) -> str:
        return (f"| {side.name} | {statistics.median(side.rtt_ms):.2f} | {percentile(side.rtt_ms, 95):.2f} | "
                f"{statistics.median(side.server_ms):.2f} | {statistics.median(side.transport_ms):.2f} | "
                f"{percentile(side.transport_ms, 95):.2f} |")

    added_rtt = statistics.median(paired_difference(secure.rtt_ms, plain.rtt_ms))
    added_transport = statistics.median(paired_difference(secure.transport_ms, plain.transport_ms))
    size = statistics.mean(len(f) for f in frames)
    verdict = "met" if added_rtt <= TARGET_MS else "not met"
    return "\n".join([
        SECTION,
        "",
        f"Measured {machine()}. Command: `{command}`.",
        "",
        f"{count} frames to each service, 640x480 JPEG (quality 85, {size / 1024:.0f} KiB on average) from"
        " `data/sample.mp4`, `markers` detector, one frame in flight, the two services taking turns frame by frame"
        f" (which goes first alternates). TLS: {suite}, with the local CA's P-256 server certificate as",
        "`spatial serve --https` makes it; both ends are Python's `ssl` (OpenSSL), under uvicorn and `websockets`.",
        "",
        "| socket | round trip p50 ms | round trip p95 ms | server p50 ms | transport p50 ms | transport p95 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        row(plain),
        row(secure),
        "",
        f"TLS adds **{added_rtt:.2f} ms** to the round trip (median of the frame-by-frame differences;"
        f" {added_transport:.2f} ms to the transport alone). Target: at most {TARGET_MS:.0f} ms: {verdict}.",
        "Round trip runs from sending a frame to receiving its `objects` message; server time is the service's",
        "own (decode, detect, overlays); transport is the rest: both event loops, WebSocket framing, and",
        "for `wss://` encryption of the frame (client) and decryption (server), and the same for the answer.",
    ])


def measure_both(args: argparse.Namespace, command: str) -> str:
    """The round trips over plain WebSocket and over TLS, side by side: the section."""
    # The frame-rate limit (60/s by default) would pace the client: lift it to measure the round trip.
    with running_server("--max-fps", "1000") as plain, running_server("--https", "--max-fps", "1000") as secure:
        frames = list(sample_jpegs())
        plain_side, secure_side, suite = asyncio.run(measure(plain, secure, frames, args.frames, warm_up=30))
    return report(plain_side, secure_side, suite, frames, args.frames, command)


if __name__ == "__main__":
    raise SystemExit(run_benchmark("bench.tls", __doc__, measure_both, *OPTIONS))
