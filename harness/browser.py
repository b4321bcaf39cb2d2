"""Debian's Chromium as the web client's tests and benchmarks run it: headless, its camera a video file."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = "/usr/bin/chromium"


def chromium_args(camera: Path) -> list[str]:
    """Headless Chromium's flags, its fake camera playing the .y4m file `camera` (looping)."""
    return [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        # A page fulfilled through a Playwright route (the iwer set-up) has no address of its
        # own, so Local Network Access checks would block its socket to the loopback server.
        "--disable-features=LocalNetworkAccessChecks",
        f"--use-file-for-fake-video-capture={camera}",
    ]
