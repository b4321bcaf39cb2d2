"""Depth maps to 3D points.

A depth map is an HxW float32 array of z-depths in metres along the camera's
optical axis (not ray lengths), 0 (or any non-finite or negative value) where
there is no measurement, covering the same field of view as the colour image.
It may have a lower resolution than the image (WebXR depth sensing gives
about 160x90 to 256x192); intrinsics are scaled to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vision.camera import Intrinsics
from vision.lazy import open3d
from vision.poses import check_pose, transform_points


class DepthMapError(ValueError):
    """A depth map is not a 2D array of metres matching its camera."""


@dataclass(frozen=True)
class DepthView:
    """One depth map with its camera: intrinsics of the image and camera-to-frame pose (OpenCV axes)."""

    depth: np.ndarray
    intrinsics: Intrinsics
    camera_to_frame: np.ndarray


def check_depth(depth: Any, intrinsics: Intrinsics) -> np.ndarray:
    """`depth` as a float32 2D array with invalid values set to 0; DepthMapError otherwise.

    Its aspect ratio must match the image's within 2%, since it must cover the same view.
    """
    try:
        array = np.asarray(depth, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise DepthMapError("depth map must be an array of numbers (metres)") from exc
    if array.ndim != 2 or min(array.shape) < 2:
        raise DepthMapError(f"depth map must be a 2D array, got shape {array.shape}")
    height, width = array.shape
    if abs((width / height) / (intrinsics.width / intrinsics.height) - 1.0) > 0.02:
        raise DepthMapError(
            f"depth map {width}x{height} does not cover the {intrinsics.width}x{intrinsics.height} image's view"
        )
    invalid = ~np.isfinite(array) | (array < 0)
    if invalid.any():
        array = np.where(invalid, np.float32(0.0), array)
    return array


def depth_intrinsics(depth: np.ndarray, intrinsics: Intrinsics) -> Intrinsics:
    """The image intrinsics scaled to the depth map's resolution."""
    height, width = depth.shape
    if (width, height) == (intrinsics.width, intrinsics.height):
        return intrinsics
    return intrinsics.scaled_to(width, height)


def backproject(depth: np.ndarray, intrinsics: Intrinsics, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Camera-frame (N, 3) points of the given pixels; `intrinsics` must be the depth map's own."""
    z = depth[rows, cols].astype(np.float64)
    x = (cols - intrinsics.cx) * z / intrinsics.fx
    y = (rows - intrinsics.cy) * z / intrinsics.fy
    return np.column_stack((x, y, z))


def depth_to_points(
    depth: Any, intrinsics: Intrinsics, camera_to_frame: Any | None = None, stride: int = 1
) -> np.ndarray:
    """All valid pixels of a depth map (every `stride`-th row and column) as (N, 3) points.

    Points are in the camera frame, or in the frame `camera_to_frame` maps to.
    """
    depth = check_depth(depth, intrinsics)
    own = depth_intrinsics(depth, intrinsics)
    sampled = depth[::stride, ::stride]
    rows, cols = np.nonzero(sampled > 0)
    points = backproject(depth, own, rows * stride, cols * stride)
    if camera_to_frame is not None:
        points = transform_points(check_pose(camera_to_frame, "camera pose"), points)
    return points


def fuse_depth_views(views: Iterable[DepthView], voxel_size: float, stride: int = 2) -> np.ndarray:
    """The (N, 3) points of several depth views in their common frame, voxel-downsampled.

    This is how a space map, or a device's view of a space for relocalisation,
    is gathered: each view's points are mapped by its camera pose and one point
    is kept per `voxel_size` cube (the mean of the points in it).
    """
    if voxel_size <= 0:
        raise ValueError("voxel_size must be positive")
    parts = [depth_to_points(v.depth, v.intrinsics, v.camera_to_frame, stride) for v in views]
    if not parts:
        raise DepthMapError("no depth views to fuse")
    o3d = open3d()
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.concatenate(parts)))
    return np.asarray(cloud.voxel_down_sample(voxel_size).points)
