"""Formulas checked cell by cell against values LibreOffice computed for the same workbook.

tests/data/formulas/workbook.json holds the cells; expected.json holds what
LibreOffice computed for every formula (regenerate.py, run by hand, writes it).
"""

import datetime as dt
import json
import math
from pathlib import Path

from anchors.sheets.cell_text import serial
from anchors.sheets.cell_values import CellError, Date
from anchors.sheets.formulas import cell_name
from anchors.sheets.sheet import Sheet

DATA = Path(__file__).resolve().parents[1] / "data" / "formulas"
LIBREOFFICE_ERRORS = {"Err:522": "#CYCLE!", "Err:502": "#NUM!", "Err:504": "#VALUE!"}
"""LibreOffice's own error names for what spreadsheets write otherwise: a circular
reference, an invalid argument (SQRT of a negative number) and a wrong parameter
(MIN of a text given directly)."""


def cell_input(raw: object) -> object:
    if isinstance(raw, dict):
        return Date(serial(dt.date.fromisoformat(raw["date"])))
    return raw


def expected_value(value: object) -> object:
    if isinstance(value, str) and (value.startswith("#") or value.startswith("Err:")):
        return CellError(LIBREOFFICE_ERRORS.get(value, value), "")
    if isinstance(value, dict):
        return Date(value["date"])
    return value


def same(ours: object, theirs: object) -> bool:
    if theirs is None:
        return ours == ""  # an empty text comes back from LibreOffice's file as an empty cell
    if isinstance(theirs, CellError):
        return isinstance(ours, CellError) and ours.code == theirs.code
    if isinstance(theirs, bool) or isinstance(ours, bool):
        return ours is theirs or ours == theirs and type(ours) is type(theirs)
    if isinstance(theirs, (int, float)) and isinstance(ours, (int, float)):
        return math.isclose(ours, theirs, rel_tol=1e-12, abs_tol=1e-12)
    return ours == theirs


def test_every_formula_matches_libreoffice() -> None:
    workbook = json.loads((DATA / "workbook.json").read_text())
    rows = [[cell_input(raw) for raw in row] for row in workbook["rows"]]
    expected = json.loads((DATA / "expected.json").read_text())
    assert expected["engine"].startswith("LibreOffice")
    sheet = Sheet([f"field{i}" for i in range(len(rows[0]))])
    sheet.load(rows)
    mismatches = []
    for r, row in enumerate(rows):
        for c, raw in enumerate(row):
            if isinstance(raw, str) and raw.startswith("="):
                name = cell_name((r, c))
                theirs = expected_value(expected["values"][name])
                ours = sheet.value(r, c)
                if not same(ours, theirs):
                    mismatches.append(f"{name} {raw}: ours {ours!r}, LibreOffice {theirs!r}")
    assert len(expected["values"]) == 523
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches)
