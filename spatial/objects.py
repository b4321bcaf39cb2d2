"""Object identity shared by every session: known appearances and taught objects, kept in the store.

Each session follows objects with its own `vision.tracking.Tracker`; the
trackers share one appearance gallery (so an object that comes back, in any
session, gets its old id) and one recogniser of taught objects. New views the
gallery learns are written to the store after each frame, so identities
survive restarts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from anchors import User
from anchors.signatures import SignatureStore
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
        for stored in store.all():
            signature = Signature.from_bytes(stored.data)
            if stored.taught:
                self.recogniser.add(signature)
            else:
                self.gallery.add(signature)

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
                self.store.add(signature.instance_id, signature.label, signature.to_bytes())

    def teach(
        self, user: User, image: np.ndarray, box: Sequence[float], label: str, size_m: float | Sequence[float] | None
    ) -> Signature:
        """Remember the object in `box`; raises vision.identity.IdentityError for a bad box or a plain object."""
        signature = teach(image, box, label=label, size_m=size_m)
        self.store.add(signature.instance_id, label, signature.to_bytes(), taught=True, owner=user.id)
        self.recogniser.add(signature)
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
        return True
