"""Property-based tests: no input makes the protocol parsers fail other than with a ProtocolError."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from spatial.protocol import FRAME_MAGIC, ProtocolError, pack_frame, parse_client_message, parse_frame

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_parse_or_give_a_protocol_error(data: bytes) -> None:
    try:
        header, image = parse_frame(data)
    except ProtocolError as exc:
        assert exc.code in {"bad_header", "bad_image"} and exc.message
    else:
        assert image and header.frame_id >= 0


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 255), st.integers(0, 2**32 - 1), st.binary(max_size=120))
def test_headers_with_any_flags_and_payload(flags: int, frame_id: int, rest: bytes) -> None:
    data = FRAME_MAGIC + bytes([flags, 0, 0, 0]) + frame_id.to_bytes(4, "little") + bytes(8) + rest
    try:
        header, _ = parse_frame(data)
    except ProtocolError as exc:
        assert exc.code in {"bad_header", "bad_image"}
    else:
        assert header.frame_id == frame_id


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(allow_nan=False, allow_infinity=False), st.binary(min_size=1, max_size=50))
def test_pack_then_parse_is_identity(frame_id: int, timestamp: float, image: bytes) -> None:
    header, parsed = parse_frame(pack_frame(frame_id, timestamp, image))
    assert (header.frame_id, header.timestamp_ms, parsed) == (frame_id, timestamp, image)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_gives_a_protocol_error(text: str) -> None:
    try:
        parse_client_message(text)
    except ProtocolError as exc:
        assert exc.code in {"bad_json", "bad_message", "unknown_type"} and exc.message


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["type", "id", "protocol", "token", "camera", "capabilities", "x"]), json_values))
def test_any_json_object_parses_or_gives_a_protocol_error(message: dict) -> None:
    if "type" not in message or not isinstance(message.get("type"), str):
        message["type"] = "hello"
    try:
        parse_client_message(json.dumps(message))
    except ProtocolError as exc:
        assert exc.code in {"bad_json", "bad_message", "unknown_type"}
