"""The Ray backend hands its deployment the bytes the client sent, and encodes only an image that has none."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from vision.backends.ray_serve import RayServeDetector
from vision.camera import Intrinsics
from vision.frames import decode_frame, decode_image

CAMERA = Intrinsics.from_fov(64, 48, 60)
PICTURE = np.random.default_rng(5).integers(0, 255, (48, 64, 3), dtype=np.uint8)


class Reply:
    def unpacked(self) -> list[Any]:
        return []


class Response:
    def result(self, timeout_s: float) -> Reply:
        return Reply()


class Detect:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def remote(self, frame: bytes, intrinsics: Intrinsics) -> Response:
        self.sent.append(frame)
        return Response()


class Handle:
    def __init__(self) -> None:
        self.detect = Detect()


def detector_on(handle: Handle) -> RayServeDetector:
    """The backend as it stands once joined to a cluster, its deployment `handle`."""
    detector = RayServeDetector.__new__(RayServeDetector)
    detector.handle, detector.timeout_s, detector._outage = handle, 2.0, None  # type: ignore[assignment]
    return detector


def test_a_stream_frame_goes_to_the_deployment_as_the_client_sent_it() -> None:
    handle = Handle()
    data = cv2.imencode(".webp", PICTURE)[1].tobytes()
    detector_on(handle).detect(decode_frame(data), CAMERA)
    assert handle.detect.sent == [data]


def test_an_image_without_its_bytes_goes_as_jpeg() -> None:
    handle = Handle()
    detector_on(handle).detect(PICTURE, CAMERA)
    [sent] = handle.detect.sent
    assert sent[:3] == b"\xff\xd8\xff"
    assert decode_image(sent).shape == PICTURE.shape
