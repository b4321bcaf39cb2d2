"""The registry of spreadsheet functions, and how their arguments are read.

Each function says which of its arguments it takes as references (`refs`):
there it gets an `Area` (the cells, even a single cell), so it can tell a
reference from a value as LibreOffice does (`SUM(A1)` skips text in A1,
`SUM("x")` is an error). Everywhere else it gets one value: a reference to
several cells is cut to the cell in the formula's own row or column (implicit
intersection). A `lazy` function gets the evaluator and its unevaluated
arguments instead (`IF` computes only the branch it takes); a `volatile`
one (`TODAY`, `NOW`) gives another value each time, so its cells are
recomputed whenever their table is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from anchors.sheets.cell_values import VALUE, Area, CellError, Failure, failure, to_number
from registry import Registry

Positions = Callable[[int], bool]


def every(_: int) -> bool:
    return True


def none(_: int) -> bool:
    return False


def at(*positions: int) -> Positions:
    chosen = frozenset(positions)
    return lambda i: i in chosen


def from_position(first: int) -> Positions:
    return lambda i: i >= first


def even(i: int) -> bool:
    return i % 2 == 0


@dataclass(frozen=True)
class SheetFunction:
    name: str
    call: Callable[..., Any]
    refs: Positions = none
    lazy: bool = False
    array: bool = False
    """Its arguments are computed as arrays, operators cell by cell (SUMPRODUCT)."""
    volatile: bool = False
    dynamic: bool = False
    """It reads cells its arguments do not name (OFFSET): which ones is known only when it runs."""


FUNCTIONS: Registry[SheetFunction] = Registry("spreadsheet function")
"""Spreadsheet functions by name; a name is taken once (`registry.Registry`)."""


def sheet_function(*names: str, refs: Positions = none, lazy: bool = False, array: bool = False,
                   volatile: bool = False, dynamic: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function under `names` (upper case, as formulas write them)."""

    def register(call: Callable[..., Any]) -> Callable[..., Any]:
        for name in names:
            FUNCTIONS.register(name, SheetFunction(name, call, refs, lazy, array, volatile, dynamic))
        return call

    return register


# ---------------------------------------------------------------- reading arguments


def cells(args: Sequence[Any]) -> Iterator[tuple[bool, Any]]:
    """Every value among `args` with whether it came from a reference (an Area or array) or was given directly."""
    for arg in args:
        if isinstance(arg, list):
            for row in arg:
                for value in row:
                    yield True, value
        else:
            yield False, arg


def numbers(args: Sequence[Any], name: str) -> list[float | int]:
    """The numbers a SUM-like function counts: from references only numbers and logicals (as 1 and 0);
    a value given directly must be a number or a logical. An error anywhere is the result."""
    found: list[float | int] = []
    for from_reference, value in cells(args):
        if isinstance(value, CellError):
            raise Failure(value)
        if isinstance(value, bool):
            found.append(int(value))
        elif isinstance(value, (int, float)):
            found.append(value)
        elif not from_reference and value is not None:
            raise failure(VALUE, f"{name} takes numbers, not the text {value!r}")
    return found


def integer_arg(value: Any) -> int:
    """A number argument cut to an integer toward zero, as spreadsheets take counts and positions."""
    number = to_number(value)
    return int(number)


def area_arg(value: Any) -> Area:
    """A reference or array argument as an Area (a single value is a one-cell area)."""
    if isinstance(value, Area):
        return value
    if isinstance(value, list):
        return Area(value)
    if isinstance(value, CellError):
        raise Failure(value)
    return Area([[value]])
