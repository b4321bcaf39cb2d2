"""Overlays: blocks pinned to objects in view, laid out, diffed per session, and as the protocol sends them."""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from anchors import Anchor, Block
from spatial.protocol import OverlayPanel, PanelContent, PanelPlacement, RasterImage
from spatial.render import DisplayList, content_hash, layout_block
from spatial.render.raster import RASTER_SCALE, RasterCache


@dataclass(frozen=True)
class ContentFormat:
    """What a client gets in an overlay's `content`: vector ops, a raster image, or both.

    Chosen from the `hello` capabilities: `vector`; `raster` (PNG) or `raster:webp`.
    A client that names neither gets vector ops.
    """

    vector: bool = True
    raster: str | None = None

    @classmethod
    def from_capabilities(cls, capabilities: Iterable[str]) -> ContentFormat:
        names = set(capabilities)
        raster = "webp" if "raster:webp" in names else "png" if "raster" in names else None
        return cls(vector="vector" in names or raster is None, raster=raster)

    def capabilities(self) -> list[str]:
        """The capability names this format serves, as `welcome` reports them."""
        names = ["vector"] if self.vector else []
        if self.raster:
            names.append("raster" if self.raster == "png" else f"raster:{self.raster}")
        return names


VECTOR = ContentFormat()


@dataclass(frozen=True)
class Overlay:
    id: str
    object_id: str
    block_id: str
    slot: int
    pose: tuple[float, ...]
    size_m: tuple[float, float]
    content: DisplayList
    hash: str
    frame: str = "object"
    """What `pose` is relative to: `object` (the object's frame) or `device` (the client's reference space)."""


def overlay_panel(overlay: Overlay, fmt: ContentFormat, rasters: RasterCache | None = None) -> OverlayPanel:
    """An overlay as the protocol sends it; a raster `fmt` needs `rasters` to paint or reuse images."""
    display = overlay.content
    content: dict[str, Any] = {}
    if fmt.vector:
        content["ops"] = display.ops
    if fmt.raster:
        assert rasters is not None, "a raster content format needs a RasterCache"
        image = rasters.get(display, overlay.hash, fmt.raster)
        content["image"] = RasterImage(format=fmt.raster, scale=RASTER_SCALE,  # type: ignore[arg-type]
                                       data=base64.b64encode(image).decode("ascii"))
    placement = PanelPlacement(frame=overlay.frame, pose=list(overlay.pose), size_m=list(overlay.size_m),  # type: ignore[arg-type]
                               slot=overlay.slot)
    return OverlayPanel(id=overlay.id, object_id=overlay.object_id, block_id=overlay.block_id, placement=placement,
                        content=PanelContent(width=display.width, height=display.height, **content), hash=overlay.hash)


class LayoutCache:
    """Display lists keyed by block id, version and the first row shown: an unchanged block is laid out once
    for each window of its rows that is shown. Their rasters, for clients that asked for images, are kept by
    content hash in `rasters`.

    Shared by all sessions' worker threads.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self.rasters = RasterCache()
        self._items: OrderedDict[tuple[str, int, int], tuple[DisplayList, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, block: Block, first: int = 0) -> tuple[DisplayList, str]:
        """The display list of `block` (in display form) and its hash, its rows shown from `first` on."""
        key = (block.id, block.version, first)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        display = layout_block(block.kind, block.title, block.content, first=first)
        entry = (display, content_hash(display))
        with self._lock:
            self._items[key] = entry
            if len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return entry

    def forget(self, block_id: str) -> None:
        """Drop the layouts of a block that was deleted."""
        with self._lock:
            for key in [k for k in self._items if k[0] == block_id]:
                del self._items[key]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


CLASS_PREFIX = "class:"


def class_key(label: str) -> str:
    """The object id that pins a block to every object of a class: `class:cup`."""
    return CLASS_PREFIX + label


def build_overlays(
    pinned: Iterable[tuple[Anchor, Block]],
    in_view: Mapping[str, str],
    layouts: LayoutCache,
    metres_per_pixel: float,
    placed: Mapping[str, np.ndarray] | None = None,
    windows: Mapping[str, int] | None = None,
) -> dict[str, Overlay]:
    """Overlays for anchors on objects in view (`in_view` maps object id to class label).

    An anchor on an object gives one overlay; an anchor on a class gives one per
    object of that class in view, with the id `<anchor id>@<object id>`. Panels
    on the same object are stacked in slots in anchor order. An anchor placed
    in a space gives an overlay when `placed` has its place key, posed in the
    device's reference space (`frame` "device"). `windows` maps an overlay's id
    to the first row its panel shows (0 when it has none).
    """
    placed = placed or {}
    windows = windows or {}
    by_class: dict[str, list[str]] = {}
    for object_id, label in in_view.items():
        by_class.setdefault(class_key(label), []).append(object_id)
    overlays: dict[str, Overlay] = {}
    slots: dict[str, int] = {}

    def overlay(overlay_id: str, object_id: str, block: Block, slot: int, pose: tuple[float, ...],
                frame: str = "object") -> Overlay:
        display, digest = layouts.get(block, windows.get(overlay_id, 0))
        size_m = (round(display.width * metres_per_pixel, 4), round(display.height * metres_per_pixel, 4))
        return Overlay(overlay_id, object_id, block.id, slot, pose, size_m, display, digest, frame)

    for anchor, block in pinned:
        if anchor.space_id is not None:
            pose = placed.get(anchor.object_id)
            if pose is not None:
                in_device = tuple(round(float(v), 6) for v in np.asarray(pose).reshape(16))
                overlays[anchor.id] = overlay(anchor.id, anchor.object_id, block, 0, in_device, "device")
            continue
        if anchor.object_id.startswith(CLASS_PREFIX):
            targets = [(f"{anchor.id}@{oid}", oid) for oid in by_class.get(anchor.object_id, [])]
        else:
            targets = [(anchor.id, anchor.object_id)]
        for overlay_id, object_id in targets:
            slot = slots.get(object_id, 0)
            slots[object_id] = slot + 1
            overlays[overlay_id] = overlay(overlay_id, object_id, block, slot, anchor.pose)
    return overlays


@dataclass
class OverlayDelta:
    added: list[Overlay]
    updated: list[Overlay]
    removed: list[str]

    def __bool__(self) -> bool:
        return bool(self.added or self.updated or self.removed)


class Outbox:
    """What a client already holds, so only changes are sent."""

    def __init__(self) -> None:
        self._sent: dict[str, tuple[Any, ...]] = {}

    def holds(self, overlay_id: str) -> bool:
        """Whether the client was sent this overlay and not told it was removed."""
        return overlay_id in self._sent

    @staticmethod
    def _version(overlay: Overlay) -> tuple[Any, ...]:
        return overlay.hash, overlay.slot, overlay.pose

    def delta(self, current: dict[str, Overlay]) -> OverlayDelta:
        added = [o for oid, o in current.items() if oid not in self._sent]
        updated = [
            o for oid, o in current.items() if oid in self._sent and self._sent[oid] != self._version(o)
        ]
        removed = [oid for oid in self._sent if oid not in current]
        self._sent = {oid: self._version(o) for oid, o in current.items()}
        return OverlayDelta(added, updated, removed)
