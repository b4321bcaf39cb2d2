"""Look-ups: VLOOKUP, HLOOKUP, MATCH, XLOOKUP, XMATCH, INDEX, ROWS and COLUMNS.

Exact look-ups compare as criteria do (`anchors.sheets.functions.criteria`):
numbers with numbers, text without case; VLOOKUP, HLOOKUP and MATCH take
wildcards in text, as LibreOffice does for Excel files, XLOOKUP and XMATCH
only in match mode 2. Sorted look-ups take the last value not above the one
sought (MATCH -1: not below it), among values of its kind. An exact look-up
indexes the searched cells once per recompute (value to first position).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from anchors.sheets.cell_values import NA, NUM, VALUE, Area, CellError, Failure, failure, sort_key, to_number, truth
from anchors.sheets.functions.criteria import value_key, wildcard_pattern
from anchors.sheets.functions.registry import area_arg, at, integer_arg, sheet_function


def _kind(value: Any) -> int:
    return 0 if isinstance(value, (int, float)) else 1 if isinstance(value, str) else 2


def _first_equal(values: Sequence[Any], memo: dict[Any, Any], memo_key: Any, target: Any, wildcards: bool,
                 reverse: bool = False) -> int | None:
    """Position of the first (or last) value equal to `target`; text without case, wildcards if asked."""
    if isinstance(target, str) and wildcards:
        pattern = wildcard_pattern(target)
        if pattern is not None:
            order = range(len(values) - 1, -1, -1) if reverse else range(len(values))
            return next((i for i in order if isinstance(values[i], str) and pattern.fullmatch(values[i])), None)
    index = memo.get(memo_key)
    if index is None:
        index = {}
        for i, value in enumerate(values):
            if not isinstance(value, CellError):
                index.setdefault(value_key(value), []).append(i)
        memo[memo_key] = index
    found = index.get(value_key(target))
    if not found:
        return None
    return found[-1] if reverse else found[0]


def _sorted_position(values: Sequence[Any], target: Any, descending: bool = False) -> int | None:
    """Sorted look-up: the last position whose value (of the target's kind) is not above the target
    (not below it when `descending`), stopping at the first that is."""
    found = None
    kind = _kind(target)
    goal = sort_key(target)
    for i, value in enumerate(values):
        if value is None or isinstance(value, CellError) or _kind(value) != kind:
            continue
        key = sort_key(value)
        if (key > goal) if not descending else (key < goal):
            break
        found = i
    return found


def _lookup_value(value: Any) -> Any:
    if isinstance(value, CellError):
        raise Failure(value)
    if value is None:
        return 0
    return value


def _vector(area: Area, name: str) -> tuple[list[Any], bool]:
    """The cells of a single row or column, and whether it is a row."""
    rows, columns = area.size
    if rows != 1 and columns != 1:
        raise failure(VALUE, f"{name} searches one row or one column, not {rows}x{columns} cells")
    return _line(area, by_row=rows == 1), rows == 1 and columns > 1


def _line(area: Area, by_row: bool) -> list[Any]:
    """The first row (or column) of an area, kept with it for the rest of the recompute."""
    key = ("first-row" if by_row else "first-column", "values")
    found = area.memo.get(key)
    if found is None:
        found = area.memo[key] = list(area[0]) if by_row else [row[0] for row in area]
    return found


def _table_lookup(value: Any, table: Any, index: Any, sorted_: Any, name: str, by_row: bool) -> Any:
    target = _lookup_value(value)
    area = area_arg(table)
    rows, columns = area.size
    position = integer_arg(index)
    if not 1 <= position <= (rows if by_row else columns):
        raise failure(NUM, f"{name}: the index {position} is outside the table")
    keys = _line(area, by_row)
    exact = sorted_ is not None and not truth(sorted_)
    memo_key = ("first-row" if by_row else "first-column")
    found = _first_equal(keys, area.memo, memo_key, target, True) if exact else _sorted_position(keys, target)
    if found is None:
        raise failure(NA, f"{name}: {target!r} was not found")
    return area[position - 1][found] if by_row else area[found][position - 1]


@sheet_function("VLOOKUP", refs=at(1))
def vlookup(value: Any, table: Any, column: Any, sorted_: Any = True) -> Any:
    return _table_lookup(value, table, column, sorted_, "VLOOKUP", by_row=False)


@sheet_function("HLOOKUP", refs=at(1))
def hlookup(value: Any, table: Any, row: Any, sorted_: Any = True) -> Any:
    return _table_lookup(value, table, row, sorted_, "HLOOKUP", by_row=True)


@sheet_function("MATCH", refs=at(1))
def match(value: Any, area: Any, kind: Any = 1) -> int:
    target = _lookup_value(value)
    where = area_arg(area)
    values, _ = _vector(where, "MATCH")
    mode = integer_arg(kind)
    if mode == 0:
        found = _first_equal(values, where.memo, "match", target, True)
    else:
        found = _sorted_position(values, target, descending=mode < 0)
    if found is None:
        raise failure(NA, f"MATCH: {target!r} was not found")
    return found + 1


def _x_position(target: Any, values: list[Any], memo: dict[Any, Any], match_mode: int, search_mode: int,
                name: str) -> int | None:
    if match_mode not in (-1, 0, 1, 2) or search_mode not in (-2, -1, 1, 2):
        raise failure(VALUE, f"{name}: match mode is -1, 0, 1 or 2 and search mode -2, -1, 1 or 2")
    reverse = search_mode == -1
    if match_mode in (0, 2):
        return _first_equal(values, memo, ("xmatch", reverse), target, match_mode == 2, reverse)
    goal, kind = sort_key(target), _kind(target)
    best = None
    order = range(len(values) - 1, -1, -1) if reverse else range(len(values))
    for i in order:
        value = values[i]
        if value is None or isinstance(value, CellError) or _kind(value) != kind:
            continue
        key = sort_key(value)
        if key == goal:
            return i
        if (key < goal) if match_mode == -1 else (key > goal):
            if best is None or ((key > sort_key(values[best])) if match_mode == -1 else (key < sort_key(values[best]))):
                best = i
    return best


@sheet_function("XLOOKUP", refs=at(1, 2))
def xlookup(value: Any, lookup: Any, results: Any, if_missing: Any = None, match_mode: Any = 0,
            search_mode: Any = 1) -> Any:
    target = _lookup_value(value)
    where = area_arg(lookup)
    values, is_row = _vector(where, "XLOOKUP")
    what = area_arg(results)
    if (what.size[1] if is_row else what.size[0]) != len(values):
        raise failure(VALUE, "XLOOKUP: the look-up and result arrays differ in length")
    found = _x_position(target, values, where.memo, integer_arg(match_mode), integer_arg(search_mode), "XLOOKUP")
    if found is None:
        if if_missing is not None:
            return if_missing
        raise failure(NA, f"XLOOKUP: {target!r} was not found")
    picked = [[row[found]] for row in what] if is_row else [what[found]]
    return picked[0][0] if len(picked) == 1 and len(picked[0]) == 1 else Area(picked)


@sheet_function("XMATCH", refs=at(1))
def xmatch(value: Any, lookup: Any, match_mode: Any = 0, search_mode: Any = 1) -> int:
    target = _lookup_value(value)
    where = area_arg(lookup)
    values, _ = _vector(where, "XMATCH")
    found = _x_position(target, values, where.memo, integer_arg(match_mode), integer_arg(search_mode), "XMATCH")
    if found is None:
        raise failure(NA, f"XMATCH: {target!r} was not found")
    return found + 1


@sheet_function("INDEX", refs=at(0))
def index(area: Any, row: Any = 0, column: Any = None) -> Any:
    """The cell at `row` and `column` of `area` (from 1); 0 takes the whole column or row."""
    cells = area_arg(area)
    rows, columns = cells.size
    r = integer_arg(row)
    c = 0 if column is None else integer_arg(column)
    if column is None and rows == 1 and columns > 1:
        r, c = 1, r
    if r < 0 or c < 0 or r > rows or c > columns:
        raise failure(NUM, f"INDEX: ({r}, {c}) is outside the {rows}x{columns} range")
    if column is None and columns == 1 and r == 0:
        c = 1
    picked = [list(cells[r - 1])] if r else [list(row_) for row_ in cells]
    picked = [[row_[c - 1]] for row_ in picked] if c else picked
    return picked[0][0] if len(picked) == 1 and len(picked[0]) == 1 else Area(picked)


def _reference(area: Any, name: str) -> Area:
    if not isinstance(area, list):
        raise failure(VALUE, f"{name} takes a reference or an array, not one value")
    return area_arg(area)


@sheet_function("ROWS", refs=at(0))
def rows(area: Any) -> int:
    return _reference(area, "ROWS").size[0]


@sheet_function("COLUMNS", refs=at(0))
def columns(area: Any) -> int:
    return _reference(area, "COLUMNS").size[1]


@sheet_function("OFFSET", lazy=True, dynamic=True)
def offset(ev: Any, args: Sequence[Any], as_ref: bool) -> Any:
    """The range `rows` down and `columns` right of a reference, `height` by `width` cells (default: its size)."""
    if not 3 <= len(args) <= 5:
        raise failure(VALUE, f"OFFSET takes 3 to 5 arguments, got {len(args)}")
    r1, c1, r2, c2 = ev.span_of(args[0])

    def whole(node: Any, default: int) -> int:
        if node is None or node == ("const", None):
            return default
        return int(to_number(ev.scalar(node)))

    down, right = whole(args[1], 0), whole(args[2], 0)
    height = whole(args[3] if len(args) > 3 else None, r2 - r1 + 1)
    width = whole(args[4] if len(args) > 4 else None, c2 - c1 + 1)
    if height < 1 or width < 1:
        raise failure(NUM, "OFFSET: the height and width must be 1 or more")
    top, left = r1 + down, c1 + right
    area = ev.read_span((top, left, top + height - 1, left + width - 1))
    return area if as_ref else ev.one(area)
