"""Values in formulas: errors, coercions, operators and functions, as LibreOffice Calc has them.

Logicals count as the numbers 1 and 0, unambiguous numeric text converts to a
number, an empty cell is 0 or "", and text compares without case.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CellError:
    """An error value, shown in its cell: `code` as spreadsheets write it, `message` for people."""

    code: str
    message: str

    def __str__(self) -> str:
        return self.code

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


DIV0, VALUE, REF, NAME, NUM, CYCLE = "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#CYCLE!"

Cell = tuple[int, int]
"""(row, column), both from 0."""
Grid = list[list[Any]]


class Failure(Exception):
    """Carries a CellError out of nested evaluation; `evaluate` turns it into the cell's value."""

    def __init__(self, error: CellError) -> None:
        self.error = error


def failure(code: str, message: str) -> Failure:
    return Failure(CellError(code, message))


def _number(value: Any) -> float | int:
    """A scalar as a number, the way spreadsheets coerce it."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if value is None:
        return 0
    if isinstance(value, CellError):
        raise Failure(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise failure(VALUE, f"{value!r} is text, not a number") from None
    raise failure(VALUE, "a range was used where one value is needed")


def format_number(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.15g}" if isinstance(value, float) else str(value)


def _text(value: Any) -> str:
    if isinstance(value, CellError):
        raise Failure(value)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return format_number(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise failure(VALUE, "a range was used where one value is needed")


def truth(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if value is None:
        return False
    if isinstance(value, CellError):
        raise Failure(value)
    if isinstance(value, str) and value.upper() in ("TRUE", "FALSE"):
        return value.upper() == "TRUE"
    raise failure(VALUE, f"{value!r} is neither true nor false")


def _checked(result: float) -> float | int:
    if isinstance(result, float) and not math.isfinite(result):
        raise failure(NUM, "the result is too large to represent")
    return result


def _divide(a: Any, b: Any) -> float:
    x, y = _number(a), _number(b)
    if y == 0:
        raise failure(DIV0, "division by zero")
    return x / y


def _power(a: Any, b: Any) -> float | int:
    x, y = _number(a), _number(b)
    if x == 0 and y < 0:
        raise failure(DIV0, "zero to a negative power")
    try:
        result = x ** y
    except OverflowError:
        raise failure(NUM, "the result is too large to represent") from None
    if isinstance(result, complex):
        raise failure(NUM, "a negative number to a fractional power")
    return _checked(result)


def _rank(value: Any) -> tuple[int, Any]:
    """Ordering as LibreOffice has it: logicals are the numbers 1 and 0; numbers < text; text without case."""
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, value.lower())


def _compare(a: Any, b: Any) -> int:
    for side in (a, b):
        if isinstance(side, CellError):
            raise Failure(side)
        if isinstance(side, list):
            raise failure(VALUE, "a range was used where one value is needed")
    if a is None:
        a = False if isinstance(b, bool) else "" if isinstance(b, str) else 0
    if b is None:
        b = False if isinstance(a, bool) else "" if isinstance(a, str) else 0
    left, right = _rank(a), _rank(b)
    return (left > right) - (left < right)


BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: _checked(_number(a) + _number(b)),
    "-": lambda a, b: _checked(_number(a) - _number(b)),
    "*": lambda a, b: _checked(_number(a) * _number(b)),
    "/": _divide,
    "^": _power,
    "&": lambda a, b: _text(a) + _text(b),
    "=": lambda a, b: _compare(a, b) == 0,
    "<>": lambda a, b: _compare(a, b) != 0,
    "<": lambda a, b: _compare(a, b) < 0,
    "<=": lambda a, b: _compare(a, b) <= 0,
    ">": lambda a, b: _compare(a, b) > 0,
    ">=": lambda a, b: _compare(a, b) >= 0,
}
UNARY: dict[str, Callable[[Any], Any]] = {
    "U-": lambda a: -_number(a),
    "U+": lambda a: a,
    "%": lambda a: _number(a) / 100,
}


# ---------------------------------------------------------------- functions

LAZY_FUNCTIONS = {"IF", "IFERROR", "ISERROR", "ISBLANK", "ISNUMBER", "ISTEXT"}
"""Functions that get their arguments unevaluated (an IF branch not taken is never computed)."""


def _flatten_numbers(args: Sequence[Any]) -> list[float | int]:
    """Numbers among `args`: inside ranges only numbers and logicals count; direct arguments are coerced."""
    numbers: list[float | int] = []
    for arg in args:
        if isinstance(arg, list):
            for row in arg:
                for value in row:
                    if isinstance(value, CellError):
                        raise Failure(value)
                    if isinstance(value, (int, float)):
                        numbers.append(int(value) if isinstance(value, bool) else value)
        elif arg is not None:
            numbers.append(_number(arg))
    return numbers


def _values(args: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for arg in args:
        if isinstance(arg, list):
            out.extend(v for row in arg for v in row)
        else:
            out.append(arg)
    return out


def _round(x: Any, digits: Any = 0) -> float:
    value, places = _number(x), int(_number(digits))
    scale = 10.0 ** places
    shifted = abs(value) * scale
    rounded = math.floor(shifted + 0.5 + 1e-9 * max(1.0, shifted)) / scale
    return math.copysign(rounded, value) if rounded else 0.0


def _mod(x: Any, y: Any) -> float | int:
    a, b = _number(x), _number(y)
    if b == 0:
        raise failure(DIV0, "MOD by zero")
    return a - b * math.floor(a / b)


def _sqrt(x: Any) -> float:
    value = _number(x)
    if value < 0:
        raise failure(NUM, "SQRT of a negative number")
    return math.sqrt(value)


def _average(*args: Any) -> float:
    numbers = _flatten_numbers(args)
    if not numbers:
        raise failure(DIV0, "AVERAGE of no numbers")
    return sum(numbers) / len(numbers)


def _count(*args: Any) -> int:
    total = 0
    for arg in args:
        if isinstance(arg, list):
            total += sum(1 for row in arg for v in row if isinstance(v, (int, float)))
        elif isinstance(arg, (int, float)):
            total += 1
        elif isinstance(arg, str):
            try:
                float(arg)
                total += 1
            except ValueError:
                pass
    return total


def _logical(args: Sequence[Any], combine: Callable[[Iterable[bool]], bool], name: str) -> bool:
    truths: list[bool] = []
    for arg in args:
        if isinstance(arg, list):
            for value in (v for row in arg for v in row):
                if isinstance(value, CellError):
                    raise Failure(value)
                if isinstance(value, (bool, int, float)):
                    truths.append(truth(value))
        elif arg is not None:
            truths.append(truth(arg))
    if not truths:
        raise failure(VALUE, f"{name} got no logical values")
    return combine(truths)


def _mid(text: Any, start: Any, count: Any) -> str:
    s, first, n = _text(text), int(_number(start)), int(_number(count))
    if first < 1 or n < 0:
        raise failure(VALUE, "MID needs a start of 1 or more and a count of 0 or more")
    return s[first - 1:first - 1 + n]


def _left(text: Any, count: Any = 1) -> str:
    n = int(_number(count))
    if n < 0:
        raise failure(VALUE, "LEFT needs a count of 0 or more")
    return _text(text)[:n]


def _right(text: Any, count: Any = 1) -> str:
    n = int(_number(count))
    if n < 0:
        raise failure(VALUE, "RIGHT needs a count of 0 or more")
    return _text(text)[len(_text(text)) - n:] if n else ""


def _min_max(pick: Callable[[list[Any]], Any]) -> Callable[..., Any]:
    def run(*args: Any) -> Any:
        numbers = _flatten_numbers(args)
        return pick(numbers) if numbers else 0

    return run


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "SUM": lambda *a: _checked(sum(_flatten_numbers(a))),
    "PRODUCT": lambda *a: _checked(math.prod(_flatten_numbers(a))),
    "AVERAGE": _average,
    "COUNT": _count,
    "COUNTA": lambda *a: sum(1 for v in _values(a) if v is not None),
    "COUNTBLANK": lambda *a: sum(1 for v in _values(a) if v is None or v == ""),
    "MIN": _min_max(min),
    "MAX": _min_max(max),
    "AND": lambda *a: _logical(a, all, "AND"),
    "OR": lambda *a: _logical(a, any, "OR"),
    "NOT": lambda a: not truth(a),
    "ROUND": _round,
    "ABS": lambda a: abs(_number(a)),
    "INT": lambda a: math.floor(_number(a)),
    "MOD": _mod,
    "POWER": _power,
    "SQRT": _sqrt,
    "LEN": lambda a: len(_text(a)),
    "UPPER": lambda a: _text(a).upper(),
    "LOWER": lambda a: _text(a).lower(),
    "TRIM": lambda a: re.sub(" +", " ", _text(a)).strip(" "),
    "LEFT": _left,
    "RIGHT": _right,
    "MID": _mid,
    "CONCAT": lambda *a: "".join(_text(v) for v in _values(a)),
    "CONCATENATE": lambda *a: "".join(_text(v) for v in a),
}
