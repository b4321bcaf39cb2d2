"""Tracking between detections: every frame gets every object's box and pose, and objects keep their ids.

A `Tracker` serves one stream. It runs its detector when due: every
`detect_every` frames, or sooner when tracking confidence drops (points lost
to an occlusion, an object leaving the view). On the frames in between it
moves each object with sparse optical flow: pyramidal Lucas-Kanade on corner
points inside the object's box, checked forwards and backwards, then a RANSAC
similarity fit of the points' motion, which moves the box, the corners and the
pose. A track's confidence is the share of its points still following it.
Given the frames' capture times, a track also has an image velocity: how fast
its box's centre moved by that flow (a detection's jump to a new box is not
motion), smoothed over a few frames, so a client can carry the box on to the
picture it shows when the answer arrives.

On a detection frame, detections are matched to tracks by box overlap
(Hungarian assignment). Backends that already name the physical object
(`identified_backends`: markers, taught objects) keep their ids. Any other
detection nothing matches starts a tentative track, which is reported once a
second detector run confirms it; it then gets its instance id from the
appearance gallery (`vision.identity.Gallery`): the id of a known object that
looks the same, else a new one. Ids of objects in view are never handed out
twice, so two mugs side by side stay two objects, and an object that comes
back into view, in this stream or another sharing the gallery, gets its old id.

Masks are passed on in the frames where the detector found the object only.

A detector that queues frames (`vision.batching.QueuedDetector`: `submit`
returns a future, as the shared detectron2 queue does) runs asynchronously:
on a due frame the tracker hands the frame over and goes on tracking every
following frame without waiting; `update` never blocks on the model. At most
one detection per stream is in flight; frames that fall due meanwhile are
skipped (the stream's detections are thinned to what the detector keeps up
with). The result is taken on the first frame after it arrives and brought up
to that frame before it is matched to the tracks: at submission the tracker
seeds probe points all over the frame and follows them, frame by frame, in the
same optical-flow call that moves the tracks; a detection moves by the
similarity fitted to the probes that started inside its box (by the motion of
all probes, the camera's, when too few did). So a detection that took ten
frames lands where its object is now, and ids, tentative tracks and
confirmation work as with a synchronous detector. Detectors without `submit`
(markers, MediaPipe) run synchronously on the due frame, as before.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Collection
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from vision.batching import QueuedDetector
from vision.boxes import clip_box, iou_matrix, visible_fraction
from vision.camera import Intrinsics
from vision.detection import Detection, Detector
from vision.identity import Gallery, IdentityError, describe
from vision.lazy import linear_sum_assignment

# Optical flow runs on the frame at half size (cv2.pyrDown): a quarter of the pixels, and a 9 px
# window there sees 18 px of the frame. Three pyramid levels follow motions of some 70 px a frame.
LK_PARAMS = {
    "winSize": (9, 9),
    "maxLevel": 3,
    "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03),
}
MAX_FORWARD_BACKWARD_PX = 1.0  # in frame pixels
MIN_POINTS = 5
MIN_VISIBLE = 0.4  # below this share of its box in the frame, an object counts as out of view
MIN_MATCH_IOU = 0.3
HEALTHY_CONFIDENCE = 0.8  # a track the detector missed survives only with this share of its points
RECENTLY_LOST_FRAMES = 15  # a track lost this recently can take its object back by box overlap
PROBE_POINTS = 500  # points followed while a detection is in flight, to bring it up to date when it lands
VELOCITY_SMOOTHING = 0.5  # weight of the newest frame's motion in a track's image velocity


@dataclass
class Track:
    """One object followed through a stream."""

    object_id: str
    label: str
    backend: str
    score: float
    box: np.ndarray
    points: np.ndarray
    seeded: int
    pose: np.ndarray | None = None
    corners: np.ndarray | None = None
    mask: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    votes: Counter[str] = field(default_factory=Counter)
    confidence: float = 1.0
    missed: int = 0
    lost_since: int | None = None
    detected_now: bool = True
    view_frame: int = 0
    tentative: bool = False
    shift: np.ndarray | None = None
    """How far the box's centre moved by optical flow into this frame, pixels (None: not followed)."""
    velocity: np.ndarray | None = None
    """Image velocity of the box's centre, pixels a second (None: not followed between timed frames yet)."""

    def as_detection(self, width: int, height: int) -> Detection:
        return Detection(
            object_id=self.object_id,
            label=self.label,
            score=self.score,
            box=clip_box(self.box, width, height),
            backend=self.backend,
            pose=self.pose,
            corners=self.corners,
            mask=self.mask if self.detected_now else None,
            extra=self.extra,
            source="detection" if self.detected_now else "tracking",
            velocity=None if self.velocity is None else (float(self.velocity[0]), float(self.velocity[1])),
        )


@dataclass
class PendingDetection:
    """A detection running on an earlier frame, and probe points following that frame's content since."""

    result: Future[list[Detection]]
    submitted: float
    """time.perf_counter() when the frame was handed over."""
    origins: np.ndarray
    """(N, 2) probe points in the submitted frame, frame pixels."""
    points: np.ndarray
    """(N, 2) where those points are in the latest frame."""

    def motion_of(self, box: np.ndarray) -> np.ndarray | None:
        """The 2x3 similarity that brings `box` from its frame to the latest frame.

        Fitted to the probes that started in the middle 80% of the box, else to
        all probes (the camera's motion); None when too few probes survived.
        """
        x0, y0, x1, y1 = box
        mx, my = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
        inside = (
            (self.origins[:, 0] >= x0 + mx) & (self.origins[:, 0] <= x1 - mx)
            & (self.origins[:, 1] >= y0 + my) & (self.origins[:, 1] <= y1 - my)
        )
        if inside.sum() >= MIN_POINTS:
            return similarity(self.origins[inside], self.points[inside])
        return similarity(self.origins, self.points)


class Tracker:
    """Detection when due, optical-flow tracking on every frame, stable ids. One per stream.

    `gallery` is shared between streams for identities that outlive a
    stream (a private one otherwise); `recogniser`, if given, is a second
    detector run alongside (taught objects; synchronous, on the frame a
    detection lands on). `asynchronous`: run the detector without waiting for
    it; None (the default) does when the detector queues frames
    (`QueuedDetector`). Not thread-safe: feed one stream's frames in order.
    """

    def __init__(
        self,
        detector: Detector,
        *,
        detect_every: int = 5,
        min_confidence: float = 0.5,
        gallery: Gallery | None = None,
        recogniser: Detector | None = None,
        identified_backends: Collection[str] = ("markers", "taught"),
        max_missed: int = 2,
        max_lost_frames: int = 90,
        points_per_object: int = 40,
        view_every: int = 30,
        asynchronous: bool | None = None,
    ) -> None:
        if detect_every < 1:
            raise ValueError(f"detect_every must be at least 1, got {detect_every}")
        if asynchronous is None:
            asynchronous = isinstance(detector, QueuedDetector)
        elif asynchronous and not isinstance(detector, QueuedDetector):
            raise ValueError(f"the {detector.name} detector has no submit(): it cannot run asynchronously")
        self.detector = detector
        self.asynchronous = asynchronous
        self.detect_every = detect_every
        self.min_confidence = min_confidence
        self.gallery = gallery if gallery is not None else Gallery()
        self.recogniser = recogniser
        self.identified_backends = set(identified_backends)
        self.max_missed = max_missed
        self.max_lost_frames = max_lost_frames
        self.points_per_object = points_per_object
        self.view_every = view_every
        self.tracks: dict[str, Track] = {}
        self.frame_index = -1
        self.timing_ms: dict[str, float] = {}
        self._last_detection: int | None = None
        self._previous: np.ndarray | None = None
        self._previous_time_ms: float | None = None
        self._pending: PendingDetection | None = None

    def update(self, image: np.ndarray, intrinsics: Intrinsics, timestamp_ms: float | None = None) -> list[Detection]:
        """The objects in this BGR frame, each with `source` "detection" or "tracking".

        `timestamp_ms` is when the frame was captured (any clock, milliseconds);
        with it, objects followed from the previous timed frame get a `velocity`.

        `timing_ms` then holds this frame's stages: `track` always; `detect`
        and `associate` where a synchronous detector ran; for an asynchronous
        one, `detect_submit` where the frame was handed over (it blocks only
        while the shared queue is full), and `associate` and `detect_age` (how
        long ago its frame was handed over; not time spent on this frame)
        where a detection landed.
        """
        self.frame_index += 1
        start = time.perf_counter()
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        height, width = gray.shape[:2]
        small = cv2.pyrDown(gray)
        if self._previous is not None and self._previous.shape != small.shape:
            # The stream changed resolution: boxes are no longer comparable, so start afresh.
            self._previous = self._last_detection = self._pending = None
            for track in self._active():
                self._lose(track)
        for track in self._active():
            track.detected_now = False
            track.shift = None
        if self._previous is not None:
            self._follow(self._previous, small, intrinsics)
        self._update_velocities(timestamp_ms)
        self._previous = small
        self.timing_ms = {"track": (time.perf_counter() - start) * 1e3}
        if self._pending is not None and self._pending.result.done():
            self._land(image, gray, intrinsics)
        if self._detection_due():
            if self.asynchronous:
                self._submit(image, small, intrinsics)
            else:
                self._detect_now(image, gray, intrinsics)
        for track in self._active():
            if visible_fraction(track.box, width, height) < MIN_VISIBLE:
                self._lose(track)
        self._forget_old()
        return [track.as_detection(width, height) for track in self._reported()]

    def _update_velocities(self, timestamp_ms: float | None) -> None:
        """Each followed track's image velocity from this frame's flow shift and the time since the last frame."""
        elapsed_s = None
        if timestamp_ms is not None and self._previous_time_ms is not None:
            elapsed_s = (timestamp_ms - self._previous_time_ms) / 1000
        self._previous_time_ms = timestamp_ms
        for track in self._active():
            if track.shift is None or elapsed_s is None or elapsed_s <= 0:
                track.velocity = None
                continue
            measured = track.shift / elapsed_s
            track.velocity = measured if track.velocity is None else (
                VELOCITY_SMOOTHING * measured + (1 - VELOCITY_SMOOTHING) * track.velocity)

    def _detect_now(self, image: np.ndarray, gray: np.ndarray, intrinsics: Intrinsics) -> None:
        start = time.perf_counter()
        detections = list(self.detector.detect(image, intrinsics))
        if self.recogniser is not None:
            detections.extend(self.recogniser.detect(image, intrinsics))
        self.timing_ms["detect"] = (time.perf_counter() - start) * 1e3
        start = time.perf_counter()
        self._associate(detections, image, gray)
        self._last_detection = self.frame_index
        self.timing_ms["associate"] = (time.perf_counter() - start) * 1e3

    def _submit(self, image: np.ndarray, small: np.ndarray, intrinsics: Intrinsics) -> None:
        """Hand this frame to the detector and seed the probe points that will bring its result up to date."""
        start = time.perf_counter()
        assert isinstance(self.detector, QueuedDetector)
        result = self.detector.submit(image, intrinsics)
        probes = cv2.goodFeaturesToTrack(small, PROBE_POINTS, 0.001, 6, blockSize=5)
        probes = np.empty((0, 2), np.float32) if probes is None else 2 * probes.reshape(-1, 2)
        self._pending = PendingDetection(result, start, probes, probes.copy())
        self._last_detection = self.frame_index
        self.timing_ms["detect_submit"] = (time.perf_counter() - start) * 1e3

    def _land(self, image: np.ndarray, gray: np.ndarray, intrinsics: Intrinsics) -> None:
        """Take the finished detection, move it to this frame, and match it to the tracks."""
        pending, self._pending = self._pending, None
        assert pending is not None
        start = time.perf_counter()
        self.timing_ms["detect_age"] = (start - pending.submitted) * 1e3
        detections = []
        for detection in pending.result.result():  # raises what the detector raised
            motion = pending.motion_of(np.asarray(detection.box, np.float64))
            detections.append(detection if motion is None else moved_detection(detection, motion, intrinsics))
        if self.recogniser is not None:
            detections.extend(self.recogniser.detect(image, intrinsics))
        self._associate(detections, image, gray)
        self.timing_ms["associate"] = (time.perf_counter() - start) * 1e3

    def _active(self) -> list[Track]:
        """Tracks of objects in view, including tentative ones."""
        return [t for t in self.tracks.values() if t.lost_since is None]

    def _reported(self) -> list[Track]:
        return [t for t in self._active() if not t.tentative]

    def _detection_due(self) -> bool:
        if self._pending is not None:
            return False  # one detection in flight per stream; frames due meanwhile are thinned out
        if self._last_detection is None:
            return True
        since = self.frame_index - self._last_detection
        if since >= self.detect_every:
            return True
        # Sooner for an object whose points are going (occlusion, leaving) or that waits for a second look.
        return since >= 2 and any(t.tentative or t.confidence < self.min_confidence for t in self._active())

    def _follow(self, previous: np.ndarray, current: np.ndarray, intrinsics: Intrinsics) -> None:
        """Move every active track, and the probes of a detection in flight, by the optical flow between
        two half-size frames."""
        tracks = [t for t in self._active() if len(t.points)]
        for track in self._active():
            if not len(track.points):
                track.confidence = 0.0
        groups = [t.points for t in tracks]
        if self._pending is not None:
            groups.append(self._pending.points)
        if not sum(len(g) for g in groups):
            return
        points = np.concatenate(groups).reshape(-1, 2)
        moved, good = follow_points(previous, current, points)
        offset = 0
        for track in tracks:
            n = len(track.points)
            ok = good[offset:offset + n]
            before, after = points[offset:offset + n][ok], moved[offset:offset + n][ok]
            offset += n
            self._move(track, before, after, intrinsics)
        if self._pending is not None:
            ok = good[offset:]
            self._pending.origins = self._pending.origins[ok]
            self._pending.points = moved[offset:][ok]

    def _move(self, track: Track, before: np.ndarray, after: np.ndarray, intrinsics: Intrinsics) -> None:
        if len(before) < MIN_POINTS:
            track.points = after.reshape(-1, 2)
            track.confidence = 0.0
            return
        motion, inliers = cv2.estimateAffinePartial2D(before, after, method=cv2.RANSAC, ransacReprojThreshold=2.0)
        if motion is None:
            track.confidence = 0.0
            return
        kept = inliers.ravel().astype(bool)
        track.points = after[kept].reshape(-1, 2)
        track.confidence = len(track.points) / max(track.seeded, 1)
        moved = moved_box(track.box, motion)
        track.shift = (moved[:2] + moved[2:] - track.box[:2] - track.box[2:]) / 2
        track.box = moved
        if track.corners is not None:
            track.corners = cv2.transform(track.corners.reshape(-1, 1, 2).astype(np.float32), motion).reshape(-1, 2)
        if track.pose is not None:
            track.pose = moved_pose(track.pose, motion, intrinsics)

    def _associate(self, detections: list[Detection], image: np.ndarray, gray: np.ndarray) -> None:
        identified = [d for d in detections if d.backend in self.identified_backends]
        anonymous = [d for d in detections if d.backend not in self.identified_backends]
        if identified and anonymous:
            # A taught book is not also an anonymous "book": the identified detection wins.
            overlaps = iou_matrix([d.box for d in anonymous], [d.box for d in identified])
            anonymous = [d for d, row in zip(anonymous, overlaps) if row.max() <= 0.5]
        confirmed: set[int] = set()
        for detection in identified:
            track = self.tracks.get(detection.object_id) or self._new_track(detection.object_id, detection)
            self._confirm(track, detection, gray)
            confirmed.add(id(track))
        pairs, unmatched = self._match_by_overlap(anonymous)
        for track, detection in pairs:
            if track.tentative:
                track = self._identify(track, detection, image)
            else:
                self._maybe_add_view(track, image)
            self._confirm(track, detection, gray)
            confirmed.add(id(track))
        in_view = [t for t in self._active() if t.backend not in self.identified_backends]
        for index, detection in enumerate(unmatched):
            if not duplicates_a_track(detection, in_view):
                track = self._new_track(f"tentative:{self.frame_index}/{index}", detection)
                track.tentative = True
                self._confirm(track, detection, gray)
                confirmed.add(id(track))
        for track in list(self.tracks.values()):
            if id(track) in confirmed or track.lost_since is not None:
                continue
            if track.tentative:
                del self.tracks[track.object_id]  # seen once only: a flicker of the detector
                continue
            track.missed += 1
            if track.missed > self.max_missed or track.confidence < HEALTHY_CONFIDENCE:
                self._lose(track)

    def _match_by_overlap(self, detections: list[Detection]) -> tuple[list[tuple[Track, Detection]], list[Detection]]:
        """(track, detection) pairs by box overlap, and the detections left over."""
        candidates = [
            t for t in self.tracks.values()
            if t.backend not in self.identified_backends
            and (t.lost_since is None or self.frame_index - t.lost_since <= RECENTLY_LOST_FRAMES)
        ]
        pairs: list[tuple[Track, Detection]] = []
        taken: set[int] = set()
        if candidates and detections:
            overlaps = iou_matrix([t.box for t in candidates], [d.box for d in detections])
            # Tracks in view are preferred; one lost a moment ago (an occlusion) can take its object back.
            # Later, the camera has moved and a lost track's box means little: appearance decides instead.
            penalty = np.array([0.0 if t.lost_since is None else 0.2 for t in candidates])[:, None]
            for r, c in zip(*linear_sum_assignment(penalty - overlaps)):
                if overlaps[r, c] >= MIN_MATCH_IOU:
                    pairs.append((candidates[r], detections[c]))
                    taken.add(int(c))
        return pairs, [d for i, d in enumerate(detections) if i not in taken]

    def _identify(self, tentative: Track, detection: Detection, image: np.ndarray) -> Track:
        """Give a track seen twice its instance id: a known object's (its old track revived) or a new one."""
        try:
            signature = describe(image, detection.box, detection.label)
        except IdentityError:
            return tentative  # a sliver of an object at the frame's edge: wait for a better view
        in_view = {t.object_id for t in self._reported()}
        instance_id = self.gallery.identify(signature, exclude=in_view)
        del self.tracks[tentative.object_id]
        track = self.tracks.get(instance_id)
        if track is None:
            tentative.object_id = instance_id
            tentative.tentative = False
            track = self.tracks[instance_id] = tentative
        track.view_frame = self.frame_index
        return track

    def _new_track(self, object_id: str, detection: Detection) -> Track:
        track = Track(object_id, detection.label, detection.backend, detection.score,
                      np.asarray(detection.box, np.float64), np.empty((0, 2), np.float32), 0)
        self.tracks[object_id] = track
        return track

    def _confirm(self, track: Track, detection: Detection, gray: np.ndarray) -> None:
        """Reset a track to this frame's detection and give it fresh points to follow."""
        track.votes[detection.label] += detection.score
        track.label = track.votes.most_common(1)[0][0]
        track.backend = detection.backend
        track.score = detection.score
        track.box = np.asarray(detection.box, np.float64)
        track.pose = detection.pose if detection.pose is not None else track.pose
        track.corners = detection.corners if detection.corners is not None else track.corners
        track.mask = detection.mask
        track.extra = detection.extra
        track.points = corner_points(gray, track.box, self.points_per_object)
        track.seeded = len(track.points)
        track.confidence = 1.0 if track.seeded >= MIN_POINTS else 0.0
        track.missed = 0
        track.lost_since = None
        track.detected_now = True

    def _maybe_add_view(self, track: Track, image: np.ndarray) -> None:
        """Now and then, keep a fresh view of an object fully in view, for recognising it later."""
        if self.frame_index - track.view_frame < self.view_every:
            return
        height, width = image.shape[:2]
        if visible_fraction(track.box, width, height) < 0.99:
            return
        track.view_frame = self.frame_index
        try:
            self.gallery.add_view(track.object_id, describe(image, track.box, track.label))
        except IdentityError:
            return

    def _lose(self, track: Track) -> None:
        track.lost_since = self.frame_index
        track.points = np.empty((0, 2), np.float32)
        track.detected_now = False

    def _forget_old(self) -> None:
        old = [
            key for key, t in self.tracks.items()
            if t.lost_since is not None and self.frame_index - t.lost_since > self.max_lost_frames
        ]
        for key in old:
            del self.tracks[key]


def duplicates_a_track(detection: Detection, tracks: list[Track], share: float = 0.7) -> bool:
    """Whether a detection mostly covers, or lies mostly inside, the box of a track of its class.

    Such a box is a part of an object already followed, or a box around it
    and more (the detector boxing a group, or a mistake); neither is a new object.
    """
    box = np.asarray(detection.box, np.float64)
    area = float(np.prod(np.clip(box[2:] - box[:2], 0, None)))
    for track in tracks:
        if track.label != detection.label:
            continue
        track_area = float(np.prod(np.clip(track.box[2:] - track.box[:2], 0, None)))
        low, high = np.maximum(box[:2], track.box[:2]), np.minimum(box[2:], track.box[2:])
        common = float(np.prod(np.clip(high - low, 0, None)))
        if common >= share * min(area, track_area) > 0:
            return True
    return False


def corner_points(gray: np.ndarray, box: np.ndarray, count: int) -> np.ndarray:
    """Up to `count` good features to track inside the middle 80% of `box`, as an (N, 2) float32 array."""
    height, width = gray.shape[:2]
    x0, y0, x1, y1 = box
    mx, my = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
    left, top = max(int(x0 + mx), 0), max(int(y0 + my), 0)
    right, bottom = min(int(x1 - mx), width), min(int(y1 - my), height)
    if right - left < 8 or bottom - top < 8:
        return np.empty((0, 2), np.float32)
    found = cv2.goodFeaturesToTrack(gray[top:bottom, left:right], count, 0.01, 5, blockSize=5)
    if found is None:
        return np.empty((0, 2), np.float32)
    return (found.reshape(-1, 2) + (left, top)).astype(np.float32)


def follow_points(previous: np.ndarray, current: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where (N, 2) frame-pixel `points` went between two half-size frames, and which of them to trust:
    pyramidal Lucas-Kanade, checked forwards and backwards."""
    half = points.reshape(-1, 1, 2).astype(np.float32) / 2
    moved, status, _ = cv2.calcOpticalFlowPyrLK(previous, current, half, None, **LK_PARAMS)
    back, back_status, _ = cv2.calcOpticalFlowPyrLK(current, previous, moved, None, **LK_PARAMS)
    error = 2 * np.linalg.norm((back - half).reshape(-1, 2), axis=1)
    good = (status.ravel() == 1) & (back_status.ravel() == 1) & (error < MAX_FORWARD_BACKWARD_PX)
    return 2 * moved.reshape(-1, 2), good


def similarity(before: np.ndarray, after: np.ndarray) -> np.ndarray | None:
    """The 2x3 similarity (RANSAC) taking (N, 2) points `before` to `after`; None for under MIN_POINTS points."""
    if len(before) < MIN_POINTS:
        return None
    motion, _ = cv2.estimateAffinePartial2D(before, after, method=cv2.RANSAC, ransacReprojThreshold=2.0)
    return motion


def moved_detection(detection: Detection, motion: np.ndarray, intrinsics: Intrinsics) -> Detection:
    """`detection` brought to a later frame by the 2x3 similarity its image moved by: box, corners, pose and mask."""
    corners = detection.corners
    if corners is not None:
        corners = cv2.transform(corners.reshape(-1, 1, 2).astype(np.float32), motion).reshape(-1, 2)
    mask = detection.mask
    if mask is not None:
        height, width = mask.shape[:2]
        mask = cv2.warpAffine(mask.astype(np.uint8), motion, (width, height), flags=cv2.INTER_NEAREST).astype(bool)
    return replace(
        detection,
        box=tuple(float(v) for v in moved_box(np.asarray(detection.box, np.float64), motion)),  # type: ignore[arg-type]
        corners=corners,
        pose=moved_pose(detection.pose, motion, intrinsics) if detection.pose is not None else None,
        mask=mask,
    )


def moved_box(box: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """An axis-aligned box moved by a 2x3 similarity: its centre maps, its sides scale."""
    scale = math.sqrt(abs(np.linalg.det(motion[:, :2])))
    centre = motion[:, :2] @ ((box[:2] + box[2:]) / 2) + motion[:, 2]
    half = (box[2:] - box[:2]) * scale / 2
    return np.concatenate([centre - half, centre + half])


def moved_pose(pose: np.ndarray, motion: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """The object-to-camera pose after its image moved by a 2x3 similarity.

    The object's origin follows its image point; image scaling is a change of
    depth and image rotation a roll about the optical axis. It ignores
    perspective, which is fine from one detection to the next.
    """
    depth = pose[2, 3]
    if depth <= 0:
        return pose
    camera = intrinsics.matrix()
    pixel = camera @ pose[:3, 3]
    pixel = pixel[:2] / pixel[2]
    new_pixel = motion[:, :2] @ pixel + motion[:, 2]
    scale = math.sqrt(abs(np.linalg.det(motion[:, :2])))
    angle = math.atan2(motion[1, 0], motion[0, 0])
    roll = np.array([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]])
    moved = pose.copy()
    moved[:3, :3] = roll @ pose[:3, :3]
    moved[:3, 3] = (depth / scale) * (np.linalg.inv(camera) @ np.array([*new_pixel, 1.0]))
    return moved
