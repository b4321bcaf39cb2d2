"""Arithmetic functions, on Python's `math` module with LibreOffice's rounding and error values."""

from __future__ import annotations

import math
from typing import Any

from anchors.sheets.cell_values import DIV0, NUM, VALUE, CellError, Failure, checked, failure, power, to_number
from anchors.sheets.functions.registry import area_arg, every, integer_arg, numbers, sheet_function


def approx(value: float) -> float:
    """`value` rounded to 15 significant digits: 0.1+0.2 is 0.3 before it is cut or rounded, as in LibreOffice."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, 14 - math.floor(math.log10(abs(value))))


def _scaled(x: Any, digits: Any) -> tuple[float, float]:
    places = integer_arg(digits)
    scale = 10.0 ** places
    return approx(to_number(x) * scale), scale


@sheet_function("ROUND")
def round_half_away(x: Any, digits: Any = 0) -> float:
    shifted, scale = _scaled(x, digits)
    rounded = math.floor(abs(shifted) + 0.5) / scale
    return math.copysign(rounded, shifted) if rounded else 0.0


@sheet_function("ROUNDUP")
def round_up(x: Any, digits: Any = 0) -> float:
    shifted, scale = _scaled(x, digits)
    rounded = math.ceil(abs(shifted)) / scale
    return math.copysign(rounded, shifted) if rounded else 0.0


@sheet_function("ROUNDDOWN", "TRUNC")
def round_down(x: Any, digits: Any = 0) -> float:
    shifted, scale = _scaled(x, digits)
    rounded = math.floor(abs(shifted)) / scale
    return math.copysign(rounded, shifted) if rounded else 0.0


@sheet_function("INT")
def integer_part(x: Any) -> int:
    return math.floor(approx(to_number(x)))


@sheet_function("ABS")
def absolute(x: Any) -> float | int:
    return abs(to_number(x))


@sheet_function("SIGN")
def sign(x: Any) -> int:
    value = to_number(x)
    return (value > 0) - (value < 0)


@sheet_function("MOD")
def modulo(x: Any, y: Any) -> float | int:
    a, b = to_number(x), to_number(y)
    if b == 0:
        raise failure(DIV0, "MOD by zero")
    return checked(a - b * math.floor(approx(a / b)))


@sheet_function("QUOTIENT")
def quotient(x: Any, y: Any) -> int:
    a, b = to_number(x), to_number(y)
    if b == 0:
        raise failure(NUM, "QUOTIENT by zero")
    return math.trunc(approx(a / b))


@sheet_function("POWER")
def power_of(x: Any, y: Any) -> float | int:
    return power(x, y)


@sheet_function("SQRT")
def square_root(x: Any) -> float:
    value = to_number(x)
    if value < 0:
        raise failure(NUM, "SQRT of a negative number")
    return math.sqrt(value)


@sheet_function("EXP")
def exponential(x: Any) -> float:
    try:
        return math.exp(to_number(x))
    except OverflowError:
        raise failure(NUM, "EXP: the result is too large to represent") from None


def _positive(x: Any, name: str) -> float:
    value = to_number(x)
    if value <= 0:
        raise failure(NUM, f"{name} of a number that is not above 0")
    return value


@sheet_function("LN")
def natural_log(x: Any) -> float:
    return math.log(_positive(x, "LN"))


@sheet_function("LOG10")
def log10(x: Any) -> float:
    return math.log10(_positive(x, "LOG10"))


@sheet_function("LOG")
def logarithm(x: Any, base: Any = 10) -> float:
    value, b = _positive(x, "LOG"), _positive(base, "LOG's base")
    if b == 1:
        raise failure(NUM, "LOG to the base 1")
    return math.log10(value) if b == 10 else math.log(value) / math.log(b)


@sheet_function("PI")
def pi() -> float:
    return math.pi


def _multiple(x: Any, significance: Any, name: str, up: bool) -> float | int:
    """CEILING and FLOOR as LibreOffice computes them for spreadsheets in Excel's format."""
    value, step = to_number(x), to_number(significance)
    if step == 0:
        if up:
            return 0
        if value == 0:
            return 0
        raise failure(NUM, f"{name} with a significance of 0")
    if value > 0 and step < 0:
        raise failure(NUM, f"{name} of a positive number with a negative significance")
    quotient = approx(value / step)
    steps = math.ceil(quotient) if up else math.floor(quotient)
    return approx(steps * step)


@sheet_function("CEILING")
def ceiling(x: Any, significance: Any = 1) -> float | int:
    return _multiple(x, significance, "CEILING", up=True)


@sheet_function("FLOOR")
def floor(x: Any, significance: Any = 1) -> float | int:
    return _multiple(x, significance, "FLOOR", up=False)


@sheet_function("MROUND")
def mround(x: Any, multiple: Any) -> float | int:
    value, step = to_number(x), to_number(multiple)
    if step == 0:
        return 0
    return approx(round_half_away(value / step) * step)


def exact_sum(values: list[float | int]) -> float | int:
    """The sum of `values`, rounded once (an int when they all are)."""
    if all(type(v) is int for v in values):
        return sum(values)
    return checked(math.fsum(values))


@sheet_function("SUM", refs=every)
def total(*args: Any) -> float | int:
    return exact_sum(numbers(args, "SUM"))


@sheet_function("PRODUCT", refs=every)
def product(*args: Any) -> float | int:
    found = numbers(args, "PRODUCT")
    return checked(math.prod(found)) if found else 0


@sheet_function("SUMPRODUCT", refs=every, array=True)
def sum_product(*args: Any) -> float:
    if not args:
        raise failure(VALUE, "SUMPRODUCT needs at least one array")
    areas = [area_arg(a) for a in args]
    sizes = {a.size for a in areas}
    if len(sizes) != 1:
        raise failure(VALUE, f"SUMPRODUCT's arrays differ in size: {sorted(sizes)}")
    total_ = []
    for values in zip(*(a.flat() for a in areas)):
        term = 1.0
        for value in values:
            if isinstance(value, CellError):
                raise Failure(value)
            term *= value if isinstance(value, (int, float)) else 0
        total_.append(term)
    return checked(math.fsum(total_))
