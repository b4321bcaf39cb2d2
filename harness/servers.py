"""A real `spatial serve` process on loopback: started on a free port, waited for, stopped."""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness.paths import DATA, ROOT
from harness.ports import free_port
from harness.processes import stop_process


@dataclass
class Server:
    """A running `spatial serve`: its addresses, the token it printed, its store and its process."""

    url: str
    ws_url: str
    token: str
    store: Path | str
    """The SQLite file, or the PostgreSQL database's URL."""
    process: subprocess.Popen
    ca: Path | None = None
    """Over HTTPS: the certificate authority file a client trusts the service by."""
    printed: list[str] = field(default_factory=list)
    """What the service printed up to and with its `Open ...` line; the rest stays in `process.stdout`."""
    key_file: Path | None = None
    """The service key file given with `--service-key-file` (a PostgreSQL store needs one)."""

    def tls(self) -> ssl.SSLContext | None:
        """A client TLS context trusting `ca` (None over plain HTTP)."""
        return ssl.create_default_context(cafile=str(self.ca)) if self.ca is not None else None

    def rest(self, token: str | None = None) -> httpx.Client:
        auth = token if token is not None else self.token
        headers = {"Authorization": f"Bearer {auth}"} if auth else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10, verify=self.tls() or True)

    def store_args(self) -> list[str]:
        """The CLI's options that name this service's store and its key."""
        key = ["--service-key-file", str(self.key_file)] if self.key_file is not None else []
        return ["--store", str(self.store), *key]

    def new_token(self, user: str) -> str:
        """A token for `user` (created if new), through the CLI."""
        return subprocess.run(
            [sys.executable, "-m", "spatial.cli", "token", user, *self.store_args()],
            check=True, capture_output=True, text=True,
        ).stdout.strip()


def start_server(
    store: Path | str, *extra: str, detector: str = "markers", ca: Path | None = None, key_file: Path | None = None,
    port: int | None = None, env: dict[str, str] | None = None,
) -> Server:
    """Start `spatial serve` on a free port (or `port`) and wait until it answers.

    `store` is a SQLite file or a PostgreSQL URL (which needs `key_file`). Tests
    use the `markers` detector unless they ask for another: the sample video's
    ground truth is the marker's pose in every frame. A service that prints an
    https:// address is trusted by `ca`, by default the local certificate
    authority beside the store. `env` adds to the environment it starts in.
    """
    port = port or free_port()
    key = ["--service-key-file", str(key_file)] if key_file is not None else []
    process = subprocess.Popen(
        [sys.executable, "-m", "spatial.cli", "serve", "--store", str(store), *key, "--port", str(port),
         "--log-level", "warning", "--detector", detector, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
    )
    token = scheme = None
    printed = []
    assert process.stdout is not None
    for line in process.stdout:
        printed.append(line)
        match = re.search(r"^Open (https?)://\S+#token=(\S+)", line)
        if match:
            scheme, token = match.groups()
            break
    if not token:
        process.kill()
        raise RuntimeError(f"spatial serve did not print its URL:\n{''.join(printed)}")
    secure = scheme == "https"
    server = Server(
        f"{scheme}://127.0.0.1:{port}", f"{'wss' if secure else 'ws'}://127.0.0.1:{port}/v1/stream", token, store,
        process, (ca or Path(store).parent / "ca.crt") if secure else None, printed, key_file,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{server.url}/v1/health", timeout=1, verify=server.tls() or True).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("spatial serve did not come up within 30 s")


def start_detectron2_server(store: Path) -> Server:
    """A server running the project's own detectron2 model (data/models/shapes_r18_fpn), as the detectron2
    end-to-end tests use it: confident detections only, and a 20 ms batch wait that the flag sets."""
    model = DATA / "models" / "shapes_r18_fpn"
    return start_server(
        store,
        "--detector-option", f"config={model.with_suffix('.yaml')}",
        "--detector-option", f"weights={model.with_suffix('.pth')}",
        "--detector-option", "score_threshold=0.8",
        "--batch-wait-ms", "20",
        detector="detectron2",
    )


def stop_server(server: Server) -> None:
    """Stop the service as Ctrl-C would; kill it when it has not ended within 10 s."""
    stop_process(server.process, signal.SIGINT)


@contextmanager
def running_server(*extra: str, **options: Any) -> Iterator[Server]:
    """`start_server` (with `extra` and `options`) over a new SQLite store in a temporary folder of its own;
    stopped, and the folder removed, on leaving."""
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "store.db", *extra, **options)
        try:
            yield server
        finally:
            stop_server(server)
