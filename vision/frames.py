"""Decoding camera frames from compressed bytes."""

from __future__ import annotations

import cv2
import numpy as np


class FrameDecodeError(ValueError):
    """The bytes are not a decodable JPEG, PNG or WebP image."""


_SIGNATURES = {
    b"\xff\xd8\xff": "jpeg",
    b"\x89PNG": "png",
}


def image_format(data: bytes) -> str | None:
    """The image format named by the leading bytes, or None when unknown."""
    for magic, name in _SIGNATURES.items():
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def decode_image(data: bytes) -> np.ndarray:
    """Decode JPEG/PNG/WebP bytes to a BGR uint8 image, or raise FrameDecodeError."""
    fmt = image_format(data)
    if fmt is None:
        raise FrameDecodeError("image bytes are not JPEG, PNG or WebP")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise FrameDecodeError(f"{fmt} image could not be decoded (corrupt or truncated)")
    return image
