#!/usr/bin/env python3
"""Smoke-test the README's serve command: start it as `make serve` does, fetch `/` and
`/v1/health`, stop it with Ctrl-C (SIGINT to its process group), and check that it stopped,
and that nothing it printed on the way (its install step included) was an error or a native
library's log line, when nothing was wrong.

    python3 scripts/smoke_serve.py                          # `make serve`, its install step included
    python3 scripts/smoke_serve.py --spatial .venv/bin/spatial   # the command make serve ends in, alone

Standard library only, so any python3 runs it. The service gets a free port and a
throwaway store; exits 1, with the service's output, when a step fails.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALARMS = re.compile(r"^(?:ERROR\b|[IWEF]\d{4} \d\d:|Traceback)", re.MULTILINE)
"""Lines a newcomer would take for something gone wrong: pip's `ERROR: ...`, absl's `W0000 ...`, a traceback."""
START_S = 600
"""`make serve` may install first (pip, npm, apt when something is missing)."""
STOP_S = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def fail(message: str, log: Path) -> int:
    print(f"smoke_serve: FAILED: {message}\n--- the service's output ---\n{log.read_text(errors='replace')}")
    return 1


def stop(process: subprocess.Popen) -> bool:
    """Ctrl-C to the whole process group, as a terminal sends it; True once every process in it has ended."""
    try:
        os.killpg(process.pid, signal.SIGINT)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + STOP_S
    while time.monotonic() < deadline:
        process.poll()
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return False


def smoke(command: list[str], port: int, log: Path) -> int:
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        while True:
            if process.poll() is not None:
                return fail(f"the service exited with {process.returncode} before it answered", log)
            if time.monotonic() > deadline:
                return fail(f"no answer at {base}/v1/health within {START_S} s", log)
            try:
                status, body = fetch(f"{base}/v1/health")
                break
            except OSError:
                time.sleep(0.5)
        if status != 200 or '"ok"' not in body:
            return fail(f"/v1/health answered {status}: {body[:200]}", log)
        status, page = fetch(f"{base}/")
        if status != 200 or "<title>spatial</title>" not in page or "app.js" not in page:
            return fail(f"/ answered {status} without the web client: {page[:200]}", log)
        if not re.search(rf"^Open {re.escape(base)}/#token=\S+$", log.read_text(), re.MULTILINE):
            return fail("the service did not print the address to open with its token", log)
    finally:
        stopped = stop(process)
    if not stopped:
        return fail(f"the service did not stop within {STOP_S} s of Ctrl-C", log)
    try:
        fetch(f"{base}/v1/health")
        return fail("the port still answers after the service stopped", log)
    except OSError:
        pass
    printed = log.read_text(errors="replace")
    alarm = ALARMS.search(printed)
    if alarm:
        return fail(f"it printed {printed[alarm.start():].splitlines()[0]!r} though nothing was wrong", log)
    print(f"smoke_serve: `{' '.join(command)}` served / and /v1/health, and stopped on Ctrl-C")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spatial", help="run this `spatial` executable's serve instead of `make serve`")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="smoke-serve-") as work:
        options = ["--port", str(port), "--store", str(Path(work) / "store.db")]
        if args.spatial:
            command = [args.spatial, "serve", *options]
        else:
            command = ["make", "serve", f"ARGS={' '.join(options)}"]
        return smoke(command, port, Path(work) / "serve.log")


if __name__ == "__main__":
    sys.exit(main())
