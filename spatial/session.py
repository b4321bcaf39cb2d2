"""A stream session: who is connected, with what camera, and the one frame waiting.

Latest frame wins: a session holds at most one frame waiting to be processed;
a newer frame replaces it and the older one is counted as dropped.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from spatial.pipeline import Viewer
from spatial.protocol import FrameHeader
from vision import Intrinsics


@dataclass
class Stats:
    received: int = 0
    processed: int = 0
    dropped: int = 0
    errors: int = 0

    def message(self) -> dict[str, int | str]:
        return {"type": "stats", "received": self.received, "processed": self.processed,
                "dropped": self.dropped, "errors": self.errors}


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


@dataclass
class Session:
    id: str = field(default_factory=lambda: f"ses_{uuid.uuid4().hex[:12]}")
    viewer: Viewer | None = None
    camera: Intrinsics | None = None
    capabilities: tuple[str, ...] = ()
    stats: Stats = field(default_factory=Stats)
    frames: LatestFrame = field(default_factory=LatestFrame)

    @property
    def ready(self) -> bool:
        """True once a `hello` was accepted."""
        return self.viewer is not None
