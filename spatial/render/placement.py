"""Screen-locked placement: overlay panels stacked above their object's box.

The web client's camera-window mode follows the same rule (webxr_client/overlay.js).
"""

from __future__ import annotations

SCREEN_SCALE = 0.75
"""Panel pixels to screen pixels for screen-locked overlays."""
GAP = 8


def stack_above(
    box: tuple[float, float, float, float], sizes: list[tuple[int, int]], image_size: tuple[int, int]
) -> list[tuple[float, float, float]]:
    """Top-left corner and scale of each panel, slot 0 nearest the box, kept inside the image where possible."""
    x0, y0, x1, _ = box
    width, height = image_size
    centre = (x0 + x1) / 2
    bottom = y0 - GAP
    placed = []
    for panel_w, panel_h in sizes:
        w, h = panel_w * SCREEN_SCALE, panel_h * SCREEN_SCALE
        left = min(max(centre - w / 2, 0.0), max(width - w, 0.0))
        top = bottom - h
        placed.append((left, top, SCREEN_SCALE))
        bottom = top - GAP
    return placed
