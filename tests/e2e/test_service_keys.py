"""The service key and tokens from the command line: first start, wrong key, rotation, revocation; on a
SQLite file and on a PostgreSQL database; and a store location the command does not know."""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from anchors import ServiceKey
from harness.paths import ROOT
from harness.ports import free_port
from harness.servers import start_server, stop_server


def spatial(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spatial.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=120)


@dataclass
class Location:
    """A store as the command line names it, and where its first key file is."""

    store: str
    key_file: Path
    beside: bool
    """SQLite finds its key beside the file without `--service-key-file`; PostgreSQL is always told."""

    def args(self, key_file: Path | None = None) -> list[str]:
        key = key_file or (None if self.beside else self.key_file)
        return ["--store", self.store, *(["--service-key-file", str(key)] if key is not None else [])]

    def start(self, key_file: Path | None = None):
        return start_server(self.store, key_file=key_file or (None if self.beside else self.key_file))


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    if request.param == "sqlite":
        return Location(str(tmp_path / "store.db"), tmp_path / "store.db.key", True)
    return Location(request.getfixturevalue("postgres_url"), tmp_path / "store.key", False)


def test_keys_from_first_start_through_rotation(location: Location, tmp_path: Path) -> None:
    first = location.start()
    try:
        rest = first.rest()
        note = rest.post("/v1/blocks", json={"kind": "markdown", "title": "kept", "content": "across rotation"}).json()
    finally:
        stop_server(first)
    assert location.key_file.stat().st_mode & 0o777 == 0o600

    other_key = tmp_path / "other.key"
    ServiceKey.generate().save(other_key)
    refused = spatial("serve", *location.args(other_key))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "does not open" in refused.stderr and "Traceback" not in refused.stderr

    rotated = spatial("keys", "rotate", *location.args(), "--new-key-file", str(tmp_path / "new.key"))
    assert rotated.returncode == 0, rotated.stderr
    assert "Rewrapped 1 owner key(s)" in rotated.stdout
    assert spatial("token", "list", "local", *location.args()).returncode == 2, "the old key file no longer opens it"

    server = location.start(tmp_path / "new.key")
    try:
        assert server.rest().get(f"/v1/blocks/{note['id']}").json()["content"] == "across rotation"
    finally:
        stop_server(server)
    by_env = spatial("token", "list", "local", "--store", location.store,
                     env={"SPATIAL_SERVICE_KEY": (tmp_path / "new.key").read_text().strip()})
    assert by_env.returncode == 0 and "serve" in by_env.stdout


def test_device_tokens_revoked_from_the_command_line_stop_working(location: Location) -> None:
    server = location.start()
    try:
        phone = spatial("token", "alice", "--device", "phone", *location.args()).stdout.strip()
        assert server.rest(phone).get("/v1/me").json()["name"] == "alice"
        listed = spatial("token", "list", "alice", *location.args()).stdout
        assert "phone" in listed and phone not in listed
        revoked = spatial("token", "revoke", "alice", "--device", "phone", *location.args())
        assert "Revoked 1 token(s)" in revoked.stdout
        reply = server.rest(phone).get("/v1/me")
        assert reply.status_code == 401 and reply.json()["error"]["code"] == "unauthorized"
        assert server.rest().get("/v1/me").status_code == 200
    finally:
        stop_server(server)


def test_a_store_url_of_an_unknown_scheme_is_refused_and_nothing_is_made(tmp_path: Path) -> None:
    for command in (["serve"], ["token", "alice"], ["keys", "rotate", "--new-key-file", str(tmp_path / "k")]):
        refused = subprocess.run([sys.executable, "-m", "spatial.cli", *command, "--store", "mysql://spatial@db/spatial"],
                                 capture_output=True, text=True, cwd=tmp_path, timeout=120,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "--store mysql://... names no store this version knows" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert list(tmp_path.iterdir()) == [], "no folder named mysql: and no key"


def test_a_postgresql_store_without_a_key_or_a_server_is_refused_clearly(tmp_path: Path) -> None:
    url = f"postgresql://spatial:sesame-7731@127.0.0.1:{free_port()}/spatial"
    no_key = spatial("token", "alice", "--store", url)
    assert no_key.returncode == 2 and "keeps no key beside it" in no_key.stderr
    no_server = spatial("token", "alice", "--store", url, "--service-key-file", str(tmp_path / "k"))
    assert no_server.returncode == 2 and "cannot open the PostgreSQL store postgresql://spatial:***@" in no_server.stderr
    assert "sesame" not in no_server.stderr + no_server.stdout and "Traceback" not in no_server.stderr
