"""Dates, on Python's `datetime`: serial numbers counted from 1899-12-30, as LibreOffice counts them.

A date a function makes is a `Date` (shown as a date, a number in arithmetic).
TODAY and NOW are volatile: their cells are recomputed whenever their table is
shown, with the time of the local clock.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from anchors.sheets.cell_text import EPOCH, date_of, serial
from anchors.sheets.cell_values import NUM, VALUE, Date, failure, to_number, to_text
from anchors.sheets.functions.registry import area_arg, at, integer_arg, numbers, sheet_function

MIN_YEAR, MAX_YEAR = 1583, 9956
"""The years LibreOffice's date functions take (Gregorian calendar)."""


def _date(value: Any, name: str) -> dt.date:
    number = to_number(value)
    try:
        return date_of(number)
    except OverflowError:
        raise failure(NUM, f"{name}: {number} is not a date") from None


def _serial(day: dt.date) -> Date:
    return Date(serial(day))


@sheet_function("DATE")
def date(year: Any, month: Any, day: Any) -> Date:
    """The date of `year`, `month` and `day`; months and days past their end roll over, as in spreadsheets."""
    y, m, d = integer_arg(year), integer_arg(month), integer_arg(day)
    if 0 <= y < 100:
        y += 1900 if y >= 30 else 2000
    y += (m - 1) // 12
    m = (m - 1) % 12 + 1
    if not MIN_YEAR <= y <= MAX_YEAR:
        raise failure(NUM, f"DATE: the year {y} is out of range")
    return Date(serial(dt.date(y, m, 1)) + d - 1)


@sheet_function("YEAR")
def year(value: Any) -> int:
    return _date(value, "YEAR").year


@sheet_function("MONTH")
def month(value: Any) -> int:
    return _date(value, "MONTH").month


@sheet_function("DAY")
def day(value: Any) -> int:
    return _date(value, "DAY").day


_WEEK_STARTS = {1: 6, 2: 0, 11: 0, 12: 1, 13: 2, 14: 3, 15: 4, 16: 5, 17: 6}
"""WEEKDAY's types: the weekday (Monday 0) numbered 1; type 3 numbers Monday 0."""


@sheet_function("WEEKDAY")
def weekday(value: Any, kind: Any = 1) -> int:
    day_ = _date(value, "WEEKDAY").weekday()
    k = integer_arg(kind)
    if k == 3:
        return day_
    if k not in _WEEK_STARTS:
        raise failure(NUM, f"WEEKDAY: {k} is not a type (1, 2, 3, 11 to 17)")
    return (day_ - _WEEK_STARTS[k]) % 7 + 1


def _months_later(start: dt.date, months: int, end_of_month: bool) -> dt.date:
    total = start.year * 12 + start.month - 1 + months
    y, m = divmod(total, 12)
    m += 1
    if not MIN_YEAR <= y <= MAX_YEAR:
        raise failure(NUM, f"the year {y} is out of range")
    last = calendar.monthrange(y, m)[1]
    return dt.date(y, m, last if end_of_month else min(start.day, last))


@sheet_function("EDATE")
def edate(start: Any, months: Any) -> Date:
    return _serial(_months_later(_date(start, "EDATE"), integer_arg(months), end_of_month=False))


@sheet_function("EOMONTH")
def eomonth(start: Any, months: Any) -> Date:
    return _serial(_months_later(_date(start, "EOMONTH"), integer_arg(months), end_of_month=True))


@sheet_function("DAYS")
def days(end: Any, start: Any) -> int:
    return math.floor(to_number(end)) - math.floor(to_number(start))


@sheet_function("DATEDIF")
def datedif(start: Any, end: Any, unit: Any) -> int:
    """Whole years (Y), months (M) or days (D) from `start` to `end`; MD, YM and YD ignore the larger units."""
    a, b = _date(start, "DATEDIF"), _date(end, "DATEDIF")
    if a > b:
        raise failure(NUM, "DATEDIF: the start is after the end")
    kind = to_text(unit).upper()
    months = (b.year - a.year) * 12 + b.month - a.month - (1 if b.day < a.day else 0)
    if kind == "Y":
        return months // 12
    if kind == "M":
        return months
    if kind == "D":
        return (b - a).days
    if kind == "YM":
        return months % 12
    if kind == "MD":
        if a.day <= b.day:
            return b.day - a.day
        previous = dt.date(b.year, b.month, 1) - dt.timedelta(days=1)
        return (b - previous.replace(day=1)).days - (a.day - 1)
    if kind == "YD":
        shifted = _months_later(a, (months // 12) * 12, end_of_month=False)
        return (b - shifted).days
    raise failure(NUM, f"DATEDIF: {kind!r} is not a unit (Y, M, D, MD, YM, YD)")


@sheet_function("NETWORKDAYS", refs=at(2))
def networkdays(start: Any, end: Any, holidays: Any = None) -> int:
    """Weekdays (Monday to Friday) from `start` to `end`, both counted, less `holidays`; negative backwards."""
    a, b = _date(start, "NETWORKDAYS"), _date(end, "NETWORKDAYS")
    off = [] if holidays is None else [np.datetime64(EPOCH + dt.timedelta(days=math.floor(h)))
                                      for h in numbers([area_arg(holidays)], "NETWORKDAYS")]
    first, last = (a, b) if a <= b else (b, a)
    count = int(np.busday_count(first, last + dt.timedelta(days=1), holidays=off))
    return count if a <= b else -count


def _now(ev: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(ev.now())


def _moment(now: dt.datetime) -> float:
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return serial(now.date()) + (now - midnight).total_seconds() / 86400


@sheet_function("TODAY", lazy=True, volatile=True)
def today(ev: Any, args: Sequence[Any], as_ref: bool) -> Date:
    if args:
        raise failure(VALUE, "TODAY takes no arguments")
    return _serial(_now(ev).date())


@sheet_function("NOW", lazy=True, volatile=True)
def now(ev: Any, args: Sequence[Any], as_ref: bool) -> Date:
    if args:
        raise failure(VALUE, "NOW takes no arguments")
    return Date(_moment(_now(ev)))
