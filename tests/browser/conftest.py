"""A real headless Chromium (Debian's package) for the web client tests.

Chromium's fake camera plays the sample video (ArUco marker 7 on a poster);
a module may play another clip by defining its own `browser` fixture.
For WebXR, pages get the iwer runtime (npm, served from /vendor/iwer/) installed
before the client runs, emulating a phone with `immersive-ar` (tests/browser/helpers.py).

One browser per module: the sync Playwright API keeps an event loop running
while it is open, which would stop later tests from using `asyncio.run`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.browser.helpers import launch_browser


@pytest.fixture(scope="module")
def browser(sample_y4m: Path) -> Iterator[Browser]:
    yield from launch_browser(sample_y4m)
