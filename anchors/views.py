"""Views: one table shaped as a spreadsheet grid, a kanban, a wiki page or a list.

A view block's content:

    {"table": "blk_...", "layout": "grid" | "kanban" | "wiki" | "list",
     "fields": ["item", "qty"],            # visible fields, in order (default: all)
     "filter": [{"field": "qty", "op": ">", "value": 0}],
     "sort": [{"field": "qty", "desc": true}],
     "group_by": "status"}                 # kanban only: a select field

`shape` turns a table's computed rows into the view's display content: plain
JSON with every value already written as text, which the renderer lays out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from anchors.errors import BlockShapeError
from anchors.model import Block
from anchors.sheets.cell_values import CellError, Date, format_number
from anchors.sheets.tables import Field

LAYOUTS: tuple[str, ...] = ("grid", "kanban", "wiki", "list")
FILTER_OPS: tuple[str, ...] = ("=", "!=", "<", "<=", ">", ">=", "contains", "empty", "not_empty")
UNGROUPED = "(none)"


@dataclass(frozen=True)
class RowValues:
    """One row's computed values by field name (CellError where a cell failed)."""

    id: str
    values: dict[str, Any]


@dataclass
class TableValues:
    """A table's fields and its rows with their stored cells and computed values."""

    table: Block
    fields: list[Field]
    rows: list[Block]
    values: list[RowValues]


def validate_view(content: Any) -> dict[str, Any]:
    if not isinstance(content, dict) or not isinstance(content.get("table"), str):
        raise BlockShapeError('a view block\'s content is {"table": id, "layout": ..., ...}')
    extra = set(content) - {"table", "layout", "fields", "filter", "sort", "group_by"}
    if extra:
        raise BlockShapeError(f"a view has no {', '.join(sorted(extra))}")
    layout = content.get("layout", "grid")
    if layout not in LAYOUTS:
        raise BlockShapeError(f"a view's layout is one of {', '.join(LAYOUTS)}, not {layout!r}")
    fields = content.get("fields")
    if fields is not None and (not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)):
        raise BlockShapeError("a view's fields are a list of field names")
    filters = content.get("filter", [])
    if not isinstance(filters, list):
        raise BlockShapeError("a view's filter is a list of {field, op, value}")
    for rule in filters:
        if not isinstance(rule, dict) or not isinstance(rule.get("field"), str) or rule.get("op") not in FILTER_OPS:
            raise BlockShapeError(f"a filter rule is {{field, op, value}} with op one of {', '.join(FILTER_OPS)}")
    sorts = content.get("sort", [])
    if not isinstance(sorts, list) or not all(isinstance(s, dict) and isinstance(s.get("field"), str) for s in sorts):
        raise BlockShapeError("a view's sort is a list of {field, desc?}")
    if layout == "kanban" and not isinstance(content.get("group_by"), str):
        raise BlockShapeError("a kanban view needs group_by, the select field whose options are its columns")
    return {**content, "layout": layout}


def check_view_fields(spec: dict[str, Any], fields: Sequence[Field]) -> None:
    """Raise BlockShapeError if the view names fields its table lacks (or groups by a non-select)."""
    by_name = {f.name: f for f in fields}
    named = list(spec.get("fields") or []) + [r["field"] for r in spec.get("filter", [])]
    named += [s["field"] for s in spec.get("sort", [])]
    missing = [n for n in named if n not in by_name]
    if missing:
        raise BlockShapeError(f"the view names fields the table lacks: {', '.join(missing)} (fields: {', '.join(by_name)})")
    group = spec.get("group_by")
    if spec.get("layout") == "kanban" and (group not in by_name or by_name[group].type != "select"):
        raise BlockShapeError(f"a kanban groups by a select field; {group!r} is not one")


def display_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, CellError):
        return value.code
    if isinstance(value, Date):
        return value.shown()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format_number(round(value, 10))
    return str(value)


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None or isinstance(value, CellError):
        return (3, "")
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, str(value).lower())


def _matches(value: Any, op: str, target: Any) -> bool:
    if op == "empty":
        return value is None or value == ""
    if op == "not_empty":
        return not (value is None or value == "")
    if isinstance(value, CellError) or value is None:
        return op == "!=" and target is not None
    if op == "contains":
        return str(target).lower() in str(value).lower()
    if op in ("=", "!="):
        same = str(value).lower() == str(target).lower() if isinstance(value, str) else value == target
        return same if op == "=" else not same
    left, right = _sort_key(value), _sort_key(target)
    if left[0] != right[0]:
        return False
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def select_rows(spec: dict[str, Any], rows: Sequence[RowValues]) -> list[RowValues]:
    """The rows the view shows, filtered and sorted."""
    chosen = [
        row for row in rows
        if all(_matches(row.values.get(r["field"]), r["op"], r.get("value")) for r in spec.get("filter", []))
    ]
    for rule in reversed(spec.get("sort", [])):
        chosen.sort(key=lambda row: _sort_key(row.values.get(rule["field"])), reverse=bool(rule.get("desc")))
    return chosen


def shape(spec: dict[str, Any], fields: Sequence[Field], rows: Sequence[RowValues]) -> dict[str, Any]:
    """The view's display content for a table with `fields` and computed `rows`."""
    check_view_fields(spec, fields)
    visible = list(spec.get("fields") or [f.name for f in fields])
    shown = select_rows(spec, rows)
    layout = spec.get("layout", "grid")
    if layout == "grid":
        return {
            "layout": "grid",
            "columns": visible,
            "rows": [[display_text(row.values.get(name)) for name in visible] for row in shown],
            "row_ids": [row.id for row in shown],
            "errors": [[r, c] for r, row in enumerate(shown) for c, name in enumerate(visible)
                       if isinstance(row.values.get(name), CellError)],
        }
    head, rest = visible[0], visible[1:]

    def card(row: RowValues, skip: str | None = None) -> dict[str, Any]:
        shown_values = [(n, display_text(row.values.get(n))) for n in rest if n != skip]
        lines = [f"{n}: {text}" for n, text in shown_values if text]
        return {"id": row.id, "title": display_text(row.values.get(head)), "lines": lines}

    if layout == "kanban":
        group = spec["group_by"]
        options = next(f.options for f in fields if f.name == group)
        lanes = {option: [] for option in (*options, UNGROUPED)}
        for row in shown:
            value = row.values.get(group)
            lanes[value if value in lanes else UNGROUPED].append(card(row, skip=group))
        return {
            "layout": "kanban",
            "group_by": group,
            "lanes": [{"name": name, "cards": cards} for name, cards in lanes.items() if cards or name != UNGROUPED],
        }
    if layout == "wiki":
        return {"layout": "wiki", "sections": [
            {"id": c["id"], "heading": c["title"], "lines": c["lines"]} for c in (card(row) for row in shown)
        ]}
    return {"layout": "list", "items": [
        {"id": c["id"], "title": c["title"], "detail": " · ".join(c["lines"])} for c in (card(row) for row in shown)
    ]}
