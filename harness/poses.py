"""Poses as the wire carries them (16 row-major numbers) and the error between two of them."""

from __future__ import annotations

import numpy as np

from vision.poses import pose_difference


def row_major(pose: np.ndarray) -> list[float]:
    """A 4x4 pose as the wire carries it: 16 numbers, row by row."""
    return [float(v) for v in np.asarray(pose).reshape(16)]


def matrix(values: list[float]) -> np.ndarray:
    """A 4x4 from 16 row-major numbers."""
    return np.asarray(values, dtype=np.float64).reshape(4, 4)


def pose_errors(found: list[float], truth: list[float]) -> tuple[float, float]:
    """Translation error in metres and rotation error in degrees between two row-major 4x4 poses."""
    return pose_difference(matrix(found), matrix(truth))
