"""`spatial serve` over HTTPS: real servers, real TLS clients, the local CA beside the store."""

from __future__ import annotations

import asyncio
import socket
import ssl
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from harness.paths import ROOT
from harness.samples import sample_camera, sample_jpegs
from harness.servers import Server, start_server, stop_server
from spatial.client import StreamClient
from spatial.network import interface_addresses, url_host
from tests.support import own_certificate

MARKER = "marker:aruco/7"
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("https") / "store.db", "--https")
    yield srv
    stop_server(srv)


def peer_certificate(port: int, host: str, context: ssl.SSLContext, server_hostname: str | None = None) -> x509.Certificate:
    """The certificate the service presents at host:port, after `context` verified it."""
    with socket.create_connection((host, port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=server_hostname or host) as conn:
        return x509.load_der_x509_certificate(conn.getpeercert(binary_form=True))


def port_of(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def san(certificate: x509.Certificate) -> tuple[set[str], set[str]]:
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(names.get_values_for_type(x509.DNSName)), {str(a) for a in names.get_values_for_type(x509.IPAddress)}


def test_a_client_trusting_the_ca_streams_over_wss(https_server: Server) -> None:
    assert https_server.url.startswith("https://") and https_server.ws_url.startswith("wss://")

    async def scenario() -> tuple[dict, dict]:
        client = await StreamClient.open(https_server.ws_url, https_server.token, sample_camera(),
                                         tls=https_server.tls())
        welcome = client.of_type("welcome")[0]
        reply = await client.frame(0, next(sample_jpegs()))
        await client.close()
        return welcome, reply

    welcome, reply = asyncio.run(scenario())
    assert welcome["user"] == "local"
    assert reply["type"] == "objects" and MARKER in [o["id"] for o in reply["objects"]]
    with https_server.rest() as rest:
        assert rest.get("/v1/me").json()["name"] == "local"


def test_a_client_that_does_not_trust_the_ca_is_refused(https_server: Server) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        asyncio.run(StreamClient.open(https_server.ws_url, https_server.token))
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{https_server.url}/v1/health")


def test_plain_http_on_the_https_port_gets_no_page(https_server: Server) -> None:
    with socket.create_connection(("127.0.0.1", port_of(https_server)), timeout=5) as conn:
        conn.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = b""
        try:
            while chunk := conn.recv(4096):
                answer += chunk
        except ConnectionResetError:
            pass
    assert not answer.startswith(b"HTTP/"), answer[:80]
    assert b"status" not in answer
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port_of(https_server)}/v1/health", timeout=5)


def test_the_ca_certificate_is_served_for_devices_to_install(https_server: Server) -> None:
    response = httpx.get(f"{https_server.url}/ca.crt", verify=https_server.tls())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-x509-ca-cert"
    assert response.content == (https_server.store.parent / "ca.crt").read_bytes()
    ca = x509.load_pem_x509_certificate(response.content)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_the_certificate_names_localhost_the_host_name_and_the_address(https_server: Server) -> None:
    context = https_server.tls()
    certificate = peer_certificate(port_of(https_server), "127.0.0.1", context)
    dns, addresses = san(certificate)
    assert {"localhost", socket.gethostname()} <= dns
    assert addresses == {"127.0.0.1"}
    assert peer_certificate(port_of(https_server), "127.0.0.1", context, "localhost") == certificate
    assert peer_certificate(port_of(https_server), "127.0.0.1", context, socket.gethostname()) == certificate


def test_the_ca_key_is_readable_by_its_owner_only(https_server: Server) -> None:
    folder = https_server.store.parent
    assert stat.S_IMODE((folder / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "server.key").stat().st_mode) == 0o600


def test_a_restart_reuses_the_ca_and_a_host_on_the_network_gets_https_and_a_new_certificate(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    first = start_server(store, "--https")
    trusted = first.tls()
    ca, certificate = (tmp_path / "ca.crt").read_bytes(), (tmp_path / "server.crt").read_bytes()
    stop_server(first)
    assert any("Made the local certificate authority" in line for line in first.printed)

    again = start_server(store, "--https")
    try:
        assert (tmp_path / "ca.crt").read_bytes() == ca, "a restart keeps the CA the devices installed"
        assert (tmp_path / "server.crt").read_bytes() == certificate, "same names, same certificate"
        assert not any("Made the" in line for line in again.printed)
        assert httpx.get(f"{again.url}/v1/health", verify=trusted).status_code == 200
    finally:
        stop_server(again)

    lan = start_server(store, "--host", "0.0.0.0")  # no --https: on by default off loopback
    try:
        assert lan.url.startswith("https://")
        assert (tmp_path / "ca.crt").read_bytes() == ca
        assert any("Made the server certificate" in line for line in lan.printed)
        certificate = peer_certificate(port_of(lan), "127.0.0.1", trusted)
        _, addresses = san(certificate)
        expected = {str(a) for a in interface_addresses(ipv6=False)}
        assert addresses == expected and len(expected) >= 2, "loopback and every network address"
        for address in expected:
            assert peer_certificate(port_of(lan), address, trusted) == certificate
            assert httpx.get(f"https://{url_host(address)}:{port_of(lan)}/v1/health", verify=trusted).status_code == 200
    finally:
        stop_server(lan)


def test_no_https_turns_it_off_on_a_network_host_with_a_warning(tmp_path: Path) -> None:
    server = start_server(tmp_path / "store.db", "--host", "0.0.0.0", "--no-https")
    try:
        assert server.url.startswith("http://")
        assert any("no camera" in line for line in server.printed)
        assert httpx.get(f"{server.url}/v1/health").status_code == 200
        assert httpx.get(f"{server.url}/ca.crt").status_code == 404
        assert not (tmp_path / "ca.key").exists()
    finally:
        stop_server(server)


def test_a_certificate_of_ones_own_is_served(tmp_path: Path) -> None:
    certfile, keyfile = own_certificate(tmp_path, "spatial.example.org")
    server = start_server(tmp_path / "store.db", "--certfile", str(certfile), "--keyfile", str(keyfile), ca=certfile)
    try:
        assert server.url.startswith("https://")
        certificate = peer_certificate(port_of(server), "127.0.0.1", server.tls(), "spatial.example.org")
        assert certificate == x509.load_pem_x509_certificate(certfile.read_bytes())
        response = httpx.get(f"{server.url}/ca.crt", verify=server.tls())
        assert response.status_code == 404 and "--certfile" in response.json()["error"]["message"]
        assert not (tmp_path / "ca.crt").exists()
    finally:
        stop_server(server)


def serve_fails(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spatial.cli", "serve", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_a_key_of_another_pair_fails_at_start_with_a_clear_message(tmp_path: Path) -> None:
    certfile, _ = own_certificate(tmp_path, "spatial.example.org")
    _, other_key = own_certificate(tmp_path, "other.example.org")
    store = str(tmp_path / "store.db")
    result = serve_fails("--store", store, "--certfile", str(certfile), "--keyfile", str(other_key))
    assert result.returncode == 2
    assert f"--keyfile {other_key} is not the private key of --certfile {certfile}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not Path(store).exists(), "nothing was started or created"

    alone = serve_fails("--store", store, "--certfile", str(certfile))
    assert alone.returncode != 0 and "--certfile and --keyfile go together" in alone.stderr
    off = serve_fails("--store", store, "--certfile", str(certfile), "--keyfile", str(other_key), "--no-https")
    assert off.returncode != 0 and "drop --no-https" in off.stderr
