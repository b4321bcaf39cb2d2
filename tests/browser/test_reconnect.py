"""Connection handling in the web client: when the server goes away, the page says so,
stops sending frames and retries with growing waits; when it is back, streaming resumes."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from harness import servers
from tests.browser.helpers import client, new_page

MARKERS = ("--detector", "markers")  # starts quicker than the default, and sees marker 7 all the same

pytestmark = pytest.mark.timeout(120)


def test_reconnects_with_backoff_after_the_server_restarts(
    browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = servers.start_server(tmp_path / "store.db", *MARKERS)
    port = int(server.url.rsplit(":", 1)[1])
    token = server.new_token("walker")  # survives restarts (the local user's login token is renewed on each)
    page, errors = new_page(browser, {"width": 800, "height": 600})
    try:
        page.goto(f"{server.url}/?autostart=1#token={token}")
        page.wait_for_function("window.spatialClient.state === 'streaming' && window.spatialClient.framesSent >= 3",
                               timeout=15_000)
        assert page.get_attribute("#status", "data-state") == "streaming"

        servers.stop_server(server)
        page.wait_for_function("window.spatialClient.state === 'reconnecting'", timeout=10_000)
        status = page.text_content("#status")
        assert "reconnecting in" in status and "frames paused" in status and "connection lost" in status
        assert page.get_attribute("#status", "data-state") == "reconnecting"

        # While the server is away no frame goes out, and the attempts back off (0.5 s, 1 s, 2 s, ...).
        sent = client(page)["framesSent"]
        page.wait_for_function("window.spatialClient.connection.attempt >= 4", timeout=15_000)
        assert client(page)["framesSent"] == sent
        waits = page.evaluate(
            "async () => { const { backoffDelay } = await import('/connection.js');"
            " return [1, 2, 3, 4, 5, 6, 7].map(n => backoffDelay(n, () => 0.5)); }"
        )
        assert waits == [500, 1000, 2000, 4000, 8000, 10000, 10000]

        # A tap on the status line retries now instead of waiting out the back-off (3.2 s or more by now).
        attempt = page.evaluate("window.spatialClient.connection.attempt")
        page.click("#status")
        page.wait_for_function(f"window.spatialClient.connection.attempt > {attempt}", timeout=2_500)
        monkeypatch.setattr(servers, "free_port", lambda: port)  # the same address as before
        server = servers.start_server(tmp_path / "store.db", *MARKERS)
        # Retry at once rather than wait out the back-off. The page may have come back by itself while the server
        # started; then the status line takes no taps, and a click on it in the page does nothing.
        page.evaluate("document.getElementById('status').click()")
        page.wait_for_function(
            f"window.spatialClient.state === 'streaming' && window.spatialClient.framesSent > {sent + 2}",
            timeout=20_000,
        )
        assert client(page)["lastObjects"] is not None
        assert "error" not in page.text_content("#status")
        assert page.evaluate("window.spatialClient.connection.attempt") == 0
    finally:
        page.context.close()
        servers.stop_server(server)
    assert not errors, f"uncaught errors in the page: {errors}"
