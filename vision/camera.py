"""Pinhole camera intrinsics."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels for an image of `width` x `height`."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_fov(cls, width: int, height: int, fov_y_deg: float) -> Intrinsics:
        """Intrinsics of a centred pinhole camera with the given vertical field of view."""
        f = (height / 2.0) / math.tan(math.radians(fov_y_deg) / 2.0)
        return cls(f, f, width / 2.0, height / 2.0, width, height)

    def matrix(self) -> np.ndarray:
        """The 3x3 camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def scaled_to(self, width: int, height: int) -> Intrinsics:
        """The same camera for an image resized to `width` x `height`."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, width, height)
