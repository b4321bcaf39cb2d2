"""Debian's nginx in a folder of its own, in front of service replicas as docs/scaling.md configures it."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.paths import ROOT
from harness.processes import stop_process

SCALING_DOC = ROOT / "docs" / "scaling.md"


def scaling_nginx_config(listen: int, replicas: list[int]) -> str:
    """The nginx configuration docs/scaling.md gives, listening on `listen` and sending to `replicas`
    (the page's example has two, on 8001 and 8002, behind 8000)."""
    text = SCALING_DOC.read_text()
    config = text.split("```nginx\n", 1)[1].split("```", 1)[0]
    assert len(replicas) == 2 and "127.0.0.1:8001" in config and "127.0.0.1:8002" in config
    config = config.replace("127.0.0.1:8001", f"127.0.0.1:{replicas[0]}").replace("127.0.0.1:8002", f"127.0.0.1:{replicas[1]}")
    return config.replace("listen 127.0.0.1:8000;", f"listen 127.0.0.1:{listen};")


@dataclass
class Nginx:
    url: str
    ws_url: str
    process: subprocess.Popen
    prefix: Path


def start_nginx(site: str) -> Nginx:
    """Debian's nginx with `site` (an http-level configuration, as in conf.d) in a folder of its own, in the
    foreground; its port is the first `listen` of `site`."""
    port = int(re.search(r"listen 127\.0\.0\.1:(\d+);", site).group(1))
    prefix = Path(tempfile.mkdtemp(prefix="spatial-nginx-"))
    prefix.chmod(0o755)  # nginx's workers run as another user when it is started as root
    (prefix / "spatial.conf").write_text(site)
    temp = " ".join(f"{kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (prefix / "nginx.conf").write_text(
        f"worker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} warn;\n"
        f"events {{ worker_connections 1024; }}\n"
        f"http {{ access_log {prefix / 'access.log'}; {temp} include {prefix / 'spatial.conf'}; }}\n"
    )
    process = subprocess.Popen(["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx did not start:\n{process.stdout.read() if process.stdout else ''}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return Nginx(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/v1/stream", process, prefix)
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("nginx did not listen within 10 s")


def stop_nginx(nginx: Nginx) -> None:
    stop_process(nginx.process, signal.SIGQUIT)
    shutil.rmtree(nginx.prefix, ignore_errors=True)
