"""Rigid 4x4 poses: validation, inversion, comparison and the WebXR camera convention.

A pose `a_from_b` maps points in frame b to frame a: `p_a = a_from_b @ p_b`
(homogeneous). Camera poses are camera-to-world with OpenCV camera axes:
x right, y down, z forward. WebXR views look down -z with y up; see
`opencv_from_webxr_view`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# WebXR camera axes (x right, y up, z backward) to OpenCV ones (x right, y down, z forward).
_FLIP_YZ = np.diag([1.0, -1.0, -1.0, 1.0])
_LAST_ROW = np.array([0.0, 0.0, 0.0, 1.0])
_IDENTITY3 = np.eye(3)


class PoseError(ValueError):
    """A pose is not a finite rigid 4x4 transform."""


def check_pose(pose: Any, what: str = "pose", tolerance: float = 1e-3) -> np.ndarray:
    """`pose` as a float64 4x4 rigid transform; PoseError naming `what` otherwise.

    The rotation block must be orthonormal with determinant +1 within
    `tolerance` and the last row must be (0, 0, 0, 1).
    """
    try:
        matrix = np.asarray(pose, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PoseError(f"{what} must be a 4x4 matrix of numbers") from exc
    if matrix.shape != (4, 4):
        raise PoseError(f"{what} must be a 4x4 matrix, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise PoseError(f"{what} has non-finite values")
    if np.abs(matrix[3] - _LAST_ROW).max() > tolerance:
        raise PoseError(f"{what} must have (0, 0, 0, 1) as its last row")
    rotation = matrix[:3, :3]
    if np.abs(rotation.T @ rotation - _IDENTITY3).max() > tolerance or np.linalg.det(rotation) < 0:
        raise PoseError(f"{what} rotation block is not a proper rotation")
    return matrix


def invert_pose(pose: np.ndarray) -> np.ndarray:
    """The inverse of a rigid 4x4 transform (b_from_a from a_from_b)."""
    rotation, translation = pose[:3, :3], pose[:3, 3]
    inverse = np.eye(4)
    inverse[:3, :3] = rotation.T
    inverse[:3, 3] = -rotation.T @ translation
    return inverse


def make_pose(rotation: np.ndarray | None = None, translation: Any = (0.0, 0.0, 0.0)) -> np.ndarray:
    """A 4x4 pose from a 3x3 rotation (identity if None) and a translation."""
    pose = np.eye(4)
    if rotation is not None:
        pose[:3, :3] = rotation
    pose[:3, 3] = np.asarray(translation, dtype=np.float64).reshape(3)
    return pose


def rotation_about(axis: Any, degrees: float) -> np.ndarray:
    """The 3x3 rotation of `degrees` about `axis` (right-handed)."""
    unit = np.asarray(axis, dtype=np.float64)
    unit = unit / np.linalg.norm(unit)
    angle = math.radians(degrees)
    cross = np.array([[0.0, -unit[2], unit[1]], [unit[2], 0.0, -unit[0]], [-unit[1], unit[0], 0.0]])
    return np.eye(3) + math.sin(angle) * cross + (1.0 - math.cos(angle)) * cross @ cross


def rotation_angle_deg(rotation: np.ndarray) -> float:
    """The angle in degrees of a 3x3 rotation (0 for identity)."""
    cosine = (np.trace(rotation) - 1.0) / 2.0
    return math.degrees(math.acos(max(-1.0, min(1.0, cosine))))


def pose_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(translation distance in metres, rotation angle in degrees) between two poses."""
    return float(np.linalg.norm(a[:3, 3] - b[:3, 3])), rotation_angle_deg(a[:3, :3].T @ b[:3, :3])


def transform_points(pose: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 3) points mapped by a 4x4 pose."""
    return points @ pose[:3, :3].T + pose[:3, 3]


def opencv_from_webxr_view(view_pose: Any) -> np.ndarray:
    """The OpenCV camera-to-world pose of a WebXR view pose.

    A WebXR `XRView.transform` maps the view's frame (x right, y up, looking
    down -z) into the reference space. The reference space stays as it is
    (y up in WebXR); only the camera axes flip, so the result maps OpenCV
    camera coordinates (x right, y down, z forward) into the same space.
    """
    return check_pose(view_pose, "WebXR view pose") @ _FLIP_YZ
