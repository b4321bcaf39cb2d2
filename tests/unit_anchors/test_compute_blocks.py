"""Compute blocks: registered functions, triggers, caching by inputs, and nothing run out of view."""

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from anchors import (
    AccountService,
    Signals,
    SignalTracker,
    compute_function,
)
from anchors.compute.compute_blocks import ObjectSignal

CALLS: list[str] = []


@compute_function("test_count_calls")
def count_calls(label: str, seen: float | None = None) -> str:
    """Records each call, so tests can tell a run from a cache hit."""
    CALLS.append(label)
    return f"{label} seen {seen}"


@compute_function("test_total")
def total(rows: list[dict], field: str) -> float:
    CALLS.append("total")
    return sum(r[field] or 0 for r in rows)


@compute_function("test_square")
def square(x: float) -> float:
    if x < 0:
        raise ValueError(f"cannot square {x} today")
    return x * x


@compute_function("test_not_json")
def not_json() -> object:
    return {1, 2}


TOGETHER = threading.Barrier(2, timeout=10)


@compute_function("test_cups_together")
def cups_together(cups: int) -> int:
    """Returns only once a second call runs at the same time."""
    TOGETHER.wait()
    return cups


@pytest.fixture(autouse=True)
def no_calls_yet() -> Iterator[None]:
    CALLS.clear()
    yield


def view(now: float, *objects: tuple[str, str], wall: float = 1000.0) -> Signals:
    return Signals(now, wall, {oid: ObjectSignal(oid, label, None, 0.0) for oid, label in objects})


def test_a_compute_block_out_of_view_is_not_run_and_runs_when_it_comes_into_view(world) -> None:
    blocks, engine, alice = world
    block = blocks.create_block(alice, "compute", "Press", {
        "function": "test_count_calls", "inputs": {"label": {"value": "press"}},
    })
    blocks.attach(alice, block.id, "marker:aruco/7")

    assert engine.evaluate_visible(alice, ["marker:aruco/3"], view(0.0, ("marker:aruco/3", "marker"))) == []
    assert CALLS == [] and engine.runs == 0

    [(anchor, shown)] = engine.evaluate_visible(alice, ["marker:aruco/7"], view(1.0, ("marker:aruco/7", "marker")))
    assert CALLS == ["press"] and shown.kind == "compute"
    assert shown.content == {"function": "test_count_calls", "value": "press seen None", "error": None}

    for t in (2.0, 3.0):
        engine.evaluate_visible(alice, ["marker:aruco/7"], view(t, ("marker:aruco/7", "marker")))
    engine.evaluate_visible(alice, [], view(4.0))
    again = engine.evaluate_visible(alice, ["marker:aruco/7"], view(5.0, ("marker:aruco/7", "marker")))
    assert CALLS == ["press"], "nothing changed, so nothing ran again"
    assert again[0][1].version == shown.version, "the same result keeps its display version"


def test_an_edit_of_an_input_reruns_it_and_a_request_counts_as_a_subscriber(world) -> None:
    blocks, engine, alice = world
    table = blocks.create_block(alice, "table", "Stock", {"columns": ["item", "qty"], "rows": [["a", 2], ["b", 3]]})
    block = blocks.create_block(alice, "compute", "Total", {
        "function": "test_total", "inputs": {"rows": {"block": table.id}, "field": {"value": "qty"}},
    })
    assert engine.result(alice, block.id).value == 5 and CALLS == ["total"]
    assert engine.result(alice, block.id).value == 5 and CALLS == ["total"]
    first = blocks.read_block(alice, table.id).children[0]
    blocks.update_cells(alice, first, {"qty": 10}, version=1)
    assert engine.result(alice, block.id).value == 13 and CALLS == ["total", "total"]
    blocks.update_cells(alice, first, {"qty": 2}, version=2)
    assert engine.result(alice, block.id).value == 5 and CALLS == ["total", "total"], "seen inputs: from the cache"


def test_detection_signals_trigger_a_rerun_only_when_asked_to(world) -> None:
    blocks, engine, alice = world
    watched = blocks.create_block(alice, "compute", "Watched", {
        "function": "test_count_calls",
        "inputs": {"label": {"value": "watched"}, "seen": {"signal": "count", "class": "cup"}},
    })
    frozen = blocks.create_block(alice, "compute", "Frozen", {
        "function": "test_count_calls", "triggers": ["edit"],
        "inputs": {"label": {"value": "frozen"}, "seen": {"signal": "count", "class": "cup"}},
    })
    for block in (watched, frozen):
        blocks.attach(alice, block.id, "class:cup")
    one = view(1.0, ("track:1", "cup"))
    two = view(2.0, ("track:1", "cup"), ("track:2", "cup"))
    engine.evaluate_visible(alice, ["class:cup"], one)
    shown = dict((b.title, b.content["value"]) for _, b in engine.evaluate_visible(alice, ["class:cup"], two))
    assert shown == {"Watched": "watched seen 2", "Frozen": "frozen seen 1"}
    assert CALLS == ["watched", "frozen", "watched"]


def test_two_sessions_compute_the_same_block_at_once_each_with_its_own_signals(world) -> None:
    """The function waits for a second call to run beside it: one session's compute does not wait for
    another's, and neither sees the other's objects."""
    blocks, engine, alice = world
    block = blocks.create_block(alice, "compute", "Cups", {
        "function": "test_cups_together", "inputs": {"cups": {"signal": "count", "class": "cup"}},
    })
    blocks.attach(alice, block.id, "marker:aruco/7")
    kitchen = view(1.0, ("marker:aruco/7", "marker"), ("track:1", "cup"))
    cafe = view(1.0, ("marker:aruco/7", "marker"), ("track:1", "cup"), ("track:2", "cup"), ("track:3", "cup"))
    TOGETHER.reset()
    with ThreadPoolExecutor(2) as sessions:
        shown = list(sessions.map(lambda signals: engine.evaluate_visible(alice, ["marker:aruco/7"], signals),
                                  [kitchen, cafe]))
    results = [(block.content["value"], block.content["error"]) for [(_, block)] in shown]
    assert results == [(1, None), (3, None)]


def test_a_page_shows_its_compute_blocks_with_the_viewers_signals(world) -> None:
    blocks, engine, alice = world
    page = blocks.create_block(alice, "page", "Shelf", {})
    blocks.create_block(alice, "compute", "Cups", {
        "function": "test_count_calls", "inputs": {"label": {"value": "cups"}, "seen": {"signal": "count", "class": "cup"}},
    }, parent=page.id)
    blocks.attach(alice, page.id, "marker:aruco/7")
    [(_, shown)] = engine.evaluate_visible(alice, ["marker:aruco/7"], view(1.0, ("track:1", "cup"), ("track:2", "cup")))
    assert shown.kind == "markdown" and '"cups seen 2"' in shown.content


def test_an_interval_trigger_reruns_once_per_interval(world) -> None:
    blocks, engine, alice = world
    block = blocks.create_block(alice, "compute", "Clock", {
        "function": "test_count_calls", "interval_s": 10,
        "inputs": {"label": {"value": "tick"}, "seen": {"time": True}},
    })
    blocks.attach(alice, block.id, "marker:aruco/1")
    seen = []
    for wall in (1000.0, 1004.0, 1009.9, 1010.0, 1012.0, 1021.0):
        [(_, shown)] = engine.evaluate_visible(alice, ["marker:aruco/1"], view(wall, ("marker:aruco/1", "marker"), wall=wall))
        seen.append(shown.content["value"])
    assert CALLS == ["tick", "tick", "tick"]
    assert seen[-1] == "tick seen 1020.0"


def test_a_failing_function_is_an_error_in_its_block_only(world) -> None:
    blocks, engine, alice = world
    bad = blocks.create_block(alice, "compute", "Bad", {"function": "test_square", "inputs": {"x": {"value": -2}}})
    odd = blocks.create_block(alice, "compute", "Odd", {"function": "test_not_json"})
    good = blocks.create_block(alice, "compute", "Good", {"function": "test_square", "inputs": {"x": {"value": 3}}})
    for block in (bad, odd, good):
        blocks.attach(alice, block.id, "marker:aruco/1")
    shown = {b.title: b.content for _, b in engine.evaluate_visible(alice, ["marker:aruco/1"], view(0.0))}
    assert shown["Bad"]["error"] == "ValueError: cannot square -2 today" and shown["Bad"]["value"] is None
    assert "not JSON" in shown["Odd"]["error"]
    assert shown["Good"] == {"function": "test_square", "value": 9, "error": None}


def test_compute_cells_run_each_and_fail_alone(world) -> None:
    blocks, engine, alice = world
    rows = [{"n": i, "sq": {"compute": "test_square", "args": {"x": i}}} for i in (1, 2, -3, 4)]
    table = blocks.create_block(alice, "table", "Squares", {
        "fields": [{"name": "n", "type": "number"}, {"name": "sq", "type": "number"}], "rows": rows,
    })
    blocks.add_rows(alice, table.id, [{"n": None, "sq": "=SUM(B1:B4)"}, {"n": None, "sq": "=B1+B2"}])
    values = [r.values["sq"] for r in engine.table(alice, table.id).values]
    assert values[:2] == [1, 4] and values[3] == 16 and values[5] == 5
    assert values[2].code == "#COMPUTE!" and "cannot square -3" in values[2].message
    assert values[4].code == "#COMPUTE!", "an aggregate over a failed cell shows the failure"


def test_the_viewer_runs_compute_only_for_objects_in_its_frames(world) -> None:
    from spatial.pipeline import FramePipeline, FrameResult, overlay_step
    from spatial.session import Viewer
    from vision import Detection, create_detector

    blocks, engine, alice = world
    block = blocks.create_block(alice, "compute", "Seen", {
        "function": "test_count_calls", "inputs": {"label": {"value": "m7"}, "seen": {"signal": "in_view"}},
    })
    blocks.attach(alice, block.id, "marker:aruco/7")
    pipeline = FramePipeline(create_detector("markers"), blocks, compute=engine)
    viewer = Viewer(alice, pipeline.compute, pipeline.layouts, linger_s=0.5, metres_per_pixel=0.0005)

    def frame(i: int, *ids: str) -> FrameResult:
        found = [Detection(oid, "marker", 1.0, (0, 0, 10, 10), "markers", pose=np.eye(4)) for oid in ids]
        return FrameResult(i, 0.0, (640, 480), found, {"total": 0.0})

    assert not overlay_step(viewer, frame(0, "marker:aruco/3"), 0.0) and CALLS == []
    delta = overlay_step(viewer, frame(1, "marker:aruco/7"), 1.0)
    assert CALLS == ["m7"] and [o.block_id for o in delta.added] == [block.id]
    texts = [op["text"] for op in (o.to_json() for o in delta.added[0].content.ops) if op["op"] == "text"]
    assert "m7 seen True" in texts


def test_the_signal_tracker_knows_how_long_an_object_has_been_in_view() -> None:
    tracker = SignalTracker()
    tracker.observe({"a": "cup"}, {"a": np.eye(4)}, 10.0, 1000.0)
    signals = tracker.observe({"a": "cup", "b": "cup"}, {}, 12.5, 1002.5)
    assert signals.objects["a"].seen_for_s == 2.5 and signals.objects["b"].seen_for_s == 0.0
    assert signals.objects["a"].pose == tuple(np.eye(4).reshape(-1)) and signals.count("cup") == 2
    assert tracker.observe({"b": "cup"}, {}, 13.0, 1003.0).objects.keys() == {"b"}
    assert tracker.observe({"a": "cup"}, {}, 14.0, 1004.0).objects["a"].seen_for_s == 0.0


def test_formulas_read_other_blocks_and_follow_their_edits(world, accounts: AccountService) -> None:
    blocks, engine, alice = world
    prices = blocks.create_block(alice, "table", "Prices", {"columns": ["part", "price"], "rows": [["belt", 12.5]]})
    result = blocks.create_block(alice, "compute", "Rate", {"function": "test_square", "inputs": {"x": {"value": 3}}})
    order = blocks.create_block(alice, "table", "Order", {"columns": ["qty", "cost", "rate"], "rows": [
        [2, f"=A1*{prices.id}!B1", f"={result.id}!A1+1"],
    ]})
    [row] = engine.table(alice, order.id).values
    assert (row.values["cost"], row.values["rate"]) == (25.0, 10)
    price_row = blocks.read_block(alice, prices.id).children[0]
    blocks.update_cells(alice, price_row, {"price": 10}, version=1)
    [row] = engine.table(alice, order.id).values
    assert row.values["cost"] == 20.0, "an edit of the other table reaches the cells that read it"

    bob = accounts.create_user("bob")
    secret = blocks.create_block(bob, "table", "Secret", {"columns": ["n"], "rows": [[1]]})
    loop = blocks.create_block(alice, "table", "Loop", {"columns": ["a"], "rows": [[f"={order.id}!A1"]]})
    blocks.update_cells(alice, blocks.read_block(alice, order.id).children[0],
                        {"qty": f"={loop.id}!A1", "rate": f"={secret.id}!A1"}, version=None)
    [row] = engine.table(alice, order.id).values
    assert row.values["rate"].code == "#REF!" and secret.id in row.values["rate"].message, "bob's table is not alice's"
    assert row.values["qty"].code == "#REF!" and "circular" in row.values["qty"].message
