"""The service key and tokens from the command line: first start, wrong key, rotation, revocation."""

import os
import subprocess
import sys
from pathlib import Path

from anchors import ServiceKey
from tests.support import ROOT, start_server, stop_server


def spatial(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spatial.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_keys_from_first_start_through_rotation(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    first = start_server(store)
    try:
        rest = first.rest()
        note = rest.post("/v1/blocks", json={"kind": "markdown", "title": "kept", "content": "across rotation"}).json()
    finally:
        stop_server(first)
    key_file = tmp_path / "store.db.key"
    assert key_file.stat().st_mode & 0o777 == 0o600

    other_key = tmp_path / "other.key"
    ServiceKey.generate().save(other_key)
    refused = spatial("serve", "--store", str(store), "--service-key-file", str(other_key))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "does not open" in refused.stderr and "Traceback" not in refused.stderr

    rotated = spatial("keys", "rotate", "--store", str(store), "--new-key-file", str(tmp_path / "new.key"))
    assert rotated.returncode == 0, rotated.stderr
    assert "Rewrapped 1 owner key(s)" in rotated.stdout
    assert spatial("token", "list", "local", "--store", str(store)).returncode == 2, "the old key file no longer opens it"

    server = start_server(store, "--service-key-file", str(tmp_path / "new.key"))
    try:
        assert server.rest().get(f"/v1/blocks/{note['id']}").json()["content"] == "across rotation"
    finally:
        stop_server(server)
    by_env = spatial("token", "list", "local", "--store", str(store),
                     env={"SPATIAL_SERVICE_KEY": (tmp_path / "new.key").read_text().strip()})
    assert by_env.returncode == 0 and "serve" in by_env.stdout


def test_device_tokens_revoked_from_the_command_line_stop_working(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    server = start_server(store)
    try:
        phone = spatial("token", "alice", "--device", "phone", "--store", str(store)).stdout.strip()
        assert server.rest(phone).get("/v1/me").json()["name"] == "alice"
        listed = spatial("token", "list", "alice", "--store", str(store)).stdout
        assert "phone" in listed and phone not in listed
        revoked = spatial("token", "revoke", "alice", "--device", "phone", "--store", str(store))
        assert "Revoked 1 token(s)" in revoked.stdout
        reply = server.rest(phone).get("/v1/me")
        assert reply.status_code == 401 and reply.json()["error"]["code"] == "unauthorized"
        assert server.rest().get("/v1/me").status_code == 200
    finally:
        stop_server(server)
