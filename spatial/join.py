"""Joining from a phone or headset: the service's address with a device token, as a QR code.

The token goes in the URL's fragment (`#token=`): browsers never send a fragment to the
server, so it is in no request line and no log. The web client reads it and removes it
from the address bar.
"""

from __future__ import annotations

import io
from pathlib import Path

import segno
from cryptography import x509

from spatial.config import Settings
from spatial.network import lan_addresses, url_host
from spatial.tls import certificate_names

JOIN_DEVICE = "join"
"""The device name of the token the terminal's QR codes carry, with the replica's name (`join_device`)."""


def join_device(settings: Settings) -> str:
    """The device name of this replica's QR code token: each start replaces its own, never another replica's."""
    return f"{JOIN_DEVICE}@{settings.replica}"


def join_url(base: str, token: str) -> str:
    """The web client's address with `token` in the fragment."""
    return f"{base.rstrip('/')}/#token={token}"


def certificate_hosts(certfile: Path) -> list[str]:
    """The names a certificate of the user's own is for, wildcards and `localhost` left out."""
    certificate = x509.load_pem_x509_certificates(certfile.read_bytes())[0]
    return [name for name in certificate_names(certificate).dns if name != "localhost" and "*" not in name]


def device_bases(settings: Settings) -> list[str]:
    """The base URLs another device can reach the service at: one for each LAN address it listens on, or,
    with a certificate of the user's own, for each name the certificate is for (a device checks the name)."""
    scheme = "https" if settings.https else "http"
    hosts = certificate_hosts(settings.certfile) if settings.certfile is not None else []
    if not hosts:
        hosts = [url_host(address) for address in lan_addresses(settings.host)]
    return [f"{scheme}://{host}:{settings.port}" for host in hosts]


def qr_code(url: str) -> segno.QRCode:
    return segno.make(url, error="m", micro=False)


def terminal_qr(url: str) -> str:
    """The QR code as text for a terminal, two rows of modules a line (light on dark, as on most terminals)."""
    out = io.StringIO()
    qr_code(url).terminal(out, compact=True)
    return out.getvalue()


def qr_png_data_uri(url: str, scale: int = 6) -> str:
    """The QR code as a PNG `data:` URI, dark on light, with the standard quiet zone."""
    return qr_code(url).png_data_uri(scale=scale, border=4)
