"""Decoding camera frames from compressed bytes, with a pixel limit checked before any decoding, and the
decoded frame that keeps the bytes it came from."""

from __future__ import annotations

import io

import cv2
import imagesize
import numpy as np


class FrameDecodeError(ValueError):
    """The bytes are not a decodable JPEG, PNG or WebP image."""


class ImageTooLarge(ValueError):
    """The image's header declares more pixels than the limit; nothing was decoded."""

    def __init__(self, width: int, height: int, max_pixels: int) -> None:
        super().__init__(
            f"image is {width}x{height} pixels ({width * height:,}), over the limit of {max_pixels:,} pixels"
        )
        self.width, self.height, self.max_pixels = width, height, max_pixels


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


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height as the image's header declares them, read without decoding; raises FrameDecodeError.

    `imagesize` reads only the header (JPEG: up to its frame marker; PNG: IHDR; WebP: the VP8/VP8L/VP8X
    chunk header). Pillow's lazy `Image.open` would do for JPEG and PNG, but for WebP it builds a decoder
    that allocates the whole canvas.
    """
    fmt = image_format(data)
    if fmt is None:
        raise FrameDecodeError("image bytes are not JPEG, PNG or WebP")
    width, height = imagesize.get(io.BytesIO(data), exif_rotation=False)
    if width <= 0 or height <= 0:
        raise FrameDecodeError(f"{fmt} image header could not be read (corrupt or truncated)")
    return width, height


def decode_image(data: bytes, max_pixels: int | None = None) -> np.ndarray:
    """Decode JPEG/PNG/WebP bytes to a BGR uint8 image, or raise FrameDecodeError.

    With `max_pixels`, an image whose header declares more pixels is refused with ImageTooLarge before
    any decoding.
    """
    fmt = image_format(data)
    if fmt is None:
        raise FrameDecodeError("image bytes are not JPEG, PNG or WebP")
    if max_pixels is not None:
        width, height = image_size(data)
        if width * height > max_pixels:
            raise ImageTooLarge(width, height, max_pixels)
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise FrameDecodeError(f"{fmt} image could not be decoded (corrupt or truncated)")
    return image


class EncodedFrame(np.ndarray):
    """A decoded BGR frame that keeps the JPEG/PNG/WebP bytes it was decoded from (`encoded`).

    A detector that runs elsewhere (`vision.backends.ray_serve`) forwards those bytes in place of encoding
    the image again; every other detector takes it as the image it is. An array made from it (a slice, a
    copy, a view) carries no bytes (`encoded` is None), since its pixels need not be the frame's.
    """

    encoded: bytes | None

    def __array_finalize__(self, obj: object) -> None:
        self.encoded = None


def decode_frame(data: bytes, max_pixels: int | None = None) -> EncodedFrame:
    """`decode_image`, the image keeping `data` with it."""
    frame = decode_image(data, max_pixels).view(EncodedFrame)
    frame.encoded = data
    return frame


def encoded_bytes(image: np.ndarray) -> bytes | None:
    """The bytes `image` was decoded from when it is an `EncodedFrame` that carries them; else None."""
    return image.encoded if isinstance(image, EncodedFrame) else None
