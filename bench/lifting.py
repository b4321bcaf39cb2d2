"""Objects lifted to 3D through the service: the `lift` stage per object with depth maps of three sizes
(160x120 is what the web client sends).

A real `spatial serve` (markers detector) on loopback; the room, crate and
poster board of harness/lifting.py (the lifting tests' scene), both taught over REST. One
session sends 640x480 JPEG frames with a float32 depth map and the device
pose, the camera stepping sideways 1 cm a frame with both objects in view,
one frame in flight; the `lift` time comes from each `objects` message.
Run: `python -m bench.lifting [--frames N] [--write]`.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import numpy as np

from bench.report import machine, option, percentile, run_benchmark
from harness.lifting import (
    BOARD,
    CAMERA,
    CRATE,
    DEVICE_FROM_ROOM,
    EYE,
    INTRINSICS,
    NOISE,
    ROOM,
    K,
    point_in,
    printed,
    sideways,
    teach,
)
from harness.samples import jpeg
from harness.servers import running_server
from spatial.client import StreamClient

HEADING = "## Objects in 3D through the service: lifting per object"
OPTIONS = (
    option("--frames", 40, "frames per depth map size"),
)


def row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


async def stream(server: Any, ids: dict[str, str], depth_size: tuple[int, int], frames: int) -> dict[str, list[float]]:
    """Per frame: the lift time per lifted object, and each object's centre error in cm."""
    depth_camera = K.scaled_to(*depth_size)
    between = (CRATE.centre + BOARD.centre) / 2
    found: dict[str, list[float]] = {"per_object": [], "lifted": [], "crate": [], "board": []}
    client = await StreamClient.open(server.ws_url, server.token, CAMERA)
    for k in range(frames):
        pose = sideways(EYE, between, k, 0.01)
        view = ROOM.render(K, pose)
        depth = ROOM.render(depth_camera, pose, NOISE, k).depth
        reply = await client.frame(k, jpeg(printed(view)), intrinsics=INTRINSICS, device_pose=DEVICE_FROM_ROOM @ pose,
                                   depth=depth)
        lifted = [o for o in reply["objects"] if "box3d" in o]
        if lifted:
            found["per_object"].append(reply["timing"]["lift"] / len(lifted))
        found["lifted"].append(len(lifted))
        for name, obj in (("crate", CRATE), ("board", BOARD)):
            for o in lifted:
                if o["id"] == ids[name]:
                    found[name].append(100 * float(np.linalg.norm(np.subtract(o["box3d"]["centre"],
                                                                              point_in(DEVICE_FROM_ROOM, obj.centre)))))
    await client.close()
    return found


def report(frames: int, command: str) -> str:
    rows = []
    with running_server("--max-fps", "1000") as server:
        ids = {"crate": teach(server, CRATE), "board": teach(server, BOARD)}
        for size in ((640, 480), (320, 240), (160, 120)):
            found = asyncio.run(stream(server, ids, size, frames))
            per_object = found["per_object"]

            def error(name: str) -> str:
                values = found[name]
                return f"{percentile(values, 50):.1f} / {max(values):.1f} ({len(values)})" if values else "none"

            rows.append(row(f"{size[0]}x{size[1]}", frames, f"{np.mean(found['lifted']):.2f}",
                            f"{percentile(per_object, 50):.2f}", f"{percentile(per_object, 95):.2f}",
                            error("crate"), error("board")))
    return "\n".join([
        HEADING,
        "",
        f"{machine()}, load average {os.getloadavg()[0]:.1f} at the end (the machine is shared). "
        f"Command: `{command}`.",
        "A real `spatial serve` (markers detector, taught objects) on loopback; frames of the room of "
        "`harness/lifting.py` (a 0.5 x 0.4 x 0.4 m crate and a 0.8 x 0.6 m poster board, both "
        "covered in photos and taught without a size), 640x480 JPEG with float32 depth (1 mm noise at 1 m) and "
        "the device pose, the camera 1.9 m away stepping 1 cm sideways a frame, one frame in flight. Objects come "
        "from recognition every 5th frame and tracking in between, so they are lifted from their boxes (no masks): "
        "the support plane is dropped, DBSCAN keeps the object (`vision.lifting`). `lift` per object is the frame's "
        "`lift` stage over the objects lifted in it; errors are the box centres' distances from the truth in the "
        "device frame (frames lifted in brackets).",
        "",
        "| depth map | frames | objects lifted per frame | lift per object p50 ms | p95 ms | crate centre error "
        "p50 / max cm | board centre error p50 / max cm |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
    ])


if __name__ == "__main__":
    raise SystemExit(run_benchmark(
        "bench.lifting", __doc__, lambda args, command: report(args.frames, command), *OPTIONS,
    ))
