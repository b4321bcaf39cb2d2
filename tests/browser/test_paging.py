"""Big tables are paged in both client modes: a panel shows a window of 20 rows and says of how many,
a tap on its pager (or, in the camera window, a swipe on the panel) shows the next window, only that
window is sent, and a cell tapped in it edits that row."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.browser import test_edit_window, test_edit_xr
from tests.browser.editing import page_through_a_big_table, pager_says, show_only_a_big_table, window_of
from tests.browser.helpers import client, emulated_phone

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    yield from emulated_phone(browser)


def test_a_big_table_is_paged_by_taps_and_swipes_in_the_camera_window(page: Page, server: Any) -> None:
    table_id, rows = show_only_a_big_table(server)
    test_edit_window.start(page, server, panels=1)
    page_through_a_big_table(page, server, test_edit_window.tap, table_id, rows)

    overlay_id, _, _ = window_of(page, table_id)
    (drawn,) = [d for d in client(page)["drawn"] if d["overlayId"] == overlay_id]
    x, y = drawn["x"] + drawn["w"] / 2, drawn["y"] + drawn["h"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y - 80, steps=4)
    page.mouse.up()
    pager_says(page, overlay_id, "rows 26-45 of 45")
    assert window_of(page, table_id)[2] == rows[25:], "a swipe up shows the rows after"
    assert not page.is_visible("#cell-editor"), "a swipe is not a tap"


def test_a_big_table_is_paged_by_taps_in_ar(phone: Page, server: Any) -> None:
    table_id, rows = show_only_a_big_table(server)
    test_edit_xr.start(phone, server, panels=1)
    page_through_a_big_table(phone, server, test_edit_xr.tap, table_id, rows)
