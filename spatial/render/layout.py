"""Layout: a block becomes a display list of text runs, rectangles and table cells.

Units are panel pixels, origin at the top left. Text is measured with the same
font the raster painter uses, so wrapping is identical in both painters.

Kinds laid out: `markdown`, `json`, `table` (`{columns, rows}`), `view` (a
shaped view from `anchors.views.shape`: grid, kanban, wiki or list) and
`compute` (a compute block's value or error).

The cells of a grid and the cards and lanes of a kanban carry a `ref` saying
what they show (`{"row", "field"}`, `{"field"}` for a header, `{"row",
"lane"}` for a card, `{"lane"}` for a lane's header), so a client can tell
which cell or card a tap meant and edit it; a cell whose formula failed is
drawn in the error colour.

Big tables are paged: a grid or a list shows a window of `MAX_ROWS` rows, a
kanban `MAX_CARDS` cards of each lane, from the row `first` a viewer asked for
(`layout_block(..., first=)`); under it a pager says which rows these are of how
many, with buttons whose `ref` is `{"first": n}`, the window a tap on them shows.

A panel's content is bounded whatever the block holds: a window of rows, at most
`MAX_COLUMNS` columns and `MAX_LANES` lanes, text runs of at most
`MAX_TEXT_CHARS` characters, and all its ops together at most
`MAX_CONTENT_BYTES` as JSON (the ops that would go over are left out and a
last line says so).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from PIL import ImageFont
from pydantic import TypeAdapter

from spatial.render.ops import CellOp, DrawOp, OpRef, RectOp, TextOp

PANEL_WIDTH = 320
PADDING = 12
TITLE_SIZE = 18
BODY_SIZE = 15
CELL_SIZE = 14
LINE_GAP = 4
MAX_LINES = 24
MAX_ROWS = 20
"""Rows of a grid or items of a list shown at once: the window a pager moves."""
MAX_CARDS = 6
"""Cards of each kanban lane shown at once."""
MAX_COLUMNS = 8
MAX_LANES = 6
MAX_SECTIONS = 8
MAX_SECTION_LINES = 8
MAX_TEXT_CHARS = 200
"""Characters of one text run or cell, before it is cut to its width."""
MAX_CONTENT_BYTES = 32 * 1024
"""A panel's content (`{width, height, ops}`) as JSON in UTF-8, at most, whatever the block holds."""
_RESERVED = 512
"""Kept for the background and the line that says something was left out."""
_INLINE_MARKS = re.compile(r"\*\*|__|`")

BACKGROUND = "#0f1a24e6"
TITLE_COLOR = "#ffd54a"
TEXT_COLOR = "#f4f7fa"
MUTED_COLOR = "#9fb3c8"
HEADER_FILL = "#24415c"
CELL_FILL = "#16283a"
GRID_COLOR = "#3d5a75"
ERROR_COLOR = "#ff8a80"


_OPS: TypeAdapter[tuple[DrawOp, ...]] = TypeAdapter(tuple[DrawOp, ...])


@dataclass(frozen=True)
class DisplayList:
    """A laid-out panel: its size in panel pixels and its draw ops, the models the protocol sends.

    `ops_json` is the ops as JSON on the wire (compact, UTF-8), which the content
    hash is taken from; the layout has it already, having sized each op by it.
    """

    width: int
    height: int
    ops: tuple[DrawOp, ...]
    ops_json: bytes = field(default=b"", compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.ops_json:
            object.__setattr__(self, "ops_json", _OPS.dump_json(self.ops))


@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size)


@lru_cache(maxsize=1 << 16)
def text_width(text: str, size: int) -> float:
    """Pixels `text` takes in the panel font at `size` (kept: a panel laid out again measures mostly the same)."""
    return font(size).getlength(text)


def wrap(text: str, size: int, width: float) -> list[str]:
    """Greedy word wrap of one paragraph to `width` pixels; over-long words are cut."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if text_width(candidate, size) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        while text_width(word, size) > width:
            cut = max(1, int(len(word) * width / text_width(word, size)) - 1)
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    if line or not lines:
        lines.append(line)
    return lines


def content_hash(display: DisplayList) -> str:
    """A digest of the panel's size and its ops as they go on the wire (field order is the models')."""
    digest = hashlib.sha256(b"%d,%d," % (display.width, display.height))
    digest.update(display.ops_json)
    return "sha256:" + digest.hexdigest()[:32]


def _op_json(op: DrawOp) -> bytes:
    """The op's JSON on the wire, in UTF-8."""
    return op.__pydantic_serializer__.to_json(op)


class _Panel:
    """Accumulates ops top to bottom, within `MAX_CONTENT_BYTES`: once they are spent, ops are left out."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.y = PADDING
        self.ops: list[DrawOp] = []
        self.json: list[bytes] = []
        self.bytes = _RESERVED
        self.full = False

    @property
    def inner(self) -> int:
        return self.width - 2 * PADDING

    def add(self, op: DrawOp) -> bool:
        """Add `op`, unless the panel's bytes are spent (then nothing more is added); True when added."""
        data = _op_json(op)
        if self.full or self.bytes + len(data) + 1 > MAX_CONTENT_BYTES:
            self.full = True
            return False
        self.bytes += len(data) + 1
        self.ops.append(op)
        self.json.append(data)
        return True

    def text(self, text: str, size: int, color: str = TEXT_COLOR, bold: bool = False) -> None:
        for line in wrap(text[:MAX_CONTENT_BYTES], size, self.inner):
            if not self.add(TextOp(x=PADDING, y=self.y, text=line[:MAX_TEXT_CHARS], size=size, color=color,
                                   bold=bold)):
                return
            self.y += size + LINE_GAP

    def gap(self, pixels: int) -> None:
        self.y += pixels

    def finish(self) -> DisplayList:
        if self.full:
            more = TextOp(x=PADDING, y=self.y, text="... (too much to show)", size=CELL_SIZE, color=MUTED_COLOR,
                          bold=False)
            self.ops.append(more)
            self.json.append(_op_json(more))
            self.y += CELL_SIZE + LINE_GAP
        height = self.y + PADDING - LINE_GAP
        background = RectOp(x=0, y=0, w=self.width, h=height, fill=BACKGROUND, radius=8)
        ops_json = b"[" + b",".join((_op_json(background), *self.json)) + b"]"
        return DisplayList(self.width, height, (background, *self.ops), ops_json)


def layout_block(kind: str, title: str, content: Any, width: int = PANEL_WIDTH, first: int = 0) -> DisplayList:
    """The display list of a block of `kind` in a panel `width` pixels wide; a grid, list or kanban shows
    its rows (cards) from `first` on (counted from 0, moved back to show a full last window)."""
    panel = _Panel(width)
    if title:
        panel.text(title, TITLE_SIZE, TITLE_COLOR, bold=True)
        panel.gap(4)
    if kind == "markdown":
        _markdown(panel, content)
    elif kind == "table":
        _table(panel, content, first)
    elif kind == "view":
        _view(panel, content, first)
    elif kind == "compute":
        _compute(panel, content, first)
    else:
        _json(panel, content)
    return panel.finish()


def window_start(first: int, total: int, size: int) -> int:
    """Where a window of `size` rows asked to start at `first` starts among `total`: inside, and full."""
    return max(0, min(first, total - size))


def _markdown(panel: _Panel, text: str) -> None:
    shown = 0
    for raw in text.splitlines():
        if shown >= MAX_LINES:
            panel.text("...", BODY_SIZE, MUTED_COLOR)
            return
        line = raw.strip()
        if not line:
            panel.gap(BODY_SIZE // 2)
            continue
        heading = len(line) - len(line.lstrip("#"))
        if 0 < heading <= 6 and line[heading:heading + 1] == " ":
            panel.text(_plain(line[heading + 1:]), BODY_SIZE + max(0, 4 - heading), TEXT_COLOR, bold=True)
        elif line[:2] in ("- ", "* "):
            panel.text("- " + _plain(line[2:]), BODY_SIZE)
        else:
            panel.text(_plain(line), BODY_SIZE)
        shown += 1


def _plain(text: str) -> str:
    """Inline markdown emphasis and code marks removed (the panel font has one weight per run)."""
    return _INLINE_MARKS.sub("", text)


def _json(panel: _Panel, value: Any) -> None:
    lines = json.dumps(value, indent=2, ensure_ascii=False).splitlines()
    for line in lines[:MAX_LINES]:
        panel.text(line, CELL_SIZE, TEXT_COLOR)
    if len(lines) > MAX_LINES:
        panel.text("...", CELL_SIZE, MUTED_COLOR)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _fit(text: str, size: int, width: float) -> str:
    """`text`, cut and ended with "..." if it is wider than `width` (the longest cut that fits)."""
    text = text[:MAX_TEXT_CHARS]
    if text_width(text, size) <= width:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if text_width(text[:middle] + "...", size) <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low] + "..."


def _table(panel: _Panel, table: dict[str, Any], first: int = 0) -> None:
    """A grid: a header row and a window of `MAX_ROWS` rows from `first`, with a pager when there are more."""
    columns: list[str] = table["columns"][:MAX_COLUMNS]
    every_row = table.get("rows", [])
    first = window_start(first, len(every_row), MAX_ROWS)
    rows = [[_cell_text(c) for c in row[:MAX_COLUMNS]] for row in every_row[first:first + MAX_ROWS]]
    row_ids: list[str] | None = table.get("row_ids")
    errors = {(r - first, c) for r, c in table.get("errors", []) if first <= r < first + MAX_ROWS}
    natural = [
        max([text_width(name, CELL_SIZE)] + [text_width(row[i], CELL_SIZE) for row in rows]) + 12
        for i, name in enumerate(columns)
    ]
    scale = min(1.0, panel.inner / sum(natural))
    widths = [w * scale for w in natural]
    row_height = CELL_SIZE + 10
    for r, cells in enumerate([columns, *rows]):
        x = float(PADDING)
        for c, text in enumerate(cells):
            failed = (r - 1, c) in errors
            ref = {}
            if row_ids is not None:
                ref["ref"] = OpRef(field=columns[c]) if r == 0 else OpRef(row=row_ids[first + r - 1], field=columns[c])
            panel.add(CellOp(
                x=round(x, 1), y=panel.y, w=round(widths[c], 1), h=row_height,
                text=_fit(text, CELL_SIZE, widths[c] - 8), size=CELL_SIZE,
                color=TITLE_COLOR if r == 0 else ERROR_COLOR if failed else TEXT_COLOR,
                fill=HEADER_FILL if r == 0 else CELL_FILL, stroke=GRID_COLOR,
                align="right" if _is_number(text) and r > 0 else "left", **ref,
            ))
            x += widths[c]
        panel.y += row_height
    hidden_columns = len(table["columns"]) - len(columns)
    if hidden_columns > 0:
        panel.gap(4)
        panel.text(f"+{hidden_columns} more fields", CELL_SIZE, MUTED_COLOR)
    _pager(panel, "rows", first, len(rows), len(every_row), MAX_ROWS)
    panel.gap(LINE_GAP)


PAGER_BUTTON = 64


def _pager(panel: _Panel, noun: str, first: int, shown: int, total: int, size: int) -> None:
    """Under a window of `shown` of `total` rows from `first`: which these are, and buttons to the window
    before and after (`ref` `{"first": n}`). Nothing when every row is shown."""
    if first == 0 and shown >= total:
        return
    panel.gap(4)
    top, height = panel.y, CELL_SIZE + 10
    buttons = []
    if first > 0:
        buttons.append(("< prev", max(0, first - size)))
    if first + shown < total:
        buttons.append(("next >", first + size))
    x = panel.width - PADDING - PAGER_BUTTON * len(buttons) - 4 * max(0, len(buttons) - 1)
    label = f"{noun} {first + 1}-{first + shown} of {total}" if shown else f"{total} {noun}"
    panel.add(TextOp(x=PADDING, y=top + 5, text=_fit(label, CELL_SIZE, x - PADDING - 4), size=CELL_SIZE,
                     color=MUTED_COLOR, bold=False))
    for text, target in buttons:
        panel.add(RectOp(x=x, y=top, w=PAGER_BUTTON, h=height, fill=HEADER_FILL, radius=4, ref=OpRef(first=target)))
        panel.add(TextOp(x=x + 8, y=top + 5, text=text, size=CELL_SIZE, color=TITLE_COLOR, bold=False))
        x += PAGER_BUTTON + 4
    panel.y = top + height


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _line(panel: _Panel, x: float, width: float, text: str, size: int, color: str = TEXT_COLOR, bold: bool = False) -> None:
    """One text run at `x`, cut to `width`, on its own line."""
    if panel.add(TextOp(x=round(x, 1), y=panel.y, text=_fit(text, size, width), size=size, color=color, bold=bold)):
        panel.y += size + LINE_GAP


def _view(panel: _Panel, view: dict[str, Any], first: int = 0) -> None:
    layout = view.get("layout")
    if layout == "grid":
        _table(panel, view, first)
    elif layout == "kanban":
        _kanban(panel, view["lanes"], first)
    elif layout == "wiki":
        _wiki(panel, view["sections"])
    else:
        _list(panel, view.get("items", []), first)


def _kanban(panel: _Panel, every_lane: list[dict[str, Any]], first: int = 0) -> None:
    """Lanes side by side, a header cell on top and a card per row under it: `MAX_CARDS` cards of each lane
    from `first`, with a pager when a lane has more."""
    if not every_lane:
        panel.text("(no rows)", CELL_SIZE, MUTED_COLOR)
        return
    lanes = every_lane[:MAX_LANES]
    longest = max(len(lane["cards"]) for lane in lanes)
    first = window_start(first, longest, MAX_CARDS)
    gap = 6
    lane_width = (panel.inner - gap * (len(lanes) - 1)) / len(lanes)
    top, bottom = panel.y, panel.y
    for i, lane in enumerate(lanes):
        x = PADDING + i * (lane_width + gap)
        panel.y = top
        panel.add(CellOp(
            x=round(x, 1), y=panel.y, w=round(lane_width, 1), h=CELL_SIZE + 10,
            text=_fit(f"{lane['name']} ({len(lane['cards'])})", CELL_SIZE, lane_width - 8), size=CELL_SIZE,
            color=TITLE_COLOR, fill=HEADER_FILL, stroke=GRID_COLOR, align="left", ref=OpRef(lane=lane["name"]),
        ))
        panel.y += CELL_SIZE + 14
        for card in lane["cards"][first:first + MAX_CARDS]:
            lines = card["lines"][:3]
            height = 8 + (CELL_SIZE + LINE_GAP) * (1 + len(lines))
            panel.add(RectOp(x=round(x, 1), y=panel.y, w=round(lane_width, 1), h=height, fill=CELL_FILL, radius=4,
                             ref=OpRef(row=card["id"], lane=lane["name"])))
            panel.y += 4
            _line(panel, x + 4, lane_width - 8, card["title"], CELL_SIZE, TEXT_COLOR, bold=True)
            for text in lines:
                _line(panel, x + 4, lane_width - 8, text, CELL_SIZE - 2, MUTED_COLOR)
            panel.y += 8
        hidden = len(lane["cards"]) - first - MAX_CARDS
        if hidden > 0:
            _line(panel, x + 4, lane_width - 8, f"+{hidden} more", CELL_SIZE - 2, MUTED_COLOR)
        bottom = max(bottom, panel.y)
    panel.y = bottom
    if len(every_lane) > len(lanes):
        panel.gap(4)
        panel.text(f"+{len(every_lane) - len(lanes)} more lanes", CELL_SIZE, MUTED_COLOR)
    _pager(panel, "cards", first, min(MAX_CARDS, max(0, longest - first)), longest, MAX_CARDS)


def _wiki(panel: _Panel, sections: list[dict[str, Any]]) -> None:
    for section in sections[:MAX_SECTIONS]:
        panel.text(section["heading"] or "(untitled)", BODY_SIZE + 1, TEXT_COLOR, bold=True)
        for line in section["lines"][:MAX_SECTION_LINES]:
            panel.text(line, CELL_SIZE, MUTED_COLOR)
        panel.gap(6)
    if len(sections) > MAX_SECTIONS:
        panel.text(f"+{len(sections) - MAX_SECTIONS} more sections", CELL_SIZE, MUTED_COLOR)


def _list(panel: _Panel, every_item: list[dict[str, Any]], first: int = 0) -> None:
    """A window of `MAX_ROWS` items from `first`, with a pager when there are more."""
    first = window_start(first, len(every_item), MAX_ROWS)
    items = every_item[first:first + MAX_ROWS]
    for item in items:
        panel.text("- " + (item["title"] or "(untitled)"), BODY_SIZE, TEXT_COLOR)
        if item["detail"]:
            _line(panel, PADDING + 12, panel.inner - 12, item["detail"], CELL_SIZE - 2, MUTED_COLOR)
    _pager(panel, "items", first, len(items), len(every_item), MAX_ROWS)


def _compute(panel: _Panel, result: dict[str, Any], first: int = 0) -> None:
    """A compute block's value: text as markdown, rows as a table, anything else as JSON; or its error."""
    if result.get("error"):
        panel.text(f"error: {result['error']}", CELL_SIZE, ERROR_COLOR)
        return
    value = result.get("value")
    if isinstance(value, str):
        _markdown(panel, value)
    elif isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        columns = list(dict.fromkeys(k for r in value for k in r))
        _table(panel, {"columns": columns, "rows": [[r.get(c) for c in columns] for r in value]}, first)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        panel.text(_cell_text(value), TITLE_SIZE + 6, TEXT_COLOR, bold=True)
    else:
        _json(panel, value)
