"""Faces blurred before a frame leaves the process (a recording, a task on another machine).

MediaPipe's face detector (BlazeFace, both models that ship inside the
`mediapipe` wheel: short range for faces within about 2 m, full range for
faces up to about 5 m) finds the faces; each is pixelated to a coarse grid and
then blurred, over its box grown by a margin. Detection is best effort: a face
the detector misses (turned away, tiny, half hidden) stays as it is, which is
why nothing is recorded unless asked for.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from vision.detection import DetectorConfigError

BLOCKS_ACROSS = 8
"""A blurred face keeps at most this many pixels across, before smoothing."""


@dataclass(frozen=True)
class FaceBox:
    x0: int
    y0: int
    x1: int
    y1: int
    score: float


class FaceBlurrer:
    """Not thread-safe (MediaPipe graphs are not); `blur_faces` keeps one per thread."""

    def __init__(self, min_confidence: float = 0.4, margin: float = 0.25) -> None:
        try:
            from mediapipe.python.solutions import face_detection
        except ImportError as exc:
            raise DetectorConfigError(
                "blurring faces needs mediapipe; install it with `make mediapipe` (scripts/install_mediapipe.sh)"
            ) from exc
        self.margin = margin
        self._models = [
            face_detection.FaceDetection(model_selection=selection, min_detection_confidence=min_confidence)
            for selection in (0, 1)
        ]

    def faces(self, image: np.ndarray) -> list[FaceBox]:
        """Faces in a BGR image, each box grown by the margin and clipped to the image."""
        height, width = image.shape[:2]
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        found = []
        for model in self._models:
            for detection in model.process(rgb).detections or []:
                box = detection.location_data.relative_bounding_box
                grow_x, grow_y = box.width * self.margin, box.height * self.margin
                x0 = int(max(0.0, box.xmin - grow_x) * width)
                y0 = int(max(0.0, box.ymin - grow_y) * height)
                x1 = int(np.ceil(min(1.0, box.xmin + box.width + grow_x) * width))
                y1 = int(np.ceil(min(1.0, box.ymin + box.height + grow_y) * height))
                if x1 > x0 and y1 > y0:
                    found.append(FaceBox(x0, y0, x1, y1, float(detection.score[0])))
        return found

    def blur(self, image: np.ndarray) -> tuple[np.ndarray, list[FaceBox]]:
        """A copy of the BGR image with every face found pixelated and smoothed, and the faces."""
        out = image.copy()
        faces = self.faces(image)
        for face in faces:
            region = out[face.y0 : face.y1, face.x0 : face.x1]
            h, w = region.shape[:2]
            scale = BLOCKS_ACROSS / max(w, h)
            small = cv2.resize(region, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
            coarse = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
            kernel = (max(w, h) // BLOCKS_ACROSS) | 1
            region[:] = cv2.GaussianBlur(coarse, (kernel, kernel), 0)
        return out, faces


_local = threading.local()


def face_blurrer() -> FaceBlurrer:
    """This thread's blurrer, made on first use."""
    blurrer = getattr(_local, "blurrer", None)
    if blurrer is None:
        blurrer = _local.blurrer = FaceBlurrer()
    return blurrer


def blur_faces(image: np.ndarray) -> np.ndarray:
    """A copy of a BGR image with its faces blurred."""
    return face_blurrer().blur(image)[0]
