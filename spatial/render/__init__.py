"""Overlay rendering: layout turns a block into a display list; painters draw it."""

from spatial.render.layout import DisplayList, content_hash, layout_block
from spatial.render.raster import paint

__all__ = ["DisplayList", "content_hash", "layout_block", "paint"]
