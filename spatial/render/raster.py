"""The raster painter: a display list drawn into an RGBA image with Pillow."""

from __future__ import annotations

from PIL import Image, ImageColor, ImageDraw

from spatial.render.layout import DisplayList, font


def _rgba(color: str) -> tuple[int, int, int, int]:
    """`#rrggbb` or `#rrggbbaa` as an RGBA tuple."""
    if len(color) == 9:
        return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5, 7))  # type: ignore[return-value]
    return (*ImageColor.getrgb(color)[:3], 255)


def paint(display: DisplayList, scale: float = 1.0) -> Image.Image:
    """Draw `display` into a new transparent RGBA image, `scale` pixels per panel pixel."""
    image = Image.new("RGBA", (round(display.width * scale), round(display.height * scale)), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for op in display.ops:
        kind = op["op"]
        if kind == "rect":
            box = [op["x"] * scale, op["y"] * scale, (op["x"] + op["w"]) * scale, (op["y"] + op["h"]) * scale]
            draw.rounded_rectangle(box, radius=op.get("radius", 0) * scale, fill=_rgba(op["fill"]))
        elif kind == "text":
            draw.text(
                (op["x"] * scale, op["y"] * scale), op["text"], font=font(round(op["size"] * scale)),
                fill=_rgba(op["color"]), stroke_width=1 if op.get("bold") else 0, stroke_fill=_rgba(op["color"]),
            )
        elif kind == "cell":
            x0, y0 = op["x"] * scale, op["y"] * scale
            x1, y1 = x0 + op["w"] * scale, y0 + op["h"] * scale
            draw.rectangle([x0, y0, x1, y1], fill=_rgba(op["fill"]), outline=_rgba(op["stroke"]))
            cell_font = font(round(op["size"] * scale))
            tx = x1 - 4 * scale - cell_font.getlength(op["text"]) if op["align"] == "right" else x0 + 4 * scale
            draw.text((tx, y0 + 5 * scale), op["text"], font=cell_font, fill=_rgba(op["color"]))
    return image
