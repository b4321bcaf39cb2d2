"""The store's changes, in one place, for everything in the service that keeps store data in memory.

`ChangeFeed` watches the store and hands each change (`anchors.storage.change_events.Change`:
kind, id, op, the block's new `seq`, the process it came from) to its
subscribers. On PostgreSQL that is every replica's writes, through
LISTEN/NOTIFY; on SQLite, this process's own.

The caches check what they hold against the store where that costs one
indexed read a frame (a table's sheet against its stamp, a space's anchors
against its revision, its prepared map against its map version, a block's
layout by its version), so an edit made through another replica is seen
with the next frame whatever the notifications do. `keep_caches_current` is
the rest, and the only place that says what each cache does with a change:

- object memory (appearances and taught objects) is read only at start, so
  it takes in what other replicas learned, taught and forgot;
- a deleted block's table sheet, compute outcomes and layouts, and a deleted
  space's anchors and prepared map, are dropped (nothing else would);
- when changes may have been missed, all of them are dropped or read again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from anchors import ComputeService
from anchors.storage.change_events import LOST, Change
from anchors.storage.interface import ChangeLog
from spatial.objects import ObjectMemory
from spatial.overlays import LayoutCache
from spatial.spaces import SpaceRegistry

log = logging.getLogger("spatial.changes")

Subscriber = Callable[[Change], None]


class ChangeFeed:
    """Hands the store's changes to subscribers, in commit order, on the store's listener thread (PostgreSQL)
    or the writer's (SQLite): a subscriber must be quick and thread-safe. One that fails is logged."""

    def __init__(self, store: ChangeLog) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        store.watch(self._deliver)

    def subscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.append(subscriber)

    def _deliver(self, changes: Sequence[Change]) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for change in changes:
            for subscriber in subscribers:
                try:
                    subscriber(change)
                except Exception:
                    log.exception("handling the store change %s failed", change)


def keep_caches_current(feed: ChangeFeed, compute: ComputeService, layouts: LayoutCache, spaces: SpaceRegistry,
                        objects: ObjectMemory) -> None:
    """Subscribe the service's caches to the feed: what each one drops or reads again for which change."""

    def on_change(change: Change) -> None:
        if change.kind == LOST:
            compute.forget_all()
            layouts.clear()
            spaces.forget_all()
            objects.refresh()
        elif change.kind == "block" and change.op == "deleted":
            compute.forget(change.id)
            layouts.forget(change.id)
        elif change.kind == "space" and change.op == "deleted":
            spaces.forget(change.id)
        elif change.kind == "signature" and not objects.wrote(change):
            objects.refresh()

    feed.subscribe(on_change)
