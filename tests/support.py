"""What only the tests need beside the shared harness: a store that counts its reads, a space's map uploaded
as a first device maps it, terminal QR codes read back, and certificates a user might bring."""

from __future__ import annotations

import datetime
import ipaddress
import sqlite3
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from anchors import SQLiteStore


class CountingStore(SQLiteStore):
    """The SQLite store, counting the blocks it reads and decrypts."""

    reads = 0

    def _block(self, row: sqlite3.Row, children: tuple[str, ...] = ()) -> Any:
        self.reads += 1
        return super()._block(row, children)


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
