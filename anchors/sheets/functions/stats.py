"""Counting and statistics, on Python's `statistics` module with LibreOffice's rules for what counts."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from typing import Any

from anchors.sheets.cell_text import number_from_text
from anchors.sheets.cell_values import DIV0, VALUE, CellError, Failure, failure, to_number
from anchors.sheets.functions.registry import area_arg, at, cells, every, integer_arg, numbers, sheet_function


@sheet_function("AVERAGE", refs=every)
def average(*args: Any) -> float:
    found = numbers(args, "AVERAGE")
    if not found:
        raise failure(DIV0, "AVERAGE of no numbers")
    return math.fsum(found) / len(found)


@sheet_function("COUNT", refs=every)
def count(*args: Any) -> int:
    """Numbers and logicals in references; given directly, also text that reads as a number."""
    total = 0
    for from_reference, value in cells(args):
        if isinstance(value, (int, float)):
            total += 1
        elif not from_reference and isinstance(value, str) and number_from_text(value) is not None:
            total += 1
    return total


@sheet_function("COUNTA", refs=every)
def count_values(*args: Any) -> int:
    return sum(1 for _, value in cells(args) if value is not None)


@sheet_function("COUNTBLANK", refs=every)
def count_blank(*args: Any) -> int:
    return sum(1 for _, value in cells(args) if value is None or value == "")


def _extreme(args: tuple[Any, ...], name: str, pick: Any) -> Any:
    """MIN or MAX; the value keeps its kind, so the largest of logicals is a logical, as LibreOffice shows it."""
    found: list[Any] = []
    for from_reference, value in cells(args):
        if isinstance(value, CellError):
            raise Failure(value)
        if isinstance(value, (int, float)):
            found.append(value)
        elif not from_reference and value is not None:
            raise failure(VALUE, f"{name} takes numbers, not the text {value!r}")
    return pick(found, key=float) if found else 0


@sheet_function("MIN", refs=every)
def minimum(*args: Any) -> Any:
    return _extreme(args, "MIN", min)


@sheet_function("MAX", refs=every)
def maximum(*args: Any) -> Any:
    return _extreme(args, "MAX", max)


@sheet_function("MEDIAN", refs=every)
def median(*args: Any) -> float:
    found = numbers(args, "MEDIAN")
    if not found:
        raise failure(VALUE, "MEDIAN of no numbers")
    return statistics.median(found)


@sheet_function("MODE", refs=every)
def mode(*args: Any) -> float:
    """The most frequent number; of equally frequent ones, the smallest."""
    found = numbers(args, "MODE")
    counts = Counter(found)
    best = max(counts.values(), default=0)
    if best < 2:
        raise failure(VALUE, "MODE: no number occurs more than once")
    return min(v for v in counts if counts[v] == best)


def _sample(args: tuple[Any, ...], name: str) -> list[float | int]:
    found = numbers(args, name)
    if len(found) < 2:
        raise failure(DIV0, f"{name} needs at least two numbers")
    return found


@sheet_function("STDEV", refs=every)
def stdev(*args: Any) -> float:
    return statistics.stdev(_sample(args, "STDEV"))


@sheet_function("VAR", refs=every)
def var(*args: Any) -> float:
    return statistics.variance(_sample(args, "VAR"))


def _kth(area: Any, k: Any, name: str, largest: bool) -> float | int:
    found = sorted(numbers([area_arg(area)], name), reverse=largest)
    position = math.ceil(to_number(k))
    if not 1 <= position <= len(found):
        raise failure(VALUE, f"{name}: k must be between 1 and {len(found)}, not {position}")
    return found[position - 1]


@sheet_function("LARGE", refs=at(0))
def large(area: Any, k: Any) -> float | int:
    return _kth(area, k, "LARGE", largest=True)


@sheet_function("SMALL", refs=at(0))
def small(area: Any, k: Any) -> float | int:
    return _kth(area, k, "SMALL", largest=False)


@sheet_function("RANK", refs=at(1))
def rank(value: Any, area: Any, order: Any = 0) -> int:
    """The position of `value` among the numbers of `area`, from the largest (order 0) or the smallest."""
    target = to_number(value)
    found = numbers([area_arg(area)], "RANK")
    if target not in found:
        raise failure(VALUE, f"RANK: {target} is not in the list")
    ascending = integer_arg(order) != 0
    return 1 + sum(1 for v in found if (v < target if ascending else v > target))
