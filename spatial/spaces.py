"""Spaces in the running service: each space's anchor index and prepared map, and relocalising sessions.

A space's anchors sit in one `AnchorIndex` shared by every session in the
space. It follows the store's revision of the space's anchors: the REST calls
that add, move or remove an anchor apply their change at once (O(1)), and a
frame that finds the store ahead (a change made some other way, such as a
block deleted with its anchors) reloads the space.

A space's map is prepared for registration once per map version and shared.
Relocalising a session is CPU work for the worker pool: from markers (cheap,
inside the frame's work) or from the session's depth views fused in its own
frame (`relocalise`, run as a job of its own, one at a time per session).

A relocalised session may place and move the space's anchors at poses in its
own frame (`place_from_device`), through the same access-checked calls as REST.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from anchors import Anchor, NotFound, Space, SpaceService, User
from spatial.visibility import AnchorIndex
from vision import Detection, Intrinsics
from vision.depth import DepthView, fuse_depth_views
from vision.poses import PoseError, invert_pose, pose_difference
from vision.relocalise import PreparedCloud, Relocalisation, prepare_cloud, relocalise, track, transform_from_markers

ANCHOR_RADIUS_M = 0.3
"""The sphere that bounds a space anchor's panel in the visibility test."""


@dataclass
class SpaceAnchors:
    """One space's anchors at a store revision: their space poses by place key, and their index."""

    revision: int
    poses: dict[str, np.ndarray] = field(default_factory=dict)
    index: AnchorIndex = field(default_factory=AnchorIndex)

    @classmethod
    def load(cls, revision: int, anchors: list[Anchor]) -> SpaceAnchors:
        loaded = cls(revision)
        placed = [a for a in anchors if a.space_pose is not None]
        loaded.poses = {a.object_id: _matrix(a.space_pose) for a in placed}
        if placed:
            positions = np.array([loaded.poses[a.object_id][:3, 3] for a in placed])
            loaded.index.set_many([a.object_id for a in placed], positions, ANCHOR_RADIUS_M)
        return loaded

    def put(self, anchor: Anchor) -> None:
        pose = _matrix(anchor.space_pose)
        self.poses[anchor.object_id] = pose
        self.index.set(anchor.object_id, pose[:3, 3], ANCHOR_RADIUS_M)

    def drop(self, key: str) -> None:
        if self.poses.pop(key, None) is not None:
            self.index.remove(key)


class SpaceRegistry:
    """The spaces sessions are in: anchor indexes and prepared maps, shared by all sessions (thread-safe)."""

    def __init__(self, spaces: SpaceService, max_view_distance_m: float = 10.0) -> None:
        self.spaces = spaces
        self.max_view_distance_m = max_view_distance_m
        self._lock = threading.Lock()
        self._anchors: dict[str, SpaceAnchors] = {}
        self._maps: dict[str, tuple[int, PreparedCloud]] = {}
        self._map_locks: dict[str, threading.Lock] = {}

    # anchors
    def anchors(self, space_id: str) -> SpaceAnchors:
        """The space's anchors as the store has them now (one indexed read; a reload only if behind)."""
        revision = self.spaces.store.space_revision(space_id)
        if revision is None:
            return SpaceAnchors(0)  # the space was deleted: nothing to show
        with self._lock:
            current = self._anchors.get(space_id)
            if current is not None and current.revision == revision:
                return current
        revision, anchors = self.spaces.store.space_anchors(space_id)
        loaded = SpaceAnchors.load(revision, anchors)
        with self._lock:
            current = self._anchors.get(space_id)
            if current is None or current.revision < loaded.revision:
                self._anchors[space_id] = current = loaded
            return current

    def placed(self, anchor: Anchor, revision: int) -> None:
        """An anchor was added or moved by this process, taking the space to `revision`."""
        self._apply(anchor.space_id, revision, lambda entry: entry.put(anchor))

    def removed(self, anchor: Anchor, revision: int | None) -> None:
        """An anchor was removed by this process, taking the space to `revision`."""
        if anchor.space_id is not None and revision is not None:
            self._apply(anchor.space_id, revision, lambda entry: entry.drop(anchor.object_id))

    def _apply(self, space_id: str | None, revision: int, change: Any) -> None:
        """Apply a change at `revision` if the index is just before it; forget the index if it fell behind.

        Revisions come from the same transaction as the change, so an index
        at `revision - 1` misses exactly this change; at `revision` or later
        it already has it (it was reloaded since).
        """
        if space_id is None:
            return
        with self._lock:
            current = self._anchors.get(space_id)
            if current is None or current.revision >= revision:
                return
            if current.revision == revision - 1:
                change(current)
                current.revision = revision
            else:
                del self._anchors[space_id]

    def forget(self, space_id: str) -> None:
        """Drop what is kept of a deleted space."""
        with self._lock:
            self._anchors.pop(space_id, None)
            self._maps.pop(space_id, None)

    def forget_all(self) -> None:
        """Drop every space's anchors and prepared map; each is read again when next needed."""
        with self._lock:
            self._anchors.clear()
            self._maps.clear()

    def visible(self, space_id: str, camera_to_space: np.ndarray, intrinsics: Intrinsics) -> dict[str, np.ndarray]:
        """Place key to space pose of the space's anchors in view, within the service's view distance."""
        anchors = self.anchors(space_id)
        with self._lock:
            seen = anchors.index.query(camera_to_space, intrinsics, self.max_view_distance_m)
            return {key: anchors.poses[key] for key in seen.ids}

    # maps
    def current(self, user: User, space: Space) -> Space:
        """`space` as the store has it now: read again when its map or landmarks changed (one indexed read when not).
        A space gone or no longer readable stays as it was: its anchors are hidden by `anchors` already."""
        version = self.spaces.store.space_map_version(space.id)
        if version is None or version == space.map_version:
            return space
        try:
            return self.spaces.get_space(user, space.id)
        except NotFound:
            return space

    def prepared_map(self, user: User, space: Space) -> PreparedCloud | None:
        """The space's map ready for registration, prepared once per map version; None while it has no map."""
        with self._lock:
            cached = self._maps.get(space.id)
            lock = self._map_locks.setdefault(space.id, threading.Lock())
        if cached is not None and cached[0] == space.map_version:
            return cached[1]
        with lock:
            cached = self._maps.get(space.id)
            if cached is not None and cached[0] == space.map_version:
                return cached[1]
            points = self.spaces.space_points(user, space.id)
            if len(points) < 3:
                return None
            prepared = prepare_cloud(points, space.voxel_size)
            with self._lock:
                self._maps[space.id] = (space.map_version, prepared)
            return prepared


MIN_DEPTH_VIEWS = 3
"""Depth views a session gathers before registration is tried (and between tries after a failure)."""
MAX_DEPTH_VIEWS = 6
DRIFT_MIN_M = 0.03
DRIFT_MIN_DEG = 5.0
"""A relocalised session takes a new transform (from landmarks, or depth registered again) when it moves
the landmarks, or the cameras of the depth views, this far from where the current one puts them."""
NEW_VIEW_MIN_M = 0.10
NEW_VIEW_MIN_DEG = 15.0
"""A depth view is kept only this far (moved or turned) from the last one kept: a device
streaming at 30 frames/s would otherwise fill the views with one scene seen six times."""


@dataclass
class SpaceSession:
    """One stream session in a space: how its device frame relates to the space, and what it has seen.

    Thread-safety: the frame loop handles at most one frame of a session at a
    time, and at most one registration job runs per session (`registering`).
    """

    space: Space
    relocalisation: Relocalisation | None = None
    views: deque[DepthView] = field(default_factory=lambda: deque(maxlen=MAX_DEPTH_VIEWS))
    new_views: int = 0
    registering: bool = False
    reported_failure: str = ""
    """The method of the last failure reported, while no success came after it."""

    @property
    def device_from_space(self) -> np.ndarray | None:
        """The transform to place anchors with, once a relocalisation succeeded."""
        found = self.relocalisation
        return found.device_from_space if found is not None and found.success else None

    def from_markers(self, detections: list[Detection], device_pose: np.ndarray) -> Relocalisation | None:
        """A relocalisation from the landmarks seen in this frame, or None when there is nothing to report.

        Once relocalised, landmarks in view correct drift: their transform is
        returned only when it puts a landmark seen DRIFT_MIN_M or DRIFT_MIN_DEG
        away from where the current one does, and a failure is not returned.
        """
        seen = {d.object_id: device_pose @ d.pose for d in detections
                if d.pose is not None and d.object_id in self.space.landmarks}
        if not seen:
            return None
        known = {key: _matrix(self.space.landmarks[key]) for key in seen}
        current = self.device_from_space
        try:
            found = transform_from_markers(seen, known)
        except PoseError as exc:
            return None if current is not None else Relocalisation(np.eye(4), 0.0, float("inf"), False, "markers", str(exc))
        if current is not None and not _drifted(current, found.device_from_space, list(known.values())):
            return None
        return found

    def add_depth(self, depth: np.ndarray, intrinsics: Intrinsics, device_pose: np.ndarray) -> list[DepthView] | None:
        """Keep a depth view seen from a new place; the views to register when enough new ones came and no job runs."""
        if self.views:
            moved, turned = pose_difference(device_pose, self.views[-1].camera_to_frame)
            if moved < NEW_VIEW_MIN_M and turned < NEW_VIEW_MIN_DEG:
                return None
        self.views.append(DepthView(depth, intrinsics, device_pose))
        self.new_views += 1
        if self.registering or self.new_views < MIN_DEPTH_VIEWS:
            return None
        self.registering = True
        self.new_views = 0
        return list(self.views)

    def accept_drift(self, found: Relocalisation, views: list[DepthView]) -> bool:
        """Take a registration done while relocalised when it moves the space by DRIFT_MIN_M or DRIFT_MIN_DEG
        where `views` were taken (the device's tracking drifted); True when the client should hear of it."""
        current = self.device_from_space
        if current is None or not found.success:
            return False
        cameras = [invert_pose(current) @ view.camera_to_frame for view in views]  # in the space
        if not _drifted(current, found.device_from_space, cameras):
            return False
        self.relocalisation = found
        self.views.clear()
        return True

    def accept(self, found: Relocalisation) -> bool:
        """Take a result; True when the client should hear of it.

        Every success is reported, and every failed registration (each is a
        new try on new views, one at a time). Markers are tried on every frame
        that shows one, so only the first of a run of marker failures is.
        """
        if self.device_from_space is not None and not found.success:
            return False
        if not found.success and found.method == "markers" and self.reported_failure == "markers":
            return False
        self.relocalisation = found
        self.reported_failure = "" if found.success else found.method
        if found.success:
            self.views.clear()
        return True


def _drifted(current: np.ndarray, found: np.ndarray, places: list[np.ndarray]) -> bool:
    """True when `found` puts one of `places` (poses in the space) DRIFT_MIN_M or DRIFT_MIN_DEG from where `current` does."""
    for place in places:
        moved, turned = pose_difference(current @ place, found @ place)
        if moved >= DRIFT_MIN_M or turned >= DRIFT_MIN_DEG:
            return True
    return False


class PlaceError(Exception):
    """A place request the session cannot act on; `code` is the stream error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def place_from_device(registry: SpaceRegistry, user: User, space_session: SpaceSession, pose_in_device: np.ndarray,
                      block_id: str | None = None, anchor_id: str | None = None) -> Anchor:
    """Place `block_id`, or move `anchor_id`, to a pose given in the device's frame; keeps the registry in step.

    Store work (call it from a worker thread). Access is checked as REST
    checks it: anchors.NotFound for blocks, anchors and spaces the user may not
    read, PermissionDenied without write access to the block or the space.
    """
    space_id = space_session.space.id
    device_from_space = space_session.device_from_space
    if device_from_space is None:
        raise PlaceError("not_relocalised", f"this session is not relocalised in space {space_id} yet;"
                                            " place anchors after a successful `relocalised`")
    space_pose = [float(v) for v in (invert_pose(device_from_space) @ pose_in_device).reshape(16)]
    if anchor_id is None:
        assert block_id is not None, "give a block to place or an anchor to move"
        anchor, revision = registry.spaces.attach_in_space(user, block_id, space_id, space_pose)
    else:
        current = registry.spaces.blocks.get_anchor(user, anchor_id)
        if current.space_id is None:
            raise PlaceError("bad_place", f"anchor {anchor_id} is pinned to {current.object_id}, not placed in a space")
        if current.space_id != space_id:  # which space is not said: the user may not be allowed to know it
            raise PlaceError("bad_place", f"anchor {anchor_id} is not placed in this session's space {space_id}")
        anchor, revision = registry.spaces.move_anchor(user, anchor_id, space_pose)
    registry.placed(anchor, revision)
    return anchor


@dataclass
class Registration:
    """A registration job a frame asked for: the session's depth views, to register against its space's map."""

    session: SpaceSession
    user: User
    views: list[DepthView]
    frame_id: int
    """The frame whose depth view completed the set."""


def register_views(registry: SpaceRegistry, user: User, space: Space, views: list[DepthView],
                   device_from_space: np.ndarray | None = None) -> Relocalisation:
    """Relocalise from depth views in the device's frame against the space's map (worker-pool work).

    With `device_from_space` (the session is relocalised), only refine it, to
    follow the device's drift. `space` is the session's, which its frames keep
    up to date (`SpaceRegistry.current`).
    """
    space_map = registry.prepared_map(user, space)
    if space_map is None:
        return Relocalisation(np.eye(4), 0.0, float("inf"), False, "registration",
                              f"space {space.id} has no map yet: upload one with PUT /v1/spaces/{space.id}/map")
    points = fuse_depth_views(views, space.voxel_size / 2)
    if device_from_space is None:
        return relocalise(points, space_map)
    return track(points, space_map, invert_pose(device_from_space))


def device_placements(space_session: SpaceSession, registry: SpaceRegistry, device_pose: np.ndarray | None,
                      intrinsics: Intrinsics) -> dict[str, np.ndarray]:
    """Place key to pose in the device's frame of the space anchors this frame's camera sees."""
    device_from_space = space_session.device_from_space
    if device_from_space is None or device_pose is None:
        return {}
    camera_to_space = invert_pose(device_from_space) @ device_pose
    visible = registry.visible(space_session.space.id, camera_to_space, intrinsics)
    return {key: device_from_space @ pose for key, pose in visible.items()}


def _matrix(pose: Any) -> np.ndarray:
    return np.asarray(pose, dtype=np.float64).reshape(4, 4)
