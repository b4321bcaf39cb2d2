"""A real headless Chromium (Debian's package) for the web client tests.

Chromium's fake camera plays the sample video (ArUco marker 7 on a poster);
a module may play another clip by defining its own `browser` fixture, and open its pages
otherwise by defining its own `page`.
For WebXR, pages get the iwer runtime (npm, served from /vendor/iwer/) installed
before the client runs, emulating a phone with `immersive-ar` (tests/browser/helpers.py).

One browser per module: the sync Playwright API keeps an event loop running
while it is open, which would stop later tests from using `asyncio.run`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.helpers import launch_browser, new_page


@pytest.fixture(scope="module")
def browser(sample_y4m: Path) -> Iterator[Browser]:
    yield from launch_browser(sample_y4m)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A 1280x720 page in the camera-window mode's size; an uncaught error in it fails the test."""
    page, errors = new_page(browser, {"width": 1280, "height": 720})
    yield page
    page.context.close()
    assert not errors, f"uncaught errors in the page: {errors}"
