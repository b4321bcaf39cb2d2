"""A stream session: who is connected, with what camera, and the one frame waiting.

Latest frame wins: a session holds at most one frame waiting to be processed;
a newer frame replaces it and the older one is counted as dropped.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from spatial.lifting import Triangulator
from spatial.pipeline import Viewer
from spatial.protocol import FrameHeader
from spatial.spaces import SpaceSession
from vision import Intrinsics
from vision.tracking import Tracker

RECENT_FRAMES = 4
"""Decoded frames a session keeps in memory, so a `teach` can refer to one."""


@dataclass
class Stats:
    received: int = 0
    processed: int = 0
    dropped: int = 0
    refused: int = 0
    errors: int = 0

    def message(self) -> dict[str, int | str]:
        return {"type": "stats", "received": self.received, "processed": self.processed,
                "dropped": self.dropped, "refused": self.refused, "errors": self.errors}


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
class Session:
    id: str = field(default_factory=lambda: f"ses_{uuid.uuid4().hex[:12]}")
    viewer: Viewer | None = None
    camera: Intrinsics | None = None
    capabilities: tuple[str, ...] = ()
    stats: Stats = field(default_factory=Stats)
    frames: LatestFrame = field(default_factory=LatestFrame)
    frame_rate: RateLimit = field(default_factory=lambda: RateLimit(60.0))
    last_rate_error: float = float("-inf")
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
