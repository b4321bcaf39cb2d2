"""Sheets whose cells hold any value, grids pasted from a spreadsheet, CSV and XLSX both ways, and
TODAY/NOW recomputed whenever a table is shown."""

import datetime as dt
import io
from pathlib import Path

import openpyxl
import pytest

from anchors import BlockShapeError, ComputeService, Signals
from anchors.sheets.cell_values import CellError, Date
from anchors.sheets.import_export import table_csv, table_from_csv, table_from_pasted
from anchors.sheets.xlsx import table_from_xlsx, table_xlsx

DATA = Path(__file__).resolve().parents[1] / "data" / "sheets"
MIXED = {
    "fields": [{"name": "label", "type": "text"}, {"name": "cell", "type": "any"}, {"name": "twice", "type": "any"}],
    "rows": [
        {"label": "number", "cell": 2.5, "twice": "=B1*2"},
        {"label": "text", "cell": "007", "twice": "=B2&B2"},
        {"label": "logical", "cell": True, "twice": "=B3+B3"},
        {"label": "date", "cell": {"date": "2024-01-31"}, "twice": "=B4+1"},
        {"label": "moment", "cell": {"date": "2024-01-31T12:30:00"}, "twice": "=TEXT(B5,\"hh:mm\")"},
        {"label": "sum", "cell": "=SUM(B1:B4)", "twice": "=COUNT(B1:B5)"},
    ],
}


def computed(engine: ComputeService, user, table_id: str) -> list[dict]:
    return [row.values for row in engine.table(user, table_id).values]


def test_an_any_field_holds_numbers_text_logicals_and_dates_and_formulas_see_them(world) -> None:
    blocks, engine, alice = world
    table = blocks.create_block(alice, "table", "Mixed", MIXED)
    values = computed(engine, alice, table.id)
    assert [v["cell"] for v in values[:3]] == [2.5, "007", True]
    assert values[3]["cell"] == 45322 and isinstance(values[3]["cell"], Date)
    assert values[4]["cell"] == pytest.approx(45322 + 12.5 / 24)
    assert [v["twice"] for v in values[:3]] == [5.0, "007007", 2]
    assert values[3]["twice"] == 45323 and isinstance(values[3]["twice"], Date), "a date plus days is a date"
    assert values[4]["twice"] == "12:30"
    assert values[5] == {"label": "sum", "cell": 2.5 + 1 + 45322, "twice": 4}, "SUM and COUNT skip text, count dates"
    grid = engine.view(alice, table.id)
    assert [row[1] for row in grid["rows"]] == ["2.5", "007", "yes", "2024-01-31", "2024-01-31 12:30", "45325.5"]
    assert grid["rows"][3][2] == "2024-02-01"


@pytest.mark.parametrize("cell, message", [
    ([1, 2], "holds a number, text"),
    ({"date": "31/01/2024"}, "a date is"),
    ({"when": "2024-01-31"}, "holds a number, text"),
    (float("inf"), "finite numbers"),
])
def test_an_any_cell_refuses_what_no_spreadsheet_cell_holds(world, cell: object, message: str) -> None:
    blocks, _, alice = world
    with pytest.raises(BlockShapeError, match=message):
        blocks.create_block(alice, "table", "Bad", {"fields": MIXED["fields"], "rows": [{"cell": cell}]})


def test_a_compact_table_whose_column_mixes_kinds_gets_an_any_field(world) -> None:
    blocks, engine, alice = world
    table = blocks.create_block(alice, "table", "Grid", {
        "columns": ["what", "value"],
        "rows": [["count", 3], ["name", "bolt"], ["ok", False], ["due", {"date": "2024-05-01"}]],
    })
    assert [f["type"] for f in table.content["fields"]] == ["text", "any"]
    assert [v["value"] for v in computed(engine, alice, table.id)] == [3, "bolt", False, Date(45413)]


def test_a_grid_pasted_from_a_spreadsheet_keeps_its_values(world) -> None:
    blocks, engine, alice = world
    pasted = ("part\tqty\tprice\tok\tdue\tnote\n"
              "belt\t1,200\t$3.50\tTRUE\t1/31/2024\t45%\n"
              "bolt\t40\t0.1\tFALSE\t2024-02-29\tfragile\n"
              "total\t=SUM(B1:B2)\t=AVERAGE(C1:C2)\t\t\t12\n")
    content = table_from_pasted(pasted)
    assert [(f["name"], f["type"]) for f in content["fields"]] == [
        ("part", "text"), ("qty", "number"), ("price", "number"), ("ok", "checkbox"), ("due", "date"), ("note", "any"),
    ]
    table = blocks.create_block(alice, "table", "Pasted", content)
    values = computed(engine, alice, table.id)
    assert values[0] == {"part": "belt", "qty": 1200, "price": 3.5, "ok": True, "due": "2024-01-31", "note": 0.45}
    assert values[1]["note"] == "fragile" and values[2]["qty"] == 1240 and values[2]["price"] == 1.8
    headless = table_from_pasted("1\tx\n2\ty\n", header=False)
    assert [f["name"] for f in headless["fields"]] == ["A", "B"] and headless["rows"][1] == {"A": 2, "B": "y"}


def test_csv_export_and_import_keep_mixed_values(world) -> None:
    blocks, engine, alice = world
    table = blocks.create_block(alice, "table", "Mixed", MIXED)
    text = table_csv(engine.table(alice, table.id))
    assert text.splitlines()[2] == 'text,"=""007""","=""007007"""', "text that reads as a number stays text"
    again = blocks.create_block(alice, "table", "Again", table_from_csv(text))
    before, after = computed(engine, alice, table.id), computed(engine, alice, again.id)
    assert [v["cell"] for v in after] == [v["cell"] for v in before]
    assert isinstance(after[3]["cell"], Date) and after[1]["cell"] == "007"


def test_xlsx_export_writes_values_formulas_and_dates_a_spreadsheet_reads(world) -> None:
    blocks, engine, alice = world
    table = blocks.create_block(alice, "table", "Stock", {
        "fields": [{"name": "item", "type": "text"}, {"name": "qty", "type": "number"},
                   {"name": "due", "type": "date"}, {"name": "note", "type": "any"},
                   {"name": "double", "type": "formula", "formula": "=qty*2"}],
        "rows": [{"item": "belt", "qty": 3, "due": "2024-01-31", "note": True},
                 {"item": "bolt", "qty": 40, "note": {"date": "2024-02-29"}},
                 {"item": "total", "qty": "=SUM(B1:B2)", "note": '=IFS(B3>10,"many",TRUE,"few")'}],
    })
    sheet = openpyxl.load_workbook(io.BytesIO(table_xlsx(engine.table(alice, table.id)))).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == ["item", "qty", "due", "note", "double"] and sheet["A1"].font.bold
    assert rows[1] == ["belt", 3, dt.datetime(2024, 1, 31), True, "=B2*2"], "a field name is its row's cell"
    assert rows[2][3] == dt.datetime(2024, 2, 29) and sheet["D3"].number_format == "yyyy-mm-dd"
    assert rows[3][:4] == ["total", "=SUM(B2:B3)", None, '=_xlfn.IFS(B4>10,"many",TRUE,"few")'], \
        "rows move down one under the header; newer functions get Excel's prefix"


def test_an_exported_workbook_imports_back_with_the_same_values_and_formulas(world) -> None:
    blocks, engine, alice = world
    table = blocks.create_block(alice, "table", "Mixed", MIXED)
    again = blocks.create_block(alice, "table", "Again", table_from_xlsx(table_xlsx(engine.table(alice, table.id))))
    assert computed(engine, alice, again.id) == computed(engine, alice, table.id)
    rows = [blocks.read_block(alice, r).content["cells"] for r in again.children]
    assert rows[0]["twice"] == "=B1*2" and rows[5]["cell"] == "=SUM(B1:B4)"


def test_a_workbook_saved_by_a_spreadsheet_imports_with_its_formulas_and_values(world) -> None:
    """orders.xlsx was saved by LibreOffice: formulas with their computed values, a formula reading another sheet."""
    blocks, engine, alice = world
    content = table_from_xlsx((DATA / "orders.xlsx").read_bytes())
    assert [(f["name"], f["type"]) for f in content["fields"]] == [
        ("item", "text"), ("qty", "number"), ("price", "number"), ("total", "number"),
        ("due", "any"), ("note", "any"), ("big", "text"),
    ]
    assert content["rows"][0]["total"] == "=B1*C1" and content["rows"][0]["big"] == '=IFS(D1>5,"yes",TRUE(),"no")'
    assert content["rows"][2]["total"] == pytest.approx(4.8), "another sheet's cell cannot be read here: its value is kept"
    assert content["rows"][2]["due"] == {"date": "2024-03-01T09:30:00"}
    table = blocks.create_block(alice, "table", "Orders", content)
    values = computed(engine, alice, table.id)
    assert [v["total"] for v in values] == [7.0, 1.25, pytest.approx(4.8), pytest.approx(13.05)]
    assert [v["big"] for v in values] == ["yes", "no", "no", 1.25]
    assert values[3]["qty"] == 43 and values[3]["note"] == 3 and values[2]["note"] is True


def test_a_broken_workbook_is_refused_with_a_reason() -> None:
    with pytest.raises(BlockShapeError, match="not an XLSX workbook"):
        table_from_xlsx(b"PK\x03\x04 not really a zip")
    with pytest.raises(BlockShapeError, match="no sheet 'Nope'"):
        table_from_xlsx((DATA / "orders.xlsx").read_bytes(), "Nope")


def test_today_and_now_change_when_the_table_is_shown_later(world) -> None:
    blocks, engine, alice = world
    table = blocks.create_block(alice, "table", "Clock", {
        "columns": ["what", "when"], "rows": [["today", "=TODAY()"], ["now", "=NOW()"], ["days left", "=DATE(2024,12,31)-B1"]],
    })
    total = blocks.create_block(alice, "compute", "Days", {
        "function": "sum_field", "inputs": {"rows": {"block": table.id}, "field": {"value": "when"}},
    })
    first = dt.datetime(2024, 1, 31, 9, 0).timestamp()
    shown = engine.display(alice, table.id, Signals(1.0, first))
    assert [row[1] for row in shown.content["rows"]] == ["2024-01-31", "2024-01-31 09:00", "335"]
    again = engine.display(alice, table.id, Signals(2.0, first))
    assert again.version == shown.version, "shown again at the same moment: the same content"
    later = engine.display(alice, table.id, Signals(3.0, first + 86400 + 3600))
    assert [row[1] for row in later.content["rows"]] == ["2024-02-01", "2024-02-01 10:00", "334"]
    assert later.version != shown.version
    before = engine.result(alice, total.id, Signals(4.0, first)).value
    after = engine.result(alice, total.id, Signals(5.0, first + 2 * 86400)).value
    assert after - before == pytest.approx(2 + 2 - 2), "a compute block reading the table sees the new values"
    assert not any(isinstance(v["when"], CellError) for v in computed(engine, alice, table.id))


def test_a_zip_that_is_no_workbook_or_unpacks_too_far_is_refused() -> None:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<not really>")
    with pytest.raises(BlockShapeError, match="cannot be read|not an XLSX"):
        table_from_xlsx(buffer.getvalue())
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * (201 * 1024 * 1024))
    with pytest.raises(BlockShapeError, match="unpacks to"):
        table_from_xlsx(bomb.getvalue())
