"""Encryption at rest: a service key wraps one data key per owner; data keys seal block content.

Everything is AES-256-GCM from the `cryptography` package, with a fresh random
96-bit nonce per encryption and associated data that binds each ciphertext to
its place (the owner a data key belongs to, the block a body belongs to), so a
sealed value copied to another row does not open.

    sealed value = version byte 0x01 | nonce (12 bytes) | ciphertext with its 16-byte tag

The service key lives outside the store (a key file or an environment
variable). Rotating it rewraps the data keys; block content is not touched.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger("anchors.crypto")

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT = b"\x01"
KEY_CHECK_PLAINTEXT = b"spatial service key check"
KEY_CHECK_AAD = b"spatial/key-check"


class ServiceKeyError(RuntimeError):
    """The service key is missing, malformed, or not the one the store was encrypted with."""


class SealedDataError(RuntimeError):
    """A sealed value did not open: the store was altered, or the value was moved to another row."""


def default_key_file(store_path: str | Path) -> Path:
    """Where a store keeps its service key when none is given: beside it, `<store>.key`."""
    path = Path(store_path)
    return path.with_name(path.name + ".key")


class ServiceKey:
    """A 256-bit key; as text, 43 characters of unpadded base64url."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ServiceKeyError(f"a service key is {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)
        self._key = key

    @classmethod
    def generate(cls) -> ServiceKey:
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def from_text(cls, text: str, where: str = "the service key") -> ServiceKey:
        text = text.strip()
        try:
            key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != KEY_BYTES:
            raise ServiceKeyError(
                f"{where} is not a service key: expected {KEY_BYTES} bytes as base64url (43 characters),"
                f" got {len(text)} characters"
            )
        return cls(key)

    @classmethod
    def from_file(cls, path: Path) -> ServiceKey:
        try:
            text = path.read_text()
        except OSError as exc:
            raise ServiceKeyError(f"cannot read the service key file {path}: {exc.strerror}") from None
        if path.stat().st_mode & 0o077:
            log.warning("the service key file %s can be read by other users; chmod 600 it", path)
        return cls.from_text(text, f"the key file {path}")

    def to_text(self) -> str:
        return base64.urlsafe_b64encode(self._key).decode().rstrip("=")

    def save(self, path: Path) -> None:
        """Write the key to a new file only its owner can read (0600), flushed to disk; never overwrites."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self.to_text() + "\n")
            out.flush()
            os.fsync(out.fileno())

    def same_as(self, other: ServiceKey) -> bool:
        return secrets.compare_digest(self._key, other._key)

    def key_check(self) -> bytes:
        """A value stored with the data: it opens only under this key, so a wrong key is caught at start."""
        return seal(self._aead, KEY_CHECK_PLAINTEXT, KEY_CHECK_AAD)

    def opens(self, key_check: bytes) -> bool:
        try:
            return open_sealed(self._aead, key_check, KEY_CHECK_AAD) == KEY_CHECK_PLAINTEXT
        except SealedDataError:
            return False

    def wrap(self, data_key: bytes, owner: str) -> bytes:
        return seal(self._aead, data_key, owner_aad(owner))

    def unwrap(self, wrapped: bytes, owner: str) -> bytes:
        return open_sealed(self._aead, wrapped, owner_aad(owner))


def owner_aad(owner: str) -> bytes:
    return b"spatial/owner-key/" + owner.encode()


def block_aad(block_id: str) -> bytes:
    return b"spatial/block/" + block_id.encode()


def new_data_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def seal(aead: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return FORMAT + nonce + aead.encrypt(nonce, plaintext, aad)


def open_sealed(aead: AESGCM, sealed: bytes, aad: bytes) -> bytes:
    if not isinstance(sealed, bytes) or sealed[:1] != FORMAT or len(sealed) < 1 + NONCE_BYTES + 16:
        raise SealedDataError("a sealed value has an unknown format")
    try:
        return aead.decrypt(sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :], aad)
    except InvalidTag:
        raise SealedDataError("a sealed value failed its integrity check") from None


def space_aad(space_id: str) -> bytes:
    return b"spatial/space-map/" + space_id.encode()
