"""Editing tables from the view, the same in both client modes: a `Tapper` finds where a grid
cell or kanban card is drawn on screen and taps it; the flows below check what the page and
the REST API do then."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page

from tests.browser.helpers import MARKER, client

Ref = dict[str, str]
Tapper = Callable[[Page, str, Callable[[Ref], bool]], None]
"""tap(page, overlay id, which ref): tap the op of that overlay whose ref matches."""
ERROR_COLOR = "#ff8a80"  # spatial/render/layout.py


def tap_at(page: Page, x: float, y: float, overlay_id: str, match: Callable[[Ref], bool]) -> None:
    """Tap (x, y) on screen, where the op of that overlay whose ref matches is drawn, and check the page took it so."""
    taps = page.evaluate("window.spatialClient.panelTaps")
    page.mouse.click(x, y)
    tapped = page.evaluate("[window.spatialClient.panelTaps, window.spatialClient.lastPanelTap]")
    assert tapped[0] == taps + 1, f"the tap at ({x:.0f}, {y:.0f}) met no panel"
    met = tapped[1]
    assert met["overlayId"] == overlay_id and met["ref"] is not None and match(met["ref"]), \
        f"the tap at ({x:.0f}, {y:.0f}) met {met}, not the op it was aimed at on {overlay_id}"


def find_op(overlay: dict[str, Any], match: Callable[[Ref], bool]) -> dict[str, Any]:
    ops = [op for op in overlay["content"]["ops"] if op.get("ref") and match(op["ref"])]
    assert ops, "no such cell or card on the panel"
    return ops[0]


def table_overlay(page: Page) -> tuple[str, dict[str, Any]]:
    """The overlay of the demo table on marker 7: the one whose cells carry row refs."""
    for overlay in client(page)["overlays"].values():
        if overlay["object_id"] == MARKER and any("row" in (op.get("ref") or {}) for op in overlay["content"]["ops"]):
            return overlay["id"], overlay
    raise AssertionError("the table's panel is not there")


def row_ids(overlay: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(op["ref"]["row"] for op in overlay["content"]["ops"] if "row" in (op.get("ref") or {})))


def cell_shows(page: Page, overlay_id: str, row: str, field: str, text: str, color: str | None = None) -> None:
    """Wait until the panel's cell (row, field) is drawn with `text` (and `color`)."""
    check = f" && o.color === '{color}'" if color else ""
    page.wait_for_function(
        f"(window.spatialClient.overlays['{overlay_id}']?.content.ops || []).some(o => o.ref && o.ref.row === '{row}'"
        f" && o.ref.field === '{field}' && o.text === {text!r}{check})",
        timeout=10_000,
    )


def editor(page: Page) -> dict[str, Any]:
    return page.evaluate("() => window.spatialClient.editor()")


def open_editor(page: Page, tap: Tapper, overlay_id: str, match: Callable[[Ref], bool]) -> dict[str, Any]:
    tap(page, overlay_id, match)
    page.wait_for_selector("#cell-editor", state="visible", timeout=5_000)
    page.wait_for_function("window.spatialClient.editor().target !== null", timeout=5_000)
    return editor(page)


def save(page: Page) -> None:
    page.click("#cell-save")


def edit_cells_add_a_row_and_meet_a_conflict(page: Page, server: Any, tap: Tapper) -> None:
    """The grid flow: a value, a formula, a failing formula, a new row, and two people on one cell."""
    overlay_id, overlay = table_overlay(page)
    beans, milk, filters = row_ids(overlay)
    with server.rest() as rest:
        table_id = rest.get(f"/v1/objects/{MARKER}/anchors").json()
        table_id = next(a["block"]["id"] for a in table_id if a["block"]["kind"] == "table")

        def cells(row: str) -> dict[str, Any]:
            rows = rest.get(f"/v1/tables/{table_id}").json()["rows"]
            return next(r for r in rows if r["id"] == row)

        # A tap on milk's qty opens the editor on that cell, with what it stores.
        state = open_editor(page, tap, overlay_id, lambda r: r.get("row") == milk and r.get("field") == "qty")
        assert state["target"]["mode"] == "cell" and state["target"]["rowId"] == milk
        assert page.input_value("#cell-input") == "1"
        page.fill("#cell-input", "=B1*10")  # coffee beans' qty (2) times ten
        save(page)
        cell_shows(page, overlay_id, milk, "qty", "20")
        assert cells(milk)["cells"]["qty"] == "=B1*10"
        assert page.is_hidden("#cell-editor")

        # A formula that fails shows its error in the cell, in the error colour, and why in the editor.
        open_editor(page, tap, overlay_id, lambda r: r.get("row") == filters and r.get("field") == "qty")
        page.fill("#cell-input", "=B1/0")
        save(page)
        cell_shows(page, overlay_id, filters, "qty", "#DIV/0!", ERROR_COLOR)
        open_editor(page, tap, overlay_id, lambda r: r.get("row") == filters and r.get("field") == "qty")
        assert page.input_value("#cell-input") == "=B1/0"
        assert "#DIV/0!: division by zero" in page.text_content("#cell-editor-shows")
        page.fill("#cell-input", "40")
        save(page)
        cell_shows(page, overlay_id, filters, "qty", "40")

        # A tap on a column header adds a row with that cell filled in.
        open_editor(page, tap, overlay_id, lambda r: r == {"field": "item"})
        assert editor(page)["target"]["mode"] == "row"
        page.fill("#cell-input", "sugar")
        save(page)
        page.wait_for_function(
            f"window.spatialClient.overlays['{overlay_id}'].content.ops.some(o => o.text === 'sugar' && o.ref?.row)",
            timeout=10_000,
        )
        assert [r["cells"].get("item") for r in rest.get(f"/v1/tables/{table_id}").json()["rows"]][-1] == "sugar"

        # Two people, one cell: someone else saves first; this edit is refused, not written over theirs.
        state = open_editor(page, tap, overlay_id, lambda r: r.get("row") == beans and r.get("field") == "qty")
        version = state["target"]["version"]
        other = rest.patch(f"/v1/tables/{table_id}/rows/{beans}", json={"cells": {"qty": 7}, "version": version})
        assert other.status_code == 200
        page.fill("#cell-input", "3")
        save(page)
        page.wait_for_function("window.spatialClient.editor().conflict === true", timeout=5_000)
        assert "now holds 7" in page.text_content("#cell-message")
        assert cells(beans)["cells"]["qty"] == 7, "the other person's edit stands"
        assert page.input_value("#cell-input") == "3", "what was typed is kept"
        cell_shows(page, overlay_id, milk, "qty", "70")
        save(page)  # now knowingly, on the version just read
        cell_shows(page, overlay_id, beans, "qty", "3")
        assert cells(beans)["cells"]["qty"] == 3 and cells(beans)["version"] == version + 2


KANBAN = {
    "fields": [{"name": "task", "type": "text"}, {"name": "status", "type": "select", "options": ["To do", "Doing", "Done"]}],
    "rows": [{"task": "Descale", "status": "To do"}, {"task": "Buy filters", "status": "Doing"}],
}


def show_only_a_kanban(server: Any) -> tuple[str, str]:
    """Replace what is pinned to marker 7 by a kanban of two cards; returns (view id, table id)."""
    with server.rest() as rest:
        for attached in rest.get(f"/v1/objects/{MARKER}/anchors").json():
            assert rest.delete(f"/v1/anchors/{attached['anchor']['id']}").status_code == 204
        table = rest.post("/v1/blocks", json={"kind": "table", "title": "Chores", "content": KANBAN}).json()
        view = rest.post("/v1/blocks", json={"kind": "view", "title": "Chores", "content": {
            "table": table["id"], "layout": "kanban", "group_by": "status"}}).json()
        assert rest.post(f"/v1/objects/{MARKER}/anchors", json={"block_id": view["id"]}).status_code == 201
    return view["id"], table["id"]


def kanban_overlay(page: Page, view_id: str) -> tuple[str, dict[str, Any]]:
    page.wait_for_function(
        f"Object.values(window.spatialClient.overlays).some(o => o.block_id === '{view_id}')", timeout=20_000)
    overlay = next(o for o in client(page)["overlays"].values() if o["block_id"] == view_id)
    return overlay["id"], overlay


def move_a_card_and_add_one(page: Page, server: Any, tap: Tapper, view_id: str, table_id: str) -> None:
    """The kanban flow: a card moved to another lane sets its group field; a tap on a lane adds a card to it."""
    overlay_id, overlay = kanban_overlay(page, view_id)
    card = find_op(overlay, lambda r: r.get("lane") == "To do" and "row" in r)["ref"]["row"]
    state = open_editor(page, tap, overlay_id, lambda r: r.get("row") == card)
    assert state["target"]["mode"] == "card"
    assert page.is_disabled("#cell-lanes button[data-lane='To do']")
    page.click("#cell-lanes button[data-lane='Done']")
    page.wait_for_function(
        f"window.spatialClient.overlays['{overlay_id}'].content.ops.some(o => o.ref?.row === '{card}'"
        " && o.ref.lane === 'Done')", timeout=10_000)
    with server.rest() as rest:
        rows = {r["id"]: r for r in rest.get(f"/v1/tables/{table_id}").json()["rows"]}
        assert rows[card]["cells"] == {"task": "Descale", "status": "Done"}

        state = open_editor(page, tap, overlay_id, lambda r: r == {"lane": "Doing"})
        assert state["target"]["mode"] == "lane" and state["target"]["field"] == "task"
        page.fill("#cell-input", "Oil the hinge")
        save(page)
        page.wait_for_function(
            f"window.spatialClient.overlays['{overlay_id}'].content.ops.some(o => o.text === 'Oil the hinge')",
            timeout=10_000)
        added = rest.get(f"/v1/tables/{table_id}").json()["rows"][-1]["cells"]
        assert added == {"task": "Oil the hinge", "status": "Doing"}


BIG_TABLE_ROWS = 45
MAX_CONTENT_BYTES = 32 * 1024  # spatial/render/layout.py


def show_only_a_big_table(server: Any) -> tuple[str, list[str]]:
    """Replace what is pinned to marker 7 by a table of 45 rows; returns (table id, row ids in order)."""
    with server.rest() as rest:
        for attached in rest.get(f"/v1/objects/{MARKER}/anchors").json():
            assert rest.delete(f"/v1/anchors/{attached['anchor']['id']}").status_code == 204
        table = rest.post("/v1/blocks", json={"kind": "table", "title": "Parts", "content": {
            "fields": [{"name": "part", "type": "text"}, {"name": "qty", "type": "number"}],
            "rows": [{"part": f"part {r + 1}", "qty": r + 1} for r in range(BIG_TABLE_ROWS)],
        }}).json()
        assert rest.post(f"/v1/objects/{MARKER}/anchors", json={"block_id": table["id"]}).status_code == 201
        rows = [r["id"] for r in rest.get(f"/v1/tables/{table['id']}").json()["rows"]]
    return table["id"], rows


def window_of(page: Page, table_id: str) -> tuple[str, dict[str, Any], list[str]]:
    """The table's overlay, and the rows its panel shows now."""
    overlay = next(o for o in client(page)["overlays"].values() if o["block_id"] == table_id)
    return overlay["id"], overlay, row_ids(overlay)


def pager_says(page: Page, overlay_id: str, text: str) -> None:
    page.wait_for_function(
        f"(window.spatialClient.overlays['{overlay_id}']?.content.ops || []).some(o => o.text === {text!r})",
        timeout=10_000,
    )


def page_through_a_big_table(page: Page, server: Any, tap: Tapper, table_id: str, rows: list[str]) -> None:
    """The paging flow: the panel shows 20 of the 45 rows and says so, a tap on its pager shows the next
    20 (only those are sent), a cell tapped there edits that row, and the last window is full."""
    page.wait_for_function(
        f"Object.values(window.spatialClient.overlays).some(o => o.block_id === '{table_id}')", timeout=20_000)
    overlay_id, overlay, shown = window_of(page, table_id)
    assert shown == rows[:20]
    pager_says(page, overlay_id, "rows 1-20 of 45")
    assert len(json.dumps(overlay["content"], separators=(",", ":")).encode()) <= MAX_CONTENT_BYTES
    assert not any(op.get("ref", {}).get("first") == 0 for op in overlay["content"]["ops"]), "no way back yet"

    tap(page, overlay_id, lambda r: r.get("first") == 20)
    pager_says(page, overlay_id, "rows 21-40 of 45")
    _, overlay, shown = window_of(page, table_id)
    assert shown == rows[20:40] and "part 21" in [op.get("text") for op in overlay["content"]["ops"]]

    state = open_editor(page, tap, overlay_id, lambda r: r.get("row") == rows[24] and r.get("field") == "qty")
    assert state["target"]["rowId"] == rows[24] and page.input_value("#cell-input") == "25"
    page.fill("#cell-input", "250")
    save(page)
    cell_shows(page, overlay_id, rows[24], "qty", "250")
    with server.rest() as rest:
        stored = {r["id"]: r["cells"] for r in rest.get(f"/v1/tables/{table_id}").json()["rows"]}
    assert stored[rows[24]]["qty"] == 250 and stored[rows[4]]["qty"] == 5

    tap(page, overlay_id, lambda r: r.get("first") == 40)
    pager_says(page, overlay_id, "rows 26-45 of 45")
    assert window_of(page, table_id)[2] == rows[25:45], "the last window is a full one"
    tap(page, overlay_id, lambda r: r.get("first") == 5)
    pager_says(page, overlay_id, "rows 6-25 of 45")
