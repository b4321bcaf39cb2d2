"""The raster painter and its encodings: what thin clients and `spatial replay` get."""

import base64
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from anchors import Anchor, Block
from anchors.model import IDENTITY_POSE
from spatial.overlays import VECTOR, ContentFormat, LayoutCache, build_overlays, overlay_panel
from spatial.render import content_hash, layout_block, paint
from spatial.render.layout import font
from spatial.render.ops import RectOp, TextOp
from spatial.render.raster import RASTER_SCALE, RasterCache, encode

NOTE = "# Mug\nDescale on **Fridays**, AVAWAY kerning\n- beans: 2 kg"


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGBA"), dtype=float)


def reference_paint(display, scale: float) -> Image.Image:
    """Every op drawn in turn with Pillow's own text drawing: what `paint` must reproduce."""

    def rgba(color: str) -> tuple[int, ...]:
        return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5, 7)) if len(color) == 9 else (
            *(int(color[i:i + 2], 16) for i in (1, 3, 5)), 255)

    image = Image.new("RGBA", (round(display.width * scale), round(display.height * scale)), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for op in [o.to_json() for o in display.ops]:
        if op["op"] == "rect":
            box = [op["x"] * scale, op["y"] * scale, (op["x"] + op["w"]) * scale, (op["y"] + op["h"]) * scale]
            draw.rounded_rectangle(box, radius=op.get("radius", 0) * scale, fill=rgba(op["fill"]))
        elif op["op"] == "text":
            draw.text(
                (round(op["x"] * scale), round(op["y"] * scale)), op["text"], font=font(round(op["size"] * scale)),
                fill=rgba(op["color"]), stroke_width=1 if op.get("bold") else 0, stroke_fill=rgba(op["color"]),
            )
        else:
            x0, y0 = op["x"] * scale, op["y"] * scale
            x1, y1 = x0 + op["w"] * scale, y0 + op["h"] * scale
            draw.rectangle([x0, y0, x1, y1], fill=rgba(op["fill"]), outline=rgba(op["stroke"]))
            face = font(round(op["size"] * scale))
            tx = x1 - 4 * scale - face.getlength(op["text"]) if op["align"] == "right" else x0 + 4 * scale
            draw.text((round(tx), round(y0 + 5 * scale)), op["text"], font=face, fill=rgba(op["color"]))
    return image


GRID = {"layout": "grid", "columns": ["item", "qty", "ok"],
        "rows": [["coffee beans AVAWAY", "2", "yes"], ["milk", "1.5", "no"], ["filters", "40", "yes"]]}


@pytest.mark.parametrize("kind, content", [("markdown", NOTE), ("view", GRID), ("json", {"temp": 21.5, "ok": True})])
@pytest.mark.parametrize("scale", [1.0, RASTER_SCALE])
def test_paint_draws_exactly_what_pillow_draws_op_by_op(kind: str, content: object, scale: float) -> None:
    display = layout_block(kind, "Kitchen stock, bold title", content)
    assert np.array_equal(pixels(paint(display, scale)), pixels(reference_paint(display, scale)))


def test_text_drawn_over_text_of_another_colour_keeps_the_order() -> None:
    display = layout_block("markdown", "", "x")
    first = TextOp(x=4, y=4, text="under", size=30, color="#ff0000", bold=False)
    fill = RectOp(x=10, y=10, w=30, h=20, fill="#00ff00", radius=0)
    second = TextOp(x=8, y=6, text="over", size=30, color="#0000ff", bold=True)
    overlapping = type(display)(160, 50, (first, fill, second))
    assert np.array_equal(pixels(paint(overlapping)), pixels(reference_paint(overlapping, 1.0)))


def test_png_is_a_small_palette_image_close_to_the_painting() -> None:
    display = layout_block("markdown", "Note", NOTE)
    data = encode(display, "png")
    image = Image.open(io.BytesIO(data))
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and image.mode == "P"
    assert image.size == (display.width * RASTER_SCALE, display.height * RASTER_SCALE)
    difference = np.abs(pixels(image) - pixels(paint(display, RASTER_SCALE)))
    assert difference.mean() < 1.5 and len(data) < 40_000


def test_webp_is_lossless() -> None:
    display = layout_block("json", "Stock", {"milk": 1, "beans": 2.5})
    image = Image.open(io.BytesIO(encode(display, "webp", 1.0)))
    assert image.format == "WEBP"
    assert np.array_equal(pixels(image), pixels(paint(display, 1.0)))


def test_unknown_format_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown raster format 'gif'; expected one of png, webp"):
        encode(layout_block("markdown", "", "x"), "gif")


def test_rasters_are_painted_once_per_content_hash() -> None:
    cache = RasterCache(capacity=2)
    one, two = layout_block("markdown", "A", "one"), layout_block("markdown", "B", "two")
    first = cache.get(one, content_hash(one))
    assert cache.get(one, content_hash(one)) is first, "a hit returns the stored bytes"
    assert cache.get(one, content_hash(one), "webp") is not first, "formats are kept apart"
    cache.get(two, content_hash(two))  # over capacity: the least recently used goes
    assert cache.get(one, content_hash(one)) is not first


@pytest.mark.parametrize(
    "capabilities, vector, raster, named",
    [
        ([], True, None, ["vector"]),
        (["vector"], True, None, ["vector"]),
        (["raster"], False, "png", ["raster"]),
        (["raster:webp", "vector"], True, "webp", ["vector", "raster:webp"]),
        (["hologram"], True, None, ["vector"]),
    ],
)
def test_content_format_from_capabilities(
    capabilities: list[str], vector: bool, raster: str | None, named: list[str]
) -> None:
    fmt = ContentFormat.from_capabilities(capabilities)
    assert (fmt.vector, fmt.raster, fmt.capabilities()) == (vector, raster, named)


def test_overlay_json_carries_ops_an_image_or_both() -> None:
    block = Block("blk_1", "markdown", "usr_1", "Mug", NOTE, 1, 0.0, 0.0)
    anchor = Anchor("anc_1", "blk_1", "marker:aruco/7", IDENTITY_POSE, "usr_1", 0.0)
    layouts = LayoutCache()
    (overlay,) = build_overlays([(anchor, block)], {"marker:aruco/7": "marker"}, layouts, 0.0005).values()

    vector = overlay_panel(overlay, VECTOR).to_json()["content"]
    assert "ops" in vector and "image" not in vector

    raster = overlay_panel(overlay, ContentFormat(vector=False, raster="png"), layouts.rasters).to_json()["content"]
    assert "ops" not in raster and (raster["width"], raster["height"]) == (vector["width"], vector["height"])
    assert raster["image"]["format"] == "png" and raster["image"]["scale"] == RASTER_SCALE
    png = base64.b64decode(raster["image"]["data"])
    assert Image.open(io.BytesIO(png)).size == (vector["width"] * 2, vector["height"] * 2)

    both = overlay_panel(overlay, ContentFormat(vector=True, raster="webp"), layouts.rasters).to_json()["content"]
    assert both["ops"] == vector["ops"] and both["image"]["format"] == "webp"
