"""View layouts: grid, kanban, wiki, list and compute panels stay inside the panel and hash deterministically."""

import pytest

from anchors.sheets.tables import parse_fields
from anchors.views import RowValues, shape
from spatial.render import DisplayList, content_hash, layout_block, paint
from spatial.render.layout import text_width

FIELDS = parse_fields([
    {"name": "task", "type": "text"},
    {"name": "status", "type": "select", "options": ["todo", "doing", "done"]},
    {"name": "hours", "type": "number"},
    {"name": "notes", "type": "text"},
])
ROWS = [
    RowValues(f"r{i}", {"task": f"task number {i} with a rather long name", "status": ["todo", "doing", "done"][i % 3],
                        "hours": i * 1.5, "notes": "a-very-long-unbroken-note-" * 3})
    for i in range(30)
]


def wire_ops(display: DisplayList) -> list[dict]:
    """The panel's ops as the protocol sends them."""
    return [op.to_json() for op in display.ops]


def shaped(layout: str) -> dict:
    spec = {"table": "blk_x", "layout": layout} | ({"group_by": "status"} if layout == "kanban" else {})
    return shape(spec, FIELDS, ROWS)


CASES = [("view", shaped(layout)) for layout in ("grid", "kanban", "wiki", "list")] + [
    ("view", {"layout": "kanban", "group_by": "status", "lanes": []}),
    ("compute", {"function": "f", "value": 1234.5, "error": None}),
    ("compute", {"function": "f", "value": [{"a": 1, "b": "x" * 80}], "error": None}),
    ("compute", {"function": "f", "value": "# Result\nall **good**", "error": None}),
    ("compute", {"function": "f", "value": None, "error": "ValueError: " + "bad input " * 20}),
]


@pytest.mark.parametrize("kind, content", CASES)
def test_view_layouts_stay_inside_the_panel(kind: str, content: dict) -> None:
    display = layout_block(kind, "A title long enough to need wrapping inside the panel width", content)
    for op in wire_ops(display):
        assert 0 <= op["x"] and op["x"] + op.get("w", 0) <= display.width, op
        assert 0 <= op["y"] and op["y"] + op.get("h", op.get("size", 0)) <= display.height, op
        if op["op"] == "text":
            assert op["x"] + text_width(op["text"], op["size"]) <= display.width - 11, op
    assert content_hash(display) == content_hash(layout_block(kind, "A title long enough to need wrapping inside the panel width", content))
    assert paint(display).size == (display.width, display.height)


def test_each_layout_draws_what_it_shows() -> None:
    grid = layout_block("view", "Jobs", shaped("grid"))
    assert sum(op["op"] == "cell" for op in wire_ops(grid)) == 4 * 21, "a header row and the first 20 rows"
    kanban = layout_block("view", "Board", shaped("kanban"))
    headers = [op["text"] for op in wire_ops(kanban) if op["op"] == "cell"]
    assert headers == ["todo (10)", "doing (10)", "done (10)"]
    texts = " ".join(op["text"] for op in wire_ops(layout_block("view", "Wiki", shaped("wiki"))) if op["op"] == "text")
    assert "task number 0" in texts and "status: todo" in texts and "+22 more sections" in texts
    error = layout_block("compute", "Broken", {"function": "f", "value": None, "error": "ValueError: no"})
    assert any(op["op"] == "text" and op["text"].startswith("error: ValueError") for op in wire_ops(error))


def test_grid_cells_and_kanban_cards_say_what_they_show_and_failed_cells_are_red() -> None:
    from anchors.sheets.cell_values import CellError
    from spatial.render.layout import ERROR_COLOR

    rows = [RowValues("r0", {"task": "a", "status": "todo", "hours": CellError("#DIV/0!", "division by zero")}),
            RowValues("r1", {"task": "b", "status": "done", "hours": 2})]
    grid = layout_block("view", "Jobs", shape({"table": "blk_x", "layout": "grid"}, FIELDS, rows))
    cells = [op for op in wire_ops(grid) if op["op"] == "cell"]
    assert [op["ref"] for op in cells[:5]] == [
        {"field": "task"}, {"field": "status"}, {"field": "hours"}, {"field": "notes"}, {"row": "r0", "field": "task"}]
    (failed,) = [op for op in cells if op["text"] == "#DIV/0!"]
    assert failed["ref"] == {"row": "r0", "field": "hours"} and failed["color"] == ERROR_COLOR
    assert all(op["color"] != ERROR_COLOR for op in cells if op is not failed)
    kanban = layout_block("view", "Jobs", shape({"table": "blk_x", "layout": "kanban", "group_by": "status"}, FIELDS, rows))
    refs = [op["ref"] for op in wire_ops(kanban) if "ref" in op]
    assert {"lane": "todo"} in refs and {"row": "r0", "lane": "todo"} in refs and {"row": "r1", "lane": "done"} in refs
