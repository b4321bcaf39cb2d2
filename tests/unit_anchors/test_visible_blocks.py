"""A viewer's blocks in view kept from frame to frame: with nothing written a frame reads no block and
evaluates no formula; a write costs what it touches; the store's change log says what was written,
also by another process sharing the store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from anchors import (
    AccountService,
    BlockService,
    ComputeService,
    Signals,
    SQLiteStore,
    User,
    VisibleBlocks,
    compute_function,
)
from anchors.compute.compute_blocks import ObjectSignal
from harness.stores import AnchorServices, StoreBackend
from tests.support import CountingStore

MARKER = "marker:aruco/7"
RUNS: list[Any] = []


@compute_function("test_visible_total")
def visible_total(rows: list[dict], seen: bool) -> float:
    RUNS.append(seen)
    return sum(r["qty"] or 0 for r in rows) if seen else 0.0


def signals(*in_view: str, now: float = 1.0) -> Signals:
    return Signals(now, 1_700_000_000.0, {oid: ObjectSignal(oid, "marker", None, 0.0) for oid in in_view})


def stock(rows: int) -> dict[str, Any]:
    """A table whose rows each compute a total, with a last row summing them."""
    body = [{"item": f"item {r + 1}", "qty": r + 1, "price": 2, "total": f"=B{r + 1}*C{r + 1}"} for r in range(rows)]
    return {"fields": [{"name": "item", "type": "text"}, {"name": "qty", "type": "number"},
                       {"name": "price", "type": "number"}, {"name": "total", "type": "any"}],
            "rows": [*body, {"item": "sum", "total": f"=SUM(D1:D{rows})"}]}


@pytest.fixture
def services(tmp_path: Path) -> Iterator[AnchorServices]:
    """The anchors services over a SQLite store that counts its block reads (for the shared fixtures)."""
    built = AnchorServices.on(CountingStore(tmp_path / "store.db"))
    yield built
    built.store.close()


@pytest.fixture
def store(services: AnchorServices) -> CountingStore:
    assert isinstance(services.store, CountingStore)
    return services.store


@pytest.fixture(autouse=True)
def no_runs_yet() -> None:
    RUNS.clear()


def pin_everything(blocks: BlockService, user: User) -> dict[str, Any]:
    """Two tables, a view, a note and a compute block reading a table and a signal, pinned to marker 7."""
    first = blocks.create_block(user, "table", "First", stock(20))
    second = blocks.create_block(user, "table", "Second", stock(20))
    view = blocks.create_block(user, "view", "Board", {"table": second.id, "layout": "list"})
    note = blocks.create_block(user, "markdown", "Note", "hello")
    total = blocks.create_block(user, "compute", "Total", {
        "function": "test_visible_total", "inputs": {"rows": {"block": first.id}, "seen": {"signal": "in_view"}},
    })
    for block in (first, second, view, note, total):
        blocks.attach(user, block.id, MARKER)
    return {"first": first, "second": second, "view": view, "note": note, "total": total}


def shown(result: list[Any]) -> dict[str, Any]:
    return {block.id: block for _, block in result}


def test_with_nothing_written_a_frame_reads_no_block_and_evaluates_no_formula(
        store: CountingStore, blocks: BlockService, compute: ComputeService, alice: User) -> None:
    pinned = pin_everything(blocks, alice)
    visible = VisibleBlocks(compute, alice)
    first = visible.evaluate([MARKER], signals(MARKER))
    assert [block.title for _, block in first] == ["First", "Second", "Board", "Note", "Total"]
    assert shown(first)[pinned["total"].id].content["value"] == 210
    reads, evaluations, runs = store.reads, compute.evaluations, len(RUNS)
    for frame in range(2, 12):
        again = visible.evaluate([MARKER], signals(MARKER, now=frame))
        assert again is first, "the very list of the frame before"
    assert (store.reads, compute.evaluations, len(RUNS)) == (reads, evaluations, runs)


def test_one_edit_reads_one_block_and_evaluates_only_its_dependents(
        store: CountingStore, blocks: BlockService, compute: ComputeService, alice: User) -> None:
    pinned = pin_everything(blocks, alice)
    visible = VisibleBlocks(compute, alice)
    before = shown(visible.evaluate([MARKER], signals(MARKER)))
    row = blocks.children(alice, pinned["second"].id)[4]
    blocks.update_cells(alice, row.id, {"qty": 50}, None)
    reads, evaluations, runs = store.reads, compute.evaluations, len(RUNS)
    after = shown(visible.evaluate([MARKER], signals(MARKER)))
    assert store.reads - reads == 1, "the row written, and nothing else"
    assert compute.evaluations - evaluations == 2, "its total and the sum"
    assert len(RUNS) == runs, "the compute block reads the other table"
    changed = {block_id for block_id in before if after[block_id] is not before[block_id]}
    assert changed == {pinned["second"].id, pinned["view"].id}, "the table and the view of it"
    grid = after[pinned["second"].id].content
    assert grid["rows"][4][1] == "50" and grid["rows"][4][3] == "100" and grid["rows"][-1][3] == str(2 * (210 - 5 + 50))


def test_a_signal_read_runs_again_only_when_its_value_changes(
        blocks: BlockService, compute: ComputeService, alice: User) -> None:
    pinned = pin_everything(blocks, alice)
    visible = VisibleBlocks(compute, alice)
    visible.evaluate([MARKER], signals(MARKER))
    visible.evaluate([MARKER], signals(MARKER, now=2.0))
    assert RUNS == [True]
    gone = visible.evaluate([MARKER], signals(now=3.0))  # the marker is kept in view (lingering) but not seen
    assert RUNS == [True, False] and shown(gone)[pinned["total"].id].content["value"] == 0.0


def test_a_share_taken_back_removes_that_block_and_recomputes_nothing(
        store: CountingStore, blocks: BlockService, compute: ComputeService, alice: User) -> None:
    pinned = pin_everything(blocks, alice)
    bob = AccountService(store).create_user("bob")
    for block in pinned.values():
        blocks.share_block(alice, block.id, "bob", "read")
    visible = VisibleBlocks(compute, bob)
    before = shown(visible.evaluate([MARKER], signals(MARKER)))
    assert len(before) == 5
    blocks.unshare_block(alice, pinned["first"].id, "bob")
    reads, evaluations, runs = store.reads, compute.evaluations, len(RUNS)
    after = shown(visible.evaluate([MARKER], signals(MARKER)))
    assert set(before) - set(after) == {pinned["first"].id}
    assert all((after[b].version, after[b].content) == (before[b].version, before[b].content) for b in after)
    assert (store.reads, compute.evaluations, len(RUNS)) == (reads, evaluations, runs)
    blocks.share_block(alice, pinned["first"].id, "bob", "read")
    assert pinned["first"].id in shown(visible.evaluate([MARKER], signals(MARKER))), "shared again, shown again"


def test_a_page_made_public_shows_its_child_pinned_to_the_marker(
        store: CountingStore, blocks: BlockService, compute: ComputeService, alice: User) -> None:
    page = blocks.create_block(alice, "page", "Manual", {})
    note = blocks.create_block(alice, "markdown", "Step 1", "descale", parent=page.id)
    blocks.attach(alice, note.id, MARKER)
    bob = AccountService(store).create_user("bob")
    visible = VisibleBlocks(compute, bob)
    assert visible.evaluate([MARKER], signals(MARKER)) == []
    blocks.set_public(alice, page.id, True)
    assert [b.content for _, b in visible.evaluate([MARKER], signals(MARKER))] == ["descale"]
    blocks.set_public(alice, page.id, False)
    assert visible.evaluate([MARKER], signals(MARKER)) == []


def test_anchors_added_and_removed_cost_the_anchor(
        store: CountingStore, blocks: BlockService, compute: ComputeService, alice: User) -> None:
    pinned = pin_everything(blocks, alice)
    visible = VisibleBlocks(compute, alice)
    visible.evaluate([MARKER], signals(MARKER))
    extra = blocks.create_block(alice, "markdown", "Later", "added later")
    anchor = blocks.attach(alice, extra.id, MARKER)
    reads = store.reads
    titles = [block.title for _, block in visible.evaluate([MARKER], signals(MARKER))]
    assert titles[-1] == "Later" and store.reads - reads == 1
    blocks.detach(alice, anchor.id)
    reads = store.reads
    assert [b.title for _, b in visible.evaluate([MARKER], signals(MARKER))] == titles[:-1]
    assert store.reads == reads
    blocks.delete_block(alice, pinned["note"].id)
    assert "Note" not in [b.title for _, b in visible.evaluate([MARKER], signals(MARKER))]


def test_writes_by_another_replica_sharing_the_store_are_seen(backend: StoreBackend) -> None:
    mine, other = backend.open(), backend.open()  # two replicas' connections to one store
    try:
        blocks = BlockService(mine)
        alice = AccountService(mine).create_user("alice")
        pinned = pin_everything(blocks, alice)
        compute = ComputeService(blocks)
        visible = VisibleBlocks(compute, alice)
        visible.evaluate([MARKER], signals(MARKER))
        BlockService(other).update_block(alice, pinned["note"].id, title=None, content="written elsewhere",
                                         version=None)
        assert shown(visible.evaluate([MARKER], signals(MARKER)))[pinned["note"].id].content == "written elsewhere"
        compute.close()
    finally:
        other.close()
        mine.close()


def test_the_change_log_names_what_was_written(backend: StoreBackend) -> None:
    store = backend.open()
    blocks, alice = BlockService(store), AccountService(store).create_user("alice")
    start = store.changes_since(None)
    assert not start.complete
    page = blocks.create_block(alice, "page", "Page", {})
    table = blocks.create_block(alice, "table", "Table", stock(2))
    made = store.changes_since(start.seq)
    rows = [r.id for r in blocks.children(alice, table.id)]
    assert made.complete and made.blocks == {page.id, table.id, *rows} and made.parents == {table.id}
    blocks.move_block(alice, table.id, page.id)
    moved = store.changes_since(made.seq)
    assert moved.blocks == {table.id} and moved.parents == {page.id}
    anchor = blocks.attach(alice, page.id, MARKER)
    AccountService(store).create_user("bob")
    blocks.share_block(alice, page.id, "bob", "read")
    blocks.delete_block(alice, page.id)
    deleted = store.changes_since(moved.seq)
    assert deleted.blocks == {page.id, table.id, *rows}, "a cascade is logged row by row"
    assert deleted.anchors == {anchor.id} and deleted.objects == {MARKER} and deleted.shares == {page.id}
    assert store.changes_since(deleted.seq) == type(deleted)(deleted.seq, True)
    assert not store.changes_since(deleted.seq) and not store.changes_since(-1).complete
    store.close()


def test_a_store_without_the_change_log_gains_it_and_stamps_go_on(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    made = SQLiteStore(path)
    blocks, alice = BlockService(made), AccountService(made).create_user("alice")
    note = blocks.create_block(alice, "markdown", "Note", "one")
    blocks.update_block(alice, note.id, title=None, content="two", version=None)
    highest = made._db.query_one("SELECT MAX(seq) AS seq FROM blocks")["seq"]
    made.close()
    db = sqlite3.connect(path)  # as a file written before the log existed
    db.execute("DROP TABLE changes")
    for (trigger,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%change%'").fetchall():
        db.execute(f"DROP TRIGGER {trigger}")
    db.commit()
    db.close()
    reopened = SQLiteStore(path)
    try:
        assert reopened.changes_since(None).seq == highest
        again = BlockService(reopened)
        start = reopened.changes_since(None).seq
        again.update_block(alice, note.id, title=None, content="three", version=None)
        assert reopened.changes_since(start).blocks == {note.id}
        assert reopened._db.query_one("SELECT seq FROM blocks WHERE id = ?", (note.id,))["seq"] > highest
    finally:
        reopened.close()


def test_objects_out_of_view_longest_are_forgotten_and_read_again_when_back(
        store: CountingStore, blocks: BlockService, compute: ComputeService, alice: User) -> None:
    notes = {}
    for i in range(5):
        notes[i] = blocks.create_block(alice, "markdown", f"Note {i}", f"on marker {i}")
        blocks.attach(alice, notes[i].id, f"marker:aruco/{i}")
    visible = VisibleBlocks(compute, alice, max_objects=2)
    for i in range(5):
        [(_, shown_block)] = visible.evaluate([f"marker:aruco/{i}"], signals(f"marker:aruco/{i}"))
        assert shown_block.content == f"on marker {i}"
    reads = store.reads
    visible.evaluate(["marker:aruco/3", "marker:aruco/4"], signals())
    assert store.reads == reads, "the last two are kept"
    assert len(visible.evaluate([f"marker:aruco/{i}" for i in range(4)], signals())) == 4
    assert store.reads == reads + 3, "more in view than kept: all are read, those forgotten again"
