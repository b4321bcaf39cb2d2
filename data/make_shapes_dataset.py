"""A synthetic instance-segmentation data set: drawn objects on real photos, with exact masks.

Four kinds of object, each named after the COCO class it stands for so the
trained model speaks the project's label vocabulary (`vision.labels`):
`stop sign` (red octagon, white rim), `donut` (glazed ring with a hole),
`kite` (two-tone diamond with spars) and `clock` (white face, rim, ticks, hands).
They are drawn with random size, rotation, colour and lighting onto random crops
of scikit-image's photos; later objects may hide part of earlier ones, and the
masks are what stays visible. Training and held-out splits use different photos.

Annotations are COCO json (boxes, RLE masks), so detectron2's `load_coco_json`
reads the data set and pycocotools scores a detector on it (`evaluate`).

    python data/make_shapes_dataset.py OUT_DIR --train 256 --val 64 --size 128
"""

from __future__ import annotations

import argparse
import functools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import skimage.data
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

CLASSES: tuple[str, ...] = ("stop sign", "donut", "kite", "clock")
TRAIN_PHOTOS = ("astronaut", "brick", "camera", "coffee", "coins", "grass", "gravel", "hubble_deep_field",
                "immunohistochemistry", "moon", "page", "retina", "text", "colorwheel")
VAL_PHOTOS = ("chelsea", "rocket", "stereo_motorcycle")
MIN_VISIBLE = 0.5
"""An object hidden by later ones beyond this share of its area is taken out again."""


@dataclass
class Instance:
    label: str
    mask: np.ndarray
    """Boolean, image-sized: the visible pixels."""

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) in pixels, around the visible pixels."""
        ys, xs = np.nonzero(self.mask)
        return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


@dataclass
class Scene:
    image: np.ndarray
    """BGR, uint8."""
    instances: list[Instance]


@functools.cache
def photo(name: str) -> np.ndarray:
    """A scikit-image sample photo as BGR uint8."""
    image = getattr(skimage.data, name)()
    if isinstance(image, tuple):
        image = image[0]
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return cv2.cvtColor(image[:, :, :3].astype(np.uint8), cv2.COLOR_RGB2BGR)


def background(rng: np.random.Generator, photos: Sequence[np.ndarray], width: int, height: int) -> np.ndarray:
    """A random crop of a random photo, resized, flipped and lit at random."""
    source = photos[rng.integers(len(photos))]
    h, w = source.shape[:2]
    crop_h = int(h * rng.uniform(0.35, 1.0))
    crop_w = min(w, int(crop_h * width / height * rng.uniform(0.8, 1.25)))
    y, x = rng.integers(0, h - crop_h + 1), rng.integers(0, w - crop_w + 1)
    image = cv2.resize(source[y:y + crop_h, x:x + crop_w], (width, height), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        image = image[:, ::-1]
    return np.clip(image * rng.uniform(0.6, 1.3) + rng.uniform(-25, 25), 0, 255).astype(np.uint8)


def jitter(rng: np.random.Generator, bgr: Sequence[float], spread: float = 25) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.uniform(-spread, spread), 0, 255)) for c in bgr)  # type: ignore[return-value]


def polygon(center: tuple[float, float], radius: float, sides: int, angle: float) -> np.ndarray:
    cx, cy = center
    t = angle + np.arange(sides) * 2 * math.pi / sides
    return np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], axis=1)


def pts(points: np.ndarray) -> list[np.ndarray]:
    """Points in cv2's fixed-point form (4 fractional bits) for anti-aliased drawing."""
    return [np.round(points * 16).astype(np.int32)]


AA = {"lineType": cv2.LINE_AA, "shift": 4}


def draw_stop_sign(rng: np.random.Generator, paint: np.ndarray, silhouette: np.ndarray, center, size: float) -> None:
    r = size / 2
    angle = math.pi / 8 + rng.uniform(-0.15, 0.15)
    outline = polygon(center, r, 8, angle)
    cv2.fillPoly(silhouette, pts(outline), 255, **AA)
    cv2.fillPoly(paint, pts(outline), jitter(rng, (245, 245, 245), 10), **AA)
    cv2.fillPoly(paint, pts(polygon(center, r * 0.88, 8, angle)), jitter(rng, (30, 30, 200)), **AA)
    (text_w, text_h), _ = cv2.getTextSize("STOP", cv2.FONT_HERSHEY_SIMPLEX, 1.0, 2)
    scale = r * 1.3 / text_w
    origin = (int(center[0] - text_w * scale / 2), int(center[1] + text_h * scale / 2))
    cv2.putText(paint, "STOP", origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (240, 240, 240), max(1, int(scale * 2.5)), cv2.LINE_AA)


def draw_donut(rng: np.random.Generator, paint: np.ndarray, silhouette: np.ndarray, center, size: float) -> None:
    r = size / 2
    hole = r * rng.uniform(0.3, 0.42)
    c = pts(np.array([center]))[0][0]
    radius = lambda v: int(round(v * 16))  # noqa: E731
    cv2.circle(silhouette, c, radius(r), 255, -1, **AA)
    cv2.circle(silhouette, c, radius(hole), 0, -1, **AA)
    dough = jitter(rng, (80, 150, 205))
    glaze = [(180, 105, 255), (40, 60, 110), (235, 235, 245), (60, 180, 250)][rng.integers(4)]
    cv2.circle(paint, c, radius(r), dough, -1, **AA)
    cv2.circle(paint, c, radius(r * 0.82), jitter(rng, glaze, 15), -1, **AA)
    for _ in range(int(size / 3)):
        t, d = rng.uniform(0, 2 * math.pi), rng.uniform(hole * 1.2, r * 0.75)
        p = (center[0] + d * math.cos(t), center[1] + d * math.sin(t))
        q = (p[0] + size * 0.04 * math.cos(t * 3), p[1] + size * 0.04 * math.sin(t * 3))
        cv2.line(paint, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), tuple(int(v) for v in rng.integers(0, 256, 3)), 1)
    cv2.circle(paint, c, radius(hole), 0, -1, **AA)


def draw_kite(rng: np.random.Generator, paint: np.ndarray, silhouette: np.ndarray, center, size: float) -> None:
    h, w = size, size * rng.uniform(0.55, 0.75)
    angle = rng.uniform(-0.5, 0.5)
    local = np.array([[0, -0.5 * h], [0.5 * w, -0.15 * h], [0, 0.5 * h], [-0.5 * w, -0.15 * h]])
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    corners = local @ rot.T + np.array(center)
    cv2.fillPoly(silhouette, pts(corners), 255, **AA)
    colors = rng.integers(0, 256, (2, 3))
    middle = np.array([0, -0.15 * h]) @ rot.T + np.array(center)
    for i, j in ((0, 1), (1, 2), (2, 3), (3, 0)):
        cv2.fillPoly(paint, pts(np.array([middle, corners[i], corners[j]])), tuple(int(v) for v in colors[(i + j) % 2]), **AA)
    spar = jitter(rng, (40, 60, 90))
    thickness = max(1, int(size / 30))
    cv2.line(paint, pts(corners[[0]])[0][0], pts(corners[[2]])[0][0], spar, thickness, **AA)
    cv2.line(paint, pts(corners[[1]])[0][0], pts(corners[[3]])[0][0], spar, thickness, **AA)


def draw_clock(rng: np.random.Generator, paint: np.ndarray, silhouette: np.ndarray, center, size: float) -> None:
    r = size / 2
    c = pts(np.array([center]))[0][0]
    cv2.circle(silhouette, c, int(r * 16), 255, -1, **AA)
    cv2.circle(paint, c, int(r * 16), jitter(rng, (40, 40, 40), 30), -1, **AA)
    cv2.circle(paint, c, int(r * 0.86 * 16), jitter(rng, (235, 240, 245), 15), -1, **AA)
    ink = (20, 20, 20)
    for k in range(12):
        t = k * math.pi / 6
        a = (center[0] + r * 0.72 * math.cos(t), center[1] + r * 0.72 * math.sin(t))
        b = (center[0] + r * 0.82 * math.cos(t), center[1] + r * 0.82 * math.sin(t))
        cv2.line(paint, pts(np.array([a]))[0][0], pts(np.array([b]))[0][0], ink, max(1, int(size / 40)), **AA)
    for length, width in ((0.45, size / 18), (0.7, size / 30)):
        t = rng.uniform(0, 2 * math.pi)
        tip = (center[0] + r * length * math.cos(t), center[1] + r * length * math.sin(t))
        cv2.line(paint, c, pts(np.array([tip]))[0][0], ink, max(1, int(width)), **AA)


def draw_distractor(rng: np.random.Generator, paint: np.ndarray, silhouette: np.ndarray, center, size: float) -> None:
    """A plain shape in a random colour, never annotated: rings, disks, octagons, diamonds and boxes that are not
    donuts, clocks, stop signs or kites, so the model learns what sets those apart."""
    r = size / 2
    color = tuple(int(v) for v in rng.integers(0, 256, 3))
    c = pts(np.array([center]))[0][0]
    kind = rng.integers(5)
    if kind == 0:
        cv2.circle(silhouette, c, int(r * 16), 255, -1, **AA)
        cv2.circle(silhouette, c, int(r * rng.uniform(0.3, 0.8) * 16), 0, -1, **AA)
    elif kind == 1:
        cv2.circle(silhouette, c, int(r * 16), 255, -1, **AA)
    elif kind == 2:
        cv2.fillPoly(silhouette, pts(polygon(center, r, int(rng.integers(3, 9)), rng.uniform(0, math.pi))), 255, **AA)
    elif kind == 3:
        axes = (int(r * 16), int(r * rng.uniform(0.3, 0.7) * 16))
        cv2.ellipse(silhouette, c, axes, rng.uniform(0, 180), 0, 360, 255, -1, **AA)
    else:
        box = cv2.boxPoints((center, (size, size * rng.uniform(0.3, 1.0)), rng.uniform(0, 180)))
        cv2.fillPoly(silhouette, pts(box), 255, **AA)
    paint[:] = color
    if rng.random() < 0.5:
        cv2.circle(paint, c, int(r * rng.uniform(0.2, 0.6) * 16), tuple(int(v) for v in rng.integers(0, 256, 3)), -1, **AA)


DISTRACTOR = "distractor"
DRAW: dict[str, Callable[..., None]] = {
    "stop sign": draw_stop_sign, "donut": draw_donut, "kite": draw_kite, "clock": draw_clock,
    DISTRACTOR: draw_distractor,
}


def compose(
    rng: np.random.Generator,
    base: np.ndarray,
    objects: Sequence[tuple[str, tuple[float, float], float]],
) -> Scene:
    """Draw `objects` (label, centre, size in pixels) onto `base` in order; each may hide earlier ones.
    Distractors are drawn but not annotated."""
    height, width = base.shape[:2]
    image = base.astype(np.float32)
    owner = np.full((height, width), -1, np.int32)
    full_areas = []
    for index, (label, center, size) in enumerate(objects):
        paint = np.zeros((height, width, 3), np.uint8)
        silhouette = np.zeros((height, width), np.uint8)
        DRAW[label](rng, paint, silhouette, center, size)
        alpha = (silhouette.astype(np.float32) / 255)[:, :, None]
        light = rng.uniform(0.7, 1.15)
        image = image * (1 - alpha) + np.clip(paint * light, 0, 255) * alpha
        owner[silhouette >= 128] = index
        full_areas.append(int((silhouette >= 128).sum()))
    instances = [
        Instance(label, owner == index)
        for index, (label, _, _) in enumerate(objects)
        if label != DISTRACTOR and full_areas[index] and (owner == index).sum() >= MIN_VISIBLE * full_areas[index]
    ]
    blur = rng.uniform(0, 1.0)
    if blur > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), blur)
    image += rng.normal(0, rng.uniform(0, 6), image.shape)
    return Scene(np.clip(image, 0, 255).astype(np.uint8), instances)


def random_scene(rng: np.random.Generator, photos: Sequence[np.ndarray], width: int, height: int,
                 max_objects: int = 3) -> Scene:
    """A random background with one to `max_objects` random objects and up to two distractors."""
    side = min(width, height)
    labels = [CLASSES[rng.integers(len(CLASSES))] for _ in range(rng.integers(1, max_objects + 1))]
    labels += [DISTRACTOR] * int(rng.integers(0, 3))
    objects = []
    for label in rng.permutation(labels):
        size = side * rng.uniform(0.18, 0.5)
        center = (rng.uniform(size * 0.4, width - size * 0.4), rng.uniform(size * 0.4, height - size * 0.4))
        objects.append((str(label), center, size))
    return compose(rng, background(rng, photos, width, height), objects)


def scene(objects: Sequence[tuple[str, tuple[float, float], float]], size: tuple[int, int] = (640, 480),
          seed: int = 0, photo_name: str = "rocket") -> Scene:
    """One scene with the given objects (label, centre, size in pixels) on a crop of one photo."""
    rng = np.random.default_rng(seed)
    return compose(rng, background(rng, [photo(photo_name)], *size), objects)


def make_split(split: str, count: int, size: int | tuple[int, int] = 128, seed: int = 0) -> list[Scene]:
    """`count` scenes of `size` pixels (square, or (width, height)) on the split's photos."""
    width, height = (size, size) if isinstance(size, int) else size
    photos = [photo(name) for name in (TRAIN_PHOTOS if split == "train" else VAL_PHOTOS)]
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    return [random_scene(rng, photos, width, height) for _ in range(count)]


def coco_dataset(scenes: Sequence[Scene], file_names: Sequence[str] | None = None) -> dict[str, Any]:
    """COCO instances json for `scenes`: image ids from 1, category ids 1.. in CLASSES order, RLE masks."""
    images, annotations = [], []
    for image_id, scene in enumerate(scenes, start=1):
        height, width = scene.image.shape[:2]
        name = file_names[image_id - 1] if file_names else f"{image_id:05d}.png"
        images.append({"id": image_id, "file_name": name, "width": width, "height": height})
        for instance in scene.instances:
            rle = mask_utils.encode(np.asfortranarray(instance.mask.astype(np.uint8)))
            x0, y0, x1, y1 = instance.box
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": CLASSES.index(instance.label) + 1,
                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": float(instance.mask.sum()), "iscrowd": 0,
                "segmentation": {"size": rle["size"], "counts": rle["counts"].decode("ascii")},
            })
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(CLASSES)]
    return {"images": images, "annotations": annotations, "categories": categories}


def write_split(out_dir: Path, split: str, count: int, size: int, seed: int = 0) -> Path:
    """Write the split's PNG images under `out_dir/split/` and its COCO json as `out_dir/split.json`."""
    scenes = make_split(split, count, size, seed)
    (out_dir / split).mkdir(parents=True, exist_ok=True)
    names = [f"{i:05d}.png" for i in range(1, len(scenes) + 1)]
    for scene, name in zip(scenes, names):
        cv2.imwrite(str(out_dir / split / name), scene.image)
    path = out_dir / f"{split}.json"
    path.write_text(json.dumps(coco_dataset(scenes, names)))
    return path


def coco_results(image_id: int, detections: Sequence[Any]) -> list[dict[str, Any]]:
    """COCO result entries for one image's `vision.Detection`s (those with a label of this data set)."""
    results = []
    for d in detections:
        if d.label not in CLASSES:
            continue
        x0, y0, x1, y1 = d.box
        entry = {"image_id": image_id, "category_id": CLASSES.index(d.label) + 1,
                 "bbox": [x0, y0, x1 - x0, y1 - y0], "score": d.score}
        if d.mask is not None:
            rle = mask_utils.encode(np.asfortranarray(d.mask.astype(np.uint8)))
            entry["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
        results.append(entry)
    return results


def evaluate(dataset: dict[str, Any], detections: Sequence[Sequence[Any]]) -> dict[str, float]:
    """COCO AP (IoU 0.50:0.95, in percent) of boxes and masks; `detections[i]` belongs to image id i + 1."""
    truth = COCO()
    truth.dataset = dataset
    truth.createIndex()
    results = [entry for i, found in enumerate(detections) for entry in coco_results(i + 1, found)]
    scores = {"bbox": 0.0, "segm": 0.0, "AP50": 0.0}
    if not results:
        return scores
    for kind in ("bbox", "segm"):
        if kind == "segm" and not all("segmentation" in r for r in results):
            continue
        evaluation = COCOeval(truth, truth.loadRes(results), kind)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
        scores[kind] = float(evaluation.stats[0] * 100)
        if kind == "bbox":
            scores["AP50"] = float(evaluation.stats[1] * 100)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", type=int, default=256, help="training images (default: %(default)s)")
    parser.add_argument("--val", type=int, default=64, help="held-out images (default: %(default)s)")
    parser.add_argument("--size", type=int, default=128, help="image side in pixels (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for split, count in (("train", args.train), ("val", args.val)):
        print(f"wrote {count} images and {write_split(args.out, split, count, args.size, args.seed)}")


if __name__ == "__main__":
    main()
