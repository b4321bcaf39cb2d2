"""Object identity shared by every session: known appearances and taught objects, kept in the store.

Each session follows objects with its own `vision.tracking.Tracker`; the
trackers share one appearance gallery (so an object that comes back, in any
session, gets its old id) and one recogniser of taught objects. New views the
gallery learns are written to the store after each frame, so identities
survive restarts. Replicas on one database take in each other's views and
taught objects when the store says they changed (`refresh`, called by
`spatial.changes`), so an object keeps its id whichever replica sees it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from anchors import User
from anchors.storage.change_events import Change
from anchors.storage.signatures import SignatureStore, StoredSignature
from vision import Detector
from vision.identity import Gallery, Signature
from vision.recognition import Recogniser, teach
from vision.tracking import Tracker

NOT_REMEMBERED = frozenset({"person"})
"""Classes whose appearance is never written to the store: people are not objects to recognise later."""


class ObjectMemory:
    def __init__(self, store: SignatureStore) -> None:
        self.store = store
        self.gallery = Gallery()
        self.recogniser = Recogniser()
        self._lock = threading.Lock()
        self._loaded_seq = 0
        """The last stored view this memory holds or skipped."""
        self._own: set[int] = set()
        """Views this process stored that `refresh` has not passed yet (it holds them already)."""
        self._taught: set[str] = set()
        self.refresh()

    def refresh(self) -> None:
        """Take in the views stored since last time by other processes, and drop taught objects forgotten."""
        with self._lock:
            for stored in self.store.added_after(self._loaded_seq):
                self._loaded_seq = max(self._loaded_seq, stored.seq)
                if stored.seq in self._own:
                    self._own.discard(stored.seq)
                else:
                    self._hold(stored)
            for instance_id in self._taught - self.store.taught_ids():
                self.recogniser.remove(instance_id)
                self._taught.discard(instance_id)

    def _hold(self, stored: StoredSignature) -> None:
        signature = Signature.from_bytes(stored.data)
        if stored.taught:
            self.recogniser.add(signature)
            self._taught.add(signature.instance_id)
        else:
            self.gallery.add(signature)

    def wrote(self, change: Change) -> bool:
        """True for a change this process made (it already holds what the change says)."""
        return change.origin == self.store.origin

    def _store(self, signature: Signature, *, taught: bool = False, owner: str | None = None) -> None:
        """Store a view this memory holds already; `refresh` will skip it."""
        with self._lock:
            seq = self.store.add(signature.instance_id, signature.label, signature.to_bytes(), taught=taught, owner=owner)
            if seq == self._loaded_seq + 1:
                self._loaded_seq = seq  # nothing stored in between: no need to remember it
            else:
                self._own.add(seq)

    def tracker_for(self, detector: Detector, detect_every: int, asynchronous: bool | None = None) -> Tracker | None:
        """A tracker for one stream, or None for detectors that need none.

        `asynchronous` as `vision.tracking.Tracker` takes it: None lets a queued detector run
        asynchronously (live streams); False waits for every detection (replay, where frames
        are not paced and the output must not depend on the machine's speed).
        """
        if detector.stable_ids and not len(self.recogniser):
            return None
        return Tracker(detector, detect_every=detect_every, gallery=self.gallery, recogniser=self.recogniser,
                       asynchronous=asynchronous)

    def save_new_views(self) -> None:
        for signature in self.gallery.take_updates():
            if signature.label not in NOT_REMEMBERED:
                self._store(signature)

    def teach(
        self, user: User, image: np.ndarray, box: Sequence[float], label: str, size_m: float | Sequence[float] | None
    ) -> Signature:
        """Remember the object in `box`; raises vision.identity.IdentityError for a bad box or a plain object."""
        signature = teach(image, box, label=label, size_m=size_m)
        self._store(signature, taught=True, owner=user.id)
        self.recogniser.add(signature)
        with self._lock:
            self._taught.add(signature.instance_id)
        return signature

    def taught(self, user: User) -> list[dict[str, Any]]:
        return [
            {"instance_id": s.instance_id, "label": s.label, "created_at": s.created_at}
            for s in self.store.taught_by(user.id)
        ]

    def forget(self, user: User, instance_id: str) -> bool:
        if not self.store.forget(instance_id, user.id):
            return False
        self.recogniser.remove(instance_id)
        with self._lock:
            self._taught.discard(instance_id)
        return True
