"""Formulas: evaluation, errors in their cells, and recomputing only what an edit affects."""

import datetime

import pytest

from anchors.sheets.cell_values import CellError, Date
from anchors.sheets.formulas import FormulaSyntaxError, parse
from anchors.sheets.sheet import Sheet


def sheet_of(fields: list[str], rows: list[list[object]], external=None) -> Sheet:
    sheet = Sheet(fields, external)
    sheet.load(rows)
    return sheet


def code(value: object) -> str | None:
    return value.code if isinstance(value, CellError) else None


def test_field_names_refer_to_the_same_row_and_a1_refs_to_cells() -> None:
    sheet = sheet_of(["item", "qty", "price", "total"], [
        ["beans", 2, 3.5, "=qty*price"],
        ["milk", 4, 1.25, "=QTY*Price"],
        ["all", "=SUM(B1:B2)", None, "=SUM(D1:D2)"],
    ])
    assert sheet.grid()[0][3] == 7.0 and sheet.value(1, 3) == 5.0
    assert sheet.value(2, 1) == 6 and sheet.value(2, 3) == 12.0


def test_aggregates_text_and_conditionals() -> None:
    sheet = sheet_of(["a", "b"], [
        [1, '=IF(AVERAGE(A1:A3)>2,"high","low")'],
        [5, "=COUNT(A1:A3)&\" of \"&COUNTA(A1:A3)"],
        ["x", '=MAX(A1:A3)-MIN(A1:A3)'],
        [None, '=UPPER(LEFT(A3&"yz",2))'],
    ])
    assert [sheet.value(r, 1) for r in range(4)] == ["high", "2 of 3", 4, "XY"]


@pytest.mark.parametrize("formula, error", [
    ("=A1/0", "#DIV/0!"),
    ("=A1/B1", "#DIV/0!"),
    ('="abc"+1', "#VALUE!"),
    ("=NOSUCH(1)", "#NAME?"),
    ("=missing*2", "#NAME?"),
    ("=Z1", "#REF!"),
    ("=A99", "#REF!"),
    ("=blk_nowhere!A1", "#REF!"),
    ("=SQRT(-4)", "#NUM!"),
    ("=C1", "#CYCLE!"),
])
def test_errors_stay_in_their_cell(formula: str, error: str) -> None:
    sheet = sheet_of(["a", "b", "c"], [[4, None, formula], [1, 2, "=A2+B2"]])
    assert code(sheet.value(0, 2)) == error
    assert sheet.value(0, 2).message
    assert sheet.value(1, 2) == 3, "the other cells still compute"


def test_an_error_flows_to_dependents_and_iferror_catches_it() -> None:
    sheet = sheet_of(["a", "b", "c"], [[1, 0, "=A1/B1"], [None, "=C1*2", "=IFERROR(C1, -1)"]])
    assert code(sheet.value(1, 1)) == "#DIV/0!" and sheet.value(1, 2) == -1
    sheet.set(0, 1, 4)
    assert sheet.value(0, 2) == 0.25 and sheet.value(1, 1) == 0.5 and sheet.value(1, 2) == 0.25


def test_a_cycle_is_an_error_in_its_cells_not_a_crash() -> None:
    sheet = sheet_of(["a", "b", "c"], [["=B1+1", "=C1+1", "=A1+1"], [1, "=A2*2", "=A1"]])
    assert {code(sheet.value(0, c)) for c in range(3)} == {"#CYCLE!"}
    assert "circular reference" in sheet.value(0, 0).message and "A1" in sheet.value(0, 0).message
    assert code(sheet.value(1, 2)) == "#CYCLE!", "a cell reading a cycle cannot be computed either"
    assert sheet.value(1, 1) == 2
    sheet.set(0, 2, 5)
    assert (sheet.value(0, 0), sheet.value(0, 1), sheet.value(1, 2)) == (7, 6, 7), "breaking the cycle heals it"


def test_an_edit_recomputes_only_the_cells_downstream() -> None:
    rows = [[i, f"=A{i + 1}*2", f"=B{i + 1}+1"] for i in range(50)]
    rows.append(["=SUM(A1:A50)", None, None])
    sheet = sheet_of(["a", "b", "c"], rows)
    assert sheet.evaluations == 101
    before = sheet.evaluations
    recomputed = sheet.set(7, 0, 100)
    assert recomputed == [(7, 1), (7, 2), (50, 0)] or sorted(recomputed) == [(7, 1), (7, 2), (50, 0)]
    assert sheet.evaluations - before == 3
    assert sheet.value(7, 2) == 201 and sheet.value(50, 0) == sum(range(50)) - 7 + 100


def test_a_chain_recomputes_in_dependency_order() -> None:
    rows = [[1, None]] + [[f"=A{i}+1", None] for i in range(1, 30)]
    sheet = sheet_of(["a", "b"], rows)
    assert sheet.value(29, 0) == 30
    order = sheet.set(0, 0, 100)
    assert order == [(i, 0) for i in range(1, 30)]
    assert sheet.value(29, 0) == 129


def test_replacing_a_formula_rewires_its_dependencies() -> None:
    sheet = sheet_of(["a", "b", "c"], [[1, 10, "=A1"]])
    sheet.set(0, 2, "=B1")
    assert sheet.value(0, 2) == 10
    assert sheet.set(0, 0, 2) == [], "C1 no longer reads A1"
    assert sheet.set(0, 1, 20) == [(0, 2)] and sheet.value(0, 2) == 20


def test_references_to_another_block_go_through_the_resolver() -> None:
    other = {"blk_stock": [[1, 2], [3, 4]]}

    def external(block_id: str) -> list[list[object]]:
        if block_id not in other:
            raise LookupError(f"no block {block_id}")
        return other[block_id]

    sheet = sheet_of(["a", "b"], [["=SUM(blk_stock!A1:B2)", "=blk_stock!B2*10"]], external)
    assert (sheet.value(0, 0), sheet.value(0, 1)) == (10, 40)
    other["blk_stock"] = [[1, 2], [3, 5]]
    assert sheet.external_changed("blk_stock") == [(0, 0), (0, 1)]
    assert (sheet.value(0, 0), sheet.value(0, 1)) == (11, 50)
    assert sheet.externals() == {"blk_stock"}


@pytest.mark.parametrize("text", ["=1+", "=SUM(1", "no equals", "=blk_x!qty", '=")'])
def test_unparseable_formulas_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(FormulaSyntaxError) as caught:
        parse(text)
    assert text in str(caught.value) or "'='" in str(caught.value)


def test_a_formula_filled_down_a_column_is_parsed_once() -> None:
    from anchors.sheets.formulas import template

    assert template("=B1+1", (1, 1)) == template("=B2+1", (2, 1)) == template("=C5+1", (5, 2))
    assert template("=$A$1*B1", (1, 1)) != template("=$A$1*B2", (1, 1))
    assert template('="B1"&B1', (1, 1)).startswith('="B1"&'), "text inside quotes is left alone"
    assert template("=LOG10(A1)", (0, 0)).startswith("=LOG10("), "function names are not references"
    parse.cache_clear()
    sheet_of(["a", "b"], [[1, "=A1*2"]] + [[f"=A{r}+1", f"=A{r + 1}*2"] for r in range(1, 200)])
    assert parse.cache_info().currsize == 2, "one parse for each column's formula"


def test_iferror_catches_a_circular_reference_and_the_is_functions_see_it() -> None:
    sheet = sheet_of(["a", "b", "c"], [
        ["=IFERROR(B1,0)", "=A1+1", '=IFERROR(C1,"self")'],
        ["=ISERROR(A2)", "=ISNA(B2)", "=IFNA(C2,1)"],
        ["=B3+1", "=IFERROR(A3,0)", "=A3*10"],
    ])
    assert sheet.value(0, 0) == 0, "A1 reads B1, which reads A1 while it is being computed: caught"
    assert code(sheet.value(0, 1)) == "#CYCLE!" and "A1, B1" in sheet.value(0, 1).message
    assert sheet.value(0, 2) == "self", "a cell reading itself inside IFERROR"
    assert (sheet.value(1, 0), sheet.value(1, 1)) == (True, False), "a cycle is an error, but not #N/A"
    assert code(sheet.value(1, 2)) == "#CYCLE!", "IFNA catches #N/A only"
    assert (sheet.value(2, 0), sheet.value(2, 1), sheet.value(2, 2)) == (1, 0, 10)
    sheet.set(0, 1, 5)
    assert sheet.value(0, 0) == 5, "breaking the cycle heals it"


def test_a_range_is_one_dependency_and_an_edit_inside_it_recomputes_its_readers() -> None:
    rows = [[f"item{i % 7}", i, None] for i in range(1000)]
    rows[0][2] = '=SUMIF(A1:A1000,"item3",B1:B1000)'
    rows[1][2] = '=COUNTIF(B1:B1000,">500")'
    sheet = sheet_of(["name", "qty", "total"], rows)
    bound = sheet.formulas[(0, 2)]
    assert bound.spans == {(0, 0, 999, 0), (0, 1, 999, 1)} and bound.cells == set()
    assert sheet.value(0, 2) == sum(i for i in range(1000) if i % 7 == 3)
    assert sheet.value(1, 2) == 499
    assert sorted(sheet.set(10, 1, 10_000)) == [(0, 2), (1, 2)]
    assert sheet.value(0, 2) == sum(i for i in range(1000) if i % 7 == 3) - 10 + 10_000
    assert sheet.set(10, 0, "item3") == [(0, 2)], "the COUNTIF does not read column A"
    assert sheet.set(5, 2, 1) == [], "nothing reads C6"


def test_today_and_now_are_recomputed_with_the_time_they_are_shown_at() -> None:
    noon = datetime.datetime(2024, 1, 31, 12, 0).timestamp()
    sheet = Sheet(["a", "b"], clock=lambda: noon)
    sheet.load([["=TODAY()", "=NOW()"], ["=A1+1", "=TEXT(B1,\"yyyy-mm-dd hh:mm\")"]])
    assert sheet.value(0, 0) == 45322 and isinstance(sheet.value(0, 0), Date)
    assert sheet.value(0, 1) == pytest.approx(45322.5) and sheet.value(1, 1) == "2024-01-31 12:00"
    assert sheet.volatile == {(0, 0), (0, 1)}
    assert sheet.recompute_volatile(noon) == [], "shown again at the same moment: nothing to do"
    later = noon + 36 * 3600
    assert sorted(sheet.recompute_volatile(later)) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert (sheet.value(0, 0), sheet.value(1, 0), sheet.value(1, 1)) == (45324, 45325, "2024-02-02 00:00")


def test_offset_follows_the_cells_it_reads_as_they_move() -> None:
    sheet = sheet_of(["a", "b"], [[10, 1], [20, "=OFFSET(A1,B1,0)"], [30, None]])
    assert sheet.value(1, 1) == 20
    assert sheet.set(1, 0, 21) == [(1, 1)] and sheet.value(1, 1) == 21
    sheet.set(0, 1, 2)
    assert sheet.value(1, 1) == 30
    assert sheet.set(1, 0, 22) == [], "it no longer reads A2"
    assert sheet.set(2, 0, 31) == [(1, 1)] and sheet.value(1, 1) == 31
    sheet.set(0, 1, 9)
    assert code(sheet.value(1, 1)) == "#NUM!", "outside the table"


@pytest.mark.parametrize("text, message", [
    ("=PI(1)", "PI takes 0 arguments, not 1"),
    ("=ROUND()", "ROUND takes 1 to 2 arguments, not 0"),
    ("=SUMIF(A1:A3)", "SUMIF takes 2 to 3 arguments, not 1"),
])
def test_a_function_given_the_wrong_number_of_arguments_is_refused_when_written(text: str, message: str) -> None:
    with pytest.raises(FormulaSyntaxError, match=message):
        parse(text)


def test_a_whole_column_in_a_one_value_place_is_the_cell_of_the_formulas_row() -> None:
    sheet = sheet_of(["a", "b"], [[1, "=A:A*2"], [5, "=A:A*2"], [7, "=A1:A2*2"]])
    assert (sheet.value(0, 1), sheet.value(1, 1)) == (2, 10)
    assert code(sheet.value(2, 1)) == "#VALUE!", "row 3 is outside A1:A2"


def test_sumproduct_computes_its_arguments_cell_by_cell() -> None:
    sheet = sheet_of(["region", "qty", "price", "out"], [
        ["north", 2, 1.5, '=SUMPRODUCT((A1:A3="north")*B1:B3*C1:C3)'],
        ["south", 4, 2.0, "=SUMPRODUCT(B1:B3,C1:C3)"],
        ["North", 1, 3.0, "=SUMPRODUCT(LEN(A1:A3))"],
    ])
    assert [sheet.value(r, 3) for r in range(3)] == [6.0, 14.0, 15]


def test_offset_reading_a_cell_not_yet_recomputed_computes_it_first() -> None:
    sheet = sheet_of(["a", "b", "c", "d"], [["=OFFSET(B1,0,1)", None, "=D1*2", 5]])
    assert sheet.value(0, 0) == 10, "C1 is computed before A1 reads it, though A1 comes first"
    assert sheet.set(0, 3, 6) == [(0, 2), (0, 0)] and sheet.value(0, 0) == 12
    sheet.set(0, 2, "=A1+1")
    assert code(sheet.value(0, 0)) == "#CYCLE!", "A1 reads C1, which reads A1"
