"""Recording stream frames, only when `spatial serve --record DIR` asks for it.

Each session gets a folder `DIR/<session id>/` with one JPEG a processed frame,
its faces blurred before it is encoded (`vision.privacy`), and `frames.jsonl`
with one line a frame: frame id, timestamp, the file, the objects found and
how many faces were blurred. Files are created readable by their owner only.
Without `--record` no frame is written anywhere: frames live in memory while
they are processed (and the last few, for `teach`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vision.privacy import face_blurrer

JPEG_QUALITY = 85


class FrameRecorder:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def record(self, session_id: str, frame_id: int, timestamp_ms: float, image: np.ndarray,
               objects: list[dict[str, Any]]) -> Path:
        """Blur the faces in a decoded BGR frame and write it; returns the JPEG's path.

        Called from the session's frame worker, one frame at a time per session."""
        blurred, faces = face_blurrer().blur(image)
        folder = self.directory / session_id
        folder.mkdir(exist_ok=True, mode=0o700)
        path = folder / f"{frame_id:08d}.jpg"
        ok, jpeg = cv2.imencode(".jpg", blurred, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        assert ok, "OpenCV failed to encode a decoded frame as JPEG"
        _write_private(path, jpeg.tobytes(), "wb")
        line = {"frame_id": frame_id, "timestamp": timestamp_ms, "file": path.name,
                "faces_blurred": len(faces), "objects": objects}
        _write_private(folder / "frames.jsonl", (json.dumps(line) + "\n").encode(), "ab")
        return path


def _write_private(path: Path, data: bytes, mode: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    with os.fdopen(os.open(path, flags, 0o600), mode) as out:
        out.write(data)
