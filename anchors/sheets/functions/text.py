"""Text functions. TEXT formats with the `formulas` library's number-format reader."""

from __future__ import annotations

import re
from typing import Any

from formulas.functions.text import xtext

from anchors.sheets.cell_text import number_from_text
from anchors.sheets.cell_values import NUM, VALUE, CellError, Failure, failure, to_number, to_text, truth
from anchors.sheets.functions.criteria import wildcard_pattern
from anchors.sheets.functions.registry import cells, every, from_position, integer_arg, sheet_function

MAX_TEXT = 32_767
"""The longest text a cell holds, in LibreOffice and Excel."""


def _checked_length(text: str, name: str) -> str:
    if len(text) > MAX_TEXT:
        raise failure(VALUE, f"{name}: the result would be longer than {MAX_TEXT} characters")
    return text


@sheet_function("LEN")
def length(text: Any) -> int:
    return len(to_text(text))


@sheet_function("UPPER")
def upper(text: Any) -> str:
    return to_text(text).upper()


@sheet_function("LOWER")
def lower(text: Any) -> str:
    return to_text(text).lower()


@sheet_function("PROPER")
def proper(text: Any) -> str:
    """Each word capitalised: a letter after a non-letter upper case, the others lower case."""
    out, after_letter = [], False
    for ch in to_text(text):
        out.append(ch.lower() if after_letter else ch.upper())
        after_letter = ch.isalpha()
    return "".join(out)


@sheet_function("TRIM")
def trim(text: Any) -> str:
    return re.sub(" +", " ", to_text(text)).strip(" ")


@sheet_function("LEFT")
def left(text: Any, count: Any = 1) -> str:
    n = integer_arg(count)
    if n < 0:
        raise failure(NUM, "LEFT needs a count of 0 or more")
    return to_text(text)[:n]


@sheet_function("RIGHT")
def right(text: Any, count: Any = 1) -> str:
    n = integer_arg(count)
    if n < 0:
        raise failure(NUM, "RIGHT needs a count of 0 or more")
    s = to_text(text)
    return s[len(s) - n:] if n else ""


@sheet_function("MID")
def mid(text: Any, start: Any, count: Any) -> str:
    s, first, n = to_text(text), integer_arg(start), integer_arg(count)
    if first < 1 or n < 0:
        raise failure(NUM, "MID needs a start of 1 or more and a count of 0 or more")
    return s[first - 1:first - 1 + n]


@sheet_function("CONCATENATE")
def concatenate(*parts: Any) -> str:
    return _checked_length("".join(to_text(v) for v in parts), "CONCATENATE")


@sheet_function("CONCAT", refs=every)
def concat(*parts: Any) -> str:
    return _checked_length("".join(to_text(v) for _, v in cells(parts)), "CONCAT")


@sheet_function("TEXTJOIN", refs=from_position(2))
def text_join(delimiter: Any, ignore_empty: Any, *parts: Any) -> str:
    skip = truth(ignore_empty)
    texts = [to_text(v) for _, v in cells(parts)]
    if skip:
        texts = [t for t in texts if t != ""]
    return _checked_length(to_text(delimiter).join(texts), "TEXTJOIN")


@sheet_function("REPT")
def repeat(text: Any, count: Any) -> str:
    n = integer_arg(count)
    if n < 0:
        raise failure(NUM, "REPT needs a count of 0 or more")
    s = to_text(text)
    return _checked_length(s * n if len(s) * n <= MAX_TEXT else "x" * (MAX_TEXT + 1), "REPT")


@sheet_function("EXACT")
def exact(a: Any, b: Any) -> bool:
    return to_text(a) == to_text(b)


def _start(within: str, start: Any, name: str) -> int:
    first = integer_arg(start)
    if first < 1 or first > len(within) + 1:
        raise failure(VALUE, f"{name}: the start {first} is outside the text")
    return first - 1


@sheet_function("FIND")
def find(needle: Any, haystack: Any, start: Any = 1) -> int:
    """Where `needle` first occurs in `haystack` from `start` (from 1), case counting; no wildcards."""
    within, sought = to_text(haystack), to_text(needle)
    at_ = within.find(sought, _start(within, start, "FIND")) if sought else -1
    if at_ < 0:
        raise failure(VALUE, f"FIND: {sought!r} is not in {within!r}")
    return at_ + 1


@sheet_function("SEARCH")
def search(needle: Any, haystack: Any, start: Any = 1) -> int:
    """As FIND, without case, with wildcards (`*`, `?`, `~`)."""
    within, sought = to_text(haystack), to_text(needle)
    pattern = wildcard_pattern(sought) or re.compile(re.escape(sought), re.IGNORECASE)
    found = pattern.search(within, _start(within, start, "SEARCH"))
    if found is None:
        raise failure(VALUE, f"SEARCH: {sought!r} is not in {within!r}")
    return found.start() + 1


@sheet_function("SUBSTITUTE")
def substitute(text: Any, old: Any, new: Any, instance: Any = None) -> str:
    s, before, after = to_text(text), to_text(old), to_text(new)
    if not before:
        return s
    if instance is None:
        return _checked_length(s.replace(before, after), "SUBSTITUTE")
    n = integer_arg(instance)
    if n < 1:
        raise failure(NUM, "SUBSTITUTE: the instance must be 1 or more")
    at_ = -1
    for _ in range(n):
        at_ = s.find(before, at_ + 1)
        if at_ < 0:
            return s
    return _checked_length(s[:at_] + after + s[at_ + len(before):], "SUBSTITUTE")


@sheet_function("REPLACE")
def replace(text: Any, start: Any, count: Any, new: Any) -> str:
    s, first, n = to_text(text), integer_arg(start), integer_arg(count)
    if first < 1 or n < 0:
        raise failure(NUM, "REPLACE needs a start of 1 or more and a count of 0 or more")
    return _checked_length(s[:first - 1] + to_text(new) + s[first - 1 + n:], "REPLACE")


@sheet_function("CHAR")
def char(code: Any) -> str:
    n = integer_arg(code)
    if not 0 <= n <= 255:
        raise failure(NUM, f"CHAR takes a code from 0 to 255, not {n}")
    return bytes([n]).decode("cp1252", errors="replace")


@sheet_function("CODE")
def code(text: Any) -> int:
    s = to_text(text)
    if not s:
        return 0
    encoded = s[0].encode("cp1252", errors="replace")
    return encoded[0]


@sheet_function("VALUE")
def value(text: Any) -> Any:
    """The number text spells (as LibreOffice reads it); numbers and logicals are themselves."""
    if isinstance(text, CellError):
        raise Failure(text)
    if text is None:
        return 0
    if isinstance(text, (int, float)):
        return text
    number = number_from_text(text)
    if number is None:
        raise failure(NUM, f"VALUE: {text!r} is not a number")
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


@sheet_function("TEXT")
def text_format(value_: Any, format_code: Any) -> str:
    """`value` written with a spreadsheet number format (`"#,##0.00"`, `"0%"`, `"yyyy-mm-dd"`)."""
    if isinstance(value_, str):
        number = number_from_text(value_)
        if number is None:
            return value_
        value_ = number
    number = to_number(value_)
    nudged = number * (1 + 4e-16) if number else number  # halves round away from zero, as LibreOffice
    try:
        return str(xtext(nudged, to_text(format_code)))
    except Exception:
        raise failure(VALUE, f"TEXT cannot use the format {to_text(format_code)!r}") from None
