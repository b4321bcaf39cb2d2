"""HTTPS for `spatial serve`: a local certificate authority, and the server certificate it signs.

Browsers give the camera and WebXR only to secure pages, so a phone or headset on the
LAN needs HTTPS. The service makes its own certificate authority once, with
`cryptography`, and keeps it beside the store (`ca.crt`; `ca.key` readable by the
owner only). A device that installs `ca.crt` (served at `/ca.crt`) trusts every server
certificate the CA signs. The server certificate (`server.crt`, `server.key`) names
`localhost`, the host name and every address the service listens on; it is made again
when those change. `--certfile`/`--keyfile` use a certificate of the user's own instead.

The CA may sign only for local names and addresses (an X.509 name constraint): `localhost`,
this machine's names, `*.local`, private and link-local networks and the networks this
machine is on when the CA is made. A device that installed it trusts it for nothing else,
so not even its stolen key could impersonate a public website to that device.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from spatial.network import IPAddress, IPNetwork, as_address, interface_networks, listen_addresses

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
SERVER_CERT = "server.crt"
SERVER_KEY = "server.key"
CA_DAYS = 3650
SERVER_DAYS = 397
"""Apple's platforms refuse TLS server certificates valid for longer than 825 days; browsers' public
rules allow 398. A server certificate is made again when fewer than RENEW_DAYS are left."""
RENEW_DAYS = 30
LOCAL_NETWORKS = (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10",
    "::1/128", "fc00::/7", "fe80::/10",
)
"""Loopback, private (RFC 1918, unique local), link-local and shared (carrier-grade NAT, VPN) addresses."""


class TLSConfigError(Exception):
    """A certificate or key that cannot be served; the message says which file and why."""


@dataclass(frozen=True)
class ServerNames:
    """What a server certificate must name: DNS names and IP addresses."""

    dns: tuple[str, ...]
    addresses: tuple[IPAddress, ...]

    def general_names(self) -> list[x509.GeneralName]:
        return [x509.DNSName(name) for name in self.dns] + [x509.IPAddress(a) for a in self.addresses]

    def __str__(self) -> str:
        return ", ".join([*self.dns, *map(str, self.addresses)])


@dataclass(frozen=True)
class LocalCA:
    certificate: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes
    cert_path: Path
    created: bool
    """Made by this start (the devices have not installed it yet)."""


@dataclass(frozen=True)
class ServerCertificate:
    certfile: Path
    keyfile: Path
    certificate: x509.Certificate
    renewed: bool


def fingerprint(certificate: x509.Certificate) -> str:
    """The certificate's SHA-256 fingerprint, as devices show it (AB:CD:...)."""
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def server_names(host: str) -> ServerNames:
    """`localhost`, this machine's host name (and its full name), `host` when it is a name, and every
    address a service bound to `host` listens on."""
    dns = ["localhost"]
    for name in (socket.gethostname(), socket.getfqdn(), host):
        if name and name not in dns and as_address(name) is None:
            dns.append(name)
    return ServerNames(tuple(dns), tuple(listen_addresses(host)))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _write_private(path: Path, data: bytes) -> None:
    """Write a new file only its owner can read (0600), replacing an older one whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".new")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)


def _write_public(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".new")
    partial.write_bytes(data)
    os.replace(partial, path)


def _pem_key(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def local_scope() -> tuple[list[str], list[IPNetwork]]:
    """What the local CA may sign for: local DNS names, and local networks with those of this machine."""
    dns = ["localhost", "local"]
    for name in (socket.gethostname(), socket.getfqdn()):
        if name and name not in dns and as_address(name) is None:
            dns.append(name)
    networks = [ipaddress.ip_network(n) for n in LOCAL_NETWORKS]
    for network in interface_networks():
        if not any(network.version == n.version and network.subnet_of(n) for n in networks):  # type: ignore[arg-type]
            networks.append(network)
    return dns, networks


def _name_constraints() -> x509.NameConstraints:
    dns, networks = local_scope()
    return x509.NameConstraints(
        permitted_subtrees=[x509.DNSName(name) for name in dns] + [x509.IPAddress(n) for n in networks],
        excluded_subtrees=None,
    )


def within_scope(ca: x509.Certificate, names: ServerNames) -> tuple[ServerNames, ServerNames]:
    """`names` split into those the CA's name constraints let it sign for, and the others."""
    try:
        constraints = ca.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return names, ServerNames((), ())
    permitted = constraints.permitted_subtrees or []
    dns = [n.value.lower() for n in permitted if isinstance(n, x509.DNSName)]
    networks = [n.value for n in permitted if isinstance(n, x509.IPAddress)]

    def dns_ok(name: str) -> bool:
        name = name.lower()
        return any(name == d or name.endswith("." + d) for d in dns)

    def address_ok(address: IPAddress) -> bool:
        return any(address.version == n.version and address in n for n in networks)

    return (
        ServerNames(tuple(n for n in names.dns if dns_ok(n)), tuple(a for a in names.addresses if address_ok(a))),
        ServerNames(tuple(n for n in names.dns if not dns_ok(n)),
                    tuple(a for a in names.addresses if not address_ok(a))),
    )


def load_or_create_ca(directory: Path) -> LocalCA:
    """The local CA kept in `directory`, made (P-256 key, ten years) on first use."""
    cert_path, key_path = directory / CA_CERT, directory / CA_KEY
    if cert_path.exists() and key_path.exists():
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TLSConfigError(f"{key_path} is not the local CA's key (an EC key); move {cert_path} and it away")
        if not _same_public_key(certificate, key):
            raise TLSConfigError(f"{key_path} is not the key of {cert_path}; move both away to make a new CA")
        return LocalCA(certificate, key, cert_path, created=False)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "spatial"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"spatial local CA on {socket.gethostname()} "
                                                f"{_now():%Y-%m-%d %H:%M}"),
    ])
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(_name_constraints(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _pem_key(key))
    _write_public(cert_path, _pem(certificate))
    return LocalCA(certificate, key, cert_path, created=True)


def _same_public_key(certificate: x509.Certificate, key: CertificateIssuerPrivateKeyTypes) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return (certificate.public_key().public_bytes(serialization.Encoding.DER, spki)
            == key.public_key().public_bytes(serialization.Encoding.DER, spki))


def certificate_names(certificate: x509.Certificate) -> ServerNames:
    """The DNS names and addresses a certificate's subjectAltName holds."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ServerNames((), ())
    return ServerNames(tuple(san.get_values_for_type(x509.DNSName)), tuple(san.get_values_for_type(x509.IPAddress)))


def _still_good(certificate: x509.Certificate, ca: LocalCA, names: ServerNames) -> bool:
    """Signed by this CA, for exactly these names, and not about to expire."""
    have = certificate_names(certificate)
    return (
        certificate.issuer == ca.certificate.subject
        and _signed_by(certificate, ca.certificate)
        and set(have.dns) == set(names.dns) and set(have.addresses) == set(names.addresses)
        and certificate.not_valid_after_utc - _now() > datetime.timedelta(days=RENEW_DAYS)
    )


def _signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def server_certificate(ca: LocalCA, names: ServerNames, directory: Path) -> ServerCertificate:
    """The server certificate in `directory`, signed by `ca` for `names` (those within its scope: see
    `within_scope`); made again when it is missing, names something else, is from another CA, or has under
    RENEW_DAYS left."""
    names, _ = within_scope(ca.certificate, names)
    cert_path, key_path = directory / SERVER_CERT, directory / SERVER_KEY
    if cert_path.exists() and key_path.exists():
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if _still_good(certificate, ca, names) and _same_public_key(certificate, key):  # type: ignore[arg-type]
            return ServerCertificate(cert_path, key_path, certificate, renewed=False)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names.dns[0])]))
        .issuer_name(ca.certificate.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(names.general_names()), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    _write_private(key_path, _pem_key(key))
    _write_public(cert_path, _pem(certificate))
    return ServerCertificate(cert_path, key_path, certificate, renewed=True)


def load_key_pair(certfile: Path, keyfile: Path) -> x509.Certificate:
    """The first certificate of `certfile` (a chain may follow it), after checking that `keyfile` holds its
    private key; raises TLSConfigError naming the file and the fault."""
    try:
        chain = x509.load_pem_x509_certificates(certfile.read_bytes())
    except OSError as exc:
        raise TLSConfigError(f"--certfile {certfile}: {exc.strerror or exc}") from None
    except ValueError:
        raise TLSConfigError(f"--certfile {certfile} holds no PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(keyfile.read_bytes(), password=None)
    except OSError as exc:
        raise TLSConfigError(f"--keyfile {keyfile}: {exc.strerror or exc}") from None
    except TypeError:
        raise TLSConfigError(f"--keyfile {keyfile} is encrypted with a password; give it unencrypted") from None
    except ValueError:
        raise TLSConfigError(f"--keyfile {keyfile} holds no PEM private key") from None
    if not _same_public_key(chain[0], key):  # type: ignore[arg-type]
        raise TLSConfigError(
            f"--keyfile {keyfile} is not the private key of --certfile {certfile}"
            f" ({chain[0].subject.rfc4514_string()}): they are from different key pairs"
        )
    return chain[0]
