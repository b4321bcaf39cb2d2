"""Compute functions every service has; more come from `@compute_function` and entry points."""

from __future__ import annotations

from typing import Any

from anchors.compute.compute_blocks import compute_function


def _numbers(rows: list[dict[str, Any]], field: str) -> list[float]:
    return [r[field] for r in rows if isinstance(r.get(field), (int, float)) and not isinstance(r.get(field), bool)]


@compute_function("sum_field")
def sum_field(rows: list[dict[str, Any]], field: str) -> float:
    """The sum of a numeric field over a table's rows (cells without a number are skipped)."""
    return sum(_numbers(rows, field))


@compute_function("average_field")
def average_field(rows: list[dict[str, Any]], field: str) -> float | None:
    """The mean of a numeric field over a table's rows, or null when none has a number."""
    numbers = _numbers(rows, field)
    return sum(numbers) / len(numbers) if numbers else None


@compute_function("count_rows")
def count_rows(rows: list[dict[str, Any]], field: str | None = None, equals: Any = None) -> int:
    """How many rows there are, or how many have `field` equal to `equals`."""
    return len(rows) if field is None else sum(1 for r in rows if r.get(field) == equals)


@compute_function("presence")
def presence(in_view: bool, seen_for_s: float | None = None, count: int | None = None) -> str:
    """A line saying whether the object is in view, for how long, and how many of its class are."""
    if not in_view:
        return "not in view"
    parts = [f"in view for {seen_for_s:.0f} s" if seen_for_s is not None else "in view"]
    if count is not None:
        parts.append(f"{count} of its class in view")
    return ", ".join(parts)
