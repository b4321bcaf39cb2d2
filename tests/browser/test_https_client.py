"""The web client over HTTPS in a real headless Chromium that trusts the service's CA as a user's would.

The service runs on every address (HTTPS by default there) with its local CA. Chromium
trusts that CA through an NSS database made with `certutil` in the browser's home, the
way a user adds a CA on Linux; no flag that skips certificate checks is used. Camera-window
mode and WebXR mode (iwer) must run in a secure context, stream over wss:// and pin the
demo overlays to marker 7. The /join page shows a signed-in browser a code for a phone.
"""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from harness.browser import CHROMIUM, chromium_args
from harness.servers import Server, start_server, stop_server
from tests.browser.helpers import MARKER, emulated_phone, save_screenshot
from tests.support import decode_qr

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def lan_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("https") / "store.db", "--host", "0.0.0.0")
    assert srv.url.startswith("https://")
    yield srv
    stop_server(srv)


def nss_home(ca: Path, home: Path) -> Path:
    """A home folder whose NSS database (~/.pki/nssdb, where Chromium on Linux looks) trusts `ca` for TLS."""
    database = home / ".pki" / "nssdb"
    database.mkdir(parents=True)
    subprocess.run(["certutil", "-d", f"sql:{database}", "-N", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-d", f"sql:{database}", "-A", "-n", "spatial local CA", "-t", "C,,", "-i", str(ca)],
                   check=True, capture_output=True)
    return home


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(
    playwright: Playwright, lan_server: Server, sample_y4m: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Browser]:
    assert lan_server.ca is not None
    home = nss_home(lan_server.ca, tmp_path_factory.mktemp("home"))
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args(sample_y4m),
                                         env={**os.environ, "HOME": str(home)})
    yield browser
    browser.close()


def socket_urls(page: Page) -> list[str]:
    urls: list[str] = []
    page.on("websocket", lambda ws: urls.append(ws.url))
    return urls


def test_an_untrusting_browser_is_stopped_at_the_certificate(
    playwright: Playwright, lan_server: Server, sample_y4m: Path, tmp_path: Path
) -> None:
    """The same Chromium with an empty home (no CA in an NSS database) refuses the page: the trust is the CA's."""
    untrusting = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args(sample_y4m),
                                            env={**os.environ, "HOME": str(tmp_path)})
    try:
        with pytest.raises(PlaywrightError, match="ERR_CERT_AUTHORITY_INVALID"):
            untrusting.new_page().goto(lan_server.url)
    finally:
        untrusting.close()


def test_camera_window_mode_streams_over_wss_in_a_secure_context(page: Page, lan_server: Server) -> None:
    sockets = socket_urls(page)
    page.goto(f"{lan_server.url}/?autostart=1#token={lan_server.token}")
    assert page.evaluate("window.isSecureContext") is True
    page.wait_for_function("window.spatialClient?.state === 'streaming'", timeout=15_000)
    page.wait_for_function(
        f"window.spatialClient.drawn.filter(d => d.objectId === '{MARKER}').length === 2", timeout=20_000)
    assert sockets and all(url.startswith("wss://127.0.0.1:") and url.endswith("/v1/stream") for url in sockets)
    overlays = page.evaluate("Object.values(window.spatialClient.overlays)")
    assert len([o for o in overlays if o["object_id"] == MARKER]) == 2


def test_webxr_mode_streams_over_wss_in_a_secure_context(browser: Browser, lan_server: Server) -> None:
    served = httpx.get(f"{lan_server.url}/", verify=lan_server.tls())
    assert served.status_code == 200
    for page in emulated_phone(browser, html=served.text):
        sockets = socket_urls(page)
        page.goto(f"{lan_server.url}/#token={lan_server.token}")
        assert page.evaluate("window.isSecureContext") is True
        page.wait_for_selector("#start-xr", state="visible", timeout=10_000)
        page.click("#start-xr")
        page.wait_for_function(
            "window.spatialClient.mode === 'xr' && window.spatialClient.state === 'streaming'", timeout=15_000)
        page.wait_for_function(
            "(window.spatialClient.xr()?.panels || [])"
            f".filter(p => p.visible && p.objectId === '{MARKER}').length >= 2", timeout=20_000)
        assert page.evaluate("window.spatialClient.xr().cameraSource") == "getUserMedia"
        assert sockets and all(url.startswith("wss://") for url in sockets)


def test_join_page_shows_a_signed_in_browser_a_code_for_a_phone(page: Page, lan_server: Server) -> None:
    page.goto(f"{lan_server.url}/#token={lan_server.token}")  # signs this browser in
    page.wait_for_function("localStorage.getItem('spatial.token') !== null")
    page.goto(f"{lan_server.url}/join")
    page.fill("#join-device", "phone of alex")
    page.click("#join-form button[type=submit]")
    page.wait_for_function("window.spatialJoin.state === 'shown'", timeout=10_000)
    joined = page.evaluate("window.spatialJoin")
    assert joined["links"], "the service listens on a network address"
    assert "?" not in joined["links"][0]["url"]

    image = page.locator("#join-codes img").first
    seen = np.asarray(Image.open(io.BytesIO(image.screenshot())).convert("L"))
    url = decode_qr(seen)
    assert url == joined["links"][0]["url"], "the code on the screen holds the link"
    token = url.split("#token=", 1)[1]

    def me() -> int:
        return httpx.get(f"{lan_server.url}/v1/me", headers={"Authorization": f"Bearer {token}"},
                         verify=lan_server.tls()).status_code

    assert me() == 200
    with lan_server.rest() as rest:
        devices = {t["id"]: t["device"] for t in rest.get("/v1/tokens").json()}
        assert devices[joined["tokenId"]] == "phone of alex"
        save_screenshot(np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB"), dtype=float),
                        "join_page.png")
        assert rest.delete(f"/v1/tokens/{joined['tokenId']}").status_code == 204
    assert me() == 401


def test_join_page_asks_a_browser_that_is_not_signed_in_to_sign_in(page: Page, lan_server: Server) -> None:
    page.goto(f"{lan_server.url}/join")
    page.wait_for_selector("#join-form", state="hidden")
    assert "Sign in first" in page.text_content("#join-message")
