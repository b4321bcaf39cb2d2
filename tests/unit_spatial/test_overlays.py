import asyncio

import pytest

from anchors import Anchor, Block
from anchors.model import IDENTITY_POSE
from spatial.overlays import LayoutCache, Outbox, build_overlays
from spatial.protocol import FrameHeader
from spatial.render import content_hash, layout_block, paint
from spatial.render.placement import SCREEN_SCALE, stack_above
from spatial.session import LatestFrame

TABLE = {"columns": ["item", "qty", "ok"], "rows": [["coffee beans", 2, True], ["milk", 1.5, None]] * 15}
LONG_TEXT = "# Title\n" + " ".join(["a-rather-long-sentence-with-words"] * 40) + "\n- item"


def block(block_id: str, kind: str, content: object, version: int = 1) -> Block:
    return Block(block_id, kind, "usr_1", "Title", content, version, 0.0, 0.0)


def anchor(anchor_id: str, block_id: str, object_id: str = "marker:aruco/7") -> Anchor:
    return Anchor(anchor_id, block_id, object_id, IDENTITY_POSE, "usr_1", 0.0)


@pytest.mark.parametrize(
    "kind, content", [("markdown", LONG_TEXT), ("table", TABLE), ("json", {"temp": 21.5, "tags": list(range(50))})]
)
def test_layout_stays_inside_the_panel(kind: str, content: object) -> None:
    display = layout_block(kind, "A title long enough to need wrapping inside the panel width", content)
    for op in [o.to_json() for o in display.ops]:
        right = op["x"] + op.get("w", 0)
        assert 0 <= op["x"] and right <= display.width, op
        assert 0 <= op["y"] and op["y"] + op.get("h", op.get("size", 0)) <= display.height, op
        if op["op"] == "text":
            from spatial.render.layout import text_width

            assert op["x"] + text_width(op["text"], op["size"]) <= display.width - 11, op


def test_identical_input_gives_identical_hash_and_edits_change_it() -> None:
    a = layout_block("table", "Stock", TABLE)
    assert content_hash(a) == content_hash(layout_block("table", "Stock", TABLE))
    assert content_hash(a) != content_hash(layout_block("table", "Stock!", TABLE))


def test_raster_matches_the_display_list_size() -> None:
    display = layout_block("markdown", "Hi", "hello")
    image = paint(display, 2.0)
    assert image.size == (display.width * 2, display.height * 2) and image.mode == "RGBA"
    assert image.getpixel((1, 1))[3] == 0 and image.getpixel((40, 40))[3] > 200


def test_outbox_sends_only_changes() -> None:
    cache, outbox, view = LayoutCache(), Outbox(), {"marker:aruco/7": "marker"}
    note, table = block("b1", "markdown", "hello"), block("b2", "table", TABLE)
    both = [(anchor("a1", "b1"), note), (anchor("a2", "b2"), table)]
    first = outbox.delta(build_overlays(both, view, cache, 0.0005))
    assert [o.id for o in first.added] == ["a1", "a2"] and [o.slot for o in first.added] == [0, 1]
    assert not outbox.delta(build_overlays(both, view, cache, 0.0005))
    edited = block("b1", "markdown", "hello again", version=2)
    delta = outbox.delta(build_overlays([(anchor("a1", "b1"), edited), (anchor("a2", "b2"), table)], view, cache, 0.0005))
    assert [o.id for o in delta.updated] == ["a1"] and not delta.added and not delta.removed
    gone = outbox.delta(build_overlays([(anchor("a1", "b1"), edited)], view, cache, 0.0005))
    assert gone.removed == ["a2"]


def test_a_class_anchor_gives_one_overlay_per_object_of_that_class() -> None:
    view = {"track:1": "cup", "track:2": "cup", "track:3": "chair"}
    pinned = [(anchor("a1", "b1", "class:cup"), block("b1", "markdown", "every cup")),
              (anchor("a2", "b2", "track:2"), block("b2", "markdown", "this cup"))]
    overlays = build_overlays(pinned, view, LayoutCache(), 0.0005)
    assert sorted(overlays) == ["a1@track:1", "a1@track:2", "a2"]
    assert overlays["a1@track:2"].object_id == "track:2" and overlays["a2"].slot == 1


def test_stack_above_places_slot_zero_nearest_the_box() -> None:
    placed = stack_above((300, 200, 340, 240), [(320, 100), (320, 60)], (640, 480))
    (l0, t0, s0), (l1, t1, _) = placed
    assert s0 == SCREEN_SCALE
    assert t0 + 100 * SCREEN_SCALE < 200 and t1 + 60 * SCREEN_SCALE < t0
    assert l0 <= 320 <= l0 + 320 * SCREEN_SCALE


def test_latest_frame_wins() -> None:
    async def scenario() -> tuple[bool, bool, int]:
        box = LatestFrame()
        first = box.put(FrameHeader(1, 0.0), b"a")
        second = box.put(FrameHeader(2, 0.0), b"b")
        header, _ = await box.take()
        return first, second, header.frame_id

    assert asyncio.run(scenario()) == (False, True, 2)
