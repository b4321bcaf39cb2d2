"""One benchmark client streaming frames to a service, one frame in flight, as the web client does."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from harness.samples import sample_camera
from spatial.client import StreamClient
from spatial.protocol import pack_frame


@dataclass
class StreamRun:
    """What one client measured."""

    seconds: float = 0.0
    """The whole run, wall clock."""
    rtt_ms: list[float] = field(default_factory=list)
    """Each frame's round trip, from sending it to receiving its `objects` message."""
    server_ms: list[float] = field(default_factory=list)
    """The service's own time for each frame (its `timing.total`)."""
    sent_bytes: int = 0
    received_bytes: int = 0
    dropped: int = 0
    """Frames the service replaced while they waited (asked for at the end, with `stats`)."""


async def stream_frames(url: str, token: str, frames: list[bytes], count: int, stats: bool = False) -> StreamRun:
    """Send `count` of `frames` (round and round) as the sample camera's, each when the previous one's `objects`
    arrived; with `stats`, ask the service for its stream stats at the end."""
    run = StreamRun()
    client = await StreamClient.open(url, token, sample_camera())
    start = time.perf_counter()
    for i in range(count):
        data = pack_frame(i, time.time() * 1000, frames[i % len(frames)])
        sent = time.perf_counter()
        await client.ws.send(data)
        run.sent_bytes += len(data)
        while True:
            raw = await client.ws.recv()
            run.received_bytes += len(raw)
            message = json.loads(raw)
            if message["type"] == "objects":
                break
        run.rtt_ms.append((time.perf_counter() - sent) * 1e3)
        run.server_ms.append(message["timing"]["total"])
    run.seconds = time.perf_counter() - start
    if stats:
        await client.send_json({"type": "stats"})
        run.dropped = (await client.next_of("stats"))["dropped"]
    await client.close()
    return run
