"""Which anchors a viewer can see: a spatial index of anchor positions and a frustum query.

Anchors live at positions in a space's (world) frame, each with a radius
that bounds its object. A query takes the viewer's camera-to-world pose with
OpenCV camera axes (x right, y down, z forward; convert WebXR view poses with
`vision.poses.opencv_from_webxr_view`), the pinhole intrinsics of the view,
and a maximum distance; it returns the anchors whose sphere touches the view
frustum within that distance, nearest first.

The index is a uniform grid: anchors are sorted by cell key, so a query reads
only the cells under the frustum's bounding box, then tests those candidates
exactly with numpy. Adding, moving and removing anchors is O(1): changed
anchors wait in a small side list (tested by brute force) until enough pile
up to re-sort.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from vision.camera import Intrinsics
from vision.poses import check_pose

_BITS = 21  # bits per axis in a cell key: +-1 million cells, +-2,000 km at 2 m cells (clipped beyond)
_OFFSET = 1 << (_BITS - 1)


class UnknownAnchorError(KeyError):
    """No anchor with this id is in the index."""


class AnchorIndexError(ValueError):
    """An anchor position, radius or query parameter is not valid."""


@dataclass(frozen=True)
class VisibleAnchors:
    """The anchors in view, nearest first: ids, distances from the camera (m), and projected centres (u, v) px.

    A centre may project outside the image when only the anchor's sphere reaches into the view.
    """

    ids: list[str]
    distances: np.ndarray
    pixels: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


class AnchorIndex:
    """Anchor positions (world frame, metres) with radii, indexed for frustum queries."""

    def __init__(self, cell_size: float = 2.0, rebuild_after: int = 1024) -> None:
        if not cell_size > 0:
            raise AnchorIndexError("cell_size must be positive")
        self.cell_size = float(cell_size)
        self._rebuild_after = rebuild_after
        self._slot_of: dict[str, int] = {}
        self._free: list[int] = []
        self._pending: set[int] = set()  # slots added or moved since the last sort
        # Per slot (columns of _xyz): id, position, radius, index in the sorted arrays (-1: none).
        self._ids = np.empty(0, dtype=object)
        self._xyz = np.empty((3, 0))
        self._radii = np.empty(0)
        self._sorted_at = np.empty(0, dtype=np.int64)
        # The anchors as of the last sort, ordered by cell key; `_sorted_live` is false once moved or removed.
        self._keys = np.empty(0, dtype=np.int64)
        self._sorted_slots = np.empty(0, dtype=np.int64)
        self._sorted_xyz = np.empty((3, 0))
        self._sorted_radii = np.empty(0)
        self._sorted_live = np.empty(0, dtype=bool)
        self._occupied = (np.zeros(3, dtype=np.int64), np.full(3, -1, dtype=np.int64))
        self._max_radius = 0.0

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, anchor_id: object) -> bool:
        return anchor_id in self._slot_of

    def position(self, anchor_id: str) -> np.ndarray:
        return self._xyz[:, self._slot(anchor_id)].copy()

    def set(self, anchor_id: str, position: Any, radius: float = 0.0) -> None:
        """Add an anchor, or move it (and change its radius) if it exists."""
        point = _check_position(position, anchor_id)
        radius = _check_radius(radius, anchor_id)
        slot = self._claim(anchor_id)
        self._xyz[:, slot] = point
        self._radii[slot] = radius
        self._max_radius = max(self._max_radius, radius)
        self._pending.add(slot)
        if len(self._pending) > max(self._rebuild_after, len(self._slot_of) // 64):
            self._rebuild()

    def set_many(self, anchor_ids: Sequence[str], positions: Any, radii: Any = 0.0) -> None:
        """Add or move many anchors at once (loading a space), then re-sort the index."""
        points = np.asarray(positions, dtype=np.float64)
        if points.shape != (len(anchor_ids), 3) or not np.isfinite(points).all():
            raise AnchorIndexError(f"positions must be a finite ({len(anchor_ids)}, 3) array")
        sizes = np.broadcast_to(np.asarray(radii, dtype=np.float64), (len(anchor_ids),))
        if not (np.isfinite(sizes) & (sizes >= 0)).all():
            raise AnchorIndexError("radii must be finite and non-negative")
        if len(set(anchor_ids)) != len(anchor_ids):
            raise AnchorIndexError("anchor ids must be unique")
        slots = np.fromiter((self._claim(a) for a in anchor_ids), dtype=np.int64, count=len(anchor_ids))
        self._xyz[:, slots] = points.T
        self._radii[slots] = sizes
        self._rebuild()

    def remove(self, anchor_id: str) -> None:
        slot = self._slot(anchor_id)
        self._unsort(slot)
        del self._slot_of[anchor_id]
        self._ids[slot] = None
        self._pending.discard(slot)
        self._free.append(slot)

    def query(
        self,
        camera_to_world: Any,
        intrinsics: Intrinsics,
        max_distance: float,
        near: float = 0.05,
        limit: int | None = None,
    ) -> VisibleAnchors:
        """The anchors whose sphere reaches into the view frustum between `near` and `max_distance` metres.

        An anchor is kept when its sphere is (even partly) in front of the
        near plane, inside all four side planes of the image's pyramid and
        within `max_distance` of the camera. `limit` keeps only the nearest.
        """
        pose = check_pose(camera_to_world, "camera pose")
        if not max_distance > near >= 0:
            raise AnchorIndexError("need 0 <= near < max_distance")
        if limit is not None and limit < 0:
            raise AnchorIndexError("limit must be at least 0")
        rotation, eye = pose[:3, :3], pose[:3, 3]
        slots, xyz, radii = self._candidates(rotation, eye, intrinsics, max_distance)
        # Camera coordinates, one axis at a time: elementwise numpy beats a BLAS call on (N, 3) arrays.
        d = [xyz[k] - eye[k] for k in range(3)]
        x, y, z = (d[0] * rotation[0, k] + d[1] * rotation[1, k] + d[2] * rotation[2, k] for k in range(3))
        inside = (z >= near - radii) & (x * x + y * y + z * z <= (max_distance + radii) ** 2)
        for nx, ny, nz in _side_plane_normals(intrinsics):
            inside &= nx * x + ny * y + nz * z >= -radii
        slots, x, y, z = slots[inside], x[inside], y[inside], z[inside]
        distances = np.sqrt(x * x + y * y + z * z)
        if limit is not None and limit < len(slots):
            nearest = np.argpartition(distances, limit)[:limit]
            slots, x, y, z, distances = slots[nearest], x[nearest], y[nearest], z[nearest], distances[nearest]
        order = np.argsort(distances, kind="stable")
        slots, x, y, z, distances = slots[order], x[order], y[order], z[order], distances[order]
        depth = np.maximum(z, 1e-9)
        pixels = np.column_stack((intrinsics.fx * x / depth + intrinsics.cx, intrinsics.fy * y / depth + intrinsics.cy))
        return VisibleAnchors(self._ids[slots].tolist(), distances, pixels)

    def _slot(self, anchor_id: str) -> int:
        try:
            return self._slot_of[anchor_id]
        except KeyError:
            raise UnknownAnchorError(f"no anchor {anchor_id!r} in the index") from None

    def _claim(self, anchor_id: str) -> int:
        """The slot of `anchor_id`, taken out of the sorted arrays; a new slot for a new id."""
        slot = self._slot_of.get(anchor_id)
        if slot is not None:
            self._unsort(slot)
            return slot
        if self._free:
            slot = self._free.pop()
        else:
            slot = len(self._slot_of)
            if slot >= len(self._radii):
                self._grow(max(64, 2 * len(self._radii)))
        self._slot_of[anchor_id] = slot
        self._ids[slot] = anchor_id
        return slot

    def _unsort(self, slot: int) -> None:
        at = self._sorted_at[slot]
        if at >= 0:
            self._sorted_live[at] = False
            self._sorted_at[slot] = -1

    def _grow(self, capacity: int) -> None:
        extra = capacity - len(self._radii)
        self._ids = np.concatenate([self._ids, np.full(extra, None, dtype=object)])
        self._xyz = np.hstack([self._xyz, np.zeros((3, extra))])
        self._radii = np.concatenate([self._radii, np.zeros(extra)])
        self._sorted_at = np.concatenate([self._sorted_at, np.full(extra, -1, dtype=np.int64)])

    def _rebuild(self) -> None:
        slots = np.fromiter(self._slot_of.values(), dtype=np.int64, count=len(self._slot_of))
        cells = self._cells(self._xyz[:, slots])
        keys = _cell_keys(cells)
        order = np.argsort(keys, kind="stable")
        self._keys, self._sorted_slots = keys[order], slots[order]
        self._sorted_xyz = np.ascontiguousarray(self._xyz[:, self._sorted_slots])
        self._sorted_radii = self._radii[self._sorted_slots]
        self._sorted_live = np.ones(len(slots), dtype=bool)
        self._sorted_at[:] = -1
        self._sorted_at[self._sorted_slots] = np.arange(len(slots))
        if len(slots):
            self._occupied = (cells.min(axis=1), cells.max(axis=1))
        self._max_radius = float(self._sorted_radii.max(initial=0.0))
        self._pending.clear()

    def _cells(self, xyz: np.ndarray) -> np.ndarray:
        """(3, N) integer cell coordinates of (3, N) positions."""
        return np.floor(xyz / self.cell_size).astype(np.int64)

    def _candidates(self, rotation: np.ndarray, eye: np.ndarray, intrinsics: Intrinsics,
                    max_distance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(slots, (3, M) positions, radii) of the anchors under the frustum's bounding box, and of the pending ones."""
        hull = np.vstack([eye, eye + (_corner_rays(intrinsics) * max_distance) @ rotation.T])  # pyramid to z = max
        low = self._cells((hull.min(axis=0) - self._max_radius)[:, None])[:, 0]
        high = self._cells((hull.max(axis=0) + self._max_radius)[:, None])[:, 0]
        at = self._grid_range(low, high)
        if at is None:
            live = self._sorted_live
            slots, xyz, radii = self._sorted_slots[live], self._sorted_xyz[:, live], self._sorted_radii[live]
        else:
            at = at[self._sorted_live[at]]
            slots, xyz, radii = self._sorted_slots[at], self._sorted_xyz[:, at], self._sorted_radii[at]
        if not self._pending:
            return slots, xyz, radii
        pending = np.fromiter(self._pending, dtype=np.int64, count=len(self._pending))
        return (np.concatenate([slots, pending]), np.hstack([xyz, self._xyz[:, pending]]),
                np.concatenate([radii, self._radii[pending]]))

    def _grid_range(self, low: np.ndarray, high: np.ndarray) -> np.ndarray | None:
        """Indices into the sorted arrays of the anchors whose cell is within [low, high]; None for all.

        One pair of binary searches per (x, y) column of cells, since keys run
        along z within a column. When the box spans more columns than it would
        cost to test every anchor, None says "test them all".
        """
        low, high = np.maximum(low, self._occupied[0]), np.minimum(high, self._occupied[1])
        if (high < low).any():
            return np.empty(0, dtype=np.int64)
        spans = high - low + 1
        if spans[0] * spans[1] > max(256, len(self._keys) // 64):
            return None
        xs, ys = (a.ravel() for a in np.meshgrid(np.arange(low[0], high[0] + 1), np.arange(low[1], high[1] + 1),
                                                  indexing="ij"))
        starts = np.searchsorted(self._keys, _cell_keys(np.vstack([xs, ys, np.full(xs.size, low[2])])), side="left")
        ends = np.searchsorted(self._keys, _cell_keys(np.vstack([xs, ys, np.full(xs.size, high[2])])), side="right")
        lengths = ends - starts
        total = int(lengths.sum())
        if total == 0:
            return np.empty(0, dtype=np.int64)
        return np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)


def _cell_keys(cells: np.ndarray) -> np.ndarray:
    """One sortable int64 per (3, N) cell, ordered by x, then y, then z."""
    shifted = np.clip(cells + _OFFSET, 0, (1 << _BITS) - 1)
    return (shifted[0] << (2 * _BITS)) | (shifted[1] << _BITS) | shifted[2]


@lru_cache(maxsize=32)
def _corner_rays(intrinsics: Intrinsics) -> np.ndarray:
    """Camera-frame rays (z = 1) through the four image corners."""
    k = intrinsics
    return np.array([[(u - k.cx) / k.fx, (v - k.cy) / k.fy, 1.0] for u in (0, k.width) for v in (0, k.height)])


@lru_cache(maxsize=32)
def _side_plane_normals(intrinsics: Intrinsics) -> tuple[tuple[float, float, float], ...]:
    """Unit inward normals (camera frame) of the four planes through the camera and the image edges."""
    k = intrinsics
    normals = np.array([
        [k.fx, 0.0, k.cx],  # left edge, u = 0
        [-k.fx, 0.0, k.width - k.cx],  # right edge, u = width
        [0.0, k.fy, k.cy],  # top edge, v = 0
        [0.0, -k.fy, k.height - k.cy],  # bottom edge, v = height
    ])
    return tuple(tuple(float(v) for v in row) for row in normals / np.linalg.norm(normals, axis=1, keepdims=True))


def _check_position(position: Any, anchor_id: str) -> np.ndarray:
    try:
        point = np.asarray(position, dtype=np.float64).reshape(3)
    except (TypeError, ValueError) as exc:
        raise AnchorIndexError(f"position of anchor {anchor_id!r} must be three numbers") from exc
    if not np.isfinite(point).all():
        raise AnchorIndexError(f"position of anchor {anchor_id!r} is not finite")
    return point


def _check_radius(radius: float, anchor_id: str) -> float:
    try:
        value = float(radius)
    except (TypeError, ValueError) as exc:
        raise AnchorIndexError(f"radius of anchor {anchor_id!r} must be a number") from exc
    if not math.isfinite(value) or value < 0:
        raise AnchorIndexError(f"radius of anchor {anchor_id!r} must be finite and non-negative")
    return value
