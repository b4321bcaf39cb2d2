"""The local certificate authority and the server certificates it signs (spatial/tls.py), and join codes."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import socket
import ssl
import stat
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from spatial import tls
from spatial.config import Settings
from spatial.join import device_bases, join_url, qr_png_data_uri, terminal_qr
from spatial.network import interface_addresses, is_loopback, lan_addresses, listen_addresses
from tests.support import decode_qr, own_certificate, terminal_qr_image


def test_the_ca_is_made_once_with_an_owner_only_key(tmp_path: Path) -> None:
    ca = tls.load_or_create_ca(tmp_path)
    assert ca.created
    assert stat.S_IMODE((tmp_path / "ca.key").stat().st_mode) == 0o600
    constraints = ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca
    again = tls.load_or_create_ca(tmp_path)
    assert not again.created
    assert tls.fingerprint(again.certificate) == tls.fingerprint(ca.certificate)


def test_a_ca_key_of_another_pair_is_refused(tmp_path: Path) -> None:
    tls.load_or_create_ca(tmp_path)
    (tmp_path / "ca.key").write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(tls.TLSConfigError, match="is not the key of"):
        tls.load_or_create_ca(tmp_path)


def test_server_names_cover_localhost_the_host_name_and_every_listening_address() -> None:
    loopback = tls.server_names("127.0.0.1")
    assert {"localhost", socket.gethostname()} <= set(loopback.dns)
    assert loopback.addresses == (ipaddress.ip_address("127.0.0.1"),)
    everywhere = tls.server_names("0.0.0.0")
    assert set(everywhere.addresses) == set(interface_addresses(ipv6=False))
    assert ipaddress.ip_address("127.0.0.1") in everywhere.addresses
    assert any(not a.is_loopback for a in everywhere.addresses), "this machine has a network address"


def test_server_certificate_is_kept_while_its_names_hold_and_made_again_when_they_change(tmp_path: Path) -> None:
    ca = tls.load_or_create_ca(tmp_path)
    first = tls.server_certificate(ca, tls.server_names("127.0.0.1"), tmp_path)
    assert first.renewed
    assert stat.S_IMODE(first.keyfile.stat().st_mode) == 0o600
    first.certificate.verify_directly_issued_by(ca.certificate)
    usage = first.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.ExtendedKeyUsageOID.SERVER_AUTH in usage
    assert first.certificate.not_valid_after_utc - first.certificate.not_valid_before_utc <= datetime.timedelta(
        days=398)

    same = tls.server_certificate(ca, tls.server_names("127.0.0.1"), tmp_path)
    assert not same.renewed and same.certificate == first.certificate

    wider = tls.server_certificate(ca, tls.server_names("0.0.0.0"), tmp_path)
    assert wider.renewed
    assert set(tls.certificate_names(wider.certificate).addresses) == set(listen_addresses("0.0.0.0"))

    other_ca = tls.load_or_create_ca(tmp_path / "other")
    assert tls.server_certificate(other_ca, tls.server_names("0.0.0.0"), tmp_path).renewed, "signed by another CA"


def handshake(certfile: Path, keyfile: Path, cafile: Path, server_hostname: str) -> x509.Certificate:
    """A real TLS handshake on loopback: a server with `certfile`, a client trusting `cafile` that asks for
    `server_hostname`; the certificate the client verified, or the client's ssl error."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(certfile, keyfile)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def accept() -> None:
            conn, _ = listener.accept()
            try:
                with server_context.wrap_socket(conn, server_side=True) as tls_conn:
                    tls_conn.recv(1)
            except (ssl.SSLError, OSError):
                pass

        thread = threading.Thread(target=accept)
        thread.start()
        try:
            client = ssl.create_default_context(cafile=str(cafile))
            with socket.create_connection(("127.0.0.1", port)) as raw, \
                    client.wrap_socket(raw, server_hostname=server_hostname) as conn:
                peer = x509.load_der_x509_certificate(conn.getpeercert(binary_form=True))
                conn.send(b"x")
        finally:
            thread.join(5)
    return peer


def test_a_tls_handshake_with_the_server_certificate_verifies_against_the_ca_file(tmp_path: Path) -> None:
    ca = tls.load_or_create_ca(tmp_path)
    cert = tls.server_certificate(ca, tls.server_names("127.0.0.1"), tmp_path)
    assert handshake(cert.certfile, cert.keyfile, ca.cert_path, "localhost") == cert.certificate
    assert handshake(cert.certfile, cert.keyfile, ca.cert_path, "127.0.0.1") == cert.certificate
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(cert.certfile, cert.keyfile, ca.cert_path, "spatial.example.org")


def test_the_ca_may_sign_for_local_names_and_networks_only(tmp_path: Path) -> None:
    ca = tls.load_or_create_ca(tmp_path)
    constraints = ca.certificate.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    asked = tls.ServerNames(
        ("localhost", socket.gethostname(), "lab.local", "example.com"),
        tuple(ipaddress.ip_address(a) for a in ("127.0.0.1", "192.168.1.20", "10.1.2.3", "fd12::1", "8.8.8.8")),
    )
    inside, outside = tls.within_scope(ca.certificate, asked)
    assert set(inside.dns) == {"localhost", socket.gethostname(), "lab.local"}
    assert outside == tls.ServerNames(("example.com",), (ipaddress.ip_address("8.8.8.8"),))
    _, left_out = tls.within_scope(ca.certificate, tls.server_names("0.0.0.0"))
    assert left_out == tls.ServerNames((), ()), "this machine's own names and networks"

    # A certificate for a public name, signed with the CA's key all the same, is refused by a client that
    # trusts the CA: the constraint is in the CA certificate, which the device installed.
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    forged = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "example.com")]))
        .issuer_name(ca.certificate.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("example.com")]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    (tmp_path / "forged.crt").write_bytes(forged.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "forged.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(ssl.SSLCertVerificationError, match="subtree"):
        handshake(tmp_path / "forged.crt", tmp_path / "forged.key", ca.cert_path, "example.com")


def test_a_certificate_of_ones_own_is_checked_against_its_key(tmp_path: Path) -> None:
    certfile, keyfile = own_certificate(tmp_path, "spatial.example.org")
    assert tls.load_key_pair(certfile, keyfile).subject.rfc4514_string() == "CN=spatial.example.org"
    _, other_key = own_certificate(tmp_path, "other.example.org")
    with pytest.raises(tls.TLSConfigError, match="is not the private key of --certfile"):
        tls.load_key_pair(certfile, other_key)
    with pytest.raises(tls.TLSConfigError, match="holds no PEM private key"):
        tls.load_key_pair(certfile, certfile)
    with pytest.raises(tls.TLSConfigError, match="holds no PEM certificate"):
        tls.load_key_pair(keyfile, keyfile)
    with pytest.raises(tls.TLSConfigError, match="No such file"):
        tls.load_key_pair(tmp_path / "missing.crt", keyfile)


def test_devices_join_at_the_lan_addresses_or_the_names_of_ones_own_certificate(tmp_path: Path) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.2")
    assert device_bases(Settings(host="127.0.0.1")) == []
    lan = lan_addresses("0.0.0.0")
    assert lan and all(not a.is_loopback for a in lan)
    assert device_bases(Settings(host="0.0.0.0", port=8443, https=True)) == [f"https://{a}:8443" for a in lan]
    certfile, keyfile = own_certificate(tmp_path, "spatial.example.org")
    own = Settings(host="0.0.0.0", port=443, https=True, certfile=certfile, keyfile=keyfile)
    assert device_bases(own) == ["https://spatial.example.org:443"]


def test_join_codes_decode_to_their_url() -> None:
    url = join_url("https://192.0.2.2:8000", "tok-" + "x" * 40)
    assert url == "https://192.0.2.2:8000/#token=tok-" + "x" * 40
    assert decode_qr(terminal_qr_image(terminal_qr(url).splitlines())) == url
    header, data = qr_png_data_uri(url).split(",", 1)
    assert header == "data:image/png;base64"
    png = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_GRAYSCALE)
    assert decode_qr(png) == url
