"""The overlays stage of a viewer costs what changed: nothing is read, computed or laid out again in a
steady view, one edit updates one overlay, a share taken back removes one; big tables are paged and
every panel stays within its bound in bytes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from anchors import AccountService, BlockService, ComputeService, User
from anchors.sheets.tables import parse_fields
from anchors.views import RowValues, shape
from spatial.overlays import VECTOR, LayoutCache, Overlay, overlay_panel
from spatial.pipeline import FrameResult, overlay_step
from spatial.render import DisplayList, content_hash, layout_block
from spatial.render.layout import MAX_CONTENT_BYTES
from spatial.session import Viewer
from tests.support import CountingStore
from vision import Detection

MARKER = "marker:aruco/7"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountingStore]:
    opened = CountingStore(tmp_path / "store.db")
    yield opened
    opened.close()


@pytest.fixture
def blocks(store: CountingStore) -> BlockService:
    return BlockService(store)


@pytest.fixture
def alice(store: CountingStore) -> User:
    return AccountService(store).create_user("alice")


def table(rows: int) -> dict[str, Any]:
    return {"fields": [{"name": "item", "type": "text"}, {"name": "qty", "type": "number"},
                       {"name": "double", "type": "formula", "formula": "=qty*2"}],
            "rows": [{"item": f"item {r + 1}", "qty": r + 1} for r in range(rows)]}


class Frames:
    """Frames showing marker 7 to one viewer."""

    def __init__(self, viewer: Viewer) -> None:
        self.viewer = viewer
        self.count = 0
        self.marker = Detection(MARKER, "marker", 1.0, (0.0, 0.0, 10.0, 10.0), "markers", pose=np.eye(4))

    def next(self) -> Any:
        self.count += 1
        result = FrameResult(self.count, 0.0, (640, 480), [self.marker], {"total": 0.0})
        return overlay_step(self.viewer, result, self.count / 30)


def wire_ops(display: DisplayList) -> list[dict]:
    """The panel's ops as the protocol sends them."""
    return [op.to_json() for op in display.ops]


def texts(overlay: Overlay) -> list[str]:
    return [op["text"] for op in wire_ops(overlay.content) if "text" in op]


def test_a_steady_view_reads_computes_and_lays_out_nothing_and_one_edit_updates_one_overlay(
        store: CountingStore, blocks: BlockService, compute: ComputeService, alice: User) -> None:
    tables = [blocks.create_block(alice, "table", f"Table {i}", table(50)) for i in range(6)]
    for block in tables:
        blocks.attach(alice, block.id, MARKER)
    layouts = LayoutCache()
    frames = Frames(Viewer(alice, compute, layouts, 0.5, 0.0005))
    first = frames.next()
    assert len(first.added) == 6 and all("rows 1-20 of 50" in texts(o) for o in first.added)
    reads, evaluations, laid_out = store.reads, compute.evaluations, len(layouts._items)
    for _ in range(20):
        assert not frames.next()
    assert (store.reads, compute.evaluations, len(layouts._items)) == (reads, evaluations, laid_out)

    row = blocks.children(alice, tables[3].id)[2]
    blocks.update_cells(alice, row.id, {"qty": 40}, None)
    reads, evaluations = store.reads, compute.evaluations
    edited = frames.next()
    assert [o.block_id for o in edited.updated] == [tables[3].id] and not edited.added and not edited.removed
    assert "80" in texts(edited.updated[0])
    assert (store.reads - reads, compute.evaluations - evaluations, len(layouts._items) - laid_out) == (1, 1, 1)
    assert not frames.next()


def test_a_share_taken_back_removes_that_one_overlay(
        store: CountingStore, blocks: BlockService, compute: ComputeService, alice: User) -> None:
    bob = AccountService(store).create_user("bob")
    tables = [blocks.create_block(alice, "table", f"Table {i}", table(5)) for i in range(3)]
    for block in tables:
        blocks.attach(alice, block.id, MARKER)
        blocks.share_block(alice, block.id, "bob", "read")
    frames = Frames(Viewer(bob, compute, LayoutCache(), 0.5, 0.0005))
    before = {o.block_id: o for o in frames.next().added}
    blocks.unshare_block(alice, tables[1].id, "bob")
    reads, evaluations = store.reads, compute.evaluations
    delta = frames.next()
    assert delta.removed == [before[tables[1].id].id] and not delta.added
    (moved,) = delta.updated
    assert (moved.block_id, moved.slot, moved.hash) == (tables[2].id, 1, before[tables[2].id].hash), "only a slot down"
    assert (store.reads, compute.evaluations) == (reads, evaluations)


def test_a_viewer_pages_a_table_panel_and_the_next_frame_sends_that_window(
        blocks: BlockService, compute: ComputeService, alice: User) -> None:
    big = blocks.create_block(alice, "table", "Big", table(45))
    blocks.attach(alice, big.id, MARKER)
    rows = [r.id for r in blocks.children(alice, big.id)]
    viewer = Viewer(alice, compute, LayoutCache(), 0.5, 0.0005)
    frames = Frames(viewer)
    (panel,) = frames.next().added
    pager = {op["ref"]["first"] for op in wire_ops(panel.content) if "first" in op.get("ref", {})}
    assert pager == {20}, "only a way on from the first window"
    assert not viewer.show_rows("anc_elsewhere", 20)
    assert viewer.show_rows(panel.id, 20)
    (paged,) = frames.next().updated
    shown = list(dict.fromkeys(op["ref"]["row"] for op in wire_ops(paged.content) if "row" in op.get("ref", {})))
    assert shown == rows[20:40] and "rows 21-40 of 45" in texts(paged)
    assert {op["ref"]["first"] for op in wire_ops(paged.content) if "first" in op.get("ref", {})} == {0, 40}
    assert viewer.show_rows(panel.id, 1_000)
    (last,) = frames.next().updated
    assert "rows 26-45 of 45" in texts(last), "past the end: the last full window"


FIELDS = [{"name": f"field {i} " + "n" * 300, "type": "text"} for i in range(40)]
HUGE = "\u0001\"\\\u200b" * 100 + "w" * 600 + "漢字" * 200
"""Text that is long, wide, escaped in JSON, zero-width and outside ASCII."""


def hostile(kind: str) -> tuple[str, Any]:
    """A block of `kind` holding far more than a panel shows."""
    if kind in ("grid", "kanban", "wiki", "list"):
        fields = parse_fields(FIELDS[:-1] + [{"name": "lane", "type": "select",
                                              "options": [f"lane {i}" for i in range(50)]}])
        names = [f.name for f in fields]
        rows = [RowValues(f"blk_{r:016x}", {**{name: HUGE for name in names}, "lane": f"lane {r % 50}"})
                for r in range(600)]
        spec = {"table": "blk_x", "layout": kind} | ({"group_by": "lane"} if kind == "kanban" else {})
        return "view", shape(spec, fields, rows)
    return {
        "markdown": ("markdown", "\n".join(HUGE for _ in range(60))),
        "json": ("json", {f"key {i}": HUGE for i in range(100)}),
        "compute rows": ("compute", {"function": "f", "value": [{f["name"]: HUGE for f in FIELDS}] * 500, "error": None}),
        "compute error": ("compute", {"function": "f", "value": None, "error": HUGE * 3}),
    }[kind]


@pytest.mark.parametrize("kind", ["grid", "kanban", "wiki", "list", "markdown", "json", "compute rows", "compute error"])
@pytest.mark.parametrize("first", [0, 590, 10**6])
def test_a_panel_stays_within_its_bound_in_bytes_whatever_the_block_holds(kind: str, first: int) -> None:
    display = layout_block(*hostile(kind)[:1], HUGE[:200], hostile(kind)[1], first=first)
    overlay = Overlay("anc_x", MARKER, "blk_x", 0, tuple(np.eye(4).reshape(16)), (0.1, 0.1), display,
                      content_hash(display))
    sent = overlay_panel(overlay, VECTOR).content.model_dump_json(by_alias=True).encode()
    assert len(sent) <= MAX_CONTENT_BYTES, f"{len(sent)} bytes"
    assert len(json.loads(sent)["ops"]) > 3, "something is shown"
