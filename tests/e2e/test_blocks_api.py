"""Blocks, views, formulas and compute through the REST API of a real server, with the Python client."""

import pytest

from harness.servers import Server
from spatial.rest_client import ApiError, RestClient

FIELDS = [
    {"name": "part", "type": "text"},
    {"name": "qty", "type": "number"},
    {"name": "price", "type": "number"},
    {"name": "status", "type": "select", "options": ["ok", "low"]},
    {"name": "value", "type": "formula", "formula": "=qty*price"},
]


@pytest.fixture
def api(server: Server) -> RestClient:
    with RestClient(server.url, server.token) as client:
        yield client


def test_a_table_with_formulas_views_and_a_compute_block(api: RestClient, server: Server) -> None:
    page = api.create_block("page", "Machine 12")
    table = api.create_block("table", "Spares", {"fields": FIELDS, "rows": [
        {"part": "belt", "qty": 3, "price": 12.5, "status": "ok"},
        {"part": "bolt", "qty": 40, "price": 0.2, "status": "low"},
    ]}, parent=page["id"])
    [total] = api.add_rows(table["id"], [{"part": "total", "qty": "=SUM(B1:B2)", "price": "=E3/B3"}])
    assert api.block(page["id"])["children"] == [table["id"]]

    rows = api.table(table["id"])["rows"]
    assert [r["values"]["value"] for r in rows[:2]] == [37.5, 8.0]
    assert rows[2]["values"]["qty"] == 43 and rows[2]["values"]["price"] is None
    assert rows[2]["errors"]["price"]["code"] == "#CYCLE!" and "circular" in rows[2]["errors"]["price"]["message"]
    api.set_cells(table["id"], total["id"], {"price": "=SUM(E1:E2)/B3"}, version=1)
    assert round(api.table(table["id"])["rows"][2]["values"]["price"], 6) == round(45.5 / 43, 6)

    with pytest.raises(ApiError) as stale:
        api.set_cells(table["id"], total["id"], {"part": "sum"}, version=1)
    assert stale.value.status == 409 and stale.value.code == "version_conflict"
    with pytest.raises(ApiError) as bad:
        api.set_cells(table["id"], rows[0]["id"], {"qty": "=SUM(("})
    assert bad.value.status == 422 and bad.value.code == "bad_formula"

    board = api.create_block("view", "Board", {"table": table["id"], "layout": "kanban", "group_by": "status"})
    lanes = {lane["name"]: [c["title"] for c in lane["cards"]] for lane in api.view(board["id"])["lanes"]}
    assert lanes == {"ok": ["belt"], "low": ["bolt"], "(none)": ["total"]}
    wiki = api.create_block("view", "Wiki", {"table": table["id"], "layout": "wiki", "fields": ["part", "value"],
                                             "filter": [{"field": "qty", "op": "<", "value": 10}]})
    assert api.view(wiki["id"])["sections"] == [{"id": rows[0]["id"], "heading": "belt", "lines": ["value: 37.5"]}]

    assert api.evaluate(table["id"], "=AVERAGE(B1:B2)") == {"value": 21.5, "error": None}
    assert api.evaluate(table["id"], "=qty*2", row=1)["value"] == 80
    assert api.evaluate(table["id"], "=1/0")["error"]["code"] == "#DIV/0!"

    worth = api.create_block("compute", "Stock value", {
        "function": "sum_field", "inputs": {"rows": {"block": table["id"]}, "field": {"value": "value"}},
    })
    result = api.result(worth["id"])
    assert result["function"] == "sum_field" and result["error"] is None
    assert result["value"] == pytest.approx(37.5 + 8 + 45.5), "the total row's value counts too"
    api.set_cells(table["id"], rows[0]["id"], {"qty": 4})
    assert api.result(worth["id"])["value"] == pytest.approx(50 + 8 + 58)
    assert api.display(board["id"])["kind"] == "view"
    assert api.display(worth["id"])["content"]["value"] == pytest.approx(116)
    assert "sum_field" in {f["name"] for f in api.functions()}

    other = RestClient(server.url, server.new_token("visitor"))
    with pytest.raises(ApiError) as hidden:
        other.view(board["id"])
    assert hidden.value.status == 404
    api.share(page["id"], "visitor")
    own_view = other.create_block("view", "Visitor list", {"table": table["id"], "layout": "list", "fields": ["part"]})
    assert [i["title"] for i in other.view(own_view["id"])["items"]] == ["belt", "bolt", "total"]
    other.close()


def test_csv_and_markdown_round_trips(api: RestClient) -> None:
    table = api.import_csv("part,qty\nbelt,3\nbolt,40\nall,=SUM(B1:B2)\n", title="Imported")
    assert [f["type"] for f in api.table(table["id"])["fields"]] == ["text", "number"]
    assert api.export_csv(table["id"]) == "part,qty\nbelt,3\nbolt,40\nall,43\n"
    with pytest.raises(ApiError) as bad:
        api.import_csv("")
    assert bad.value.status == 422 and "empty" in bad.value.message

    page = api.import_markdown("# Line 2\n\nOil weekly.\n\n| part | qty |\n| --- | --- |\n| belt | 3 |\n")
    kinds = [c["kind"] for c in api.children(page["id"])]
    assert page["title"] == "Line 2" and kinds == ["markdown", "table"]
    text = api.export_markdown(page["id"])
    assert text == "# Line 2\n\nOil weekly.\n\n| part | qty |\n| --- | --- |\n| belt | 3 |\n"


def test_pasted_grids_and_xlsx_workbooks_keep_values_and_formulas(api: RestClient) -> None:
    pasted = api.import_pasted("part\tqty\tnote\nbelt\t1,200\tTRUE\nbolt\t40\t1/31/2024\nall\t=SUM(B1:B2)\tsee qty\n")
    table = api.table(pasted["id"])
    assert [f["type"] for f in table["fields"]] == ["text", "number", "any"]
    assert [r["values"]["note"] for r in table["rows"]] == [True, {"date": "2024-01-31"}, "see qty"]
    assert table["rows"][2]["values"]["qty"] == 1240
    workbook = api.export_xlsx(pasted["id"])
    assert workbook[:2] == b"PK", "an XLSX file is a zip archive"
    again = api.table(api.import_xlsx(workbook, title="Again")["id"])
    assert [r["values"] for r in again["rows"]] == [r["values"] for r in table["rows"]]
    assert again["rows"][2]["cells"]["qty"] == "=SUM(B1:B2)"
    with pytest.raises(ApiError) as bad:
        api.import_xlsx(b"not a workbook")
    assert bad.value.status == 422 and "XLSX" in bad.value.message


def test_block_tree_moves_and_deletes(api: RestClient) -> None:
    page = api.create_block("page", "Shelf")
    a = api.create_block("markdown", "", "a", parent=page["id"])
    b = api.create_block("markdown", "", "b", parent=page["id"])
    api.move_block(b["id"], page["id"], 0)
    assert api.block(page["id"])["children"] == [b["id"], a["id"]]
    with pytest.raises(ApiError) as bad:
        api.create_block("row", "", {"cells": {}}, parent=page["id"])
    assert bad.value.status == 422
    api.delete_block(page["id"])
    with pytest.raises(ApiError) as gone:
        api.block(a["id"])
    assert gone.value.status == 404


def test_serve_takes_a_ray_address() -> None:
    from spatial.cli import _settings, parser

    assert _settings(parser().parse_args(["serve", "--ray-address", "auto"])).ray_address == "auto"
    assert _settings(parser().parse_args(["serve"])).ray_address is None, "in-process by default"
