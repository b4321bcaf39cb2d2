"""`spatial replay`: the stream pipeline over a video file, with an annotated video and a JSON log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from spatial.overlays import Overlay, OverlayDelta
from spatial.pipeline import FramePipeline, FrameResult, overlay_step
from spatial.protocol import FrameHeader
from spatial.render import paint
from spatial.render.placement import stack_above
from spatial.session import Viewer
from vision import Intrinsics

BOX_COLOR = (80, 220, 255)


class ReplayError(RuntimeError):
    pass


def video_frames(path: Path) -> tuple[Iterator[np.ndarray], int, float]:
    """The video's frames, their count (0 if unknown) and frame rate."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ReplayError(f"cannot open video {path}")
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0

    def frames() -> Iterator[np.ndarray]:
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    return
                yield frame
        finally:
            capture.release()

    return frames(), count, fps


class OverlayPainter:
    """Draws boxes and screen-locked overlay panels onto frames; rasters are cached by content hash."""

    def __init__(self) -> None:
        self._rasters: dict[str, Image.Image] = {}

    def raster(self, overlay: Overlay, scale: float) -> Image.Image:
        key = f"{overlay.hash}@{scale}"
        if key not in self._rasters:
            self._rasters[key] = paint(overlay.content, scale)
        return self._rasters[key]

    def draw(self, frame: np.ndarray, result: FrameResult, overlays: list[Overlay]) -> np.ndarray:
        for d in result.detections:
            x0, y0, x1, y1 = (int(round(v)) for v in d.box)
            cv2.rectangle(frame, (x0, y0), (x1, y1), BOX_COLOR, 2)
            cv2.putText(frame, d.object_id, (x0, y1 + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, BOX_COLOR, 1, cv2.LINE_AA)
        boxes = {d.object_id: d.box for d in result.detections}
        canvas = Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).convert("RGBA")
        for object_id, box in boxes.items():
            mine = sorted((o for o in overlays if o.object_id == object_id), key=lambda o: o.slot)
            sizes = [(o.content.width, o.content.height) for o in mine]
            for overlay, (left, top, scale) in zip(mine, stack_above(box, sizes, result.image_size)):
                canvas.alpha_composite(self.raster(overlay, scale), (int(left), int(top)) if top >= 0 else (int(left), 0))
        return cv2.cvtColor(np.asarray(canvas.convert("RGB")), cv2.COLOR_RGB2BGR)


def replay(
    pipeline: FramePipeline,
    viewer: Viewer,
    video: Path,
    out_video: Path,
    out_log: Path,
    intrinsics: Intrinsics | None,
    progress: bool = True,
) -> int:
    """Run the pipeline over every frame of `video`; returns the number of frames processed."""
    frames, count, fps = video_frames(video)
    out_video.parent.mkdir(parents=True, exist_ok=True)
    out_log.parent.mkdir(parents=True, exist_ok=True)
    painter = OverlayPainter()
    tracker = pipeline.new_tracker(asynchronous=False)
    writer: cv2.VideoWriter | None = None
    current: dict[str, Overlay] = {}
    processed = 0
    with out_log.open("w") as log:
        for index, frame in enumerate(tqdm(frames, total=count or None, unit="frame", disable=not progress)):
            if writer is None:
                height, width = frame.shape[:2]
                writer = cv2.VideoWriter(str(out_video), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
            result = pipeline.process_image(FrameHeader(index, index * 1000.0 / fps), frame, intrinsics, tracker)
            delta = overlay_step(viewer, result, now=index / fps)
            for gone in delta.removed:
                current.pop(gone, None)
            current.update({o.id: o for o in delta.added + delta.updated})
            writer.write(painter.draw(frame, result, list(current.values())))
            log.write(json.dumps(frame_log(index, result, current, delta)) + "\n")
            processed += 1
    if writer is None:
        raise ReplayError(f"video {video} has no readable frames")
    writer.release()
    return processed


def frame_log(index: int, result: FrameResult, current: dict[str, Overlay], delta: OverlayDelta) -> dict[str, Any]:
    return {
        "frame": index,
        "objects": result.objects_message().to_json()["objects"],
        "overlays": [{"id": o.id, "object_id": o.object_id, "block_id": o.block_id, "hash": o.hash} for o in current.values()],
        "sent": {"added": len(delta.added), "updated": len(delta.updated), "removed": len(delta.removed)},
        "timing_ms": {k: round(v, 2) for k, v in result.timing_ms.items()},
    }

