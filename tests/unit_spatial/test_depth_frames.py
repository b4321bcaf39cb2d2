"""The frame header's depth section: round trips in both sample formats, and clear errors for bad ones."""

import struct

import numpy as np
import pytest

from spatial.protocol import DEPTH_FLOAT32, DEPTH_UINT16_MM, FLAG_DEPTH, Hello, ProtocolError, pack_frame, parse_frame

JPEG = b"\xff\xd8\xff\xe0fake"


def depth_map() -> np.ndarray:
    depth = np.random.default_rng(0).uniform(0.3, 5.0, (90, 160)).astype(np.float32)
    depth[0, :10] = 0.0
    return depth


def test_float32_depth_round_trips_beside_intrinsics_and_pose() -> None:
    pose = np.eye(4)
    pose[:3, 3] = (0.1, 1.5, -0.2)
    data = pack_frame(7, 10.0, JPEG, (500.0, 500.0, 320.0, 180.0), pose, depth_map())
    assert len(data) == 20 + 16 + 64 + 8 + 160 * 90 * 4 + len(JPEG)
    header, image = parse_frame(data)
    assert image == JPEG and np.allclose(header.device_pose, pose, atol=1e-6)
    assert header.depth.dtype == np.float32 and np.array_equal(header.depth, depth_map())


def test_millimetre_depth_is_half_the_size_and_read_in_metres() -> None:
    depth = depth_map()
    depth[1, :3] = (np.nan, np.inf, -1.0)
    data = pack_frame(7, 10.0, JPEG, depth=depth, depth_format=DEPTH_UINT16_MM)
    assert len(data) == 20 + 8 + 160 * 90 * 2 + len(JPEG)
    header, image = parse_frame(data)
    assert image == JPEG and header.intrinsics is None and header.device_pose is None
    assert np.abs(header.depth[2:] - depth[2:]).max() <= 0.00051
    assert (header.depth[1, :3] == 0).all() and (header.depth[0, :10] == 0).all(), "no measurement stays 0"


def depth_frame(width: int, height: int, sample_format: int, reserved: bytes = bytes(3), payload: int | None = None) -> bytes:
    size = width * height * (4 if sample_format == DEPTH_FLOAT32 else 2) if payload is None else payload
    fixed = struct.pack("<4sB3xId", b"SPF1", FLAG_DEPTH, 9, 0.0)
    return fixed + struct.pack("<HHB", width, height, sample_format) + reserved + bytes(size) + JPEG


@pytest.mark.parametrize("data, text", [
    (struct.pack("<4sB3xId", b"SPF1", FLAG_DEPTH, 9, 0.0) + b"\x10\x00", "depth section needs 8 bytes"),
    (depth_frame(16, 9, 7), "depth sample format 7 is unknown"),
    (depth_frame(16, 9, DEPTH_FLOAT32, b"\x00\x01\x00"), "reserved bytes must be zero"),
    (depth_frame(1, 9, DEPTH_FLOAT32), "depth map is 1x9"),
    (depth_frame(2000, 9, DEPTH_FLOAT32, payload=0), "depth map is 2000x9"),
    (depth_frame(16, 9, DEPTH_UINT16_MM, payload=100), "a 16x9 depth map needs 288 bytes"),
])
def test_bad_depth_sections_are_bad_headers_naming_the_problem(data: bytes, text: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_frame(data)
    assert caught.value.code == "bad_header" and text in caught.value.message
    assert caught.value.ref == "frame:9"


def test_a_depth_section_and_no_image_is_a_bad_image() -> None:
    data = pack_frame(3, 0.0, b"", depth=np.ones((4, 4), np.float32))
    with pytest.raises(ProtocolError) as caught:
        parse_frame(data)
    assert caught.value.code == "bad_image"


def test_hello_may_name_a_space() -> None:
    assert Hello(type="hello", protocol=1, space="spc_1").space == "spc_1"
    assert Hello(type="hello", protocol=1).space is None
