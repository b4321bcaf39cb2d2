import json
import struct

import numpy as np
import pytest

from spatial.protocol import (
    FIXED_HEADER_SIZE,
    Hello,
    Place,
    ProtocolError,
    StatsRequest,
    pack_frame,
    parse_client_message,
    parse_frame,
)
from vision.poses import make_pose, rotation_about

JPEG = b"\xff\xd8\xff\xe0fake"


def test_frame_round_trip_with_intrinsics_and_pose() -> None:
    pose = np.arange(16, dtype=float).reshape(4, 4)
    header, image = parse_frame(pack_frame(42, 1234.5, JPEG, (500.0, 501.0, 320.0, 240.0), pose))
    assert (header.frame_id, header.timestamp_ms, image) == (42, 1234.5, JPEG)
    assert header.intrinsics == (500.0, 501.0, 320.0, 240.0)
    assert np.array_equal(header.device_pose, pose)


def test_minimal_frame_has_a_20_byte_header() -> None:
    data = pack_frame(1, 0.0, JPEG)
    assert FIXED_HEADER_SIZE == 20 and len(data) == 20 + len(JPEG)
    header, _ = parse_frame(data)
    assert header.intrinsics is None and header.device_pose is None


@pytest.mark.parametrize(
    "data, code, text",
    [
        (b"SPF1", "bad_header", "shorter"),
        (b"JUNK" + bytes(16) + JPEG, "bad_header", "must start with"),
        (struct.pack("<4sB3xId", b"SPF1", 0x80, 1, 0.0) + JPEG, "bad_header", "unknown flags"),
        (struct.pack("<4sB3xId", b"SPF1", 3, 1, 0.0) + bytes(10), "bad_header", "truncated"),
        (pack_frame(1, 0.0, b""), "bad_image", "no image"),
        (pack_frame(1, 0.0, JPEG, (float("nan"), 1.0, 1.0, 1.0)), "bad_header", "finite"),
    ],
)
def test_malformed_frames_name_the_problem(data: bytes, code: str, text: str) -> None:
    with pytest.raises(ProtocolError, match=text) as info:
        parse_frame(data)
    assert info.value.code == code


def test_hello_accepts_intrinsics_or_fov() -> None:
    hello = parse_client_message('{"type":"hello","protocol":1,"token":"t","camera":{"width":640,"height":480,"fov_y_deg":60}}')
    assert isinstance(hello, Hello) and hello.camera.fov_y_deg == 60
    assert isinstance(parse_client_message('{"type":"stats","id":"s1"}'), StatsRequest)


@pytest.mark.parametrize(
    "text, code, detail",
    [
        ("{not json", "bad_json", "not valid JSON"),
        ("[1, 2]", "bad_message", "JSON object"),
        ('{"type":"teleport","id":"m9"}', "unknown_type", "teleport"),
        ('{"type":"hello"}', "bad_message", "protocol"),
        ('{"type":"hello","protocol":1,"camera":{"width":640,"height":480,"fx":500}}', "bad_message", "fx, fy, cx, cy"),
        ('{"type":"hello","protocol":"one"}', "bad_message", "protocol"),
    ],
)
def test_bad_text_messages_name_the_problem(text: str, code: str, detail: str) -> None:
    with pytest.raises(ProtocolError, match=detail) as info:
        parse_client_message(text)
    assert info.value.code == code


def test_error_refers_to_the_message_id() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_client_message('{"type":"teleport","id":"m9"}')
    assert info.value.ref == "m9"


IDENTITY = [float(v) for v in np.eye(4).reshape(16)]


def test_place_takes_a_block_or_an_anchor_and_a_rigid_pose() -> None:
    pose = make_pose(rotation_about((0, 1, 0), 30), (0.1, 0.2, 0.3))
    placed = parse_client_message(json.dumps({"type": "place", "id": "p", "block": "blk_1", "pose": pose.ravel().tolist()}))
    assert isinstance(placed, Place) and placed.block == "blk_1" and placed.anchor is None
    assert np.allclose(placed.matrix, pose)
    moved = parse_client_message(json.dumps({"type": "place", "anchor": "anc_1", "pose": IDENTITY}))
    assert isinstance(moved, Place) and moved.anchor == "anc_1" and moved.block is None


@pytest.mark.parametrize(
    "fields, detail",
    [
        ({"pose": IDENTITY}, "give one of block"),
        ({"block": "b", "anchor": "a", "pose": IDENTITY}, "give one of block"),
        ({"block": "b"}, "place.pose: Field required"),
        ({"block": "b", "pose": IDENTITY[:15]}, "place.pose: List should have at least 16 items"),
        ({"block": "b", "pose": [2.0] + IDENTITY[1:]}, "place.pose: pose rotation block is not a proper rotation"),
        ({"block": "b", "pose": IDENTITY[:12] + [0.0, 0.0, 1.0, 1.0]}, "place.pose: pose must have (0, 0, 0, 1)"),
        ({"block": "b", "pose": ["x"] * 16}, "place.pose.0"),
        ({"block": "", "pose": IDENTITY}, "place.block"),
        ({"block": "b", "pose": IDENTITY, "space": "s"}, "place.space: Extra inputs"),
    ],
)
def test_malformed_place_messages_name_the_field(fields: dict, detail: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_client_message(json.dumps({"type": "place", "id": "p9", **fields}))
    assert info.value.code == "bad_message" and info.value.ref == "p9"
    assert info.value.message.startswith("place message is invalid: ") and detail in info.value.message


def test_a_non_finite_pose_is_refused() -> None:
    text = '{"type": "place", "block": "b", "pose": [NaN, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]}'
    with pytest.raises(ProtocolError, match="pose has non-finite values"):
        parse_client_message(text)
