"""A stream session: who is connected, with what camera, and what its viewer sees; and its connection's parts.

`Session` is the session's domain state, which `spatial.controller` acts on.
Its connection (`spatial.api.stream`) keeps the frame waiting, the rate limit
and the counters. Latest frame wins: a connection holds at most one frame
waiting to be processed (`LatestFrame`); a newer frame replaces it and the
older one is counted as dropped. A `Viewer` holds one viewer's
view-dependent state: the objects and space anchors in view lately, their
blocks in display form and laid out (kept from frame to frame, redone only
for what the store's change log says was written: `anchors.VisibleBlocks`),
the window of rows each table panel shows, and the overlays their client holds.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from anchors import ComputeService, SignalTracker, User, VisibleBlocks
from spatial.lifting import Triangulator
from spatial.overlays import VECTOR, ContentFormat, LayoutCache, Outbox, OverlayDelta, build_overlays, class_key
from spatial.protocol import FrameHeader, StatsMessage, stats_message
from spatial.spaces import SpaceSession
from vision import Intrinsics
from vision.tracking import Tracker

RECENT_FRAMES = 4
"""Decoded frames a session keeps in memory, so a `teach` can refer to one."""
MAX_WINDOWS = 256
"""Panels whose window of rows a viewer keeps (the latest asked for)."""


@dataclass
class Stats:
    received: int = 0
    processed: int = 0
    dropped: int = 0
    refused: int = 0
    errors: int = 0

    def message(self) -> StatsMessage:
        return stats_message(self.received, self.processed, self.dropped, self.refused, self.errors)


class LatestFrame:
    """A one-slot mailbox: `put` never blocks and replaces what is waiting."""

    def __init__(self) -> None:
        self._item: tuple[FrameHeader, bytes] | None = None
        self._ready = asyncio.Event()

    def put(self, header: FrameHeader, image: bytes) -> bool:
        """Store a frame; True when it replaced one that was still waiting."""
        replaced = self._item is not None
        self._item = (header, image)
        self._ready.set()
        return replaced

    async def take(self) -> tuple[FrameHeader, bytes]:
        await self._ready.wait()
        self._ready.clear()
        item, self._item = self._item, None
        assert item is not None
        return item


class RateLimit:
    """A token bucket: `rate` events a second on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate / 2)
        self._tokens = self.burst
        self._last: float | None = None

    def allow(self, now: float) -> bool:
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class SessionCounter:
    """Open stream sessions per user, with a cap."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def join(self, user_id: str) -> bool:
        if self._open.get(user_id, 0) >= self.limit:
            return False
        self._open[user_id] = self._open.get(user_id, 0) + 1
        return True

    def leave(self, user_id: str) -> None:
        left = self._open.get(user_id, 0) - 1
        if left > 0:
            self._open[user_id] = left
        else:
            self._open.pop(user_id, None)


@dataclass
class Viewer:
    """One viewer's view: the objects seen lately, their blocks, and the overlays their client holds.

    Built with what it uses: the compute service that evaluates the blocks in
    view and the layout cache that lays them out (shared by all sessions).
    """

    user: User
    compute: ComputeService
    layouts: LayoutCache
    linger_s: float
    metres_per_pixel: float
    last_seen: dict[str, tuple[float, str]] = field(default_factory=dict)
    last_placed: dict[str, tuple[float, np.ndarray]] = field(default_factory=dict)
    outbox: Outbox = field(default_factory=Outbox)
    signals: SignalTracker = field(default_factory=SignalTracker)
    windows: dict[str, int] = field(default_factory=dict)
    """Overlay id to the first row its panel shows, as the client asked (`page`); 0 when not asked."""
    visible: VisibleBlocks = field(init=False)
    """The blocks pinned to what is in view, in display form, kept from frame to frame."""
    _scene: tuple[Any, ...] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.visible = VisibleBlocks(self.compute, self.user)

    def show_rows(self, overlay_id: str, first: int) -> bool:
        """Show the rows of an overlay's table from `first` on, from the next frame; False for an overlay the
        client does not hold."""
        if not self.outbox.holds(overlay_id):
            return False
        self.windows.pop(overlay_id, None)
        self.windows[overlay_id] = first
        while len(self.windows) > MAX_WINDOWS:
            self.windows.pop(next(iter(self.windows)))
        return True

    def in_view(self, labels: Mapping[str, str], now: float) -> dict[str, str]:
        """Object id to label for this frame's objects (`labels`), plus those seen within the linger time
        (which rides out missed detections)."""
        for object_id, label in labels.items():
            self.last_seen[object_id] = (now, label)
        self.last_seen = {oid: seen for oid, seen in self.last_seen.items() if now - seen[0] <= self.linger_s}
        return {oid: label for oid, (_, label) in self.last_seen.items()}

    def placed_in_view(self, placed: dict[str, np.ndarray], now: float) -> dict[str, np.ndarray]:
        """Space anchors in this frame's view, plus those in view within the linger time at their last pose
        (so a panel at the edge of the view does not flicker)."""
        for key, pose in placed.items():
            self.last_placed[key] = (now, pose)
        self.last_placed = {key: seen for key, seen in self.last_placed.items() if now - seen[0] <= self.linger_s}
        return {key: pose for key, (_, pose) in self.last_placed.items()}

    def overlay_delta(self, labels: Mapping[str, str], poses: Mapping[str, np.ndarray | None], now: float,
                      placed: dict[str, np.ndarray] | None = None) -> OverlayDelta:
        """What changed in this viewer's overlays.

        `labels` maps the ids of this frame's objects to their class labels, `poses` to their poses in the
        camera (None where none is known), as `FrameResult.object_labels` and `object_poses` give them. `placed` maps the place keys of the space anchors in view to their
        poses in the device's frame: only those (and those lingering) are computed and shown.
        When no block, share or signal they read changed, nothing is read, computed or laid out again.
        """
        in_view = self.in_view(labels, now)
        placed = self.placed_in_view(placed or {}, now)
        keys = [*in_view, *{class_key(label) for label in in_view.values()}, *placed]
        signals = self.signals.observe(in_view, poses, now, time.time())
        pinned = self.visible.evaluate(keys, signals)
        scene = (pinned, in_view, {key: np.asarray(pose).tobytes() for key, pose in placed.items()}, dict(self.windows))
        if self._scene is not None and pinned is self._scene[0] and scene[1:] == self._scene[1:]:
            delta = OverlayDelta([], [], [])
        else:
            self._scene = scene
            overlays = build_overlays(pinned, in_view, self.layouts, self.metres_per_pixel, placed, self.windows)
            delta = self.outbox.delta(overlays)
        return delta


@dataclass
class Session:
    """One stream session's domain state: its viewer, camera, tracker, recent frames and space."""

    id: str = field(default_factory=lambda: f"ses_{uuid.uuid4().hex[:12]}")
    viewer: Viewer | None = None
    camera: Intrinsics | None = None
    capabilities: tuple[str, ...] = ()
    content_format: ContentFormat = VECTOR
    """What the client gets in an overlay's `content`, from its `hello` capabilities."""
    tracker: Tracker | None = None
    triangulator: Triangulator = field(default_factory=Triangulator)
    """Recent views of the objects, to place them without depth (bounded)."""
    recent: OrderedDict[int, np.ndarray] = field(default_factory=OrderedDict)
    space: SpaceSession | None = None
    """The space named in `hello`, and how this device's frame sits in it."""

    def remember(self, frame_id: int, image: np.ndarray) -> None:
        self.recent[frame_id] = image
        while len(self.recent) > RECENT_FRAMES:
            self.recent.popitem(last=False)

    @property
    def ready(self) -> bool:
        """True once a `hello` was accepted."""
        return self.viewer is not None
