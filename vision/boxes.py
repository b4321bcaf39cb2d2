"""Axis-aligned boxes (x0, y0, x1, y1) in pixels: overlap, clipping and the part inside an image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Box = tuple[float, float, float, float]


def iou_matrix(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> np.ndarray:
    """Intersection over union of every box in `a` with every box in `b`, shape (len(a), len(b))."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = box_areas(a)[:, None] + box_areas(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes."""
    return float(iou_matrix([a], [b])[0, 0])


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """Areas of an (N, 4) array of boxes; 0 for empty ones."""
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def clip_box(box: Sequence[float], width: int, height: int) -> Box:
    """`box` cut to the image; empty (x0 == x1 or y0 == y1) when it lies outside."""
    x0, y0, x1, y1 = (float(v) for v in box)
    x0, x1 = min(max(x0, 0.0), width), min(max(x1, 0.0), width)
    y0, y1 = min(max(y0, 0.0), height), min(max(y1, 0.0), height)
    return (x0, y0, max(x0, x1), max(y0, y1))


def visible_fraction(box: Sequence[float], width: int, height: int) -> float:
    """The fraction of `box`'s area that lies inside a `width` x `height` image."""
    area = float(box_areas(np.asarray([box], dtype=np.float64))[0])
    if area <= 0:
        return 0.0
    inside = float(box_areas(np.asarray([clip_box(box, width, height)]))[0])
    return inside / area


def suppress_overlaps(boxes: Sequence[Sequence[float]], scores: Sequence[float], max_iou: float) -> list[int]:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first."""
    order = list(np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable"))
    overlaps = iou_matrix(boxes, boxes)
    kept: list[int] = []
    for index in order:
        if all(overlaps[index, k] <= max_iou for k in kept):
            kept.append(int(index))
    return kept
