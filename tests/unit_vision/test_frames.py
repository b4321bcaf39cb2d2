"""Decoding frames: the pixel limit is checked on the image header, before anything is decoded; a decoded
frame keeps the bytes it came from, and what is made from it does not."""

from __future__ import annotations

import io
import struct

import cv2
import numpy as np
import pytest
from PIL import Image

from vision.frames import FrameDecodeError, ImageTooLarge, decode_frame, decode_image, encoded_bytes, image_size

PICTURE = np.random.default_rng(3).integers(0, 255, (48, 64, 3), dtype=np.uint8)


def pillow_webp_extended() -> bytes:
    """A WebP with alpha, which Pillow writes with the extended (VP8X) header."""
    out = io.BytesIO()
    Image.fromarray(np.dstack([PICTURE, np.full((48, 64), 200, np.uint8)]), "RGBA").save(out, "WEBP")
    return out.getvalue()


ENCODED = {
    "jpeg": lambda: cv2.imencode(".jpg", PICTURE)[1].tobytes(),
    "png": lambda: cv2.imencode(".png", PICTURE)[1].tobytes(),
    "webp lossy (VP8)": lambda: cv2.imencode(".webp", PICTURE, [cv2.IMWRITE_WEBP_QUALITY, 80])[1].tobytes(),
    "webp lossless (VP8L)": lambda: cv2.imencode(".webp", PICTURE, [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes(),
    "webp extended (VP8X)": pillow_webp_extended,
}


def declare_size(data: bytes, width: int, height: int) -> bytes:
    """The same bytes with a header that declares another size (the pixels stay 64 x 48)."""
    patched = bytearray(data)
    if data.startswith(b"\x89PNG"):
        patched[16:24] = struct.pack(">II", width, height)
    elif data.startswith(b"\xff\xd8"):
        sof = data.index(b"\xff\xc0")
        patched[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    elif data[12:16] == b"VP8 ":
        patched[26:30] = struct.pack("<HH", width, height)
    elif data[12:16] == b"VP8L":
        patched[21:25] = struct.pack("<I", (width - 1) | (height - 1) << 14 | (data[24] >> 4) << 28)
    else:
        assert data[12:16] == b"VP8X"
        patched[24:30] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return bytes(patched)


@pytest.mark.parametrize("kind", list(ENCODED))
def test_an_image_at_the_limit_decodes_and_one_pixel_over_is_refused(kind: str) -> None:
    data = ENCODED[kind]()
    assert image_size(data) == (64, 48)
    assert decode_image(data, max_pixels=64 * 48).shape == (48, 64, 3)
    with pytest.raises(ImageTooLarge, match=r"image is 64x48 pixels \(3,072\), over the limit of 3,071 pixels"):
        decode_image(data, max_pixels=64 * 48 - 1)


@pytest.mark.parametrize("kind", list(ENCODED))
def test_a_huge_declared_size_is_refused_from_the_header_alone(kind: str) -> None:
    """The pixels behind the header are 64 x 48: a decoder would have failed, or found a small image."""
    data = declare_size(ENCODED[kind](), 16000, 9000)
    assert image_size(data) == (16000, 9000)
    with pytest.raises(ImageTooLarge) as refused:
        decode_image(data, max_pixels=4096 * 4096)
    assert (refused.value.width, refused.value.height, refused.value.max_pixels) == (16000, 9000, 4096 * 4096)
    assert "over the limit of 16,777,216 pixels" in str(refused.value)


def test_without_a_readable_header_the_image_is_refused_as_corrupt() -> None:
    with pytest.raises(FrameDecodeError, match="png image header could not be read"):
        decode_image(b"\x89PNG\r\n\x1a\n", max_pixels=4096 * 4096)
    with pytest.raises(FrameDecodeError, match="not JPEG, PNG or WebP"):
        decode_image(b"GIF89a", max_pixels=4096 * 4096)


def test_a_decoded_frame_keeps_its_bytes_and_what_is_made_from_it_does_not() -> None:
    data = cv2.imencode(".jpg", PICTURE)[1].tobytes()
    frame = decode_frame(data)
    assert encoded_bytes(frame) is data
    assert np.array_equal(frame, decode_image(data))
    assert encoded_bytes(frame[4:20]) is None
    assert encoded_bytes(frame.copy()) is None
    assert encoded_bytes(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)) is None
    assert encoded_bytes(decode_image(data)) is None
