"""Editing tables from the view in WebXR mode (iwer emulating a phone's immersive-ar session): a tap
on a cell of a world-locked panel edits it, a header adds a row, a kanban card moves to another lane;
the tap's ray meets the panel, and the point it meets says which cell."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Browser, Page

from tests.browser.editing import (
    Ref, edit_cells_add_a_row_and_meet_a_conflict, find_op, move_a_card_and_add_one, show_only_a_kanban,
    tap_at,
)
from tests.browser.helpers import MARKER, PHONE_SCREEN, client, emulated_phone, freeze_video, matrix, project

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from emulated_phone(browser)


def visible_panels_js() -> str:
    return f"(window.spatialClient.xr()?.panels || []).filter(p => p.visible && p.objectId === '{MARKER}').length"


def start(page: Page, server: Any, panels: int) -> None:
    page.goto(f"{server.url}/#token={server.token}")
    page.wait_for_selector("#start-xr", state="visible", timeout=10_000)
    page.click("#start-xr")
    page.wait_for_function(f"window.spatialClient.state === 'streaming' && {visible_panels_js()} >= {panels}",
                           timeout=20_000)
    freeze_video(page, f"{visible_panels_js()} === {panels}")


def tap(page: Page, overlay_id: str, match: Callable[[Ref], bool]) -> None:
    """Tap where the op's centre, on the panel standing in the room (drawn `scale` times its size), projects
    on the phone's screen."""
    state = client(page)
    overlay = state["overlays"][overlay_id]
    (panel,) = [p for p in state["xr"]["panels"] if p["overlayId"] == overlay_id]
    op = find_op(overlay, match)
    width, height = overlay["content"]["width"], overlay["content"]["height"]
    drawn = np.asarray(panel["size"]) * panel["scale"]
    local = np.array([((op["x"] + op["w"] / 2) / width - 0.5) * drawn[0],
                      (0.5 - (op["y"] + op["h"] / 2) / height) * drawn[1], 0.0, 1.0])
    x, y = project((matrix(panel["centre"]) @ local)[:3], state["xr"]["view"], PHONE_SCREEN)
    assert 0 <= x < PHONE_SCREEN[0] and 0 <= y < PHONE_SCREEN[1], "the cell is off screen"
    tap_at(page, float(x), float(y), overlay_id, match)


def test_tap_a_cell_in_ar_to_edit_it_add_a_row_and_meet_a_conflict(page: Page, server: Any) -> None:
    start(page, server, panels=2)
    edit_cells_add_a_row_and_meet_a_conflict(page, server, tap)


def test_tap_a_kanban_card_in_ar_to_move_it_and_a_lane_to_add_one(page: Page, server: Any) -> None:
    """Last in this module: it replaces what is pinned to marker 7."""
    view_id, table_id = show_only_a_kanban(server)
    start(page, server, panels=1)
    move_a_card_and_add_one(page, server, tap, view_id, table_id)
