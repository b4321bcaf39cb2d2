"""The detector interface and the registry that picks a backend by name.

A backend registers itself with `@DETECTORS.register("name")` (a
`registry.Registry`: a second backend under a taken name is refused);
configuration names the backend and passes its options to `create_detector`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from registry import Registry, UnknownName
from vision.camera import Intrinsics


@dataclass
class Detection:
    """One object found in one frame.

    `object_id` is stable for the same physical object when the backend can
    tell (markers: their dictionary and id). `label` is a name from
    `vision.labels`. `box` is (x0, y0, x1, y1) in pixels. `pose` is the
    object-to-camera 4x4 transform when known; `mask` a boolean image-sized
    array when the backend segments. `source` says where this frame's box came
    from: "detection" (the backend ran on this frame) or "tracking" (carried
    from an earlier detection by `vision.tracking.Tracker`). `velocity` is how
    fast the box's centre moves in the image, (x, y) pixels a second, where a
    tracker followed it between timed frames.
    """

    object_id: str
    label: str
    score: float
    box: tuple[float, float, float, float]
    backend: str
    pose: np.ndarray | None = None
    corners: np.ndarray | None = None
    mask: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    source: str = "detection"
    velocity: tuple[float, float] | None = None


@dataclass(frozen=True)
class Outage:
    """A backend that runs elsewhere does not answer: detections come from a fallback in this process meanwhile."""

    number: int
    """Counts the backend's outages, so that each one is reported once to each stream."""
    reason: str


class Detector(ABC):
    """Finds objects in a BGR image."""

    name: str = ""
    stable_ids: bool = False
    """True when the backend's ids already name the physical object and it runs on every frame: a stream
    then needs no tracker (markers)."""

    @abstractmethod
    def detect(self, image: np.ndarray, intrinsics: Intrinsics) -> list[Detection]:
        """All objects found in `image`, taken by a camera with `intrinsics`. A frame from the stream is a
        `vision.frames.EncodedFrame`, which keeps the bytes the client sent."""

    def outage(self) -> Outage | None:
        """The outage the backend is in now, None while it answers (always, for a backend in this process)."""
        return None

    def close(self) -> None:
        """Release threads or devices the detector holds; nothing by default."""


class DetectorConfigError(ValueError):
    """A detector cannot be built as configured (unknown name, bad option, missing weights)."""


class UnknownDetectorError(UnknownName, DetectorConfigError):
    """No detector backend is registered under the requested name."""


def _name_backend(name: str, factory: type[Detector]) -> None:
    factory.name = name


DETECTORS: Registry[type[Detector]] = Registry("detector", UnknownDetectorError, on_register=_name_backend)
"""Detector backends by name; registering one also sets its `Detector.name`."""


def create_detector(name: str, **options: Any) -> Detector:
    """Build the detector registered as `name` with backend-specific `options`."""
    import vision.backends  # noqa: F401  (registers the built-in backends)

    factory = DETECTORS.get(name)
    try:
        return factory(**options)
    except TypeError as exc:
        raise DetectorConfigError(f"detector {name!r}: {exc}") from None
