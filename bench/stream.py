"""Stream benchmark: server time per frame, round trip and frames/s with 1 and 8 clients.

Each client streams the 640x480 sample video over loopback with one frame in
flight (it sends the next frame when the previous one's `objects` arrives), as
the web client does. Run: `python -m bench.stream [--frames N] [--write]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from bench.report import machine, option, percentile, run_benchmark
from bench.streaming import StreamRun, stream_frames
from harness.samples import sample_jpegs
from harness.servers import running_server

SECTION = "## Stream: server time, round trip, frames per second"
OPTIONS = (
    option("--frames", 300, "frames per client"),
    option("--clients", [1, 8], type=int, nargs="+"),
)


async def measure(url: str, token: str, frames: list[bytes], clients: int, count: int) -> list[StreamRun]:
    return await asyncio.gather(*(stream_frames(url, token, frames, count, stats=True) for _ in range(clients)))


def summarise(clients: int, runs: list[StreamRun]) -> str:
    server = [v for r in runs for v in r.server_ms]
    rtt = [v for r in runs for v in r.rtt_ms]
    total_frames = sum(len(r.rtt_ms) for r in runs)
    wall = max(r.seconds for r in runs)
    per_client = statistics.mean(len(r.rtt_ms) / r.seconds for r in runs)
    return (
        f"| {clients} | {statistics.median(server):.1f} | {percentile(server, 95):.1f} | "
        f"{statistics.median(rtt):.1f} | {percentile(rtt, 95):.1f} | {per_client:.0f} | "
        f"{total_frames / wall:.0f} | {sum(r.dropped for r in runs)} |"
    )


def report(rows: list[str], frames: int, command: str) -> str:
    return "\n".join([
        SECTION,
        "",
        f"Measured {machine()}, `markers` detector, "
        f"640x480 JPEG (quality 85) frames of `data/sample.mp4`, {frames} frames per client, one frame in flight.",
        "",
        f"Command: `{command}`",
        "",
        "| clients | server p50 ms | server p95 ms | round trip p50 ms | round trip p95 ms | fps per client | fps total | dropped |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        "Server time is decode + detect + overlays, measured in the server; round trip is from sending a frame",
        "to receiving its `objects` message. `dropped` counts frames replaced while waiting (latest frame wins):",
        "0 means no frame was ever queued behind another.",
    ])


def run(args: argparse.Namespace, command: str) -> str:
    """Each number of clients against one service: the section."""
    frames = list(sample_jpegs())
    # The frame-rate limit (60/s by default) would cap a single client: lift it to measure capacity.
    with running_server("--max-fps", "1000") as server:
        asyncio.run(measure(server.ws_url, server.token, frames, 1, 30))  # warm-up
        rows = []
        for clients in args.clients:
            runs = asyncio.run(measure(server.ws_url, server.token, frames, clients, args.frames))
            rows.append(summarise(clients, runs))
            print(rows[-1], flush=True)
    return report(rows, args.frames, command)


if __name__ == "__main__":
    raise SystemExit(run_benchmark("bench.stream", __doc__, run, *OPTIONS))
