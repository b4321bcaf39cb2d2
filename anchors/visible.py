"""One viewer's blocks in view, in their display form, kept from frame to frame.

The frame loop calls `VisibleBlocks.evaluate` for every frame with the objects
in view. It asks the store once what was written since the stamp it saw last
(`Store.changes_since`, one indexed query) and redoes only what that touches:

- an anchor added, moved or removed on an object it holds: that anchor is read
  again (and its block, unless one of its anchors holds it already);
- a pinned block written, or a block above it written or shared (or no longer):
  the viewer's access to it is checked again; a block they may no longer read is
  dropped (its overlay goes), one they may read now is read; a block written is
  read again, that one block;
- a display that read a block written (or one whose children were, as a table
  reads its rows): evaluated again (`ComputeService.display_pinned`, which reads
  only the rows that changed and recomputes only what depends on them);
- a display that read a signal (an object's `in_view`, the time): evaluated
  again when the value it read changed.

With nothing written and no signal changed, a call reads no block and
evaluates nothing, and it returns the very list it returned before. A first
call, or a stamp older than the store's log, starts over.

The log is the store's: writes made through any process sharing it (service
replicas on one database) are seen in the next call, with no message between
the processes. A notification between replicas (PostgreSQL LISTEN/NOTIFY) would
plug in at `refresh`: it would tell it when to ask, sparing the query on the
frames when nothing was written anywhere.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from anchors.compute.compute_blocks import Signals
from anchors.model import Anchor, Block, User
from anchors.sheets.engine import ComputeService, Displayed
from anchors.storage.change_log import ChangeSet

MAX_OBJECTS = 256
"""Objects whose anchors are kept; those out of view longest are forgotten first."""


@dataclass
class _Pin:
    """An anchor on an object the viewer saw, with its block as stored while the viewer may read it."""

    anchor: Anchor
    chain: tuple[str, ...]
    """The block and the blocks above it: access to it follows their shares and public flags."""
    block: Block | None


class VisibleBlocks:
    """What one user sees pinned to the objects in view, in display form; a viewer's own, not thread-safe."""

    def __init__(self, compute: ComputeService, user: User, max_objects: int = MAX_OBJECTS) -> None:
        self.compute = compute
        self.blocks = compute.blocks
        self.store = compute.store
        self.user = user
        self.max_objects = max_objects
        self.seq: int | None = None
        """The store's stamp this view is up to date with."""
        self._pins: OrderedDict[str, list[_Pin]] = OrderedDict()
        self._shown: dict[str, Displayed] = {}
        self._keys: tuple[str, ...] = ()
        self._merged: list[_Pin] = []
        self._result: list[tuple[Anchor, Block]] = []
        self._stale = True

    def evaluate(self, object_ids: Iterable[str], signals: Signals) -> list[tuple[Anchor, Block]]:
        """The blocks pinned to `object_ids` that the user may read, oldest anchor first, each in its display
        form (as `ComputeService.evaluate_visible` gives them). The same list as last time when nothing in it
        changed."""
        keys = tuple(dict.fromkeys(object_ids))
        self.refresh()
        missing = [key for key in keys if key not in self._pins]
        if missing:
            self._load(missing, keys)
        if keys != self._keys or self._stale:
            self._keys, self._merged = keys, self._merge(keys)
            self._stale, changed = False, True
        else:
            changed = False
        result = []
        for pin in self._merged:
            if pin.block is None:
                continue
            shown = self._shown.get(pin.anchor.id)
            if shown is None or not shown.current(signals):
                fresh = self.compute.display_pinned(self.user, pin.anchor, pin.block, signals)
                changed = changed or shown is None or fresh.block is not shown.block
                self._shown[pin.anchor.id] = shown = fresh
            result.append((pin.anchor, shown.block))
        if changed:
            self._result = result
        return self._result

    def refresh(self) -> ChangeSet:
        """Bring what is kept up to date with the store's change log (one query); returns what changed."""
        changes = self.store.changes_since(self.seq)
        self.seq = changes.seq
        if not changes.complete:
            self._pins.clear()
            self._shown.clear()
            self._stale = True
        elif changes:
            self._apply(changes)
        return changes

    # ------------------------------------------------------------ keeping up with the change log

    def _apply(self, changes: ChangeSet) -> None:
        touched = changes.blocks | changes.parents | changes.shares
        for anchor_id in [a for a, shown in self._shown.items() if not shown.reads.isdisjoint(touched)]:
            del self._shown[anchor_id]
        read: set[str] = set()
        if changes.anchors and (not changes.objects.isdisjoint(self._pins) or self._holds_any(changes.anchors)):
            read = self._reread_anchors(changes.anchors)
        access = changes.blocks | changes.shares
        for pins in self._pins.values():
            for pin in pins:
                if pin.anchor.id not in read and not access.isdisjoint(pin.chain):
                    self._recheck(pin, written=pin.anchor.block_id in changes.blocks)

    def _holds_any(self, anchor_ids: frozenset[str]) -> bool:
        return any(pin.anchor.id in anchor_ids for pins in self._pins.values() for pin in pins)

    def _reread_anchors(self, anchor_ids: frozenset[str]) -> set[str]:
        """Anchors added, moved or removed: drop those held, and take each as it is now where its object is
        kept; returns the ids of those taken (their blocks as they are now)."""
        held = {pin.anchor.block_id: pin for pins in self._pins.values() for pin in pins}
        taken = set()
        for key, pins in self._pins.items():
            self._pins[key] = [pin for pin in pins if pin.anchor.id not in anchor_ids]
        for anchor_id in sorted(anchor_ids):
            self._shown.pop(anchor_id, None)
            anchor = self.store.get_anchor(anchor_id)
            if anchor is None or anchor.object_id not in self._pins:
                continue
            known = held.get(anchor.block_id)
            pins = self._pins[anchor.object_id]
            if known is not None:
                pins.append(_Pin(anchor, known.chain, known.block))
            else:
                pins.append(self._new_pin(anchor))
                taken.add(anchor_id)
            pins.sort(key=lambda p: p.anchor.created_at)
        self._stale = True
        return taken

    def _recheck(self, pin: _Pin, written: bool) -> None:
        """Check the viewer's access to the pin's block again; read the block again only when it was written
        or the viewer may read it now and could not before."""
        block_id = pin.anchor.block_id
        block = pin.block
        if self.blocks.role(self.user, block_id) is None:
            block = None
        elif written or block is None:
            block = self.store.get_block(block_id)
            pin.chain = self._chain(block_id, block)
        if block is not pin.block:
            pin.block = block
            self._shown.pop(pin.anchor.id, None)
            self._stale = True

    # ------------------------------------------------------------ objects come into view

    def _load(self, missing: list[str], in_view: tuple[str, ...]) -> None:
        """The anchors on objects not kept yet, with the blocks the viewer may read (one query); the objects
        out of view longest are forgotten beyond `max_objects`."""
        readable: dict[str, bool] = {}
        for key in missing:
            self._pins[key] = []
        for anchor, block in self.store.anchors_on(missing):
            if block.id not in readable:
                readable[block.id] = self.blocks.role(self.user, block.id) is not None
            shown = block if readable[block.id] else None
            self._pins[anchor.object_id].append(_Pin(anchor, self._chain(block.id, shown), shown))
        for key in in_view:
            self._pins.move_to_end(key)
        while len(self._pins) > max(self.max_objects, len(in_view)):
            _, pins = self._pins.popitem(last=False)
            for pin in pins:
                self._shown.pop(pin.anchor.id, None)
        self._stale = True

    def _new_pin(self, anchor: Anchor) -> _Pin:
        """A pin for a new anchor, with its block if the viewer may read it."""
        block = self.store.get_block(anchor.block_id) if self.blocks.role(self.user, anchor.block_id) else None
        return _Pin(anchor, self._chain(anchor.block_id, block), block)

    def _chain(self, block_id: str, block: Block | None) -> tuple[str, ...]:
        if block is not None and block.parent is None:
            return (block_id,)
        return (block_id, *self.store.ancestors(block_id))

    def _merge(self, keys: tuple[str, ...]) -> list[_Pin]:
        """The pins on `keys`, oldest anchor first (the order `Store.anchors_on` gives)."""
        for key in keys:
            self._pins.move_to_end(key)
        return sorted((pin for key in keys for pin in self._pins[key]), key=lambda pin: pin.anchor.created_at)
