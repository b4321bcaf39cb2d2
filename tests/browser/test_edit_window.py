"""Editing tables from the view in camera-window mode: a tap on a cell of the panel drawn over the
video edits it (value or formula; a failing formula shows its error), a header adds a row, a kanban
card moves to another lane; every change goes through the REST API with versions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.browser.editing import (
    Ref, edit_cells_add_a_row_and_meet_a_conflict, find_op, move_a_card_and_add_one, open_editor, row_ids,
    show_only_a_kanban, table_overlay, tap_at,
)
from tests.browser.helpers import MARKER, client, freeze_video, next_paint, save_screenshot, screenshot

pytestmark = pytest.mark.timeout(180)


def start(page: Page, server: Any, panels: int) -> None:
    page.goto(f"{server.url}/?autostart=1#token={server.token}")
    ready = f"window.spatialClient.drawn.filter(d => d.objectId === '{MARKER}').length === {panels}"
    page.wait_for_function(f"window.spatialClient?.state === 'streaming' && {ready}", timeout=20_000)
    freeze_video(page, ready)


def tap(page: Page, overlay_id: str, match: Callable[[Ref], bool]) -> None:
    """Tap the op's centre where the client drew its panel (screen-locked, scaled)."""
    state = client(page)
    overlay = state["overlays"][overlay_id]
    (drawn,) = [d for d in state["drawn"] if d["overlayId"] == overlay_id]
    op = find_op(overlay, match)
    scale = drawn["w"] / overlay["content"]["width"]
    x, y = drawn["x"] + (op["x"] + op["w"] / 2) * scale, drawn["y"] + (op["y"] + op["h"] / 2) * scale
    assert 0 <= x < 1280 and 0 <= y < 720, "the cell is off screen"
    tap_at(page, x, y, overlay_id, match)


def test_tap_a_cell_to_edit_it_add_a_row_and_meet_a_conflict(page: Page, server: Any) -> None:
    start(page, server, panels=2)
    edit_cells_add_a_row_and_meet_a_conflict(page, server, tap)

    overlay_id, overlay = table_overlay(page)
    milk = row_ids(overlay)[1]
    open_editor(page, tap, overlay_id, lambda r: r.get("row") == milk and r.get("field") == "qty")
    next_paint(page)
    save_screenshot(screenshot(page), "web_client_edit.png")


def test_a_grid_pasted_from_a_spreadsheet_is_attached_with_its_values(page: Page, server: Any) -> None:
    start(page, server, panels=2)
    (box,) = [b for b in client(page)["boxes"] if b["objectId"] == MARKER]
    page.mouse.click(box["x"] + box["w"] / 2, box["y"] + box["h"] / 2)
    page.wait_for_selector("#sheet", state="visible", timeout=5_000)
    page.check("#attach-form input[name=kind][value=table]")
    page.fill("#attach-form input[name=title]", "Pasted")
    page.fill("#attach-text", "part\tqty\tdue\tnote\nbelt\t1,200\t1/31/2024\tTRUE\nbolt\t40\t2024-02-29\tfragile\n")
    page.click("#attach-form button[type=submit]")
    page.wait_for_function(f"window.spatialClient.drawn.filter(d => d.objectId === '{MARKER}').length === 3",
                           timeout=10_000)
    with server.rest() as rest:
        (pasted,) = [a["block"] for a in rest.get(f"/v1/objects/{MARKER}/anchors").json() if a["block"]["title"] == "Pasted"]
        table = rest.get(f"/v1/tables/{pasted['id']}").json()
    assert [(f["name"], f["type"]) for f in table["fields"]] == [
        ("part", "text"), ("qty", "number"), ("due", "date"), ("note", "any")]
    assert [r["values"] for r in table["rows"]] == [
        {"part": "belt", "qty": 1200, "due": "2024-01-31", "note": True},
        {"part": "bolt", "qty": 40, "due": "2024-02-29", "note": "fragile"},
    ]


def test_tap_a_kanban_card_to_move_it_and_a_lane_to_add_one(page: Page, server: Any) -> None:
    """Last in this module: it replaces what is pinned to marker 7."""
    view_id, table_id = show_only_a_kanban(server)
    start(page, server, panels=1)
    move_a_card_and_add_one(page, server, tap, view_id, table_id)
