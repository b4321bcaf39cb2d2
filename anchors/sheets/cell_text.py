"""Text to number and number to text, as LibreOffice Calc converts them (en-US).

LibreOffice's default conversion of text to a number is locale dependent: what
its number scanner recognises as a number, a percentage, an amount of money,
a date, a time or a logical is that value; anything else is no number.
`number_from_text` follows it for the en-US locale:

| text | value |
| --- | --- |
| `3`, ` 3 `, `-2.5e-3`, `.5`, `+3` | the number (spaces around it are ignored) |
| `1,000`, `10,000.5` | thousands in groups of three (`1,00` is no number) |
| `(5)`, `5-`, `- 5` | negative five |
| `$5`, `-$5`, `5$`, `$1,000.50` | the amount |
| `50%`, `5 %`, `1,234.5%` | a hundredth of it |
| `TRUE`, `false` | 1 and 0, in any case |
| `2024-01-31`, `1/31/2024`, `1/31/24`, `Jan 31, 2024`, `January 31, 2024`, `31-Jan-2024`, `Jan 2024` | the date's serial number (two-digit years are 1930 to 2029) |
| `1/31`, `Jan-31` | that day in the current year |
| `12:00`, `1:30:15.5`, `12 PM`, `25:00` | the fraction of a day (hours may pass 24) |
| `2024-01-31 12:00`, `2024-01-31T12:00` | date and time |

`number_text` writes a number as LibreOffice's general format does when text
is asked of it (`=1/3&""`): integers in full below 2^53, otherwise 15
significant digits (at most 20 decimals), in scientific notation (`1E+016`,
three exponent digits) from 1E15 up and below 1E-14.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

EPOCH = dt.date(1899, 12, 30)
"""Day 0 of spreadsheet serial numbers (LibreOffice's and, from March 1900, Excel's)."""

_NUMBER = re.compile(
    r"""^(?P<cur1>\$)?\s*(?P<sign>[+-])?\s*(?P<cur2>\$)?\s*
    (?P<int>\d{1,3}(?:,\d{3})+|\d+)?(?:\.(?P<frac>\d*))?
    (?:[eE](?P<exp>[+-]?\d+))?
    \s*(?P<cur3>\$)?\s*(?P<tsign>[+-])?\s*(?P<pct>%)?$""",
    re.VERBOSE,
)
_MONTHS = {name: i + 1 for i, name in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}
_MONTH_NAMES = {**_MONTHS, **{m.lower(): i + 1 for i, m in enumerate(
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
     "November", "December"])}, "sept": 9}
_TIME = r"(?P<h>\d{1,4})(?::(?P<m>\d{1,2})(?::(?P<s>\d{1,2}(?:\.\d+)?))?)?\s*(?P<ampm>[AaPp][Mm])?"
_TIME_ONLY = re.compile(rf"^{_TIME}$")
_ISO = re.compile(r"^(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})(?:[ T](?P<time>.+))?$")
_US = re.compile(r"^(?P<mo>\d{1,2})/(?P<d>\d{1,2})(?:/(?P<y>\d{4}|\d{2}))?(?: (?P<time>.+))?$")
_NAMED = [
    re.compile(r"^(?P<mon>[A-Za-z]+)\.?\s+(?P<d>\d{1,2}),?\s+(?P<y>\d{4})(?: (?P<time>.+))?$"),
    re.compile(r"^(?P<d>\d{1,2})-(?P<mon>[A-Za-z]+)-(?P<y>\d{4}|\d{2})(?: (?P<time>.+))?$"),
    re.compile(r"^(?P<mon>[A-Za-z]+)\.?\s+(?P<y>\d{4})$"),
    re.compile(r"^(?P<mon>[A-Za-z]+)[- ](?P<d>\d{1,2})$"),
]


def serial(day: dt.date) -> int:
    """The serial number of a date: days since 1899-12-30."""
    return (day - EPOCH).days


def date_of(number: float) -> dt.date:
    """The date a serial number falls on (its time of day dropped)."""
    return EPOCH + dt.timedelta(days=math.floor(number))


def _year(text: str) -> int:
    year = int(text)
    if len(text) <= 2:
        year += 2000 if year < 30 else 1900
    return year


def _date(year: int, month: int, day: int) -> int | None:
    try:
        return serial(dt.date(year, month, day))
    except ValueError:
        return None


def _time(text: str, bounded: bool) -> float | None:
    """A time of day as a fraction of a day; hours over 24 only when not `bounded` by a date."""
    match = _TIME_ONLY.match(text.strip())
    if not match or (match["m"] is None and match["ampm"] is None):
        return None
    hours, minutes = int(match["h"]), int(match["m"] or 0)
    seconds = float(match["s"] or 0)
    if minutes >= 60 or seconds >= 60:
        return None
    if match["ampm"]:
        if not 1 <= hours <= 12:
            return None
        hours = hours % 12 + (12 if match["ampm"].lower() == "pm" else 0)
    elif bounded and hours > 24:
        return None
    return (hours * 3600 + minutes * 60 + seconds) / 86400


def _with_time(day: int | None, time_text: str | None) -> float | None:
    if day is None:
        return None
    if time_text is None:
        return day
    fraction = _time(time_text, bounded=True)
    return None if fraction is None else day + fraction


def _date_value(text: str, today: dt.date) -> float | None:
    match = _ISO.match(text)
    if match:
        return _with_time(_date(int(match["y"]), int(match["mo"]), int(match["d"])), match["time"])
    match = _US.match(text)
    if match:
        year = _year(match["y"]) if match["y"] else today.year
        return _with_time(_date(year, int(match["mo"]), int(match["d"])), match["time"])
    for pattern in _NAMED:
        match = pattern.match(text)
        if match and match["mon"].lower() in _MONTH_NAMES:
            groups = match.groupdict()
            year = _year(groups["y"]) if groups.get("y") else today.year
            day = int(groups["d"]) if groups.get("d") else 1
            return _with_time(_date(year, _MONTH_NAMES[match["mon"].lower()], day), groups.get("time"))
    return None


def _plain_number(text: str) -> float | None:
    parens = text.startswith("(") and text.endswith(")")
    match = _NUMBER.match(text[1:-1].strip() if parens else text)
    if not match or (match["int"] is None and not match["frac"]):
        return None
    parts = match.groupdict()
    currencies = sum(1 for key in ("cur1", "cur2", "cur3") if parts[key])
    signs = sum(1 for key in ("sign", "tsign") if parts[key])
    if currencies > 1 or signs > 1 or (parens and signs):
        return None
    if parts["exp"] is not None and parts["pct"]:
        return None
    number = float(f"{(parts['int'] or '0').replace(',', '')}.{parts['frac'] or '0'}e{parts['exp'] or 0}")
    if parts["pct"]:
        number /= 100
    if parens or "-" in (parts["sign"], parts["tsign"]):
        number = -number
    return number


def number_from_text(text: str, today: dt.date | None = None) -> float | None:
    """The number text spells for LibreOffice (en-US), or None; see the module's table."""
    stripped = text.strip()
    if not stripped:
        return None
    lower = stripped.lower()
    if lower in ("true", "false"):
        return 1.0 if lower == "true" else 0.0
    number = _plain_number(stripped)
    if number is not None:
        return number if math.isfinite(number) else None
    if ":" in stripped or lower.endswith(("am", "pm")):
        fraction = _time(stripped, bounded=False)
        if fraction is not None:
            return fraction
    if stripped[0].isdigit() or stripped[0].isalpha():
        day = _date_value(stripped, today or dt.date.today())
        return None if day is None else float(day)
    return None


def number_text(value: float) -> str:
    """`value` as LibreOffice's general format writes it when text is asked of it."""
    if value == 0:
        return "0"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    mantissa, exponent_text = f"{abs(value):.14e}".split("e")
    exponent = int(exponent_text)
    digits = mantissa.replace(".", "").rstrip("0") or "0"
    sign = "-" if value < 0 else ""
    if exponent >= 15 or exponent <= -15:
        head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{head}E{'+' if exponent >= 0 else '-'}{abs(exponent):03d}"
    if exponent < 0:
        fraction = f"{abs(value):.20f}".split(".")[1].rstrip("0") if -exponent + len(digits) > 21 else \
            "0" * (-exponent - 1) + digits
        return f"{sign}0.{fraction}"
    whole, fraction = digits[:exponent + 1].ljust(exponent + 1, "0"), digits[exponent + 1:]
    return f"{sign}{whole}{'.' + fraction if fraction else ''}"


def iso_date(number: float) -> str:
    """A serial number as ISO 8601: `2024-01-31`, or `2024-01-31T12:30:00` when it has a time of day."""
    day = EPOCH + dt.timedelta(days=math.floor(number))
    seconds = round((number - math.floor(number)) * 86400)
    if not seconds:
        return day.isoformat()
    return (dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)).isoformat(timespec="seconds")


def typed_from_text(text: str, today: dt.date | None = None) -> Any:
    """A cell typed into or pasted from a spreadsheet as the value it holds there: TRUE/FALSE a
    logical, a number (also `1,234.5`, `45%`, `$5`) a number, a date (`2024-01-31`,
    `1/31/2024`, `Jan 31, 2024`) `{"date": "YYYY-MM-DD"}` (with `THH:MM:SS` when it has a
    time), `=...` the formula, an empty cell None, anything else (a time alone too) the text."""
    stripped = text.strip()
    if not stripped:
        return None
    if stripped.startswith("="):
        return stripped
    lower = stripped.lower()
    if lower in ("true", "false"):
        return lower == "true"
    number = _plain_number(stripped)
    if number is not None and math.isfinite(number):
        return int(number) if number.is_integer() and abs(number) < 2**53 and "." not in stripped else number
    if stripped[0].isdigit() or stripped[0].isalpha():
        day = _date_value(stripped, today or dt.date.today())
        if day is not None:
            return {"date": iso_date(day)}
    return text
