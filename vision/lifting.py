"""Lifting 2D detections to 3D: position, oriented bounding box and pose.

With depth: the pixels of the detection's mask (or box) are back-projected
into a point cloud, isolated points are dropped (a radius filter) and an
oriented bounding box is fitted. Without depth: the box centre is
triangulated from several views with known camera poses. A marker or taught
object needs no lifting: `camera_to_world @ detection.pose` is its world pose.

Boxes are (x0, y0, x1, y1) in pixels of the image the intrinsics describe;
masks are boolean arrays of that image's size (or of the depth map's size).
The result is in the camera frame, or in the world frame when a
camera-to-world pose (OpenCV camera axes) is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from vision.camera import Intrinsics
from vision.depth import backproject, check_depth, depth_intrinsics
from vision.detection import Detection
from vision.lazy import kd_tree, open3d
from vision.poses import check_pose, make_pose, transform_points

WORLD_UP = (0.0, 1.0, 0.0)  # up in WebXR reference spaces and in `vision.scenes` rooms


class LiftingError(ValueError):
    """A detection cannot be lifted: bad box or mask, too few depth points, or ill-posed views."""


@dataclass(frozen=True)
class OrientedBox:
    """A box with full side lengths `extent` along the columns of `rotation`, centred on `centre`."""

    centre: np.ndarray
    extent: np.ndarray
    rotation: np.ndarray

    def pose(self) -> np.ndarray:
        """The 4x4 box-to-frame pose."""
        return make_pose(self.rotation, self.centre)


@dataclass(frozen=True)
class LiftedObject:
    """An object in 3D: its bounding box, its pose (box-to-frame) and how many points support it.

    The box bounds the surface that was seen: sides never seen (the back of a
    cylinder) are not guessed, so a one-view box of a round object is shallow
    and its centre is pulled towards the camera. Fusing the points of several
    views (`region_points` per view, then `fit_box`) closes the gap.
    """

    box: OrientedBox
    points: int

    @property
    def centre(self) -> np.ndarray:
        return self.box.centre

    @property
    def pose(self) -> np.ndarray:
        return self.box.pose()


@dataclass(frozen=True)
class Triangulation:
    """A point triangulated from rays: its position, the RMS distance of the rays from it, their widest angle."""

    position: np.ndarray
    ray_rms: float
    max_angle_deg: float


def region_points(
    depth: Any,
    intrinsics: Intrinsics,
    box: Sequence[float] | None = None,
    mask: np.ndarray | None = None,
    camera_to_world: Any | None = None,
    up: Sequence[float] | None = None,
    max_points: int = 1024,
    erode_px: int = 0,
) -> np.ndarray:
    """The (N, 3) points of a detection's depth pixels, at most about `max_points` of them.

    The pixels are the mask's (eroded by `erode_px` pixels for masks that
    bleed over the object's outline) or, with a box only, the box's. Of these, only
    those whose depth is within the region's metric size of the depth at its
    centre are kept, which drops background seen through or around the object.
    With a box only, the object is then told from its surroundings: when `up`
    (in the output frame) is given, the horizontal plane it stands on (floor,
    table top) is dropped, and of the remaining points the cluster (open3d
    DBSCAN) holding most of the box's central half is kept. Pixels are sampled
    on a regular grid when there are more than `max_points`.
    """
    if box is None and mask is None:
        raise LiftingError("a box or a mask is needed to lift a detection")
    unit_up = None if up is None else _unit(up)
    depth = check_depth(depth, intrinsics)
    own = depth_intrinsics(depth, intrinsics)
    region = _region_mask(depth.shape, intrinsics, box, mask)
    if region is None:
        raise LiftingError("the detection's box or mask covers no pixel of the depth map")
    (r0, c0), selected = region
    if mask is not None and erode_px > 0:
        eroded = cv2.erode(selected.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=erode_px).astype(bool)
        if eroded.sum() >= 16:
            selected = eroded
    crop = depth[r0:r0 + selected.shape[0], c0:c0 + selected.shape[1]]
    selected = selected & (crop > 0)
    count = int(selected.sum())
    if count < 8:
        raise LiftingError(f"only {count} pixels with depth inside the detection")
    stride = max(1, math.ceil(math.sqrt(count / max_points)))
    rows, cols = np.nonzero(selected[::stride, ::stride])
    rows, cols = rows * stride, cols * stride
    keep, reference = _near_centre_depth(crop, selected, rows, cols, own)
    rows, cols = rows[keep], cols[keep]
    points = backproject(depth, own, rows + r0, cols + c0)
    if camera_to_world is not None:
        points = transform_points(check_pose(camera_to_world, "camera pose"), points)
    if mask is None:
        height, width = selected.shape
        central = (np.abs(rows - height / 2) <= height / 4) & (np.abs(cols - width / 2) <= width / 4)
        points = _object_cluster(points, central, stride * reference / own.fx, unit_up)
    if len(points) < 8:
        raise LiftingError(f"only {len(points)} depth points left for the detection")
    return points


def fit_box(points: np.ndarray, up: Sequence[float] | None = None, min_neighbours: int = 3,
            radius_spacings: float = 4.0) -> LiftedObject:
    """The oriented bounding box of (N, 3) points after radius outlier removal.

    A point is an outlier when fewer than `min_neighbours` others lie within
    `radius_spacings` times the median nearest-neighbour distance (the cloud's
    point spacing); 0 turns the filter off. Unlike open3d's statistical filter
    this keeps sparse but real surfaces, such as faces seen at a grazing angle.
    It is open3d's radius filter, asked as one k-nearest-neighbour query
    (scipy): three times faster, since it never lists a point's whole
    neighbourhood.

    The box is upright along `up` (a direction in the points' frame): its y
    axis is `up` and its footprint the minimum-area rectangle of the points
    seen along it, the right model for objects resting on a floor or table.
    Without `up`, the normal of the largest planar patch (open3d RANSAC plane)
    takes its place: exact for boxes, one plausible axis for round objects.
    Box axes are right-handed; which side is "x" is arbitrary up to the box's
    symmetry.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) < 8 or not np.isfinite(points).all():
        raise LiftingError("fit_box needs an (N, 3) array of at least 8 finite points")
    if min_neighbours <= 0 and up is not None:  # neither the filter nor the plane fit needs the spacing
        return LiftedObject(_upright_box(points, _unit(up)), len(points))
    nearest, _ = kd_tree(points).query(points, k=min(max(min_neighbours, 1), len(points) - 1) + 1)
    spacing = float(np.median(nearest[:, 1]))  # column 0 is the point itself
    if spacing > 0 and 0 < min_neighbours < nearest.shape[1]:
        keep = nearest[:, min_neighbours] <= radius_spacings * spacing
        if keep.sum() >= 8:
            points = points[keep]
    axis = _unit(up) if up is not None else _dominant_normal(points, 0.75 * spacing)
    return LiftedObject(_upright_box(points, axis), len(points))


def lift(
    depth: Any,
    intrinsics: Intrinsics,
    box: Sequence[float] | None = None,
    mask: np.ndarray | None = None,
    camera_to_world: Any | None = None,
    up: Sequence[float] | None = None,
    max_points: int = 1024,
    erode_px: int = 0,
) -> LiftedObject:
    """A detection's 3D box and pose from one depth map: `region_points` then `fit_box`.

    In a world frame with y up (WebXR, `vision.scenes`), pass `up=WORLD_UP`.
    A box's points come out of DBSCAN, which already drops isolated points, so
    they skip the outlier filter.
    """
    points = region_points(depth, intrinsics, box, mask, camera_to_world, up, max_points, erode_px)
    return fit_box(points, up, min_neighbours=3 if mask is not None else 0)


def lift_detection(
    detection: Detection,
    depth: Any,
    intrinsics: Intrinsics,
    camera_to_world: Any | None = None,
    up: Sequence[float] | None = None,
) -> LiftedObject:
    """`lift` for a detector's output, using its mask when it has one, else its box."""
    return lift(depth, intrinsics, detection.box, detection.mask, camera_to_world, up)


def triangulate(pixels: Any, intrinsics: Intrinsics | Sequence[Intrinsics], camera_to_world: Sequence[Any],
                min_angle_deg: float = 2.0) -> Triangulation:
    """The world point closest (least squares) to the rays through `pixels` of several views.

    `pixels` is (V, 2), one (u, v) per view; `intrinsics` one camera for all
    views or one per view. Raises LiftingError when the rays are closer to
    parallel than `min_angle_deg` (too little baseline) or the point lies
    behind a camera.
    """
    uv = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
    views = len(uv)
    cameras = [intrinsics] * views if isinstance(intrinsics, Intrinsics) else list(intrinsics)
    if views < 2 or len(cameras) != views or len(camera_to_world) != views:
        raise LiftingError("triangulation needs at least two views, each with a pixel, intrinsics and a pose")
    poses = [check_pose(p, f"camera pose {i}") for i, p in enumerate(camera_to_world)]
    origins = np.array([p[:3, 3] for p in poses])
    directions = np.array([
        p[:3, :3] @ np.array([(u - k.cx) / k.fx, (v - k.cy) / k.fy, 1.0])
        for (u, v), k, p in zip(uv, cameras, poses, strict=True)
    ])
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    cosines = np.clip(directions @ directions.T, -1.0, 1.0)
    max_angle = math.degrees(math.acos(cosines.min()))
    if max_angle < min_angle_deg:
        raise LiftingError(
            f"rays are within {max_angle:.2f} degrees of parallel; move the camera further between views"
        )
    projectors = np.eye(3) - directions[:, :, None] * directions[:, None, :]
    position = np.linalg.solve(projectors.sum(axis=0), np.einsum("vij,vj->i", projectors, origins))
    offsets = position - origins
    if (np.einsum("vi,vi->v", offsets, directions) <= 0).any():
        raise LiftingError("the triangulated point lies behind one of the cameras")
    residuals = np.linalg.norm(np.einsum("vij,vj->vi", projectors, offsets), axis=1)
    return Triangulation(position, float(np.sqrt(np.mean(residuals**2))), max_angle)


def triangulate_boxes(boxes: Sequence[Sequence[float]], intrinsics: Intrinsics | Sequence[Intrinsics],
                      camera_to_world: Sequence[Any], min_angle_deg: float = 2.0) -> Triangulation:
    """The world position of an object from its boxes in several views: `triangulate` of the box centres.

    A box centre is close to, not exactly, the projection of the object's
    centre; the error grows with the object's depth extent.
    """
    centres = [((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0) for b in (_check_box(box) for box in boxes)]
    return triangulate(centres, intrinsics, camera_to_world, min_angle_deg)


def _unit(direction: Sequence[float]) -> np.ndarray:
    """`direction` as a unit 3-vector; LiftingError if it is not a finite, non-zero direction."""
    try:
        vector = np.asarray(direction, dtype=np.float64).reshape(3)
    except (TypeError, ValueError) as exc:
        raise LiftingError("up must be a direction of three numbers") from exc
    length = float(np.linalg.norm(vector))
    if not math.isfinite(length) or length < 1e-9:
        raise LiftingError("up must be a finite, non-zero direction")
    return vector / length


def _check_box(box: Sequence[float]) -> tuple[float, float, float, float]:
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError) as exc:
        raise LiftingError("box must be four numbers (x0, y0, x1, y1)") from exc
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x1 <= x0 or y1 <= y0:
        raise LiftingError(f"box {box!r} is empty or not finite")
    return x0, y0, x1, y1


def _region_mask(shape: tuple[int, int], intrinsics: Intrinsics, box: Sequence[float] | None,
                 mask: np.ndarray | None) -> tuple[tuple[int, int], np.ndarray] | None:
    """The detection's pixels at depth resolution as (top-left corner, boolean crop), None if empty."""
    height, width = shape
    if mask is not None:
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise LiftingError(f"mask must be a 2D boolean array, got shape {mask.shape}")
        if mask.shape not in ((height, width), (intrinsics.height, intrinsics.width)):
            raise LiftingError(
                f"mask shape {mask.shape} matches neither the image {intrinsics.height}x{intrinsics.width} "
                f"nor the depth map {height}x{width} (rows x columns)"
            )
        mask = mask.astype(bool)
        if mask.shape != (height, width):
            mask = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
        rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        if rows.size == 0:
            return None
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        return (int(r0), int(c0)), mask[r0:r1, c0:c1]
    x0, y0, x1, y1 = _check_box(box)
    sx, sy = width / intrinsics.width, height / intrinsics.height
    c0, c1 = max(0, math.floor(x0 * sx)), min(width, math.ceil(x1 * sx))
    r0, r1 = max(0, math.floor(y0 * sy)), min(height, math.ceil(y1 * sy))
    if c1 <= c0 or r1 <= r0:
        return None
    return (r0, c0), np.ones((r1 - r0, c1 - c0), dtype=bool)


def _near_centre_depth(crop: np.ndarray, selected: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                       own: Intrinsics) -> tuple[np.ndarray, float]:
    """Which sampled pixels are near the object's depth, and that reference depth.

    The reference is the median depth of the region's central half, where the
    object is most likely to be; the band around it is the region's larger
    side in metres.
    """
    height, width = selected.shape
    central = (slice(height // 4, height - height // 4 or None), slice(width // 4, width - width // 4 or None))
    inner = crop[central][selected[central]]
    reference = float(np.median(inner)) if inner.size else float(np.median(crop[rows, cols]))
    size = max(width / own.fx, height / own.fy) * reference
    return np.abs(crop[rows, cols] - reference) <= size, reference


def _object_cluster(points: np.ndarray, central: np.ndarray, spacing: float, up: np.ndarray | None) -> np.ndarray:
    """The points of the object in a box: without its support plane, the cluster holding most central points."""
    if up is not None:
        points, central = _without_support(points, central, up, max(0.01, 1.5 * spacing))
    if len(points) < 8:
        return points
    o3d = open3d()
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    labels = np.asarray(cloud.cluster_dbscan(eps=3.0 * spacing, min_points=4))
    central_labels = labels[central & (labels >= 0)]
    if central_labels.size == 0:
        return points
    return points[labels == np.bincount(central_labels).argmax()]


def _without_support(points: np.ndarray, central: np.ndarray, up: np.ndarray,
                     distance: float) -> tuple[np.ndarray, np.ndarray]:
    """Points (and their central flags) without the horizontal surface under the object, if there is one.

    The support is the lowest layer of points (within `distance` of the 2nd
    percentile height) when it is a broad horizontal patch: its least-squares
    plane is within 10 degrees of level. The lowest strip of an object seen
    without its support is a narrow vertical band and stays.
    """
    heights = points @ up
    lowest = heights < np.percentile(heights, 2) + distance
    if lowest.sum() < max(8, 0.05 * len(points)):
        return points, central
    layer = points[lowest] - points[lowest].mean(axis=0)
    normal = np.linalg.svd(layer, full_matrices=False)[2][2]
    if abs(normal @ up) < math.cos(math.radians(10)):
        return points, central
    return points[~lowest], central[~lowest]


def _dominant_normal(points: np.ndarray, distance: float) -> np.ndarray:
    """The unit normal of the largest plane (open3d RANSAC), refitted by least squares to its inliers."""
    o3d = open3d()
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    _, inliers = cloud.segment_plane(max(distance, 1e-4), 3, 100)
    members = points[np.asarray(inliers)]
    return np.linalg.svd(members - members.mean(axis=0), full_matrices=False)[2][2]


def _upright_box(points: np.ndarray, up: np.ndarray) -> OrientedBox:
    """The upright box: y along the unit vector `up`, footprint from OpenCV's minimum-area rectangle."""
    y_axis = up
    helper = np.array([1.0, 0.0, 0.0]) if abs(y_axis[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
    e1 = np.cross(y_axis, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(e1, y_axis)
    flat = np.column_stack((points @ e1, points @ e2)).astype(np.float32)
    corners = cv2.boxPoints(cv2.minAreaRect(flat)).astype(np.float64)
    edge = corners[1] - corners[0]
    if np.linalg.norm(edge) < 1e-9:
        edge = np.array([1.0, 0.0])
    edge /= np.linalg.norm(edge)
    x_axis = edge[0] * e1 + edge[1] * e2
    z_axis = np.cross(x_axis, y_axis)
    rotation = np.column_stack((x_axis, y_axis, z_axis))
    local = points @ rotation
    low, high = local.min(axis=0), local.max(axis=0)
    return OrientedBox(rotation @ ((low + high) / 2.0), high - low, rotation)
