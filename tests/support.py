"""Helpers shared by tests and benchmarks: a real server process, the anchors services over a real store,
the sample data, and poses as the wire carries them."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import httpx
import numpy as np

from anchors import AccountService, BlockService, Limits, SpaceService, SQLiteStore, Store
from vision.poses import pose_difference

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SAMPLE_VIDEO = DATA / "sample.mp4"
SAMPLE_PATH = DATA / "sample_path.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    ws_url: str
    token: str
    store: Path
    process: subprocess.Popen

    def rest(self, token: str | None = None) -> httpx.Client:
        auth = token if token is not None else self.token
        headers = {"Authorization": f"Bearer {auth}"} if auth else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def new_token(self, user: str) -> str:
        """A token for `user` (created if new), through the CLI."""
        return subprocess.run(
            [sys.executable, "-m", "spatial.cli", "token", user, "--store", str(self.store)],
            check=True, capture_output=True, text=True,
        ).stdout.strip()


@dataclass(frozen=True)
class AnchorServices:
    """The anchors services over one store, wired as `spatial.services.Services.build` wires them."""

    store: Store
    accounts: AccountService
    blocks: BlockService
    spaces: SpaceService

    @classmethod
    def on(cls, store: Store, limits: Limits = Limits()) -> AnchorServices:
        blocks = BlockService(store, limits=limits)
        return cls(store, AccountService(store), blocks, SpaceService(blocks))

    @classmethod
    def in_memory(cls, limits: Limits = Limits()) -> AnchorServices:
        return cls.on(SQLiteStore(":memory:"), limits)


def start_server(store: Path, *extra: str, detector: str = "markers") -> Server:
    """Start `spatial serve` on a free port and wait until it answers.

    Tests use the `markers` detector unless they ask for another: the sample
    video's ground truth is the marker's pose in every frame.
    """
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "spatial.cli", "serve", "--store", str(store), "--port", str(port),
         "--log-level", "warning", "--detector", detector, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    token = None
    assert process.stdout is not None
    for line in process.stdout:
        match = re.search(r"#token=(\S+)", line)
        if match:
            token = match.group(1)
            break
    if not token:
        process.kill()
        raise RuntimeError("spatial serve did not print its URL")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return Server(url, f"ws://127.0.0.1:{port}/v1/stream", token, store, process)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("spatial serve did not come up within 30 s")



def start_detectron2_server(store: Path) -> Server:
    """A server running the project's own detectron2 model (data/models/shapes_r18_fpn), as the detectron2
    end-to-end tests use it: confident detections only, and a 20 ms batch wait that the flag sets."""
    model = DATA / "models" / "shapes_r18_fpn"
    return start_server(
        store,
        "--detector-option", f"config={model.with_suffix('.yaml')}",
        "--detector-option", f"weights={model.with_suffix('.pth')}",
        "--detector-option", "score_threshold=0.8",
        "--batch-wait-ms", "20",
        detector="detectron2",
    )

def stop_server(server: Server) -> None:
    server.process.send_signal(signal.SIGINT)
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


def load_data_script(name: str) -> ModuleType:
    """`data/<name>.py` as a module, loaded once (`data/` is a folder of scripts, not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DATA / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def load_make_sample() -> ModuleType:
    """`data/make_sample.py`, which renders the sample video and its ground truth."""
    return load_data_script("make_sample")


def sample_truth() -> dict[str, Any]:
    return json.loads(SAMPLE_PATH.read_text())


def sample_camera() -> dict[str, Any]:
    truth = sample_truth()
    return {"width": truth["width"], "height": truth["height"], **truth["intrinsics"]}


def jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """A BGR image as JPEG bytes, as a client would send it."""
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def sample_jpegs(quality: int = 85) -> Iterator[bytes]:
    capture = cv2.VideoCapture(str(SAMPLE_VIDEO))
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        yield jpeg(frame, quality)
    capture.release()


def row_major(pose: np.ndarray) -> list[float]:
    """A 4x4 pose as the wire carries it: 16 numbers, row by row."""
    return [float(v) for v in np.asarray(pose).reshape(16)]


def matrix(values: list[float]) -> np.ndarray:
    """A 4x4 from 16 row-major numbers."""
    return np.asarray(values, dtype=np.float64).reshape(4, 4)


def pose_errors(found: list[float], truth: list[float]) -> tuple[float, float]:
    """Translation error in metres and rotation error in degrees between two row-major 4x4 poses."""
    return pose_difference(matrix(found), matrix(truth))


def upload_room_map(rest: httpx.Client, room: Any, name: str) -> str:
    """A new space whose map is `room` (vision.scenes) as a first device maps it: two turns on the
    spot, depth fused in the room's frame and uploaded. Returns the space's id."""
    import base64

    from vision.camera import Intrinsics
    from vision.depth import DepthView, fuse_depth_views
    from vision.scenes import panorama_poses

    camera = Intrinsics.from_fov(320, 240, 60)
    views = []
    for centre, start in (((-1.0, 1.5, -0.8), 0.0), ((1.0, 1.5, 0.8), 20.0)):
        for k, pose in enumerate(panorama_poses(centre, 8, -20.0, start)):
            views.append(DepthView(room.render(camera, pose, 0.001, k).depth, camera, pose))
    points = fuse_depth_views(views, 0.025).astype("<f4")
    created = rest.post("/v1/spaces", json={"name": name})
    assert created.status_code == 201, created.text
    space_id = created.json()["id"]
    uploaded = rest.put(f"/v1/spaces/{space_id}/map", json={
        "points": base64.b64encode(points.tobytes()).decode(), "voxel_size": 0.05,
    })
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["point_count"] == len(points) and uploaded.json()["map_version"] == 1
    return space_id
