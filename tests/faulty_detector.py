"""A detector backend that fails on the frames a test chooses, for the tests of the stream's supervision
and of detection on a Ray cluster (where the deployment imports this module to build it).

Start a server with it through the ordinary extension mechanism, as any backend of your own:

    spatial serve --plugin tests.faulty_detector --detector faulty

It finds markers through the `markers` backend (whose detections they are), and raises on a frame whose
image is all one colour: a test chooses which frames fail by sending such an image (as PNG, which keeps
the colour exact).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vision import DETECTORS, Detection, Detector, Intrinsics
from vision.backends.markers import MarkerDetector


class InjectedFault(RuntimeError):
    """The fault this backend raises on a frame of one colour."""


@DETECTORS.register("faulty")
class FaultyDetector(Detector):
    stable_ids = True

    def __init__(self, **options: Any) -> None:
        self.markers = MarkerDetector(**options)

    def detect(self, image: np.ndarray, intrinsics: Intrinsics) -> list[Detection]:
        if image.min() == image.max():
            raise InjectedFault(f"faulty detector: a frame of one colour ({int(image.flat[0])}) fails, as asked")
        return self.markers.detect(image, intrinsics)
