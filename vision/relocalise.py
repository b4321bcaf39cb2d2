"""Relocalisation: the transform between a device's XR frame and a stored space's frame.

From geometry: the device's point cloud (a few depth frames fused in its own
reference frame) is registered to the space's map cloud with open3d: FPFH
features matched by RANSAC give a coarse transform, point-to-plane ICP
refines it. From markers or taught objects: their poses, known in both
frames, give it directly.

Either way the result is `space_from_device` (maps device-frame points into
the space frame), its fitness and inlier RMSE, and a success flag. Anchors
stored in the space frame reach the device as `invert_pose(space_from_device)
@ anchor_pose`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vision.lazy import kd_tree, open3d
from vision.poses import check_pose, invert_pose, make_pose, pose_difference, rotation_about, transform_points

if TYPE_CHECKING:
    import open3d as o3d
    from scipy.spatial import cKDTree


class RelocalisationError(ValueError):
    """Input to relocalisation is malformed (not a point cloud, bad voxel size, bad marker pose)."""


@dataclass(frozen=True)
class PreparedCloud:
    """A cloud ready for registration: `fine` (voxel_size, with normals) for ICP, `coarse` and its FPFH for RANSAC.

    `features` holds one 33-number FPFH descriptor per coarse point, and
    `feature_index` a k-d tree over them, so that matching a device against
    a map does not rebuild the map's side.

    A space's map is prepared once and reused for every device that
    relocalises into it. To store it, keep `np.asarray(fine.points)` (about
    40,000 points for a furnished room at 5 cm) and prepare that again on load.
    """

    fine: o3d.geometry.PointCloud
    coarse: o3d.geometry.PointCloud
    features: np.ndarray
    feature_index: cKDTree
    voxel_size: float
    coarse_voxel_size: float


@dataclass(frozen=True)
class Relocalisation:
    """Where a device's frame sits in a space.

    `fitness` is the share of device points (or markers) that found a match
    in the space; `inlier_rmse` the RMS distance of those matches in metres.
    When `success` is false, `space_from_device` is the best guess or the
    identity and must not be used to place anchors; `detail` says why.
    """

    space_from_device: np.ndarray
    fitness: float
    inlier_rmse: float
    success: bool
    method: str
    detail: str = ""

    @property
    def device_from_space(self) -> np.ndarray:
        return invert_pose(self.space_from_device)


def prepare_cloud(points: Any, voxel_size: float = 0.05, coarse_factor: float = 3.5,
                  fine_normals: bool = True) -> PreparedCloud:
    """Downsample (N, 3) points, estimate normals and compute FPFH features for registration.

    ICP works at `voxel_size`; feature matching at `coarse_factor` times it,
    with normals over 2 and FPFH over 5 coarse voxels (open3d's usual radii).
    Point-to-plane ICP needs normals on the map only, so a device's cloud can
    skip them (`fine_normals=False`).
    """
    if not voxel_size > 0 or not coarse_factor >= 1:
        raise RelocalisationError("voxel_size must be positive and coarse_factor at least 1")
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 3 or not np.isfinite(array).all():
        raise RelocalisationError(f"points must be a finite (N, 3) array, got shape {array.shape}")
    o3d = open3d()
    reg = o3d.pipelines.registration
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(array))
    fine = cloud.voxel_down_sample(voxel_size)
    if fine_normals:
        fine.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=2.0 * voxel_size, max_nn=30))
    coarse_voxel = coarse_factor * voxel_size
    coarse = fine.voxel_down_sample(coarse_voxel)
    coarse.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=2.0 * coarse_voxel, max_nn=30))
    fpfh = reg.compute_fpfh_feature(coarse, o3d.geometry.KDTreeSearchParamHybrid(radius=5.0 * coarse_voxel, max_nn=100))
    features = np.ascontiguousarray(np.asarray(fpfh.data).T)
    return PreparedCloud(fine, coarse, features, kd_tree(features), voxel_size, coarse_voxel)


def relocalise(
    device: PreparedCloud | Any,
    space_map: PreparedCloud,
    seed: int | None = 0,
    min_fitness: float = 0.85,
    max_rmse: float | None = None,
    up: Sequence[float] = (0.0, 1.0, 0.0),
    max_iterations: int = 30_000,
    confidence: float = 0.99,
) -> Relocalisation:
    """Register the device's cloud (its own frame) to the space's map: FPFH + RANSAC, then point-to-plane ICP.

    `device` is a PreparedCloud (at the map's voxel sizes) or (N, 3) points.
    A result succeeds when `fitness >= min_fitness` (share of the device's
    points within 1.5 voxels of the map after alignment) and `inlier_rmse <=
    max_rmse` (default: one voxel).

    Rooms are nearly symmetric boxes, and RANSAC on wall-dominated features
    can lock onto the room turned by a quarter or half turn. When the first
    answer fails, it is turned by 180, 90 and 270 degrees about the vertical
    (`up`, in the space frame), about the map's centre and where most feature
    matches agree, and refined again; the first to pass, or the best, is kept.
    `seed` seeds open3d's RANSAC so the same input gives the same answer
    (up to rounding in open3d's parallel sums); None leaves it random.
    """
    device = _device_cloud(device, space_map)
    if not space_map.fine.has_normals():
        raise RelocalisationError("the map must be prepared with fine_normals=True: ICP fits to its surface")
    max_rmse = space_map.voxel_size if max_rmse is None else max_rmse
    if len(device.coarse.points) < 3 or len(space_map.coarse.points) < 3:
        return Relocalisation(np.eye(4), 0.0, float("inf"), False, "registration", "too few points to register")

    def passes(fitness: float, rmse: float) -> bool:
        return fitness >= min_fitness and rmse <= max_rmse

    pairs = _feature_matches(device, space_map)
    if len(pairs) < 3:
        return Relocalisation(np.eye(4), 0.0, float("inf"), False, "registration",
                              "no features of the device's view match the map")
    if seed is not None:
        open3d().utility.random.seed(seed)
    best = _refine(device, space_map, _global_registration(device, space_map, pairs, max_iterations, confidence))
    if not passes(*best[1:]):
        for turned in _turned_guesses(device, space_map, pairs, best[0], np.asarray(up, dtype=np.float64)):
            candidate = _refine(device, space_map, turned)
            if candidate[1] > best[1]:
                best = candidate
            if passes(*best[1:]):
                break
    return _judged(*best, min_fitness, max_rmse)


def track(
    device: PreparedCloud | Any,
    space_map: PreparedCloud,
    space_from_device: np.ndarray,
    min_fitness: float = 0.85,
    max_rmse: float | None = None,
) -> Relocalisation:
    """Register the device's cloud again from a transform found before (point-to-plane ICP only).

    For a device already relocalised whose own tracking may have drifted since:
    no feature matching, so it is quick, and it only corrects what is within
    ICP's reach (two voxels). Judged like `relocalise`.
    """
    device = _device_cloud(device, space_map)
    max_rmse = space_map.voxel_size if max_rmse is None else max_rmse
    if len(device.coarse.points) < 3:
        return Relocalisation(np.eye(4), 0.0, float("inf"), False, "registration", "too few points to register")
    return _judged(*_refine(device, space_map, np.asarray(space_from_device, dtype=np.float64)), min_fitness, max_rmse)


def _device_cloud(device: PreparedCloud | Any, space_map: PreparedCloud) -> PreparedCloud:
    """The device's cloud prepared at the map's voxel sizes (from raw points, or checked when already prepared)."""
    if not isinstance(device, PreparedCloud):
        coarse_factor = space_map.coarse_voxel_size / space_map.voxel_size
        return prepare_cloud(device, space_map.voxel_size, coarse_factor, fine_normals=False)
    if (device.voxel_size, device.coarse_voxel_size) != (space_map.voxel_size, space_map.coarse_voxel_size):
        raise RelocalisationError(f"device cloud prepared at {device.voxel_size} m but the map at {space_map.voxel_size} m")
    return device


def _judged(transform: np.ndarray, fitness: float, rmse: float, min_fitness: float, max_rmse: float) -> Relocalisation:
    """A registration's result, a success when enough points match closely enough, else with the reason."""
    if fitness < min_fitness:
        detail = f"only {fitness:.0%} of the device's points match the map (need {min_fitness:.0%})"
    elif rmse > max_rmse:
        detail = f"matched points are {rmse * 100:.1f} cm apart on average (at most {max_rmse * 100:.1f} cm)"
    else:
        detail = ""
    return Relocalisation(transform, fitness, rmse, not detail, "registration", detail)


def _feature_matches(device: PreparedCloud, space_map: PreparedCloud) -> np.ndarray:
    """(K, 2) indices of coarse device and map points whose FPFH descriptors are each other's nearest."""
    _, in_map = space_map.feature_index.query(device.features)
    _, back = kd_tree(device.features).query(space_map.features[in_map])
    mutual = back == np.arange(len(device.features))
    return np.column_stack((np.flatnonzero(mutual), in_map[mutual])).astype(np.int32)


def _global_registration(device: PreparedCloud, space_map: PreparedCloud, pairs: np.ndarray, max_iterations: int,
                         confidence: float) -> np.ndarray:
    """The coarse space_from_device by RANSAC over feature matches, with edge-length and distance checks."""
    o3d = open3d()
    reg = o3d.pipelines.registration
    distance = 1.5 * space_map.coarse_voxel_size
    result = reg.registration_ransac_based_on_correspondence(
        device.coarse, space_map.coarse, o3d.utility.Vector2iVector(pairs), distance,
        reg.TransformationEstimationPointToPoint(False), 3,
        [reg.CorrespondenceCheckerBasedOnEdgeLength(0.9), reg.CorrespondenceCheckerBasedOnDistance(distance)],
        reg.RANSACConvergenceCriteria(max_iterations, confidence),
    )
    return np.array(result.transformation)


def _turned_guesses(device: PreparedCloud, space_map: PreparedCloud, pairs: np.ndarray, transform: np.ndarray,
                    up: np.ndarray) -> Iterator[np.ndarray]:
    """`transform` turned by 180, 90 and 270 degrees about the vertical, each placed two ways.

    A room's symmetry turns about the vertical through the room's centre, so
    the first placement turns about the map's centre. The second keeps the
    turned rotation R and takes the translation most feature matches agree
    on: every match (p, q) proposes q - R p, and the densest cluster of
    proposals (within two coarse voxels) wins.
    """
    centre = space_map.coarse.get_axis_aligned_bounding_box().get_center()
    source = np.asarray(device.coarse.points)[pairs[:, 0]]
    target = np.asarray(space_map.coarse.points)[pairs[:, 1]]
    radius = 2.0 * space_map.coarse_voxel_size
    for degrees in (180.0, 90.0, 270.0):
        turn = rotation_about(up, degrees)
        yield make_pose(turn, centre - turn @ centre) @ transform
        rotation = turn @ transform[:3, :3]
        proposals = target - source @ rotation.T
        cells, counts = np.unique(np.floor(proposals / radius), axis=0, return_counts=True)
        densest = (cells[counts.argmax()] + 0.5) * radius
        near = proposals[np.linalg.norm(proposals - densest, axis=1) <= radius]
        yield make_pose(rotation, near.mean(axis=0) if len(near) else densest)


def _refine(device: PreparedCloud, space_map: PreparedCloud, initial: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Point-to-plane ICP from `initial`: (space_from_device, fitness, inlier RMSE) judged on the fine clouds.

    ICP moves the device's coarse points onto the map's fine surface
    (point-to-plane needs the target's normals only); the fine device cloud
    then scores the result.
    """
    reg = open3d().pipelines.registration
    voxel = space_map.voxel_size
    icp = reg.registration_icp(
        device.coarse, space_map.fine, 2.0 * voxel, initial,
        reg.TransformationEstimationPointToPlane(), reg.ICPConvergenceCriteria(max_iteration=30),
    )
    score = reg.evaluate_registration(device.fine, space_map.fine, 1.5 * voxel, icp.transformation)
    return np.array(icp.transformation), float(score.fitness), float(score.inlier_rmse)


def transform_from_markers(
    seen_in_device: Mapping[str, Any],
    known_in_space: Mapping[str, Any],
    max_residual: float = 0.05,
    max_angle_deg: float = 5.0,
    axis_length: float = 0.1,
) -> Relocalisation:
    """`space_from_device` from markers or objects whose poses are known in both frames.

    Each pose maps the marker's (object's) frame into the device frame or the
    space frame. One marker fixes the transform on its own; several are
    combined by a least-squares rigid fit of their origins and axis tips
    (`axis_length` along each axis, so orientations count as well). A marker
    that lands more than `max_residual` metres or `max_angle_deg` degrees from
    its known pose (moved since it was mapped) is dropped, worst first, while
    at least three remain; with only two, disagreement is a failure.
    `fitness` is the share of common markers kept; `inlier_rmse` the RMS
    distance between their mapped and known origins.
    """
    common = sorted(set(seen_in_device) & set(known_in_space))
    if not common:
        return Relocalisation(np.eye(4), 0.0, float("inf"), False, "markers",
                              "no marker or object is known in both frames")
    seen = {key: check_pose(seen_in_device[key], f"device pose of {key!r}") for key in common}
    known = {key: check_pose(known_in_space[key], f"space pose of {key!r}") for key in common}
    used = list(common)
    while True:
        transform = _fit_poses([seen[k] for k in used], [known[k] for k in used], axis_length)
        errors = [pose_difference(transform @ seen[k], known[k]) for k in used]
        distances = np.array([distance for distance, _ in errors])
        badness = np.array([max(d / max_residual, angle / max_angle_deg) for d, angle in errors])
        worst = int(badness.argmax())
        if badness[worst] <= 1.0 or len(used) <= 2:
            break
        used.pop(worst)
    rmse = float(np.sqrt(np.mean(distances**2)))
    detail = "" if badness.max() <= 1.0 else (
        f"markers {', '.join(used)} disagree by up to {distances.max() * 100:.1f} cm and "
        f"{max(angle for _, angle in errors):.1f} degrees "
        f"(at most {max_residual * 100:.1f} cm, {max_angle_deg:.1f} degrees)"
    )
    return Relocalisation(transform, len(used) / len(common), rmse, not detail, "markers", detail)


def _fit_poses(device_poses: list[np.ndarray], space_poses: list[np.ndarray], axis_length: float) -> np.ndarray:
    """Least-squares rigid transform taking the device poses' origins and axis tips onto the space poses'."""
    if len(device_poses) == 1:
        return space_poses[0] @ invert_pose(device_poses[0])
    tips = np.vstack([np.zeros(3), np.eye(3) * axis_length])
    source = np.vstack([transform_points(p, tips) for p in device_poses])
    target = np.vstack([transform_points(p, tips) for p in space_poses])
    o3d = open3d()
    reg = o3d.pipelines.registration
    pairs = o3d.utility.Vector2iVector(np.column_stack([np.arange(len(source))] * 2))
    return np.array(reg.TransformationEstimationPointToPoint(False).compute_transformation(
        o3d.geometry.PointCloud(o3d.utility.Vector3dVector(source)),
        o3d.geometry.PointCloud(o3d.utility.Vector3dVector(target)),
        pairs,
    ))
