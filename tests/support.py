"""Helpers shared by tests and benchmarks: a real server process, a real PostgreSQL server, the anchors
services over a real store, the sample data, and poses as the wire carries them."""

from __future__ import annotations

import datetime
import importlib.util
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import httpx
import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from anchors import AccountService, BlockService, Limits, ServiceKey, SpaceService, SQLiteStore, Store
from anchors.crypto import default_key_file
from anchors.storage.database import Database
from anchors.storage.locations import open_store
from vision.poses import pose_difference

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SAMPLE_VIDEO = DATA / "sample.mp4"
SAMPLE_PATH = DATA / "sample_path.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
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


PG_USER = "spatial"


def _postgres_bin(program: str) -> str:
    """A PostgreSQL server program from Debian's packages (the newest installed version)."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{program}"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise RuntimeError(f"PostgreSQL's {program} is not installed: `make test` installs Debian's postgresql")
    return str(found[-1])


def _as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as Debian's `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class PostgresServer:
    """A PostgreSQL server in a temporary data directory, listening on loopback only, trusting local users.
    Each caller takes a database of its own (`new_database`)."""

    root: Path
    port: int
    _names: Iterator[int] = field(default_factory=count)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> Any:
        import psycopg

        return psycopg.connect(self.url("postgres"), autocommit=True)

    def new_database(self, hint: str = "db") -> str:
        """A new, empty database; its URL."""
        name = f"{re.sub(r'[^a-z0-9]+', '_', hint.lower())[:40]}_{next(self._names)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def end_listeners(self, url: str) -> int:
        """End the connections listening for changes to the database at `url`, as a network failure would;
        how many there were."""
        with self.admin() as conn:
            return len(conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%%' AND datname = %s",
                (url.rsplit("/", 1)[1],),
            ).fetchall())

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_postgres(*settings: str) -> PostgresServer:
    """initdb and start a PostgreSQL server (as the `postgres` user when run as root) on a free port;
    `settings` are more `name=value` server settings."""
    root = Path(tempfile.mkdtemp(prefix="spatial-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    server = PostgresServer(root, free_port())
    subprocess.run(_as_postgres_user([_postgres_bin("initdb"), "-D", str(server.data), "-A", "trust",
                                      "-U", PG_USER, "-E", "UTF8", "--no-sync"]),
                   check=True, capture_output=True)
    options = " ".join([f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=300",
                        *(f"-c {setting}" for setting in settings)])
    subprocess.run(_as_postgres_user([_postgres_bin("pg_ctl"), "-D", str(server.data), "-o", options,
                                      "-l", str(root / "server.log"), "-w", "start"]),
                   check=True, capture_output=True)
    return server


def stop_postgres(server: PostgresServer) -> None:
    subprocess.run(_as_postgres_user([_postgres_bin("pg_ctl"), "-D", str(server.data), "-m", "fast", "stop"]),
                   capture_output=True)
    shutil.rmtree(server.root, ignore_errors=True)


def restart_postgres(server: PostgresServer) -> None:
    """Stop the server (ending every connection to it, as a database restart does) and start it again on the
    same data directory, port and settings; return once it accepts connections."""
    subprocess.run(_as_postgres_user([_postgres_bin("pg_ctl"), "-D", str(server.data), "-m", "fast",
                                      "-l", str(server.root / "server.log"), "-w", "restart"]),
                   check=True, capture_output=True)
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            psycopg.connect(server.url("postgres"), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


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
    nginx.process.send_signal(signal.SIGQUIT)
    try:
        nginx.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        nginx.process.kill()
    shutil.rmtree(nginx.prefix, ignore_errors=True)


@dataclass
class StoreBackend:
    """One kind of store the store tests run against, at a location of its own, with what the tests need to
    look behind the store: its database as SQL (`database`) and the bytes it keeps on disk (`disk_bytes`)."""

    kind: str
    """`sqlite` or `postgresql`."""
    location: str
    key_file: Path
    """Where the service key is kept: beside a SQLite file (its default); given for PostgreSQL."""
    postgres: PostgresServer | None = None
    since: float = field(default_factory=time.time)

    @classmethod
    def sqlite(cls, folder: Path) -> StoreBackend:
        path = folder / "store.db"
        return cls("sqlite", str(path), default_key_file(path))

    @classmethod
    def postgresql(cls, server: PostgresServer, url: str, folder: Path) -> StoreBackend:
        return cls("postgresql", url, folder / "store.key", server)

    def open(self, service_key: ServiceKey | None = None, key_file: Path | None = None) -> Store:
        """The store, opened as the service opens it (`anchors.storage.locations.open_store`)."""
        return open_store(self.location, service_key, key_file or self.key_file)

    def database(self) -> Database:
        """A connection of its own to the store's database (to look at or alter what is stored)."""
        if self.kind == "sqlite":
            from anchors.storage.sqlite import SQLiteDatabase

            return SQLiteDatabase(self.location)
        from anchors.storage.postgres import PostgresDatabase

        return PostgresDatabase(self.location, pool_size=1)

    def disk_bytes(self) -> bytes:
        """What the database keeps on disk: the SQLite file and its WAL; PostgreSQL's files of this database
        and the write-ahead log written since the backend was made, after a checkpoint."""
        if self.kind == "sqlite":
            path = Path(self.location)
            return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())
        assert self.postgres is not None
        name = self.location.rsplit("/", 1)[1]
        with self.postgres.admin() as conn:
            conn.execute("CHECKPOINT")
            oid = conn.execute("SELECT oid FROM pg_database WHERE datname = %s", (name,)).fetchone()[0]
        files = [*(self.postgres.data / "base" / str(oid)).iterdir(),
                 *(p for p in (self.postgres.data / "pg_wal").iterdir()
                   if p.is_file() and p.stat().st_mtime >= self.since - 1)]
        return b"".join(p.read_bytes() for p in files if p.is_file())


class CountingStore(SQLiteStore):
    """The SQLite store, counting the blocks it reads and decrypts."""

    reads = 0

    def _block(self, row: sqlite3.Row, children: tuple[str, ...] = ()) -> Any:
        self.reads += 1
        return super()._block(row, children)


@dataclass(frozen=True)
class AnchorServices:
    """The anchors services over one store, wired as `spatial.services.Services.build` wires them."""

    store: Store
    accounts: AccountService
    blocks: BlockService
    spaces: SpaceService

    @classmethod
    def on(cls, store: Store, limits: Limits = Limits()) -> AnchorServices:
        blocks = BlockService(store, limits=limits)
        return cls(store, AccountService(store), blocks, SpaceService(blocks))

    @classmethod
    def in_memory(cls, limits: Limits = Limits()) -> AnchorServices:
        return cls.on(SQLiteStore(":memory:"), limits)


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
    server.process.send_signal(signal.SIGINT)
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


def load_data_script(name: str) -> ModuleType:
    """`data/<name>.py` as a module, loaded once (`data/` is a folder of scripts, not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DATA / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def load_make_sample() -> ModuleType:
    """`data/make_sample.py`, which renders the sample video and its ground truth."""
    return load_data_script("make_sample")


def sample_truth() -> dict[str, Any]:
    return json.loads(SAMPLE_PATH.read_text())


def sample_camera() -> dict[str, Any]:
    truth = sample_truth()
    return {"width": truth["width"], "height": truth["height"], **truth["intrinsics"]}


def jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """A BGR image as JPEG bytes, as a client would send it."""
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def sample_jpegs(quality: int = 85) -> Iterator[bytes]:
    capture = cv2.VideoCapture(str(SAMPLE_VIDEO))
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        yield jpeg(frame, quality)
    capture.release()


def row_major(pose: np.ndarray) -> list[float]:
    """A 4x4 pose as the wire carries it: 16 numbers, row by row."""
    return [float(v) for v in np.asarray(pose).reshape(16)]


def matrix(values: list[float]) -> np.ndarray:
    """A 4x4 from 16 row-major numbers."""
    return np.asarray(values, dtype=np.float64).reshape(4, 4)


def pose_errors(found: list[float], truth: list[float]) -> tuple[float, float]:
    """Translation error in metres and rotation error in degrees between two row-major 4x4 poses."""
    return pose_difference(matrix(found), matrix(truth))


def upload_room_map(rest: httpx.Client, room: Any, name: str) -> str:
    """A new space whose map is `room` (vision.scenes) as a first device maps it: two turns on the
    spot, depth fused in the room's frame and uploaded. Returns the space's id."""
    import base64

    from vision.camera import Intrinsics
    from vision.depth import DepthView, fuse_depth_views
    from vision.scenes import panorama_poses

    camera = Intrinsics.from_fov(320, 240, 60)
    views = []
    for centre, start in (((-1.0, 1.5, -0.8), 0.0), ((1.0, 1.5, 0.8), 20.0)):
        for k, pose in enumerate(panorama_poses(centre, 8, -20.0, start)):
            views.append(DepthView(room.render(camera, pose, 0.001, k).depth, camera, pose))
    points = fuse_depth_views(views, 0.025).astype("<f4")
    created = rest.post("/v1/spaces", json={"name": name})
    assert created.status_code == 201, created.text
    space_id = created.json()["id"]
    uploaded = rest.put(f"/v1/spaces/{space_id}/map", json={
        "points": base64.b64encode(points.tobytes()).decode(), "voxel_size": 0.05,
    })
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["point_count"] == len(points) and uploaded.json()["map_version"] == 1
    return space_id


TERMINAL_MODULES = {"█": (1, 1), "▀": (1, 0), "▄": (0, 1), " ": (0, 0)}
"""A terminal QR code's characters: (top, bottom) module, 1 light. Two rows of modules a line."""


def terminal_qr_image(lines: list[str], scale: int = 8) -> np.ndarray:
    """A QR code printed as text (light on dark, half blocks) as a grey image, dark modules black."""
    width = max(len(line) for line in lines)
    rows = []
    for line in lines:
        pairs = [TERMINAL_MODULES[ch] for ch in line.ljust(width)]
        rows += [[top for top, _ in pairs], [bottom for _, bottom in pairs]]
    modules = np.asarray(rows, dtype=np.uint8) * 255
    return np.kron(modules, np.ones((scale, scale), dtype=np.uint8))


def decode_qr(image: np.ndarray) -> str:
    """The text of the one QR code in `image`, by OpenCV's QR detector; '' if none is read.

    The ArUco-based detector: the classic `QRCodeDetector` misses about one in thirty perfect version-5
    codes such as a join URL's (measured over 300 random tokens), where this one read every one."""
    text, _, _ = cv2.QRCodeDetectorAruco().detectAndDecode(image)
    return text


def own_certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for `name` and its key, as a user might bring their own."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName(name), x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]), critical=False)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return certfile, keyfile
