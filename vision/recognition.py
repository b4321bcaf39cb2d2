"""Teach by example: remember one textured object from a frame and a box, then find it again.

`teach` turns the boxed part of a frame into a taught `Signature` (ORB
features of the object's face). A `Recogniser` finds taught objects in later
frames by matching features and fitting a homography (RANSAC), so it works
for things no detector has a class for: a particular book, box, poster or
device. When the object's size is given, the homography's corners give a 6DoF
pose by PnP. The object frame is that of a flat face: origin at the centre of
the taught box, x to the right, y up, z out of the face, metres (as markers).

Flat, textured faces work best; plain or shiny objects have too few features
and are refused at teach time (`TooFewFeaturesError`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from vision.backends.markers import pose_matrix
from vision.boxes import clip_box
from vision.camera import Intrinsics
from vision.detection import Detection, Detector
from vision.identity import (
    IdentityError,
    Signature,
    TooFewFeaturesError,
    colour_histogram,
    crop_box,
    good_matches,
    homography_inliers,
    new_instance_id,
    orb_features,
    scaled_to_side,
)

TEMPLATE_SIDE = 400  # longer side of a taught template, pixels
MIN_TAUGHT_FEATURES = 30

TEMPLATE_ORB = {"nfeatures": 800, "fastThreshold": 12}


def teach(
    image: np.ndarray,
    box: Sequence[float],
    label: str = "object",
    size_m: float | Sequence[float] | None = None,
    instance_id: str | None = None,
) -> Signature:
    """Remember the object in `box` of a BGR frame.

    `size_m` is the physical width of the boxed face in metres, or its (width,
    height); with it, recognitions carry a 6DoF pose. Raises BadBoxError for a
    box outside the frame or too small, TooFewFeaturesError for an object with
    too little texture, IdentityError for a bad size.
    """
    crop, _ = crop_box(image, box)
    template = scaled_to_side(crop, min(TEMPLATE_SIDE, max(crop.shape[:2])))
    height, width = template.shape[:2]
    keypoints, descriptors = orb_features(cv2.cvtColor(template, cv2.COLOR_BGR2GRAY), **TEMPLATE_ORB)
    if len(keypoints) < MIN_TAUGHT_FEATURES:
        raise TooFewFeaturesError(
            f"the box holds {len(keypoints)} distinctive features, at least {MIN_TAUGHT_FEATURES} are needed: "
            "teach a textured face (a book cover, a box, a poster), filling the box"
        )
    return Signature(
        instance_id or new_instance_id(label), label, keypoints, descriptors, colour_histogram(template),
        (width, height), _face_size(size_m, width, height), taught=True,
    )


def _face_size(size_m: float | Sequence[float] | None, width: int, height: int) -> tuple[float, float] | None:
    if size_m is None:
        return None
    try:
        values = [float(size_m)] if np.isscalar(size_m) else [float(v) for v in size_m]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise IdentityError(f"size_m must be a width or (width, height) in metres, got {size_m!r}") from None
    if len(values) == 1:
        values.append(values[0] * height / width)
    if len(values) != 2 or not all(np.isfinite(v) and v > 0 for v in values):
        raise IdentityError(f"size_m must be one or two positive numbers of metres, got {size_m!r}")
    return (values[0], values[1])


class Recogniser(Detector):
    """Finds taught objects in a frame. Thread-safe; objects can be added and removed at any time.

    A taught object is found when at least `min_inliers` feature matches agree
    on one homography and the face it maps to is a plausible (convex, not
    tiny) quadrilateral. Detections carry the object's instance id, its
    label, `backend="taught"`, the face's four corners and, with a size, a pose.
    """

    name = "taught"

    def __init__(self, signatures: Iterable[Signature] = (), min_inliers: int = 15, features: int = 1500) -> None:
        self.min_inliers = min_inliers
        self.features = features
        self._taught: dict[str, Signature] = {}
        self._lock = threading.Lock()
        for signature in signatures:
            self.add(signature)

    def __len__(self) -> int:
        return len(self._taught)

    def add(self, signature: Signature) -> None:
        """Recognise this object from now on (a later signature with the same id replaces it)."""
        if not signature.taught:
            raise IdentityError(f"signature of {signature.instance_id!r} is not a taught one (use teach())")
        with self._lock:
            self._taught[signature.instance_id] = signature

    def remove(self, instance_id: str) -> None:
        with self._lock:
            self._taught.pop(instance_id, None)

    def detect(self, image: np.ndarray, intrinsics: Intrinsics) -> list[Detection]:
        with self._lock:
            taught = list(self._taught.values())
        if not taught:
            return []
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        frame_points, frame_descriptors = orb_features(gray, nfeatures=self.features)
        found = []
        for signature in taught:
            detection = self._find(signature, frame_points, frame_descriptors, intrinsics)
            if detection is not None:
                found.append(detection)
        return found

    def _find(
        self, signature: Signature, frame_points: np.ndarray, frame_descriptors: np.ndarray, intrinsics: Intrinsics
    ) -> Detection | None:
        matches = good_matches(signature.descriptors, frame_descriptors, ratio=0.75)
        if len(matches) < self.min_inliers:
            return None
        src = np.float32([signature.keypoints[m.queryIdx] for m in matches])
        dst = np.float32([frame_points[m.trainIdx] for m in matches])
        homography, inliers = homography_inliers(src, dst, threshold=5.0)
        if homography is None or inliers.sum() < self.min_inliers:
            return None
        width, height = signature.template_size
        face = np.float32([[0, 0], [width, 0], [width, height], [0, height]]).reshape(-1, 1, 2)
        corners = cv2.perspectiveTransform(face, homography).reshape(4, 2)
        if not plausible_face(corners, intrinsics):
            return None
        x0, y0 = corners.min(axis=0)
        x1, y1 = corners.max(axis=0)
        return Detection(
            object_id=signature.instance_id,
            label=signature.label,
            score=float(inliers.sum() / len(matches)),
            box=clip_box((x0, y0, x1, y1), intrinsics.width, intrinsics.height),
            backend=self.name,
            pose=face_pose(corners, signature.size_m, intrinsics) if signature.size_m else None,
            corners=corners,
            extra={"inliers": int(inliers.sum())},
        )


def plausible_face(corners: np.ndarray, intrinsics: Intrinsics, min_area_px: float = 400.0) -> bool:
    """Whether four projected corners form a convex quadrilateral of some size (a RANSAC fit can fold)."""
    quad = corners.reshape(-1, 1, 2).astype(np.float32)
    if not np.isfinite(corners).all() or not cv2.isContourConvex(quad):
        return False
    area = cv2.contourArea(quad)
    return min_area_px <= area <= 4 * intrinsics.width * intrinsics.height


def face_pose(corners: np.ndarray, size_m: tuple[float, float], intrinsics: Intrinsics) -> np.ndarray | None:
    """Face-to-camera pose from its four image corners (template order: top-left, clockwise)."""
    w, h = size_m[0] / 2, size_m[1] / 2
    points = np.array([[-w, h, 0], [w, h, 0], [w, -h, 0], [-w, -h, 0]], dtype=np.float64)
    camera = intrinsics.matrix()
    ok, rvec, tvec = cv2.solvePnP(points, corners.astype(np.float64), camera, None, flags=cv2.SOLVEPNP_IPPE)
    if not ok:
        return None
    return pose_matrix(rvec, tvec)
