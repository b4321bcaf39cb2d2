"""Ending the server processes a test or benchmark started."""

from __future__ import annotations

import signal
import subprocess


def stop_process(process: subprocess.Popen, sig: signal.Signals, timeout_s: float = 10) -> None:
    """Send `sig` to `process` and wait for it to end; kill it when it has not ended within `timeout_s`."""
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
