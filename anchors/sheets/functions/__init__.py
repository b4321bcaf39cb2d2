"""Spreadsheet functions for formulas, with LibreOffice's semantics and error values.

`FUNCTIONS` holds each name's `SheetFunction` (see `registry`). The
functions are written here rather than taken from a library; docs/blocks.md
says why, and which library does what inside them.
"""

from anchors.sheets.functions import criteria, dates, logic, lookup, maths, stats, text  # noqa: F401  (registers)
from anchors.sheets.functions.registry import FUNCTIONS, SheetFunction

__all__ = ["FUNCTIONS", "SheetFunction"]
