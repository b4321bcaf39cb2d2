"""One table, several views: a grid, a kanban, a wiki page and a list, each filtered and sorted its own way."""

import pytest

from anchors import AccountService, BlockService, ComputeService, User

FIELDS = [
    {"name": "task", "type": "text"},
    {"name": "hours", "type": "number"},
    {"name": "status", "type": "select", "options": ["todo", "doing", "done"]},
    {"name": "cost", "type": "formula", "formula": "=hours*40"},
]
ROWS = [
    {"task": "grease bearings", "hours": 2, "status": "todo"},
    {"task": "replace belt", "hours": 5, "status": "doing"},
    {"task": "calibrate", "hours": 1, "status": "done"},
    {"task": "paint guard", "hours": 3, "status": "todo"},
    {"task": "order parts"},
]


@pytest.fixture
def world(accounts: AccountService, blocks: BlockService, compute: ComputeService, alice: User):
    """The shared world with bob, and alice's table of jobs shared with him to read."""
    bob = accounts.create_user("bob")
    table = blocks.create_block(alice, "table", "Press 4 jobs", {"fields": FIELDS, "rows": ROWS})
    blocks.share_block(alice, table.id, "bob", "read")
    return blocks, compute, alice, bob, table


def test_a_table_alone_shows_as_a_grid_of_computed_values(world) -> None:
    blocks, engine, alice, _, table = world
    grid = engine.view(alice, table.id)
    assert grid["layout"] == "grid" and grid["columns"] == ["task", "hours", "status", "cost"]
    assert grid["rows"][1] == ["replace belt", "5", "doing", "200"]
    assert grid["rows"][4] == ["order parts", "", "", "0"]
    assert grid["row_ids"] == list(blocks.read_block(alice, table.id).children)


def test_a_spreadsheet_view_filters_sorts_and_picks_fields(world) -> None:
    blocks, engine, alice, _, table = world
    view = blocks.create_block(alice, "view", "Big jobs", {
        "table": table.id, "layout": "grid", "fields": ["task", "cost"],
        "filter": [{"field": "hours", "op": ">=", "value": 2}], "sort": [{"field": "cost", "desc": True}],
    })
    assert engine.view(alice, view.id)["rows"] == [["replace belt", "200"], ["paint guard", "120"], ["grease bearings", "80"]]


def test_a_kanban_groups_by_a_select_field_in_option_order(world) -> None:
    blocks, engine, alice, _, table = world
    board = blocks.create_block(alice, "view", "Board", {
        "table": table.id, "layout": "kanban", "group_by": "status", "sort": [{"field": "hours"}],
    })
    shaped = engine.view(alice, board.id)
    lanes = {lane["name"]: [c["title"] for c in lane["cards"]] for lane in shaped["lanes"]}
    assert list(lanes) == ["todo", "doing", "done", "(none)"]
    assert lanes["todo"] == ["grease bearings", "paint guard"] and lanes["(none)"] == ["order parts"]
    assert shaped["lanes"][0]["cards"][0]["lines"] == ["hours: 2", "cost: 80"], "the grouping field is the lane"


def test_a_wiki_page_has_a_section_per_row_and_a_list_an_item(world) -> None:
    blocks, engine, alice, bob, table = world
    wiki = blocks.create_block(alice, "view", "Handbook", {
        "table": table.id, "layout": "wiki", "filter": [{"field": "status", "op": "=", "value": "todo"}],
    })
    sections = engine.view(alice, wiki.id)["sections"]
    assert [s["heading"] for s in sections] == ["grease bearings", "paint guard"]
    assert sections[0]["lines"] == ["hours: 2", "status: todo", "cost: 80"]
    mine = blocks.create_block(bob, "view", "Bob's list", {
        "table": table.id, "layout": "list", "fields": ["task", "status"],
        "filter": [{"field": "status", "op": "not_empty"}, {"field": "task", "op": "contains", "value": "BE"}],
    })
    items = engine.view(bob, mine.id)["items"]
    assert [(i["title"], i["detail"]) for i in items] == [("grease bearings", "status: todo"), ("replace belt", "status: doing")]


def test_views_follow_edits_of_the_table(world) -> None:
    blocks, engine, alice, _, table = world
    board = blocks.create_block(alice, "view", "Board", {"table": table.id, "layout": "kanban", "group_by": "status"})
    first_row = blocks.read_block(alice, table.id).children[0]
    blocks.update_cells(alice, first_row, {"status": "done", "hours": 4}, version=1)
    lanes = {lane["name"]: lane["cards"] for lane in engine.view(alice, board.id)["lanes"]}
    assert [c["title"] for c in lanes["done"]] == ["grease bearings", "calibrate"]
    assert lanes["done"][0]["lines"] == ["hours: 4", "cost: 160"]
