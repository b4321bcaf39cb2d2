"""The default detector: real objects (MediaPipe) and fiducial markers in one pass.

Options pass through to the backend that declares them: `size_m`,
`families`, `min_side_ratio` to `markers`; `min_score`, `max_objects`,
`classes`, `objectron`, `object_sizes_m` to `mediapipe`. Each detection keeps
the name of the backend that found it.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from vision.backends.markers import MarkerDetector
from vision.backends.mediapipe import MediaPipeDetector
from vision.camera import Intrinsics
from vision.detection import DETECTORS, Detection, Detector, DetectorConfigError


def option_names(factory: type[Detector]) -> set[str]:
    """The keyword options a backend's constructor takes."""
    return set(inspect.signature(factory.__init__).parameters) - {"self"}


@DETECTORS.register("auto")
class AutoDetector(Detector):
    """`mediapipe` and `markers` together."""

    parts: tuple[type[Detector], ...] = (MediaPipeDetector, MarkerDetector)

    def __init__(self, **options: Any) -> None:
        unknown = set(options) - set().union(*(option_names(p) for p in self.parts))
        if unknown:
            raise DetectorConfigError(f"detector 'auto' has no option {', '.join(sorted(unknown))}")
        self.detectors = [
            part(**{k: v for k, v in options.items() if k in option_names(part)}) for part in self.parts
        ]

    def detect(self, image: np.ndarray, intrinsics: Intrinsics) -> list[Detection]:
        return [found for detector in self.detectors for found in detector.detect(image, intrinsics)]
