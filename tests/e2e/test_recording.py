"""Frames are written only when recording is asked for, and then with faces blurred."""

import asyncio
import json
import os
from pathlib import Path

import cv2
import numpy as np
from skimage import data as skdata

from harness.servers import Server, start_server, stop_server
from spatial.client import StreamClient
from vision.privacy import FaceBlurrer


def astronaut_jpegs(count: int) -> tuple[np.ndarray, list[bytes]]:
    image = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), [jpeg] * count


def stream(server: Server, jpegs: list[bytes]) -> str:
    """Send the frames in one session; returns its id."""

    async def scenario() -> str:
        client = await StreamClient.open(server.ws_url, server.token)
        session = client.of_type("welcome")[0]["session"]
        for index, jpeg in enumerate(jpegs):
            assert (await client.frame(index, jpeg))["type"] == "objects"
        await client.close()
        return session

    return asyncio.run(scenario())


def open_files(pid: int) -> set[str]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            found.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return {f for f in found if f.startswith("/") and not f.startswith("/dev/")}


def test_recorded_frames_have_their_faces_blurred(tmp_path: Path) -> None:
    record = tmp_path / "recording"
    server = start_server(tmp_path / "store.db", "--record", str(record))
    try:
        decoded, jpegs = astronaut_jpegs(3)
        session = stream(server, jpegs)
    finally:
        stop_server(server)
    folder = record / session
    lines = [json.loads(line) for line in (folder / "frames.jsonl").read_text().splitlines()]
    assert [line["frame_id"] for line in lines] == [0, 1, 2]
    assert all(line["faces_blurred"] >= 1 and line["file"].endswith(".jpg") for line in lines)
    assert oct((folder / lines[0]["file"]).stat().st_mode & 0o777) == oct(0o600)

    recorded = cv2.imread(str(folder / lines[0]["file"]))
    blurrer = FaceBlurrer()
    faces = blurrer.faces(decoded)
    assert faces and blurrer.faces(recorded) == [], "the face in the stream is not in the recording"
    face = faces[0]
    region = (slice(face.y0, face.y1), slice(face.x0, face.x1))
    assert np.abs(recorded[region].astype(int) - decoded[region].astype(int)).mean() > 8
    sky = (slice(0, 40), slice(400, 512))
    assert np.abs(recorded[sky].astype(int) - decoded[sky].astype(int)).mean() < 4, "the rest is the frame"


def test_without_record_no_frame_is_written(tmp_path: Path) -> None:
    store_dir = tmp_path / "service"
    server = start_server(store_dir / "store.db")
    try:
        _, jpegs = astronaut_jpegs(3)
        stream(server, jpegs)
        held = open_files(server.process.pid)
    finally:
        stop_server(server)
    assert held and held <= {str(store_dir / n) for n in ("store.db", "store.db-wal", "store.db-shm")}, held
    written = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert written <= {"store.db", "store.db-wal", "store.db-shm", "store.db.key"}, written
