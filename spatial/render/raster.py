"""The raster painter: a display list drawn into an RGBA image with Pillow, and
encoded as PNG or WebP for clients that cannot draw display lists themselves."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict

import numpy as np
from PIL import Image, ImageColor, ImageDraw

from spatial.render.layout import DisplayList, font
from spatial.render.ops import RectOp, TextOp


def _rgba(color: str) -> tuple[int, int, int, int]:
    """`#rrggbb` or `#rrggbbaa` as an RGBA tuple."""
    if len(color) == 9:
        return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5, 7))  # type: ignore[return-value]
    return (*ImageColor.getrgb(color)[:3], 255)


def _mask(text: str, size: int, stroke: int) -> tuple[np.ndarray | None, int, int]:
    """Pillow's coverage mask of `text` (None when nothing shows) and its offset from the top-left origin."""
    face = font(size)
    left, top, right, bottom = face.getbbox(text, anchor="la", stroke_width=stroke)
    if right <= left or bottom <= top:
        return None, left, top
    tile = Image.new("L", (right - left, bottom - top), 0)
    ImageDraw.Draw(tile).text(
        (-left, -top), text, font=face, fill=255, anchor="la", stroke_width=stroke, stroke_fill=255
    )
    return np.asarray(tile), left, top


class _Glyphs:
    """Glyph coverage masks rendered once per (character, size), so painting text is
    blitting cached glyphs instead of asking FreeType to render every string again.

    Pen advances include the font's kerning of each pair, so a line is as wide as
    `font(size).getlength(text)` says, which is what the layout measured.
    """

    def __init__(self) -> None:
        self._glyphs: dict[tuple[str, int], tuple[np.ndarray | None, int, int]] = {}
        self._advances: dict[tuple[str, str, int], float] = {}
        self._lock = threading.Lock()

    def _glyph(self, char: str, size: int) -> tuple[np.ndarray | None, int, int]:
        key = (char, size)
        glyph = self._glyphs.get(key)
        if glyph is None:
            glyph = _mask(char, size, 0)
            with self._lock:
                self._glyphs[key] = glyph
        return glyph

    def _advance(self, char: str, following: str, size: int) -> float:
        key = (char, following, size)
        advance = self._advances.get(key)
        if advance is None:
            face = font(size)
            advance = face.getlength(char + following) - face.getlength(following)
            with self._lock:
                self._advances[key] = advance
        return advance

    def line(self, text: str, size: int, stroke: int) -> tuple[Image.Image, int, int] | None:
        """The coverage mask of one run of text and its offset from the pen's top-left origin,
        or None when nothing shows.

        Outlined (bold) runs are rendered whole by Pillow: neighbouring glyphs' outlines
        merge, which glyph by glyph they would not. Bold runs are few (titles).
        """
        if stroke:
            mask, left, top = _mask(text, size, stroke)
            return None if mask is None else (Image.fromarray(mask), left, top)
        placed = []
        pen = 0.0
        x0 = y0 = 1 << 30
        x1 = y1 = -(1 << 30)
        for i, char in enumerate(text):
            mask, left, top = self._glyph(char, size)
            if mask is not None:
                x = round(pen) + left
                placed.append((mask, x, top))
                x0, y0 = min(x0, x), min(y0, top)
                x1, y1 = max(x1, x + mask.shape[1]), max(y1, top + mask.shape[0])
            pen += self._advance(char, text[i + 1:i + 2], size)
        if not placed:
            return None
        line = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        right = x0
        for mask, x, y in placed:
            region = line[y - y0:y - y0 + mask.shape[0], x - x0:x - x0 + mask.shape[1]]
            if x >= right:
                region[...] = mask  # clear of the glyphs before it
            else:
                _cover(region, mask)
            right = max(right, x + mask.shape[1])
        return Image.fromarray(line), x0, y0


def _cover(region: np.ndarray, mask: np.ndarray) -> None:
    """Add glyph coverage `mask` over `region` in place as Pillow does within a run
    (`a + b - a*b/255`, rounded like its MULDIV255), so overlapping glyphs match."""
    under = region.astype(np.int32)
    product = under * mask + 128
    region[...] = under + mask - (((product >> 8) + product) >> 8)


_GLYPHS = _Glyphs()


def _text(draw: ImageDraw.ImageDraw, x: float, y: float, text: str, size: int, color: str, bold: bool = False) -> None:
    line = _GLYPHS.line(text, size, 1 if bold else 0)
    if line is not None:
        mask, dx, dy = line
        draw.bitmap((round(x) + dx, round(y) + dy), mask, fill=_rgba(color))


def paint(display: DisplayList, scale: float = 1.0) -> Image.Image:
    """Draw `display` into a new transparent RGBA image, `scale` pixels per panel pixel."""
    image = Image.new("RGBA", (round(display.width * scale), round(display.height * scale)), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for op in display.ops:
        if isinstance(op, RectOp):
            box = [op.x * scale, op.y * scale, (op.x + op.w) * scale, (op.y + op.h) * scale]
            draw.rounded_rectangle(box, radius=op.radius * scale, fill=_rgba(op.fill))
        elif isinstance(op, TextOp):
            size = round(op.size * scale)
            _text(draw, op.x * scale, op.y * scale, op.text, size, op.color, op.bold)
        else:
            x0, y0 = op.x * scale, op.y * scale
            x1, y1 = x0 + op.w * scale, y0 + op.h * scale
            draw.rectangle([x0, y0, x1, y1], fill=_rgba(op.fill), outline=_rgba(op.stroke))
            size = round(op.size * scale)
            tx = x1 - 4 * scale - font(size).getlength(op.text) if op.align == "right" else x0 + 4 * scale
            _text(draw, tx, y0 + 5 * scale, op.text, size, op.color)
    return image


RASTER_FORMATS = ("png", "webp")
RASTER_SCALE = 2.0
"""Texture pixels per panel pixel: a 320-pixel panel becomes a 640-pixel-wide texture."""


PALETTE_COLORS = 64
"""Panels are a few flat colours plus anti-aliased text: 64 colours keep them exact to the eye."""


def encode(display: DisplayList, fmt: str = "png", scale: float = RASTER_SCALE) -> bytes:
    """`display` painted and encoded: `png` as a 64-colour palette PNG (small and quick),
    `webp` as lossless WebP (every pixel exact)."""
    if fmt not in RASTER_FORMATS:
        raise ValueError(f"unknown raster format {fmt!r}; expected one of {', '.join(RASTER_FORMATS)}")
    image = paint(display, scale)
    out = io.BytesIO()
    if fmt == "png":
        palette = image.quantize(PALETTE_COLORS, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
        palette.save(out, "PNG", compress_level=6)
    else:
        image.save(out, "WEBP", lossless=True, quality=0, method=0)
    return out.getvalue()


class RasterCache:
    """Encoded rasters keyed by content hash, format and scale: identical content is painted once.

    Shared by all sessions' worker threads.
    """

    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple[str, str, float], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, display: DisplayList, digest: str, fmt: str = "png", scale: float = RASTER_SCALE) -> bytes:
        key = (digest, fmt, scale)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        data = encode(display, fmt, scale)
        with self._lock:
            self._items[key] = data
            if len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return data
