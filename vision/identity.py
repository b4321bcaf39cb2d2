"""Which physical object is this? Appearance signatures and the gallery of known objects.

A `Signature` describes how an object looks in one view: ORB keypoints and
descriptors of its image crop (scaled to a fixed size, so views at different
distances compare) and a hue-saturation colour histogram of the crop's
centre. Two views are the same object when enough descriptors match under one
homography and the colours agree (`similarity`).

A `Gallery` holds the known objects, a few views each, and gives every new
track an instance id: the best-matching known object's, or a fresh one. It is
shared by all streams of a service, so the same mug maps to the same id on
another device or another day; signatures serialise to JSON bytes for storage
(`Signature.to_bytes`, `Gallery.take_updates`).

Class labels are not part of the match: detectors flip between near classes
(a small cat read as a dog), so appearance alone decides.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from vision.boxes import Box

SIGNATURE_FORMAT = 1
IDENTITY_SIDE = 128  # longer side of the crop an identity signature is computed on, pixels
HUE_BINS, SATURATION_BINS = 18, 8
MIN_BOX_SIDE = 8  # pixels

# OpenCV feature objects are cheap to make and not documented as thread-safe: each call makes its own.
IDENTITY_ORB = {"nfeatures": 200, "edgeThreshold": 9, "patchSize": 17, "fastThreshold": 10}


class IdentityError(ValueError):
    """Bad input for an appearance signature."""


class BadBoxError(IdentityError):
    """A box that is not inside the frame, is empty, or is not four finite numbers."""


class TooFewFeaturesError(IdentityError):
    """The object has too little texture to be recognised by its features."""


class SignatureFormatError(IdentityError):
    """Stored signature bytes that cannot be read back."""


@dataclass
class Signature:
    """How one object looks in one view.

    `keypoints` (N x 2, float32) are pixel positions in the template, the crop
    scaled to `template_size` (width, height); `descriptors` (N x 32, uint8)
    their ORB descriptors; `colour` the hue-saturation histogram (sums to 1).
    `size_m` is the physical (width, height) of a taught flat object's box,
    which gives recognitions a 6DoF pose.
    """

    instance_id: str
    label: str
    keypoints: np.ndarray
    descriptors: np.ndarray
    colour: np.ndarray
    template_size: tuple[int, int]
    size_m: tuple[float, float] | None = None
    taught: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form; arrays as base64 of their raw bytes."""
        return {
            "format": SIGNATURE_FORMAT,
            "instance_id": self.instance_id,
            "label": self.label,
            "keypoints": _encode(self.keypoints.astype(np.float32)),
            "descriptors": _encode(self.descriptors.astype(np.uint8)),
            "colour": _encode(self.colour.astype(np.float32)),
            "template_size": list(self.template_size),
            "size_m": list(self.size_m) if self.size_m is not None else None,
            "taught": self.taught,
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        """The signature `to_dict` wrote; SignatureFormatError when it is not one."""
        try:
            if data["format"] != SIGNATURE_FORMAT:
                raise SignatureFormatError(f"signature format {data['format']!r} is not {SIGNATURE_FORMAT}")
            keypoints = _decode(data["keypoints"], np.float32).reshape(-1, 2)
            descriptors = _decode(data["descriptors"], np.uint8).reshape(-1, 32)
            colour = _decode(data["colour"], np.float32)
            width, height = (int(v) for v in data["template_size"])
            size_m = tuple(float(v) for v in data["size_m"]) if data["size_m"] is not None else None
            signature = cls(
                str(data["instance_id"]), str(data["label"]), keypoints, descriptors, colour,
                (width, height), size_m, bool(data["taught"]),  # type: ignore[arg-type]
            )
        except SignatureFormatError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise SignatureFormatError(f"not a stored signature: {exc}") from None
        if len(keypoints) != len(descriptors) or colour.shape != (HUE_BINS * SATURATION_BINS,):
            raise SignatureFormatError("signature arrays have inconsistent shapes")
        return signature

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        try:
            return cls.from_dict(json.loads(data))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SignatureFormatError(f"signature bytes are not JSON: {exc}") from None


def _encode(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _decode(text: str, dtype: type) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text, validate=True), dtype=dtype).copy()


def new_instance_id(label: str) -> str:
    """A fresh id for a physical object of class `label`: `object:cup/3f9a0c2b71d4`."""
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "object"
    return f"object:{slug}/{uuid.uuid4().hex[:12]}"


def crop_box(image: np.ndarray, box: Sequence[float]) -> tuple[np.ndarray, Box]:
    """The part of `image` inside `box` and the box cut to the image; BadBoxError for a box that is not usable."""
    try:
        values = [float(v) for v in box]
    except (TypeError, ValueError):
        raise BadBoxError(f"box must be four numbers (x0, y0, x1, y1), got {box!r}") from None
    if len(values) != 4 or not np.isfinite(values).all():
        raise BadBoxError(f"box must be four finite numbers (x0, y0, x1, y1), got {box!r}")
    x0, y0, x1, y1 = values
    if x1 <= x0 or y1 <= y0:
        raise BadBoxError(f"box {values} is empty: it needs x0 < x1 and y0 < y1")
    height, width = image.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if cx1 <= cx0 or cy1 <= cy0:
        raise BadBoxError(f"box {values} lies outside the {width}x{height} frame")
    left, top, right, bottom = int(round(cx0)), int(round(cy0)), int(round(cx1)), int(round(cy1))
    if right - left < MIN_BOX_SIDE or bottom - top < MIN_BOX_SIDE:
        raise BadBoxError(
            f"box {values} holds {right - left}x{bottom - top} pixels of the frame; "
            f"at least {MIN_BOX_SIDE}x{MIN_BOX_SIDE} are needed"
        )
    return image[top:bottom, left:right], (float(left), float(top), float(right), float(bottom))


def scaled_to_side(crop: np.ndarray, side: int) -> np.ndarray:
    """`crop` resized so that its longer side is `side` pixels."""
    height, width = crop.shape[:2]
    factor = side / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)


def colour_histogram(crop: np.ndarray) -> np.ndarray:
    """Hue-saturation histogram of the ellipse inscribed in a BGR crop, summing to 1.

    The ellipse leaves out the corners of the box, which mostly show background.
    """
    height, width = crop.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (width // 2, height // 2), (max(1, width // 2), max(1, height // 2)), 0, 0, 360, 255, -1)
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], mask, [HUE_BINS, SATURATION_BINS], [0, 180, 0, 256]).ravel()
    return (hist / max(float(hist.sum()), 1.0)).astype(np.float32)


def orb_features(gray: np.ndarray, **orb_options: int) -> tuple[np.ndarray, np.ndarray]:
    """ORB keypoint positions (N x 2 float32) and descriptors (N x 32 uint8) of a grey image."""
    keypoints, descriptors = cv2.ORB_create(**orb_options).detectAndCompute(gray, None)
    if descriptors is None:
        return np.empty((0, 2), np.float32), np.empty((0, 32), np.uint8)
    return np.float32([k.pt for k in keypoints]).reshape(-1, 2), descriptors


def describe(image: np.ndarray, box: Sequence[float], label: str = "object", instance_id: str = "") -> Signature:
    """The identity signature of the object in `box` of a BGR image (it may have few or no keypoints)."""
    crop, _ = crop_box(image, box)
    template = scaled_to_side(crop, IDENTITY_SIDE)
    keypoints, descriptors = orb_features(cv2.cvtColor(template, cv2.COLOR_BGR2GRAY), **IDENTITY_ORB)
    height, width = template.shape[:2]
    return Signature(instance_id, label, keypoints, descriptors, colour_histogram(template), (width, height))


def good_matches(query: np.ndarray, train: np.ndarray, ratio: float = 0.8) -> list[cv2.DMatch]:
    """Matches of `query` descriptors in `train` that pass Lowe's ratio test."""
    if len(query) < 2 or len(train) < 2:
        return []
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(query, train, k=2)
    return [p[0] for p in pairs if len(p) == 2 and p[0].distance < ratio * p[1].distance]


def homography_inliers(
    src: np.ndarray, dst: np.ndarray, threshold: float
) -> tuple[np.ndarray | None, np.ndarray]:
    """RANSAC homography mapping `src` points onto `dst` and the boolean inlier mask."""
    if len(src) < 4:
        return None, np.zeros(len(src), bool)
    homography, mask = cv2.findHomography(src, dst, cv2.RANSAC, threshold)
    if homography is None:
        return None, np.zeros(len(src), bool)
    return homography, mask.ravel().astype(bool)


def colour_similarity(a: np.ndarray, b: np.ndarray) -> float | np.ndarray:
    """Bhattacharyya coefficient of histograms summing to 1: 1 for the same colours, 0 for disjoint ones.

    `b` may be a stack of histograms (one per row).
    """
    return np.sqrt(a * b).sum(axis=-1)


def feature_similarity(a: Signature, b: Signature) -> float:
    """The share of the smaller keypoint set matched under one homography (0..1)."""
    fewer = min(len(a.descriptors), len(b.descriptors))
    if fewer < 8:
        return 0.0
    matches = good_matches(a.descriptors, b.descriptors)
    src = np.float32([a.keypoints[m.queryIdx] for m in matches]).reshape(-1, 2)
    dst = np.float32([b.keypoints[m.trainIdx] for m in matches]).reshape(-1, 2)
    _, inliers = homography_inliers(src, dst, threshold=0.05 * IDENTITY_SIDE)
    count = int(inliers.sum())
    return min(1.0, count / (0.5 * fewer)) if count >= 6 else 0.0


def similarity(a: Signature, b: Signature) -> float:
    """How alike two views look, 0..1: geometry-checked feature matches and colour, equally weighted."""
    return 0.5 * feature_similarity(a, b) + 0.5 * float(colour_similarity(a.colour, b.colour))


class Gallery:
    """The known physical objects, a few views each, matched by appearance.

    Thread-safe: one gallery serves every stream of a service. `threshold` is
    the similarity above which a view is taken as a known object; a matched
    view is kept as a further view of it (up to `max_views`) when it differs
    enough from the views already held (similarity under `novelty`).
    """

    def __init__(self, threshold: float = 0.5, max_views: int = 4, novelty: float = 0.8, shortlist: int = 8) -> None:
        self.threshold = threshold
        self.max_views = max_views
        self.novelty = novelty
        self.shortlist = shortlist
        self._views: dict[str, list[Signature]] = {}
        self._updates: list[Signature] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._views)

    def __contains__(self, instance_id: object) -> bool:
        return instance_id in self._views

    def add(self, signature: Signature) -> None:
        """Hold a stored view (on start-up); not reported by `take_updates`."""
        if not signature.instance_id:
            raise IdentityError("a gallery signature needs an instance id")
        with self._lock:
            self._views.setdefault(signature.instance_id, []).append(signature)

    def add_all(self, signatures: Iterable[Signature]) -> None:
        for signature in signatures:
            self.add(signature)

    def views(self, instance_id: str) -> list[Signature]:
        with self._lock:
            return list(self._views.get(instance_id, []))

    def match(self, signature: Signature, exclude: Collection[str] = ()) -> tuple[str, float] | None:
        """The known object most like `signature` (not one of `exclude`) and its similarity, if above threshold."""
        with self._lock:
            candidates = [(iid, view) for iid, views in self._views.items() if iid not in exclude for view in views]
        if not candidates:
            return None
        colours = colour_similarity(signature.colour, np.stack([view.colour for _, view in candidates]))
        best: tuple[str, float] | None = None
        for index in np.argsort(-colours)[: self.shortlist]:
            instance_id, view = candidates[index]
            score = 0.5 * feature_similarity(signature, view) + 0.5 * float(colours[index])
            if score >= self.threshold and (best is None or score > best[1]):
                best = (instance_id, score)
        return best

    def identify(self, signature: Signature, exclude: Collection[str] = ()) -> str:
        """The instance id of the object `signature` shows: a known one (not in `exclude`), else a new one.

        A new object is enrolled under `signature.instance_id` (a fresh id when
        empty); a known one may keep this view as another of its views.
        """
        found = self.match(signature, exclude)
        if found is None:
            instance_id = signature.instance_id or new_instance_id(signature.label)
            self._enrol(instance_id, signature)
            return instance_id
        self.add_view(found[0], signature)
        return found[0]

    def add_view(self, instance_id: str, signature: Signature) -> bool:
        """Keep `signature` as another view of a known object if there is room and it is new enough."""
        with self._lock:
            views = self._views.get(instance_id)
            if views is None or len(views) >= self.max_views:
                return False
            known = list(views)
        if any(similarity(signature, view) >= self.novelty for view in known):
            return False
        return self._enrol(instance_id, signature)

    def _enrol(self, instance_id: str, signature: Signature) -> bool:
        view = replace(signature, instance_id=instance_id)
        with self._lock:
            views = self._views.setdefault(instance_id, [])
            if len(views) >= self.max_views:
                return False
            views.append(view)
            self._updates.append(view)
        return True

    def take_updates(self) -> list[Signature]:
        """Views added since the last call (new objects and new views of known ones), for storage."""
        with self._lock:
            updates, self._updates = self._updates, []
        return updates
