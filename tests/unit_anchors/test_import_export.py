"""CSV import and export of tables, Markdown export and import of pages."""

import pytest

from anchors import BlockShapeError
from anchors.sheets.import_export import (
    import_markdown_page,
    markdown_parts,
    page_markdown,
    table_csv,
    table_from_csv,
)

CSV = """item,qty,price,ok,due,total
beans,2,3.5,TRUE,2026-12-01,=B1*C1
"milk, oat",1,1.25,FALSE,2026-12-03,=qty*price
filters,,0.1,,,=SUM(F1:F2)
"""


def test_csv_import_infers_types_keeps_formulas_and_exports_computed_values(world) -> None:
    blocks, engine, alice = world
    content = table_from_csv(CSV)
    assert [(f["name"], f["type"]) for f in content["fields"]] == [
        ("item", "text"), ("qty", "number"), ("price", "number"), ("ok", "checkbox"), ("due", "date"), ("total", "text"),
    ]
    table = blocks.create_block(alice, "table", "Stock", content)
    exported = table_csv(engine.table(alice, table.id))
    assert exported.splitlines() == [
        "item,qty,price,ok,due,total",
        "beans,2,3.5,TRUE,2026-12-01,7.0",
        '"milk, oat",1,1.25,FALSE,2026-12-03,1.25',
        "filters,,0.1,,,8.25",
    ]
    again = table_from_csv(exported)
    assert again["rows"][1] == {"item": "milk, oat", "qty": 1, "price": 1.25, "ok": False, "due": "2026-12-03", "total": 1.25}


@pytest.mark.parametrize("text, message", [("", "empty"), ("a,,b\n1,2,3", "name every field"), ("a\n1,2", "line 2")])
def test_bad_csv_is_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(BlockShapeError, match=message):
        table_from_csv(text)


def test_a_page_exports_to_markdown_with_its_children_in_order(world) -> None:
    blocks, engine, alice = world
    page = blocks.create_block(alice, "page", "Press 4", {})
    blocks.create_block(alice, "markdown", "", "Check the **oil** every week.", parent=page.id)
    table = blocks.create_block(alice, "table", "Jobs", {"fields": [
        {"name": "task", "type": "text"}, {"name": "status", "type": "select", "options": ["todo", "done"]},
        {"name": "hours", "type": "number"},
    ], "rows": [{"task": "grease", "status": "todo", "hours": 2}, {"task": "belt", "status": "done", "hours": 5}]},
        parent=page.id)
    blocks.create_block(alice, "view", "Board", {"table": table.id, "layout": "kanban", "group_by": "status"}, parent=page.id)
    blocks.create_block(alice, "compute", "Hours", {
        "function": "sum_field", "inputs": {"rows": {"block": table.id}, "field": {"value": "hours"}}}, parent=page.id)
    sub = blocks.create_block(alice, "page", "Spares", {}, parent=page.id)
    blocks.create_block(alice, "json", "", {"belts": 3}, parent=sub.id)

    text = page_markdown(blocks, alice, blocks.read_block(alice, page.id), engine)
    assert text.startswith("# Press 4\n\nCheck the **oil** every week.\n\n## Jobs\n\n| task | status | hours |\n| --- | --- | --- |\n")
    assert "| grease | todo | 2 |" in text
    assert "## Board\n\n### todo\n\n- **grease** (hours: 2)" in text
    assert "## Hours\n\n```json\n7\n```" in text
    assert "## Spares\n\n```json\n{\n  \"belts\": 3\n}\n```" in text


def test_markdown_import_makes_a_page_of_text_and_tables(world) -> None:
    blocks, engine, alice = world
    text = "# Line 2\n\nIntro with | a pipe.\n\n| part | qty |\n|---|--:|\n| belt | 3 |\n| bolt \\| nut | 40 |\n\nAfter the table.\n"
    title, parts = markdown_parts(text)
    assert title == "Line 2" and [k for k, _ in parts] == ["markdown", "table", "markdown"]
    page = import_markdown_page(blocks, alice, text)
    children = blocks.children(alice, page.id)
    assert page.title == "Line 2" and [c.kind for c in children] == ["markdown", "table", "markdown"]
    rows = engine.table(alice, children[1].id).values
    assert [r.values for r in rows] == [{"part": "belt", "qty": 3}, {"part": "bolt | nut", "qty": 40}]
    exported = page_markdown(blocks, alice, page, engine)
    assert "| bolt \\| nut | 40 |" in exported and exported.startswith("# Line 2\n\nIntro with | a pipe.")
