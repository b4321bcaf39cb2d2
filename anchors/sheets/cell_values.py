"""Values in formulas: errors, dates, coercions and operators, as LibreOffice Calc has them.

A value is None (an empty cell), a bool, an int or float, a `Date` (a serial
number shown as a date), a str or a `CellError`. A reference to several cells
is an `Area`: rows of values.

Coercions follow LibreOffice (docs/blocks.md has the table): a logical is the
number 1 or 0, also as text ("1", "0"); text converts to a number when
LibreOffice's scanner reads one in it (`anchors.sheets.cell_text`), "" does not; an
empty cell is 0, "" or FALSE; text sorts after every number and compares
without case.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from anchors.sheets.cell_text import iso_date, number_from_text, number_text


@dataclass(frozen=True)
class CellError:
    """An error value, shown in its cell: `code` as spreadsheets write it, `message` for people."""

    code: str
    message: str

    def __str__(self) -> str:
        return self.code

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


DIV0, VALUE, REF, NAME, NUM, NA, CYCLE = "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#CYCLE!"

Cell = tuple[int, int]
"""(row, column), both from 0."""
Span = tuple[int, int, int, int]
"""(first row, first column, last row, last column), from 0, inclusive."""
Grid = list[list[Any]]


class Failure(Exception):
    """Carries a CellError out of nested evaluation; `evaluate` turns it into the cell's value."""

    def __init__(self, error: CellError) -> None:
        self.error = error


def failure(code: str, message: str) -> Failure:
    return Failure(CellError(code, message))


class Date(float):
    """A serial number (days since 1899-12-30, the time of day as a fraction) that is shown as a date."""

    __slots__ = ()

    def shown(self) -> str:
        """As a person reads it: `2024-01-31`, or `2024-01-31 12:30` with a time of day."""
        text = iso_date(self).replace("T", " ")
        return text[:-3] if text.endswith(":00") and len(text) > 10 else text

    def to_json(self) -> dict[str, str]:
        """As a typed cell stores it: `{"date": "2024-01-31"}` (`"2024-01-31T12:30:00"` with a time)."""
        return {"date": iso_date(self)}


class Area(list):
    """The values of a reference to cells, row by row; `span` says where they are.

    Functions that search an area (criteria, lookups) keep what they built from
    it in `memo`, so formulas that read the same area in one recompute share it.
    """

    __slots__ = ("span", "memo")

    def __init__(self, rows: Grid, span: Span | None = None) -> None:
        super().__init__(rows)
        self.span = span
        self.memo: dict[Any, Any] = {}

    @property
    def size(self) -> tuple[int, int]:
        return len(self), len(self[0]) if self else 0

    def flat(self) -> list[Any]:
        return [value for row in self for value in row]


def is_number(value: Any) -> bool:
    """A number in a spreadsheet's sense: int or float, and logicals (which are 1 and 0)."""
    return isinstance(value, (int, float))


def to_number(value: Any) -> float | int:
    """A scalar as a number, the way LibreOffice converts it; raises a Failure otherwise."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if value is None:
        return 0
    if isinstance(value, CellError):
        raise Failure(value)
    if isinstance(value, str):
        number = number_from_text(value)
        if number is None:
            raise failure(VALUE, f"{value!r} is text, not a number")
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    raise failure(VALUE, "a range was used where one value is needed")


def format_number(value: float | int) -> str:
    return number_text(value)


def to_text(value: Any) -> str:
    """A scalar as text, the way LibreOffice converts it: TRUE is "1", numbers in the general format."""
    if isinstance(value, str):
        return value
    if isinstance(value, CellError):
        raise Failure(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return number_text(value)
    if value is None:
        return ""
    raise failure(VALUE, "a range was used where one value is needed")


def truth(value: Any) -> bool:
    """A scalar as a logical: a number is true when not 0; text when it converts to one (as "TRUE" does)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if value is None:
        return False
    if isinstance(value, CellError):
        raise Failure(value)
    if isinstance(value, str):
        number = number_from_text(value)
        if number is None:
            raise failure(VALUE, f"{value!r} is neither true nor false")
        return number != 0
    raise failure(VALUE, "a range was used where one value is needed")


def checked(result: float | int) -> float | int:
    if isinstance(result, float) and not math.isfinite(result):
        raise failure(NUM, "the result is too large to represent")
    return result


def _divide(a: Any, b: Any) -> float:
    x, y = to_number(a), to_number(b)
    if y == 0:
        raise failure(DIV0, "division by zero")
    return checked(x / y)


def power(a: Any, b: Any) -> float | int:
    x, y = to_number(a), to_number(b)
    if x == 0 and y < 0:
        raise failure(DIV0, "zero to a negative power")
    if x == 0 and y == 0:
        raise failure(NUM, "zero to the power zero")
    try:
        result = x ** y
    except OverflowError:
        raise failure(NUM, "the result is too large to represent") from None
    if isinstance(result, complex):
        raise failure(NUM, "a negative number to a fractional power")
    return checked(result)


def _add(a: Any, b: Any) -> float | int:
    result = checked(to_number(a) + to_number(b))
    return Date(result) if isinstance(a, Date) != isinstance(b, Date) else result


def _subtract(a: Any, b: Any) -> float | int:
    result = checked(to_number(a) - to_number(b))
    return Date(result) if isinstance(a, Date) and not isinstance(b, Date) else result


def sort_key(value: Any) -> tuple[int, Any]:
    """Order as LibreOffice has it: numbers (logicals are 1 and 0) before text; text without case."""
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, value.lower())


def compare(a: Any, b: Any) -> int:
    """-1, 0 or 1 as `a` is less than, equal to or greater than `b`; an empty cell is 0, "" or FALSE."""
    for side in (a, b):
        if isinstance(side, CellError):
            raise Failure(side)
        if isinstance(side, list):
            raise failure(VALUE, "a range was used where one value is needed")
    if a is None:
        a = "" if isinstance(b, str) else 0
    if b is None:
        b = "" if isinstance(a, str) else 0
    left, right = sort_key(a), sort_key(b)
    return (left > right) - (left < right)


BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": _add,
    "-": _subtract,
    "*": lambda a, b: checked(to_number(a) * to_number(b)),
    "/": _divide,
    "^": power,
    "&": lambda a, b: to_text(a) + to_text(b),
    "=": lambda a, b: compare(a, b) == 0,
    "<>": lambda a, b: compare(a, b) != 0,
    "<": lambda a, b: compare(a, b) < 0,
    "<=": lambda a, b: compare(a, b) <= 0,
    ">": lambda a, b: compare(a, b) > 0,
    ">=": lambda a, b: compare(a, b) >= 0,
}
UNARY: dict[str, Callable[[Any], Any]] = {
    "U-": lambda a: -to_number(a),
    "U+": lambda a: a,
    "%": lambda a: to_number(a) / 100,
}


def elementwise(operation: Callable[..., Any], *operands: Any) -> Any:
    """`operation` applied to scalars, or cell by cell over arrays (an error stays in its element).

    Arrays of different sizes give an array of the larger size, with #N/A where one has no element;
    a single value or a one-cell array goes with every element.
    """
    grids = [o for o in operands if isinstance(o, list)]
    if not grids:
        return operation(*operands)
    rows = max(len(g) for g in grids)
    columns = max(len(g[0]) if g else 0 for g in grids)

    def element(operand: Any, r: int, c: int) -> Any:
        if not isinstance(operand, list):
            return operand
        height, width = len(operand), len(operand[0]) if operand else 0
        r, c = (0 if height == 1 else r), (0 if width == 1 else c)
        if r >= height or c >= width:
            return CellError(NA, "the arrays have different sizes")
        return operand[r][c]

    def one(r: int, c: int) -> Any:
        try:
            return operation(*(element(o, r, c) for o in operands))
        except Failure as exc:
            return exc.error

    return [[one(r, c) for c in range(columns)] for r in range(rows)]
