"""The block tree: kinds, parents and ordered children, typed table rows, inherited access, versions."""

from pathlib import Path

import pytest

from anchors import (
    AccountService,
    BlockService,
    BlockShapeError,
    NotFound,
    PermissionDenied,
    SQLiteStore,
    StoreFormatError,
    VersionConflict,
)

FIELDS = [
    {"name": "task", "type": "text"},
    {"name": "hours", "type": "number"},
    {"name": "done", "type": "checkbox"},
    {"name": "status", "type": "select", "options": ["todo", "doing", "done"]},
    {"name": "due", "type": "date"},
    {"name": "spec", "type": "link"},
    {"name": "cost", "type": "formula", "formula": "=hours*40"},
]


def test_a_page_holds_ordered_children_of_every_kind(accounts: AccountService, blocks: BlockService) -> None:
    alice = accounts.create_user("alice")
    page = blocks.create_block(alice, "page", "Press 4", None)
    note = blocks.create_block(alice, "markdown", "Notes", "oil weekly", parent=page.id)
    data = blocks.create_block(alice, "json", "Sensor", {"temp": 21.5}, parent=page.id)
    table = blocks.create_block(alice, "table", "Jobs", {"fields": FIELDS}, parent=page.id, index=0)
    view = blocks.create_block(alice, "view", "Board", {"table": table.id, "layout": "kanban", "group_by": "status"},
                                parent=page.id)
    total = blocks.create_block(alice, "compute", "Hours", {
        "function": "sum_field", "inputs": {"rows": {"block": table.id}, "field": {"value": "hours"}},
    }, parent=page.id)
    assert blocks.read_block(alice, page.id).children == (table.id, note.id, data.id, view.id, total.id)
    assert [b.kind for b in blocks.children(alice, page.id)] == ["table", "markdown", "json", "view", "compute"]
    assert all(b.parent == page.id and b.owner == alice.id for b in blocks.children(alice, page.id))
    assert [b.id for b in blocks.list_blocks(alice)] == [page.id], "the list holds top-level blocks"

    blocks.move_block(alice, data.id, page.id, 0)
    assert blocks.read_block(alice, page.id).children[:2] == (data.id, table.id)
    blocks.move_block(alice, note.id, None)
    assert blocks.read_block(alice, note.id).parent is None
    with pytest.raises(BlockShapeError, match="inside itself"):
        blocks.move_block(alice, page.id, page.id)

    blocks.delete_block(alice, page.id)
    for block in (table, view, total, data):
        with pytest.raises(NotFound):
            blocks.read_block(alice, block.id)
    assert blocks.read_block(alice, note.id).content == "oil weekly"


def test_rows_are_typed_by_their_table_fields(accounts: AccountService, blocks: BlockService) -> None:
    alice = accounts.create_user("alice")
    table = blocks.create_block(alice, "table", "Jobs", {"fields": FIELDS, "rows": [
        {"task": "grease", "hours": 2, "done": False, "status": "todo", "due": "2026-12-01"},
    ]})
    [row] = blocks.children(alice, table.id)
    assert row.kind == "row" and row.content == {"cells": {"task": "grease", "hours": 2, "done": False,
                                                           "status": "todo", "due": "2026-12-01"}}
    [added] = blocks.add_rows(alice, table.id, [{"task": "paint", "hours": "=B1+1", "spec": row.id}])
    assert added.parent == table.id and blocks.read_block(alice, table.id).children == (row.id, added.id)
    bad = [
        ({"hours": "two"}, "finite numbers"), ({"done": 1}, "true or false"), ({"status": "later"}, "not an option"),
        ({"due": "12/01/2026"}, "YYYY-MM-DD"), ({"spec": "page 3"}, "block id"), ({"cost": 5}, "formula field"),
        ({"colour": "red"}, "no field 'colour'"), ({"hours": "=1+"}, "cannot parse"),
        ({"hours": {"compute": 3}}, "compute cell"),
    ]
    for cells, message in bad:
        with pytest.raises(BlockShapeError, match=message):
            blocks.add_rows(alice, table.id, [cells])
    with pytest.raises(BlockShapeError, match="needs a parent table"):
        blocks.create_block(alice, "row", "", {"cells": {}})
    with pytest.raises(BlockShapeError, match="holds only rows"):
        blocks.create_block(alice, "markdown", "", "x", parent=table.id)
    assert len(blocks.children(alice, table.id)) == 2


@pytest.mark.parametrize("fields, message", [
    ([{"name": "a", "type": "colour"}], "type 'colour'"),
    ([{"name": "a", "type": "select"}], "options"),
    ([{"name": "a", "type": "formula"}], "starting with '='"),
    ([{"name": "a"}, {"name": "A"}], "used twice"),
    ([], "non-empty"),
])
def test_bad_fields_are_refused(accounts: AccountService, blocks: BlockService, fields: list, message: str) -> None:
    alice = accounts.create_user("alice")
    with pytest.raises(BlockShapeError, match=message):
        blocks.create_block(alice, "table", "t", {"fields": fields})


def test_a_stale_cell_edit_is_refused_and_nothing_is_lost(accounts: AccountService, blocks: BlockService) -> None:
    alice, bob = accounts.create_user("alice"), accounts.create_user("bob")
    table = blocks.create_block(alice, "table", "Jobs", {"fields": FIELDS, "rows": [{"task": "grease", "hours": 2}]})
    blocks.share_block(alice, table.id, "bob", "write")
    [row] = blocks.children(bob, table.id)
    blocks.update_cells(alice, row.id, {"hours": 3}, version=1)
    with pytest.raises(VersionConflict, match="version 2, the edit was based on version 1"):
        blocks.update_cells(bob, row.id, {"task": "oil"}, version=1)
    edited = blocks.update_cells(bob, row.id, {"task": "oil"}, version=2)
    assert edited.version == 3 and edited.content["cells"] == {"task": "oil", "hours": 3}
    assert blocks.update_cells(bob, row.id, {"hours": None}, version=None).content["cells"] == {"task": "oil"}


def test_access_is_inherited_from_the_blocks_above(accounts: AccountService, blocks: BlockService) -> None:
    alice, bob, carol = (accounts.create_user(n) for n in ("alice", "bob", "carol"))
    page = blocks.create_block(alice, "page", "Line 2", {})
    table = blocks.create_block(alice, "table", "Jobs", {"fields": FIELDS, "rows": [{"task": "a"}]}, parent=page.id)
    [row] = blocks.children(alice, table.id)
    with pytest.raises(NotFound):
        blocks.read_block(bob, row.id)
    blocks.share_block(alice, page.id, "bob", "read")
    assert blocks.read_block(bob, row.id).content["cells"]["task"] == "a"
    with pytest.raises(PermissionDenied):
        blocks.update_cells(bob, row.id, {"task": "b"}, version=None)
    blocks.share_block(alice, table.id, "bob", "write")
    [added] = blocks.add_rows(bob, table.id, [{"task": "by bob"}])
    assert added.owner == alice.id, "a child belongs to its parent's owner"
    blocks.delete_block(bob, added.id)
    with pytest.raises(PermissionDenied):
        blocks.delete_block(bob, page.id)
    with pytest.raises(NotFound):
        blocks.children(carol, page.id)
    view = blocks.create_block(bob, "view", "Bob's list", {"table": table.id, "layout": "list"})
    assert view.owner == bob.id
    with pytest.raises(NotFound):
        blocks.create_block(carol, "view", "x", {"table": table.id, "layout": "list"})


def test_views_and_compute_blocks_are_checked_against_what_they_name(
    accounts: AccountService, blocks: BlockService,
) -> None:
    alice = accounts.create_user("alice")
    table = blocks.create_block(alice, "table", "Jobs", {"fields": FIELDS})
    cases = [
        ("view", {"table": table.id, "layout": "gallery"}, "layout"),
        ("view", {"table": table.id, "layout": "kanban"}, "group_by"),
        ("view", {"table": table.id, "layout": "kanban", "group_by": "task"}, "select field"),
        ("view", {"table": table.id, "fields": ["nope"]}, "lacks: nope"),
        ("view", {"table": "blk_missing"}, "no block"),
        ("compute", {"function": "no_such_function"}, "no compute function"),
        ("compute", {"function": "presence", "inputs": {"in_view": {"signal": "mood"}}}, "signal must be"),
        ("compute", {"function": "presence", "inputs": {"n": {"signal": "count"}}}, "needs a 'class'"),
        ("compute", {"function": "presence", "triggers": ["interval"]}, "interval_s"),
    ]
    for kind, content, message in cases:
        with pytest.raises((BlockShapeError, NotFound), match=message):
            blocks.create_block(alice, kind, "x", content)


def test_a_store_of_the_old_format_is_refused_clearly(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE blocks (id TEXT PRIMARY KEY)")
    db.commit()
    db.close()
    with pytest.raises(StoreFormatError, match="new store file"):
        SQLiteStore(path)
