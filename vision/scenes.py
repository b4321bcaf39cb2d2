"""Synthetic rooms with known ground truth, rendered by open3d's CPU raycasting.

A room is a closed box (floor, walls, ceiling) holding simple objects (boxes,
cylinders, spheres, cones) at known poses. `render` casts one ray per pixel
with `o3d.t.geometry.RaycastingScene` and returns a depth map (z-depth in
metres), a shaded colour image and the object index of every pixel, so tests
and benchmarks get exact masks, boxes, centres, sizes and poses.

World frame: metres, y up, origin on the floor at the room's centre (as a
WebXR `local-floor` space). Camera poses are camera-to-world with OpenCV axes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import open3d as o3d

from vision.camera import Intrinsics
from vision.poses import check_pose, make_pose, rotation_about

SHAPES = ("box", "cylinder", "sphere", "cone")
STRUCTURE = -1  # object index of floor, walls and ceiling pixels
NOTHING = -2  # object index of pixels whose ray hit nothing


@dataclass(frozen=True)
class SceneObject:
    """A solid whose bounding box is centred on its frame's origin, upright (its y axis up).

    `size` is the full extent along the object's own x, y, z axes; `pose` maps
    the object's frame to the world.
    """

    name: str
    shape: str
    size: np.ndarray
    pose: np.ndarray
    colour: tuple[int, int, int]

    @property
    def centre(self) -> np.ndarray:
        return self.pose[:3, 3]

    def mesh(self) -> o3d.geometry.TriangleMesh:
        """The object's triangle mesh in world coordinates."""
        return _shape_mesh(self.shape, self.size).transform(self.pose)


@dataclass
class Room:
    """A room `size` = (width x, height y, depth z) metres with objects inside."""

    size: tuple[float, float, float]
    objects: list[SceneObject] = field(default_factory=list)

    def object(self, name: str) -> SceneObject:
        for obj in self.objects:
            if obj.name == name:
                return obj
        raise KeyError(f"no object named {name!r} in the room")

    def index_of(self, name: str) -> int:
        return self.objects.index(self.object(name))

    @cached_property
    def _raycaster(self) -> tuple[o3d.t.geometry.RaycastingScene, np.ndarray]:
        """The raycasting scene and, per geometry id, the object index (STRUCTURE for the room)."""
        scene = o3d.t.geometry.RaycastingScene()
        owners = []
        for mesh in _room_shell(self.size):
            owners.append((scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh)), STRUCTURE))
        for index, obj in enumerate(self.objects):
            owners.append((scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(obj.mesh())), index))
        table = np.full(max(g for g, _ in owners) + 2, NOTHING, dtype=np.int32)
        for geometry_id, owner in owners:
            table[geometry_id] = owner
        return scene, table

    def render(self, intrinsics: Intrinsics, camera_to_world: np.ndarray, depth_noise: float = 0.0,
               seed: int = 0) -> RenderedView:
        """Depth, colour and object indices seen by a pinhole camera.

        `depth_noise` is the standard deviation of Gaussian depth noise at 1 m,
        growing with the square of the depth as in structured-light and
        time-of-flight sensors.
        """
        pose = check_pose(camera_to_world, "camera pose")
        scene, owner_of = self._raycaster
        cols, rows = np.meshgrid(np.arange(intrinsics.width), np.arange(intrinsics.height))
        directions = np.stack(
            [(cols - intrinsics.cx) / intrinsics.fx, (rows - intrinsics.cy) / intrinsics.fy, np.ones(cols.shape)],
            axis=-1,
        ) @ pose[:3, :3].T
        origins = np.broadcast_to(pose[:3, 3], directions.shape)
        rays = np.concatenate([origins, directions], axis=-1).astype(np.float32)
        hits = scene.cast_rays(o3d.core.Tensor(rays))
        t_hit = hits["t_hit"].numpy()  # directions have unit z in the camera, so t is the z-depth
        hit = np.isfinite(t_hit)
        depth = np.where(hit, t_hit, 0.0).astype(np.float32)
        if depth_noise > 0:
            noise = np.random.default_rng(seed).normal(0.0, depth_noise, depth.shape) * depth**2
            depth = np.where(hit, depth + noise, 0.0).astype(np.float32)
        ids = hits["geometry_ids"].numpy().astype(np.int64)
        object_index = np.where(hit, owner_of[np.clip(ids, 0, len(owner_of) - 1)], NOTHING).astype(np.int32)
        colour = self._shade(object_index, hits["primitive_normals"].numpy(), directions)
        return RenderedView(depth, colour, object_index, intrinsics, pose)

    def visible_fraction(self, view: RenderedView, index: int) -> float:
        """The share of object `index`'s silhouette in `view` that no other object hides (0 if out of view)."""
        alone = Room(self.size, [self.objects[index]]).render(view.intrinsics, view.camera_to_world).mask(0).sum()
        return float(view.mask(index).sum() / alone) if alone else 0.0

    def _shade(self, object_index: np.ndarray, normals: np.ndarray, directions: np.ndarray) -> np.ndarray:
        palette = np.array([(200, 200, 200)] + [obj.colour for obj in self.objects] + [(0, 0, 0)], dtype=np.float64)
        base = palette[np.where(object_index >= 0, object_index + 1, np.where(object_index == NOTHING, -1, 0))]
        unit = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
        light = 0.35 + 0.65 * np.abs(np.nan_to_num(np.sum(normals * unit, axis=-1)))
        return np.clip(base * light[..., None], 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class RenderedView:
    """One rendered camera view: depth (metres, 0 = none), BGR colour, object index per pixel."""

    depth: np.ndarray
    colour: np.ndarray
    object_index: np.ndarray
    intrinsics: Intrinsics
    camera_to_world: np.ndarray

    def mask(self, index: int) -> np.ndarray:
        """Boolean mask of the pixels showing object `index`."""
        return self.object_index == index

    def box(self, index: int) -> tuple[float, float, float, float] | None:
        """(x0, y0, x1, y1) pixel box of object `index` (x1, y1 exclusive), None if unseen."""
        rows, cols = np.nonzero(self.mask(index))
        if rows.size == 0:
            return None
        return float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1)


def clear_view(room: Room, index: int, intrinsics: Intrinsics, distance: float = 2.0, height: float = 1.0,
               depth_noise: float = 0.0, seed: int = 0) -> RenderedView | None:
    """A view of object `index` that shows it whole: no other object hides it and it is inside the image.

    The camera stands `distance` metres aside (trying four diagonal
    directions, keeping 0.3 m from the walls) and `height` metres above the
    object's top, looking at its centre. None when no such view exists.
    """
    obj = room.objects[index]
    width, _, depth = room.size
    for degrees in (45.0, 135.0, 225.0, 315.0):
        angle = math.radians(degrees)
        eye = obj.centre + np.array([distance * math.sin(angle), 0.0, distance * math.cos(angle)])
        eye[1] = obj.centre[1] + obj.size[1] / 2 + height
        if abs(eye[0]) > width / 2 - 0.3 or abs(eye[2]) > depth / 2 - 0.3:
            continue
        view = room.render(intrinsics, look_at(eye, obj.centre), depth_noise, seed)
        box = view.box(index)
        if box is None or box[0] <= 0 or box[1] <= 0 or box[2] >= intrinsics.width or box[3] >= intrinsics.height:
            continue
        if room.visible_fraction(view, index) > 0.999:
            return view
    return None


def look_at(eye: tuple[float, float, float] | np.ndarray, target: tuple[float, float, float] | np.ndarray,
            up: tuple[float, float, float] = (0.0, 1.0, 0.0)) -> np.ndarray:
    """The camera-to-world pose (OpenCV axes) of a camera at `eye` looking at `target`."""
    eye, target = np.asarray(eye, dtype=np.float64), np.asarray(target, dtype=np.float64)
    forward = target - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.asarray(up, dtype=np.float64))
    if np.linalg.norm(right) < 1e-9:
        raise ValueError("look_at: the view direction is parallel to `up`")
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return make_pose(np.column_stack((right, down, forward)), eye)


def panorama_poses(centre: tuple[float, float, float], count: int, pitch_deg: float = -15.0,
                   start_deg: float = 0.0) -> list[np.ndarray]:
    """`count` cameras at `centre` turning around the vertical axis, tilted by `pitch_deg` (down < 0)."""
    poses = []
    for k in range(count):
        yaw = math.radians(start_deg + 360.0 * k / count)
        pitch = math.radians(pitch_deg)
        direction = (math.sin(yaw) * math.cos(pitch), math.sin(pitch), -math.cos(yaw) * math.cos(pitch))
        poses.append(look_at(centre, np.add(centre, direction)))
    return poses


def make_room(seed: int = 0, size: tuple[float, float, float] = (6.0, 3.0, 5.0), floor_objects: int = 9) -> Room:
    """A furnished room: a table with two objects on it, a cabinet, shelves and `floor_objects` more.

    Placement is random but reproducible from `seed`; objects never overlap.
    """
    rng = np.random.default_rng(seed)
    width, _, depth = size
    room = Room(size)
    footprints: list[tuple[float, float, float]] = []  # (x, z, radius) on the floor

    def place(name: str, shape: str, dims: tuple[float, float, float], x: float, z: float, yaw: float,
              base: float = 0.0) -> SceneObject:
        colour = tuple(int(c) for c in rng.integers(40, 255, 3))
        pose = make_pose(rotation_about((0, 1, 0), yaw), (x, base + dims[1] / 2.0, z))
        obj = SceneObject(name, shape, np.array(dims, dtype=np.float64), pose, colour)
        room.objects.append(obj)
        return obj

    def free_spot(radius: float) -> tuple[float, float]:
        for _ in range(1000):
            x = rng.uniform(-width / 2 + radius + 0.1, width / 2 - radius - 0.1)
            z = rng.uniform(-depth / 2 + radius + 0.1, depth / 2 - radius - 0.1)
            if all(math.hypot(x - fx, z - fz) > radius + fr + 0.15 for fx, fz, fr in footprints):
                footprints.append((x, z, radius))
                return x, z
        raise ValueError("room is too full to place another object")

    # Cabinet and shelves stand against two different walls: fixed features that break the room's symmetry.
    cabinet = place("cabinet", "box", (0.45, 1.8, 0.8), -width / 2 + 0.3, rng.uniform(-depth / 4, depth / 4), 0.0)
    shelves = place("shelves", "box", (1.3, 1.2, 0.35), rng.uniform(-width / 4, width / 4), -depth / 2 + 0.2, 0.0)
    for fixed in (cabinet, shelves):
        footprints.append((fixed.centre[0], fixed.centre[2], math.hypot(fixed.size[0], fixed.size[2]) / 2))

    dims = (1.4, 0.75, 0.8)
    tx, tz = free_spot(math.hypot(dims[0], dims[2]) / 2)
    table = place("table", "box", dims, tx, tz, rng.uniform(0, 180))
    top = float(table.pose[1, 3] + table.size[1] / 2)
    for name, shape, dims, offset in (
        ("mug", "cylinder", (0.09, 0.11, 0.09), (-0.35, 0.1)),
        ("parcel", "box", (0.3, 0.18, 0.22), (0.3, -0.1)),
    ):
        x, _, z = table.pose[:3, :3] @ np.array([offset[0], 0.0, offset[1]]) + table.pose[:3, 3]
        place(name, shape, dims, x, z, rng.uniform(0, 180), base=top)

    for k in range(floor_objects):
        shape = SHAPES[k % len(SHAPES)]
        if shape == "box":
            dims = tuple(rng.uniform(0.25, 0.6, 3))
        elif shape == "cylinder":
            r = rng.uniform(0.1, 0.25)
            dims = (2 * r, rng.uniform(0.4, 1.0), 2 * r)
        elif shape == "sphere":
            r = rng.uniform(0.15, 0.3)
            dims = (2 * r, 2 * r, 2 * r)
        else:
            r = rng.uniform(0.15, 0.3)
            dims = (2 * r, rng.uniform(0.4, 0.8), 2 * r)
        x, z = free_spot(math.hypot(dims[0], dims[2]) / 2)
        place(f"{shape}{k}", shape, dims, x, z, rng.uniform(0, 180))
    return room


def _shape_mesh(shape: str, size: np.ndarray) -> o3d.geometry.TriangleMesh:
    """A closed mesh of `shape` filling the box of `size` centred on the origin, y up."""
    w, h, d = (float(v) for v in size)
    z_to_y = rotation_about((1, 0, 0), -90.0)
    if shape == "box":
        return o3d.geometry.TriangleMesh.create_box(w, h, d).translate((-w / 2, -h / 2, -d / 2))
    if shape == "cylinder":
        mesh = o3d.geometry.TriangleMesh.create_cylinder(radius=w / 2, height=h, resolution=48)
        return mesh.rotate(z_to_y, center=(0, 0, 0))
    if shape == "sphere":
        return o3d.geometry.TriangleMesh.create_sphere(radius=w / 2, resolution=24)
    if shape == "cone":
        mesh = o3d.geometry.TriangleMesh.create_cone(radius=w / 2, height=h, resolution=48)
        return mesh.rotate(z_to_y, center=(0, 0, 0)).translate((0, -h / 2, 0))
    raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")


def _room_shell(size: tuple[float, float, float], thickness: float = 0.1) -> list[o3d.geometry.TriangleMesh]:
    """Floor, ceiling and four walls as slabs whose inner faces bound the room."""
    w, h, d = size
    t = thickness
    slabs = [
        ((w + 2 * t, t, d + 2 * t), (0, -t / 2, 0)),
        ((w + 2 * t, t, d + 2 * t), (0, h + t / 2, 0)),
        ((t, h, d), (-w / 2 - t / 2, h / 2, 0)),
        ((t, h, d), (w / 2 + t / 2, h / 2, 0)),
        ((w, h, t), (0, h / 2, -d / 2 - t / 2)),
        ((w, h, t), (0, h / 2, d / 2 + t / 2)),
    ]
    return [_shape_mesh("box", np.array(dims)).translate(centre) for dims, centre in slabs]
