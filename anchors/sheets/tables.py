"""Tables: typed fields on the table block, one `row` child block per row.

A table's content is `{"fields": [field, ...]}`; a field is
`{"name": ..., "type": ...}` with `options` for a select and `formula` for a
formula field. A row's content is `{"cells": {field name: value}}`.

A cell of any non-formula field may also hold a formula (text starting with
`=`) or a compute spec `{"compute": "function name", "args": {...}}` that a
registered function turns into the cell's value.

A field of type `any` holds what a spreadsheet cell holds: a number, text, a
logical, or a date written `{"date": "YYYY-MM-DD"}` (or with a time,
`"YYYY-MM-DDTHH:MM:SS"`), so a grid whose columns mix them keeps every value.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from anchors.errors import BlockShapeError
from anchors.model import check_json
from anchors.sheets.cell_text import EPOCH
from anchors.sheets.cell_values import Date
from anchors.sheets.formulas import parse

FIELD_TYPES: tuple[str, ...] = ("text", "number", "checkbox", "select", "date", "link", "formula", "any")


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    options: tuple[str, ...] = ()
    formula: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.type == "select":
            out["options"] = list(self.options)
        if self.type == "formula":
            out["formula"] = self.formula
        return out


def parse_fields(raw: Any) -> list[Field]:
    if not isinstance(raw, list) or not raw:
        raise BlockShapeError('a table\'s "fields" must be a non-empty list of {"name", "type"} objects')
    fields: list[Field] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            raise BlockShapeError(f"table field {i} must be an object with a non-empty text name")
        name, kind = item["name"].strip(), item.get("type", "text")
        unknown = sorted(set(item) - {"name", "type", "options", "formula"})
        if unknown:
            raise BlockShapeError(f"table field {name!r} has unknown keys {unknown}")
        if kind not in FIELD_TYPES:
            raise BlockShapeError(f"table field {name!r} has type {kind!r}; expected one of {', '.join(FIELD_TYPES)}")
        options: tuple[str, ...] = ()
        if kind == "select":
            raw_options = item.get("options")
            if not isinstance(raw_options, list) or not raw_options or not all(isinstance(o, str) for o in raw_options):
                raise BlockShapeError(f"select field {name!r} needs a non-empty list of text options")
            options = tuple(raw_options)
        formula = item.get("formula")
        if kind == "formula":
            if not (isinstance(formula, str) and formula.startswith("=")):
                raise BlockShapeError(f"formula field {name!r} needs a formula starting with '='")
            parse(formula)
        if any(f.name.lower() == name.lower() for f in fields):
            raise BlockShapeError(f"table field name {name!r} is used twice")
        fields.append(Field(name, kind, options, formula if kind == "formula" else None))
    return fields


def validate_table(content: Any) -> dict[str, Any]:
    if not isinstance(content, dict) or set(content) != {"fields"}:
        raise BlockShapeError('a table block\'s content must be {"fields": [...]}; rows are its child blocks')
    return {"fields": [f.to_json() for f in parse_fields(content["fields"])]}


def is_formula(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("=") and len(value) > 1


def is_compute(value: Any) -> bool:
    return isinstance(value, dict) and "compute" in value


def check_cell(field: Field, value: Any, where: str) -> None:
    """Raise BlockShapeError unless `value` may be stored in a cell of `field`."""
    if value is None:
        return
    if is_formula(value):
        parse(value)
        return
    if is_compute(value):
        if set(value) - {"compute", "args"} or not isinstance(value["compute"], str):
            raise BlockShapeError(f'{where}: a compute cell is {{"compute": "function name", "args": {{...}}}}')
        check_json(value.get("args", {}), f"{where} compute args")
        return
    kind = field.type
    if kind == "any":
        _check_any(field, value, where)
        return
    if kind == "formula":
        raise BlockShapeError(f"{where}: field {field.name!r} is a formula field; its cells are computed")
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise BlockShapeError(f"{where}: field {field.name!r} holds finite numbers, not {value!r}")
    elif kind == "checkbox":
        if not isinstance(value, bool):
            raise BlockShapeError(f"{where}: field {field.name!r} holds true or false, not {value!r}")
    elif kind == "select":
        if value not in field.options:
            raise BlockShapeError(f"{where}: {value!r} is not an option of {field.name!r} ({', '.join(field.options)})")
    elif kind == "date":
        try:
            dt.date.fromisoformat(value)
        except (TypeError, ValueError):
            raise BlockShapeError(f"{where}: field {field.name!r} holds dates as YYYY-MM-DD, not {value!r}") from None
    elif kind == "link":
        if not isinstance(value, str) or not value.startswith("blk_"):
            raise BlockShapeError(f"{where}: field {field.name!r} links to a block id (blk_...), not {value!r}")
    elif not isinstance(value, str):
        raise BlockShapeError(f"{where}: field {field.name!r} holds text, not {value!r}")


def is_date_value(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"date"} and isinstance(value["date"], str)


def date_value_serial(value: dict[str, str]) -> float:
    """A typed date `{"date": "YYYY-MM-DD[THH:MM[:SS]]"}` as a serial number (its time as a fraction)."""
    moment = dt.datetime.fromisoformat(value["date"])
    return (moment - dt.datetime(EPOCH.year, EPOCH.month, EPOCH.day)).total_seconds() / 86400


def _check_any(field: Field, value: Any, where: str) -> None:
    if isinstance(value, (str, bool)):
        return
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise BlockShapeError(f"{where}: field {field.name!r} holds finite numbers, not {value!r}")
        return
    if is_date_value(value):
        try:
            date_value_serial(value)
        except ValueError:
            raise BlockShapeError(
                f"{where}: a date is {{\"date\": \"YYYY-MM-DD\"}} (or YYYY-MM-DDTHH:MM:SS), not {value['date']!r}"
            ) from None
        return
    raise BlockShapeError(
        f"{where}: field {field.name!r} holds a number, text, true/false or {{\"date\": \"YYYY-MM-DD\"}}, not {value!r}"
    )


def sheet_value(field: Field, raw: Any) -> Any:
    """What formulas see of a stored (non-compute) cell: a date as its serial number, shown as a date."""
    if field.type == "date" and isinstance(raw, str) and not raw.startswith("="):
        return date_serial(raw)
    if is_date_value(raw):
        return Date(date_value_serial(raw))
    return raw


def validate_row(fields: list[Field], content: Any, where: str = "row") -> dict[str, Any]:
    """A row's content with cells keyed by field name, each checked against its field."""
    if not isinstance(content, dict) or set(content) != {"cells"} or not isinstance(content["cells"], dict):
        raise BlockShapeError(f'{where}: a row\'s content must be {{"cells": {{field name: value}}}}')
    by_name = {f.name: f for f in fields}
    cells: dict[str, Any] = {}
    for name, value in content["cells"].items():
        field = by_name.get(name)
        if field is None:
            raise BlockShapeError(f"{where}: the table has no field {name!r} (fields: {', '.join(by_name)})")
        check_cell(field, value, f"{where}, field {name!r}")
        if value is not None:
            cells[name] = value
    return {"cells": cells}


def infer_type(values: list[Any]) -> str:
    """The field type of a column of cells: one kind throughout is that type, a mix is `any`."""
    present = [v for v in values if v is not None and not is_formula(v)]
    if not present or all(isinstance(v, str) for v in present):
        return "text"
    if all(isinstance(v, bool) for v in present):
        return "checkbox"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "number"
    return "any"


def split_table_input(content: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A table as given at creation: `{"fields", "rows"?}` or the compact `{"columns", "rows"}`.

    Returns the table content and the rows' contents. Compact rows are lists of
    cells, one per column; field types are inferred from the cells.
    """
    if isinstance(content, dict) and "columns" in content and "fields" not in content:
        if set(content) - {"columns", "rows"}:
            raise BlockShapeError('a compact table is {"columns": [names], "rows": [[cells]]}')
        columns, rows = content["columns"], content.get("rows", [])
        if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
            raise BlockShapeError("table columns must be a non-empty list of strings")
        if not isinstance(rows, list):
            raise BlockShapeError("table rows must be a list of rows")
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != len(columns):
                raise BlockShapeError(f"table row {i} must be a list of {len(columns)} cells, one per column")
            for j, cell in enumerate(row):
                if cell is not None and not isinstance(cell, (str, int, float, bool)) and not is_date_value(cell):
                    raise BlockShapeError(
                        f'table cell ({i}, {j}) must be text, a number, a boolean, {{"date": "YYYY-MM-DD"}} or null'
                    )
        fields = [{"name": c, "type": infer_type([row[j] for row in rows])} for j, c in enumerate(columns)]
        content = {"fields": fields, "rows": [dict(zip(columns, row)) for row in rows]}
    if not isinstance(content, dict) or "fields" not in content or set(content) - {"fields", "rows"}:
        raise BlockShapeError(
            'a table is {"fields": [...], "rows"?: [{field: value}]} or {"columns": [...], "rows": [[...]]}'
        )
    table = validate_table({"fields": content["fields"]})
    fields = parse_fields(table["fields"])
    raw_rows = content.get("rows", [])
    if not isinstance(raw_rows, list):
        raise BlockShapeError("table rows must be a list of rows")
    rows = []
    for i, row in enumerate(raw_rows):
        if not isinstance(row, dict):
            raise BlockShapeError(f"table row {i} must be an object of field name to value")
        rows.append(validate_row(fields, {"cells": row}, f"table row {i}"))
    return table, rows


def table_fields(table_content: dict[str, Any]) -> list[Field]:
    return parse_fields(table_content["fields"])


def date_serial(value: str) -> Date:
    """A YYYY-MM-DD date as a spreadsheet serial number (days since 1899-12-30)."""
    return Date((dt.date.fromisoformat(value) - EPOCH).days)
