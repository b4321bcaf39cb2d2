"""Tables as XLSX workbooks (openpyxl): values and formulas both ways.

A table becomes one sheet: the field names in row 1, a row of cells under it
for each row. A spreadsheet counts that header as row 1 where a table's
formulas count from the row under it, so references move down by one on
export (`=B2*2` in the table is `=B3*2` in the file) and up by one on import;
a field name in a formula (`=qty*price`) is written as the cell of its row,
and a function newer than Excel 2007 with the `_xlfn.` prefix Excel files
give it. A cell whose formula cannot be written there (it reads another
block) is exported as its computed value; a file's formula this table cannot
hold (another sheet, a name) is imported as the value the file last computed
for it. Dates are dates both ways; field types are inferred on import as for
CSV, a mix of kinds making a field of type `any`.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import zipfile
from collections.abc import Callable
from typing import Any

import openpyxl
from openpyxl.styles import Font
from openpyxl.utils.exceptions import InvalidFileException

from anchors.errors import BlockShapeError
from anchors.sheets.cell_text import EPOCH
from anchors.sheets.cell_values import CellError, Date
from anchors.sheets.formulas import FormulaSyntaxError, column_letter, parse
from anchors.sheets.import_export import MAX_IMPORT_CELLS, field_type, stored_cell
from anchors.sheets.tables import Field, date_value_serial, is_compute, is_date_value, is_formula
from anchors.views import TableValues

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NEWER_FUNCTIONS = ("IFS", "SWITCH", "MAXIFS", "MINIFS", "TEXTJOIN", "CONCAT", "XOR", "IFNA", "DAYS", "XLOOKUP",
                   "XMATCH")
_TOKENS = re.compile(
    r'(?P<string>"(?:[^"]|"")*")'
    r"|(?P<error>#[A-Z0-9/]+[!?]|#N/A)"
    r"|(?P<sheet>(?:'(?:[^']|'')*'|[\w.]+)!\$?[A-Za-z]{0,3}\$?\d*(?::\$?[A-Za-z]{0,3}\$?\d*)?)"
    r"|(?<![\w.$])(?P<cell>\$?[A-Za-z]{1,3}\$?\d+)(?![\w(.!])"
    r"|(?<![\w.$:])(?P<rows>\$?\d+:\$?\d+)(?![\w.:])"
    r"|(?<![\w.$:])(?P<columns>\$?[A-Za-z]{1,3}:\$?[A-Za-z]{1,3})(?![\w.(!:])"
    r"|(?<![\w.$])(?P<call>[A-Za-z_][\w.]*)(?=\s*\()"
    r"|(?<![\w.$])(?P<name>[A-Za-z_][\w.]*)"
)
_ROW_REF = re.compile(r"^(\$?[A-Za-z]{1,3})?(\$?)(\d+)$")


def _shift_row(reference: str, delta: int) -> str | None:
    """A cell (`B2`, `$B$2`) or row number (`2`, `$2`) moved `delta` rows; None if it would leave the sheet."""
    match = _ROW_REF.match(reference)
    assert match is not None
    column, fixed, row = match.group(1) or "", match.group(2), int(match.group(3)) + delta
    return f"{column}{fixed}{row}" if row >= 1 else None


def _translate(formula: str, delta: int, field_cells: Callable[[str], str | None]) -> str | None:
    """`formula` with its row references moved `delta` rows, names written as cells by
    `field_cells` (None: not translatable), and function names given or stripped of
    `_xlfn.`; None when a reference would leave the sheet or reads another block or sheet."""
    failed = False

    def replace(match: re.Match[str]) -> str:
        nonlocal failed
        kind, text = match.lastgroup, match.group(0)
        if kind in ("string", "error", "columns"):
            return text
        if kind == "sheet":
            failed = True
            return text
        if kind == "cell":
            moved = _shift_row(text, delta)
        elif kind == "rows":
            parts = [_shift_row(p, delta) for p in text.split(":")]
            moved = None if None in parts else ":".join(parts)  # type: ignore[arg-type]
        elif kind == "name":
            if text.upper() in ("TRUE", "FALSE"):
                return text
            moved = field_cells(text)
        else:
            bare = re.sub(r"(?i)^_xl(fn|ws)\.", "", text)
            return f"_xlfn.{bare}" if delta > 0 and bare.upper() in NEWER_FUNCTIONS else bare
        if moved is None:
            failed = True
            return text
        return moved

    translated = _TOKENS.sub(replace, formula)
    return None if failed else translated


# ---------------------------------------------------------------- export


def _export_value(field: Field, raw: Any, computed: Any) -> Any:
    if isinstance(computed, CellError) and not is_formula(raw):
        return computed.code
    if field.type == "date" and isinstance(raw, str) and not is_formula(raw):
        return dt.date.fromisoformat(raw)
    if is_date_value(raw):
        return _moment(date_value_serial(raw))
    if is_compute(raw) or raw is None:
        if isinstance(computed, Date):
            return _moment(computed)
        return None if isinstance(computed, CellError) else computed
    return raw


def _moment(serial: float) -> dt.date | dt.datetime:
    moment = dt.datetime(EPOCH.year, EPOCH.month, EPOCH.day) + dt.timedelta(days=serial)
    return moment.date() if serial == math.floor(serial) else moment


def table_xlsx(values: TableValues) -> bytes:
    """The table as an XLSX workbook of one sheet: field names, then each row's values and formulas."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = (values.table.title or "Table")[:31].translate(str.maketrans("[]:*?/\\", "       ")).strip() or "Table"
    columns = {f.name.lower(): column_letter(i) for i, f in enumerate(values.fields)}
    for c, field in enumerate(values.fields, start=1):
        header = sheet.cell(row=1, column=c, value=field.name)
        header.font = Font(bold=True)
    for r, (row, computed) in enumerate(zip(values.rows, values.values), start=2):
        cells = row.content.get("cells", {})

        def field_cell(name: str, r: int = r) -> str | None:
            letter = columns.get(name.lower())
            return f"{letter}{r}" if letter else None

        for c, field in enumerate(values.fields, start=1):
            raw = field.formula if field.type == "formula" else cells.get(field.name)
            value = computed.values.get(field.name)
            if is_formula(raw):
                written = _translate(raw, 1, field_cell)
                out = written if written is not None else _export_value(field, None, value)
            else:
                out = _export_value(field, raw, value)
            if out is None:
                continue
            cell = sheet.cell(row=r, column=c, value=out)
            if isinstance(out, dt.datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            elif isinstance(out, dt.date) or isinstance(value, Date):
                cell.number_format = "yyyy-mm-dd"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------- import


def _import_value(cell: Any, cached: Any) -> Any:
    """A file's cell as a table cell: a formula moved up a row (or its last value if it cannot be kept)."""
    value = cell.value
    if value is None:
        return None
    if cell.data_type == "f":
        formula = _translate(str(getattr(value, "text", value)), -1, lambda name: None)
        if formula is not None:
            try:
                parse(formula)
                return formula
            except FormulaSyntaxError:
                pass
        return _plain(cached)
    if cell.data_type == "e":
        return f"={value}"
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return {"date": value.date().isoformat()}
        return {"date": value.isoformat(timespec="seconds")}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, str) and is_formula(value):
        return '="' + value.replace('"', '""') + '"'
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


MAX_UNPACKED_BYTES = 200 * 1024 * 1024
"""An XLSX file is a zip archive; one that would unpack to more than this is refused unread."""


def _check_archive(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise BlockShapeError(f"the body is not an XLSX workbook ({exc})") from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise BlockShapeError(f"the workbook unpacks to {unpacked:,} bytes, over the limit of {MAX_UNPACKED_BYTES:,}")


def table_from_xlsx(data: bytes, sheet_name: str | None = None) -> dict[str, Any]:
    """Table creation content from an XLSX file's first sheet (or `sheet_name`): row 1 names the fields."""
    _check_archive(data)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data))
        cached_book = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise BlockShapeError(f"the body is not an XLSX workbook ({exc})") from None
    except Exception as exc:  # a malformed part of the archive (bad XML, missing pieces) fails in many ways
        raise BlockShapeError(f"the workbook cannot be read ({type(exc).__name__}: {exc})") from None
    if sheet_name is not None and sheet_name not in book.sheetnames:
        raise BlockShapeError(f"the workbook has no sheet {sheet_name!r} (sheets: {', '.join(book.sheetnames)})")
    sheet = book[sheet_name] if sheet_name else book.worksheets[0]
    cached = cached_book[sheet.title]
    width, height = sheet.max_column, sheet.max_row
    if width * max(height - 1, 0) > MAX_IMPORT_CELLS:
        raise BlockShapeError(f"a table import is limited to {MAX_IMPORT_CELLS} cells")
    header = [sheet.cell(row=1, column=c).value for c in range(1, width + 1)]
    names = [str(h).strip() if h is not None and str(h).strip() else column_letter(i) for i, h in enumerate(header)]
    if len({n.lower() for n in names}) != len(names):
        raise BlockShapeError(f"row 1 must name every field once: {names}")
    rows = [
        [_import_value(sheet.cell(row=r, column=c), cached.cell(row=r, column=c).value) for c in range(1, width + 1)]
        for r in range(2, height + 1)
    ]
    rows = [row for row in rows if any(v is not None for v in row)]
    kinds = [field_type([row[j] for row in rows]) for j in range(width)]
    fields = [{"name": name, "type": kind} for name, kind in zip(names, kinds)]
    return {
        "fields": fields,
        "rows": [{f["name"]: stored_cell(f["type"], v) for f, v in zip(fields, row) if v is not None} for row in rows],
    }
