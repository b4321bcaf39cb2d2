"""3D lifting against rooms rendered by open3d's raycaster, where every object's true pose and size are known."""

import math
from dataclasses import dataclass

import numpy as np
import pytest

from harness.rooms import whole_objects
from vision.camera import Intrinsics
from vision.depth import DepthMapError
from vision.detection import Detection
from vision.lifting import (
    WORLD_UP,
    LiftingError,
    fit_box,
    lift,
    lift_detection,
    region_points,
    triangulate,
    triangulate_boxes,
)
from vision.poses import PoseError, invert_pose, transform_points
from vision.scenes import RenderedView, Room, SceneObject, look_at

K = Intrinsics.from_fov(640, 480, 60)
DEPTH_NOISE = 0.001  # metres at 1 m, growing with depth squared


def size_errors(extent: np.ndarray, obj: SceneObject) -> np.ndarray:
    """Relative errors of an upright box's footprint sides (in either order) and height."""
    footprint = np.sort(extent[[0, 2]]) / np.sort(obj.size[[0, 2]])
    return np.abs(np.append(footprint, extent[1] / obj.size[1]) - 1.0)


@dataclass
class Seen:
    room: Room
    index: int
    view: RenderedView

    @property
    def obj(self) -> SceneObject:
        return self.room.objects[self.index]

    @property
    def mask(self) -> np.ndarray:
        return self.view.mask(self.index)


@pytest.fixture(scope="module")
def seen() -> list[Seen]:
    """Boxes and cylinders of two rooms, each in a view that shows it whole."""
    cases = [Seen(room, index, view) for room, index, view in whole_objects(K, DEPTH_NOISE)]
    assert len(cases) >= 8, "the rooms should offer at least eight clearly seen objects"
    return cases


def test_mask_lifting_recovers_centre_size_and_pose(seen: list[Seen]) -> None:
    for case in seen:
        obj, index, view = case.obj, case.index, case.view
        lifted = lift(view.depth, K, mask=view.mask(index), camera_to_world=view.camera_to_world, up=WORLD_UP)
        assert np.linalg.norm(lifted.centre - obj.centre) < 0.03, obj.name
        assert size_errors(lifted.box.extent, obj).max() < 0.10, obj.name
        assert np.allclose(lifted.pose[:3, 1], WORLD_UP)
        assert np.allclose(lifted.pose[:3, 3], lifted.centre)
        if obj.shape == "box":  # a box's sides fix its yaw, up to quarter turns
            cosine = abs(lifted.pose[:3, 0] @ obj.pose[:3, 0])
            assert min(cosine, math.sqrt(max(0.0, 1 - cosine**2))) < math.sin(math.radians(5)), obj.name


def test_box_only_lifting_separates_the_object_from_its_floor(seen: list[Seen]) -> None:
    free_standing = [case for case in seen if case.obj.name not in ("cabinet", "shelves")]  # not against a wall
    assert len(free_standing) >= 6
    for case in free_standing:
        obj, view = case.obj, case.view
        lifted = lift(view.depth, K, box=view.box(case.index), camera_to_world=view.camera_to_world, up=WORLD_UP)
        assert np.linalg.norm(lifted.centre - obj.centre) < 0.03, obj.name
        assert size_errors(lifted.box.extent, obj).max() < 0.10, obj.name


def test_without_up_the_largest_face_orients_a_box(seen: list[Seen]) -> None:
    for case in (case for case in seen if case.obj.shape == "box"):
        obj, view = case.obj, case.view
        lifted = lift(view.depth, K, mask=case.mask, camera_to_world=view.camera_to_world)
        assert np.linalg.norm(lifted.centre - obj.centre) < 0.03, obj.name
        assert np.allclose(np.sort(lifted.box.extent), np.sort(obj.size), rtol=0.10), obj.name


def test_camera_frame_result_without_a_pose(seen: list[Seen]) -> None:
    case = seen[0]
    lifted = lift(case.view.depth, K, mask=case.mask)
    truth = transform_points(invert_pose(case.view.camera_to_world), case.obj.centre[None])[0]
    assert np.linalg.norm(lifted.centre - truth) < 0.03


def test_low_resolution_depth_with_a_full_resolution_mask(seen: list[Seen]) -> None:
    """WebXR depth sensing gives a coarse depth map; masks and boxes stay in image pixels."""
    small = Intrinsics.from_fov(160, 120, 60)
    for case in seen[:4]:
        coarse = case.room.render(small, case.view.camera_to_world, DEPTH_NOISE)
        lifted = lift(coarse.depth, K, mask=case.mask, camera_to_world=case.view.camera_to_world, up=WORLD_UP)
        assert np.linalg.norm(lifted.centre - case.obj.centre) < 0.03, case.obj.name


def test_fusing_views_closes_round_objects() -> None:
    """One view of a sphere sees a cap; points from three views around it bound the whole sphere."""
    sphere = SceneObject("ball", "sphere", np.full(3, 0.4), np.eye(4), (0, 200, 0))
    sphere.pose[:3, 3] = (0.3, 0.2, -0.2)
    room = Room((6.0, 3.0, 5.0), [sphere])
    views = [room.render(K, look_at(sphere.centre + 1.6 * np.array([math.sin(a), 0.3, math.cos(a)]), sphere.centre),
                         DEPTH_NOISE, k)
             for k, a in enumerate(np.radians([0, 120, 240]))]
    one = lift(views[0].depth, K, mask=views[0].mask(0), camera_to_world=views[0].camera_to_world, up=WORLD_UP)
    assert np.linalg.norm(one.centre - sphere.centre) > 0.05  # a cap's box sits towards the camera
    points = np.vstack([region_points(v.depth, K, mask=v.mask(0), camera_to_world=v.camera_to_world) for v in views])
    fused = fit_box(points, WORLD_UP)
    assert np.linalg.norm(fused.centre - sphere.centre) < 0.03
    assert np.allclose(fused.box.extent, 0.4, rtol=0.10)


def test_triangulated_box_centres_place_an_object_without_depth() -> None:
    sphere = SceneObject("ball", "sphere", np.full(3, 0.3), np.eye(4), (0, 200, 0))
    sphere.pose[:3, 3] = (-0.5, 0.15, 0.4)
    room = Room((6.0, 3.0, 5.0), [sphere])
    eyes = [(-1.5, 1.5, 1.8), (0.2, 1.6, 1.9), (1.0, 1.4, 0.9)]
    views = [room.render(K, look_at(eye, sphere.centre + (0.1, 0.0, 0.0))) for eye in eyes]
    result = triangulate_boxes([v.box(0) for v in views], K, [v.camera_to_world for v in views])
    assert np.linalg.norm(result.position - sphere.centre) < 0.03
    assert result.ray_rms < 0.02 and result.max_angle_deg > 30


def test_triangulation_is_exact_for_exact_pixels_and_refuses_ill_posed_views() -> None:
    point = np.array([0.4, 0.9, -1.2])
    poses = [look_at((1.0, 1.5, 1.0), point), look_at((-1.0, 1.2, 0.8), point + 0.2)]
    pixels = []
    for pose in poses:
        camera = transform_points(invert_pose(pose), point[None])[0]
        pixels.append((K.matrix() @ camera)[:2] / camera[2])
    result = triangulate(pixels, K, poses)
    assert np.linalg.norm(result.position - point) < 1e-6 and result.ray_rms < 1e-6
    with pytest.raises(LiftingError, match="parallel"):
        triangulate([pixels[0], pixels[0]], K, [poses[0], poses[0]])
    behind = [p @ np.diag([-1.0, 1.0, -1.0, 1.0]) for p in poses]  # turned around: the rays point away
    with pytest.raises(LiftingError, match="behind"):
        triangulate(pixels, K, behind)
    with pytest.raises(LiftingError, match="two views"):
        triangulate(pixels[:1], K, poses[:1])


def test_lift_detection_prefers_the_mask(seen: list[Seen]) -> None:
    case = seen[0]
    view = case.view
    detection = Detection("obj", "box", 0.9, view.box(case.index), "test", mask=case.mask)
    from_detection = lift_detection(detection, view.depth, K, view.camera_to_world, WORLD_UP)
    from_mask = lift(view.depth, K, mask=case.mask, camera_to_world=view.camera_to_world, up=WORLD_UP)
    assert np.allclose(from_detection.centre, from_mask.centre)


def test_bad_input_gets_named_errors() -> None:
    depth = np.full((480, 640), 2.0, dtype=np.float32)
    box = (100, 100, 200, 200)
    with pytest.raises(LiftingError, match="box or a mask"):
        lift(depth, K)
    with pytest.raises(LiftingError, match="mask shape"):
        lift(depth, K, mask=np.ones((10, 10), dtype=bool))
    with pytest.raises(LiftingError, match="empty"):
        lift(depth, K, box=(200, 100, 100, 200))
    with pytest.raises(LiftingError, match="covers no pixel"):
        lift(depth, K, box=(700, 500, 800, 600))
    with pytest.raises(LiftingError, match="pixels with depth"):
        lift(np.zeros((480, 640), np.float32), K, box=box)
    with pytest.raises(DepthMapError, match="does not cover"):
        lift(np.ones((100, 100), np.float32), K, box=box)
    with pytest.raises(DepthMapError, match="2D"):
        lift(np.ones((480, 640, 3), np.float32), K, box=box)
    with pytest.raises(PoseError, match="camera pose"):
        lift(depth, K, box=box, camera_to_world=np.ones((4, 4)))
    with pytest.raises(LiftingError, match="at least 8"):
        fit_box(np.zeros((3, 3)))
    with pytest.raises(LiftingError, match="non-zero"):
        lift(depth, K, box=box, up=(0.0, 0.0, 0.0))
    # NaN and negative depths count as missing, not as points.
    holes = depth.copy()
    holes[150:, :] = np.nan
    holes[:120, :] = -1.0
    points = region_points(holes, K, box=box)
    assert np.isfinite(points).all() and np.allclose(points[:, 2], 2.0)
