"""Joining from a phone or headset: the QR codes `spatial serve` prints, and `POST /v1/join` behind /join."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import cv2
import httpx
import numpy as np
import pytest

from harness.paths import ROOT
from harness.servers import Server, start_server, stop_server
from spatial.config import Settings
from spatial.join import join_device
from spatial.network import lan_addresses, url_host
from tests.support import decode_qr, terminal_qr_image

QR_CHARACTERS = set("█▀▄ ")
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def lan_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A service on every address (HTTPS by default there), as a user starts it for their phone."""
    srv = start_server(tmp_path_factory.mktemp("join") / "store.db", "--host", "0.0.0.0")
    yield srv
    stop_server(srv)


def printed_codes(server: Server, count: int) -> list[tuple[list[str], str]]:
    """The next `count` QR codes the service printed after its `Open` line: (the code's lines, the URL under it)."""
    assert server.process.stdout is not None
    codes: list[tuple[list[str], str]] = []
    block: list[str] = []
    while len(codes) < count:
        line = server.process.stdout.readline()
        assert line, f"the service printed {len(codes)} codes, not {count}"
        line = line.rstrip("\n")
        if line and set(line) <= QR_CHARACTERS:
            block.append(line)
        elif line.startswith(("https://", "http://")):
            codes.append((block, line))
            block = []
    return codes


def as_bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_of(url: str) -> str:
    parsed = urlparse(url)
    assert parsed.query == "", "a token never goes in the query string"
    assert parsed.fragment.startswith("token=")
    return parsed.fragment.removeprefix("token=")


def me(server: Server, base: str, token: str) -> httpx.Response:
    """GET /v1/me at `base` (the address a device uses), trusting the service's CA."""
    return httpx.get(f"{base}/v1/me", headers=as_bearer(token), verify=server.tls(), timeout=10)


def test_the_printed_qr_codes_decode_to_the_printed_urls_whose_token_works_until_revoked(lan_server: Server) -> None:
    lan = lan_addresses("0.0.0.0")
    assert lan, "this machine has a network address"
    codes = printed_codes(lan_server, len(lan))
    port = urlparse(lan_server.url).port
    tokens = set()
    for (lines, url), address in zip(codes, lan):
        assert len(lines) > 10
        assert decode_qr(terminal_qr_image(lines)) == url
        assert url.startswith(f"https://{url_host(address)}:{port}/#token=")
        tokens.add(token_of(url))
    [token] = tokens  # one device token for this start, on every address
    assert token != lan_server.token

    for address in lan:  # from where a phone on the network stands
        answer = me(lan_server, f"https://{url_host(address)}:{port}", token)
        assert answer.status_code == 200 and answer.json()["name"] == "local"
    device = join_device(Settings(port=port))  # "join@<host>:<port>": a replica replaces only its own
    with lan_server.rest() as rest:
        assert device in [t["device"] for t in rest.get("/v1/tokens").json()]

    subprocess.run([sys.executable, "-m", "spatial.cli", "token", "revoke", "local", "--device", device,
                    "--store", str(lan_server.store)], cwd=ROOT, check=True, capture_output=True, timeout=60)
    assert me(lan_server, lan_server.url, token).status_code == 401
    assert me(lan_server, lan_server.url, lan_server.token).status_code == 200, "the login token is another"


def decode_png_uri(uri: str) -> str:
    header, data = uri.split(",", 1)
    assert header == "data:image/png;base64"
    return decode_qr(cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_GRAYSCALE))


def test_join_gives_a_device_a_token_and_a_code_for_each_lan_address(lan_server: Server) -> None:
    with lan_server.rest() as rest:
        made = rest.post("/v1/join", json={"device": "quest"})
        assert made.status_code == 201, made.text
        body: dict[str, Any] = made.json()
        assert body["device"] == "quest" and body["id"].startswith("tok_")
        assert len(body["links"]) == len(lan_addresses("0.0.0.0"))
        for link in body["links"]:
            assert decode_png_uri(link["qr_png"]) == link["url"]
            assert token_of(link["url"]) == body["token"]
            base = link["url"].split("/#", 1)[0]
            assert me(lan_server, base, body["token"]).json()["name"] == "local"
        assert rest.delete(f"/v1/tokens/{body['id']}").status_code == 204
        assert me(lan_server, lan_server.url, body["token"]).status_code == 401

        refused = httpx.post(f"{lan_server.url}/v1/join", json={"device": "x"}, verify=lan_server.tls())
        assert refused.status_code == 401
        assert rest.post("/v1/join", json={"device": ""}).status_code == 422


def test_join_on_a_service_this_machine_alone_reaches_has_no_links(server: Server) -> None:
    with server.rest() as rest:
        made = rest.post("/v1/join", json={"device": "phone"})
    assert made.status_code == 201 and made.json()["links"] == []
