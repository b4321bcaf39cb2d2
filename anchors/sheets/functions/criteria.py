"""Criteria (`">2"`, `"a*"`, `"<>"`) and the functions that add up or count the cells meeting them.

A criterion is a value, or text starting with `=`, `<>`, `<`, `<=`, `>`, `>=`
followed by what to compare with. As in LibreOffice (with wildcards on, the
setting it uses for Excel files): what reads as a number (`">1,000"`,
`"<2024-01-31"`, `"TRUE"`) compares with numbers (and logicals, which are
numbers), and `=` and `<>` also with text cells spelling it the same (`"5"`
matches 5 and the text "5"; the number 5 only the number); other text
compares with text, without case and with the whole cell, `*` standing for
any run of characters, `?` for one and `~` escaping them. `"="` matches empty cells, `""` also empty text, `"<>"` the others (an
empty text too); a wildcard pattern also matches numbers and logicals
written as text (`"TRUE*"` matches TRUE); `"<>x"` also matches
empty cells and numbers. Error cells match nothing.

Equality criteria on the same cells share an index (value to positions) for
the rest of a recompute, so a column of SUMIFs over 10,000 rows costs one pass
over them and a look-up each.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from anchors.sheets.cell_text import number_from_text, number_text
from anchors.sheets.cell_values import DIV0, NUM, VALUE, Area, CellError, Failure, failure, sort_key
from anchors.sheets.functions.maths import exact_sum
from anchors.sheets.functions.registry import area_arg, at, even, sheet_function

_OPERATORS = ("<>", "<=", ">=", "=", "<", ">")


def wildcard_pattern(text: str) -> re.Pattern[str] | None:
    """A regular expression for `text` with spreadsheet wildcards, or None when it has none."""
    if not any(ch in text for ch in "*?~"):
        return None
    out, escaped = [], False
    for ch in text:
        if escaped:
            out.append(re.escape(ch))
            escaped = False
        elif ch == "~":
            escaped = True
        elif ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    if escaped:
        out.append(re.escape("~"))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def value_key(value: Any) -> tuple[Any, ...]:
    """What equal cells have in common: numbers (and logicals, dates) by value, text without case."""
    if isinstance(value, (int, float)):
        return ("n", float(value))
    if isinstance(value, str):
        return ("s", value.casefold())
    if value is None:
        return ("e",)
    return ("x", id(value))


@dataclass(frozen=True)
class Criterion:
    op: str
    number: float | None = None
    text: str | None = None
    pattern: re.Pattern[str] | None = None
    bare: bool = False
    """Written without an operator: `""` matches empty text as well as empty cells, `"="` only the cells."""

    @property
    def empty(self) -> bool:
        return self.number is None and self.text == ""

    def keys(self) -> list[tuple[Any, ...]] | None:
        """The index keys of the cells an equality criterion matches, or None when it needs a scan."""
        if self.op != "=" or self.pattern is not None or self.empty:
            return None
        keys = [("n", self.number)] if self.number is not None else []
        return keys + ([("s", self.text)] if self.text is not None else [])

    def matches(self, value: Any) -> bool:
        if isinstance(value, CellError):
            return False
        if self.empty:
            if self.op == "=":
                return value is None or (self.bare and value == "")
            return value is not None if self.op == "<>" else False
        if isinstance(value, (int, float)):
            if self.number is None:
                if self.pattern is not None:
                    return bool(self.pattern.fullmatch(_shown(value))) == (self.op == "=")
                return self.op == "<>"
            return _holds(self.op, (float(value) > self.number) - (float(value) < self.number))
        if not isinstance(value, str) or (self.number is not None and self.op not in ("=", "<>")):
            return self.op == "<>"
        if self.op in ("=", "<>"):
            same = bool(self.pattern.fullmatch(value)) if self.pattern else value.casefold() == self.text
            return same == (self.op == "=")
        left, right = sort_key(value), (1, self.text)
        return _holds(self.op, (left > right) - (left < right))


def _shown(value: float | int) -> str:
    """A number cell as text, for wildcard criteria: TRUE and FALSE for logicals."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return number_text(value)


def _holds(op: str, order: int) -> bool:
    return {"=": order == 0, "<>": order != 0, "<": order < 0, "<=": order <= 0, ">": order > 0,
            ">=": order >= 0}[op]


def criterion(value: Any) -> Criterion:
    """The criterion a cell or text spells (see the module's notes)."""
    if isinstance(value, CellError):
        raise Failure(value)
    if isinstance(value, list):
        raise failure(VALUE, "a criterion is one value, not a range")
    return _criterion(value)


@lru_cache(maxsize=4096)
def _criterion(value: Any) -> Criterion:
    if isinstance(value, (int, float)):
        return Criterion("=", number=float(value))
    if value is None:
        return Criterion("=", number=0.0)
    written = next((o for o in _OPERATORS if value.startswith(o)), "")
    operand = value[len(written):]
    op = written or "="
    if operand == "":
        return Criterion(op, text="", bare=not written)
    pattern = wildcard_pattern(operand) if op in ("=", "<>") else None
    return Criterion(op, number=number_from_text(operand), text=operand.casefold(), pattern=pattern)


def _index(area: Area) -> dict[tuple[Any, ...], list[int]]:
    index = area.memo.get("index")
    if index is None:
        index = {}
        for position, value in enumerate(area.flat()):
            index.setdefault(value_key(value), []).append(position)
        area.memo["index"] = index
    return index


def matching(area: Area, rule: Criterion) -> list[int]:
    """Positions (row by row) of the cells of `area` that meet `rule`, in order."""
    keys = rule.keys()
    if keys is not None:
        index = _index(area)
        found = [index.get(key, []) for key in keys]
        return found[0] if len(found) == 1 else sorted(set().union(*found))
    return [i for i, value in enumerate(area.flat()) if rule.matches(value)]


def _pairs(args: Sequence[Any], name: str) -> list[int]:
    """Positions meeting every (area, criterion) pair of `args`; the areas must have one size."""
    if len(args) < 2 or len(args) % 2:
        raise failure(VALUE, f"{name} takes pairs of a range and a criterion")
    areas = [area_arg(a) for a in args[::2]]
    sizes = {a.size for a in areas}
    if len(sizes) != 1:
        raise failure(NUM, f"{name}: the ranges differ in size: {sorted(sizes)}")
    chosen: list[int] | None = None
    for area, value in zip(areas, args[1::2]):
        found = matching(area, criterion(value))
        chosen = found if chosen is None else sorted(set(chosen).intersection(found))
    return chosen or []


def _values_for(values: Any, pairs: Sequence[Any], name: str) -> tuple[Area, list[int]]:
    """The area of values an *IFS function reads, and the positions meeting its criteria."""
    area = area_arg(values)
    positions = _pairs(pairs, name)
    if len(pairs) >= 2 and area.size != area_arg(pairs[0]).size:
        raise failure(NUM, f"{name}: the values and the ranges differ in size")
    return area, positions


def _numeric(area: Area) -> tuple[list[float | int | None], dict[int, CellError]]:
    """The area's cells as numbers (logicals as 1 and 0; None for text and empty cells), and its errors."""
    found = area.memo.get("numeric")
    if found is None:
        values = area.flat()
        numbers = [int(v) if v.__class__ is bool else v if isinstance(v, (int, float)) else None for v in values]
        errors = {i: v for i, v in enumerate(values) if isinstance(v, CellError)}
        found = area.memo["numeric"] = (numbers, errors)
    return found


def _picked(area: Area, positions: Sequence[int]) -> list[float | int]:
    """The numbers at `positions` of `area`; an error there is the result."""
    numbers, errors = _numeric(area)
    if errors:
        for i in positions:
            if i in errors:
                raise Failure(errors[i])
    size = len(numbers)
    return [n for n in (numbers[i] for i in positions if i < size) if n is not None]


def _target(area: Any, values: Any, name: str) -> tuple[Area, Area]:
    area = area_arg(area)
    return area, area if values is None else area_arg(values)


@sheet_function("SUMIF", refs=at(0, 2))
def sum_if(area: Any, rule: Any, values: Any = None) -> float:
    where, what = _target(area, values, "SUMIF")
    return exact_sum(_picked(what, matching(where, criterion(rule))))


@sheet_function("COUNTIF", refs=at(0))
def count_if(area: Any, rule: Any) -> int:
    return len(matching(area_arg(area), criterion(rule)))


@sheet_function("AVERAGEIF", refs=at(0, 2))
def average_if(area: Any, rule: Any, values: Any = None) -> float:
    where, what = _target(area, values, "AVERAGEIF")
    found = _picked(what, matching(where, criterion(rule)))
    if not found:
        raise failure(DIV0, "AVERAGEIF: no cell meets the criterion")
    return math.fsum(found) / len(found)


@sheet_function("SUMIFS", refs=lambda i: i == 0 or i % 2 == 1)
def sum_ifs(values: Any, *pairs: Any) -> float:
    return exact_sum(_picked(*_values_for(values, pairs, "SUMIFS")))


@sheet_function("COUNTIFS", refs=even)
def count_ifs(*pairs: Any) -> int:
    return len(_pairs(pairs, "COUNTIFS"))


@sheet_function("AVERAGEIFS", refs=lambda i: i == 0 or i % 2 == 1)
def average_ifs(values: Any, *pairs: Any) -> float:
    found = _picked(*_values_for(values, pairs, "AVERAGEIFS"))
    if not found:
        raise failure(DIV0, "AVERAGEIFS: no cell meets the criteria")
    return math.fsum(found) / len(found)


@sheet_function("MAXIFS", refs=lambda i: i == 0 or i % 2 == 1)
def max_ifs(values: Any, *pairs: Any) -> float | int:
    found = _picked(*_values_for(values, pairs, "MAXIFS"))
    return max(found) if found else 0


@sheet_function("MINIFS", refs=lambda i: i == 0 or i % 2 == 1)
def min_ifs(values: Any, *pairs: Any) -> float | int:
    found = _picked(*_values_for(values, pairs, "MINIFS"))
    return min(found) if found else 0
