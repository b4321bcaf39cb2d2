"""Spreadsheet formulas: parsed by the `formulas` library, evaluated here on plain values.

`formulas` (a maintained Excel formula parser) tokenizes a formula and orders
it by operator precedence; `_TreeBuilder` keeps its output as a small tree
instead of compiling it, because its compiled functions cost about half a
millisecond a call. The evaluator below walks that tree over the referenced
values only: no Python `eval`, no names but the cells, fields and blocks the
formula references.

References in a formula:
- `B2`, `B2:C10`, `B:B` (whole column), `2:2` (whole row): cells of this table,
  columns in field order, rows in row order, from 1.
- `qty`: the field named `qty`, in the same row.
- `blk_123abc!B2`, `blk_123abc!B:B`: cells of another block (a table, or a
  compute or JSON block whose value is its cell A1).

A failed operation gives a `CellError` value instead of raising (values:
`anchors.sheets.cell_values`; functions: `anchors.sheets.functions`).
`anchors.sheets.sheet.Sheet` keeps a table's cells and the dependency graph between
their formulas.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import formulas
from formulas.errors import FormulaError as _LibraryFormulaError
from formulas.tokens.function import Function as _FunctionToken
from formulas.tokens.operand import Error as _ErrorToken
from formulas.tokens.operand import Number as _NumberToken
from formulas.tokens.operand import Operand as _OperandToken
from formulas.tokens.operand import Range as _RangeToken
from formulas.tokens.operand import String as _StringToken
from formulas.tokens.operator import Operator as _OperatorToken

from anchors.errors import BlockShapeError
from anchors.sheets.cell_values import (
    NAME,
    NUM,
    REF,
    UNARY,
    VALUE,
    Area,
    BINARY,
    Cell,
    CellError,
    Failure,
    Grid,
    Span,
    elementwise,
    failure,
)
from anchors.sheets.functions import FUNCTIONS


_log = logging.getLogger(__name__)


class FormulaSyntaxError(BlockShapeError):
    """A formula that cannot be parsed; raised when it is written, so it is never stored."""

    code = "bad_formula"


# ---------------------------------------------------------------- parsing


_FUTURE_PREFIX = re.compile(r"^_XL(FN|WS)\.")
"""Excel files write functions newer than 2007 as `_xlfn.IFS`."""


class _TreeBuilder:
    """Receives the parser's tokens in postfix order and keeps them as a tree."""

    def __init__(self, match: Any = None, **_: Any) -> None:
        self.match = match
        self._stack: list[tuple[Any, ...]] = []

    def __len__(self) -> int:
        return len(self._stack)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        return self._stack[index]

    def pop(self) -> tuple[Any, ...]:
        return self._stack.pop()

    def append(self, token: Any) -> None:
        if isinstance(token, (_OperatorToken, _FunctionToken)):
            count = token.get_n_args
            if count > len(self._stack):
                raise _LibraryFormulaError()
            args = self._stack[len(self._stack) - count:] if count else []
            del self._stack[len(self._stack) - count:]
            kind = "fn" if isinstance(token, _FunctionToken) else "op"
            name = token.name.upper()
            if kind == "fn":
                name = _FUTURE_PREFIX.sub("", name)
            self._stack.append((kind, name, tuple(args)))
        else:
            self._stack.append(_operand(token))

    def finish(self) -> None:
        pass


def _operand(token: _OperandToken) -> tuple[Any, ...]:
    if isinstance(token, _NumberToken):
        name = token.name.upper()
        if name in ("TRUE", "FALSE"):
            return ("const", name == "TRUE")
        number = float(name)
        return ("const", int(number) if number.is_integer() and "." not in name and "E" not in name else number)
    if isinstance(token, _StringToken):
        return ("const", token.name.replace('""', '"'))
    if isinstance(token, _ErrorToken):
        return ("const", CellError(token.name.upper(), f"the formula holds the error {token.name.upper()}"))
    if isinstance(token, _RangeToken):
        attr = token.attr
        sheet = attr.get("sheet") or None
        if attr.get("is_reference"):
            return ("name", attr["ref"], sheet)
        return ("ref", sheet, _span(attr), attr["ref"])
    return ("const", None)


_MAX_ROW = 1_048_576


def _column_index(letters: str) -> int:
    index = 0
    for ch in letters.upper():
        index = index * 26 + ord(ch) - 64
    return index - 1


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def cell_name(cell: Cell) -> str:
    return f"{column_letter(cell[1])}{cell[0] + 1}"


def _span(attr: dict[str, Any]) -> tuple[int | None, int | None, int | None, int | None]:
    """(first row, first column, last row, last column) from 0; None where the range is open."""
    r1, r2 = int(attr["r1"]), int(attr["r2"])
    c1, c2 = attr["c1"], attr["c2"]
    whole_column = r1 == 0 and r2 == _MAX_ROW
    whole_row = c1 == "" and c2 == "XFD"
    return (
        None if whole_column else r1 - 1,
        None if whole_row else _column_index(c1),
        None if whole_column else r2 - 1,
        None if whole_row else _column_index(c2),
    )


class _Parser(formulas.Parser):
    ast_builder = _TreeBuilder


_PARSER = _Parser()
_STRINGS = re.compile(r'"(?:[^"]|"")*"')
_SHEET_REF = re.compile(r"!\s*(\$?[A-Za-z_][\w.$]*)(\s*:)?")
_CELL = re.compile(r"^\$?[A-Za-z]{1,3}\$?\d+$")
_COLUMN = re.compile(r"^\$?[A-Za-z]{1,3}$")


@lru_cache(maxsize=16384)
def parse(text: str) -> tuple[Any, ...]:
    """The tree of formula `text` (which starts with `=`); raises FormulaSyntaxError."""
    if not isinstance(text, str) or not text.startswith("="):
        raise FormulaSyntaxError(f"a formula starts with '=': {text!r}")
    for name, colon in _SHEET_REF.findall(_STRINGS.sub('""', text)):
        if not (_CELL.match(name) or (colon and _COLUMN.match(name))):
            raise FormulaSyntaxError(
                f"in {text!r}: '!{name}' names a field of another block; reference its cells as block!B2 or block!B:B"
            )
    try:
        _, builder = _PARSER.ast(text)
    except (_LibraryFormulaError, IndexError, ValueError) as exc:
        detail = str(exc.args[1]) if len(exc.args) > 1 else ""
        raise FormulaSyntaxError(f"cannot parse the formula {text!r}{': ' + detail if detail else ''}") from None
    tree = builder[-1]
    _check_calls(tree, text)
    return tree


def _check_calls(node: tuple[Any, ...], text: str) -> None:
    """Raise FormulaSyntaxError where a known function gets a number of arguments it cannot take."""
    if node[0] not in ("fn", "op"):
        return
    if node[0] == "fn":
        function = FUNCTIONS.find(node[1])
        if function is not None and not function.lazy:
            low, high = _arity(function.call)
            if not low <= len(node[2]) <= high:
                expected = f"{low}" if low == high else f"{low} or more" if high == _MANY else f"{low} to {high}"
                raise FormulaSyntaxError(f"in {text!r}: {function.name} takes {expected} arguments, not {len(node[2])}")
    for arg in node[2]:
        _check_calls(arg, text)


# ---------------------------------------------------------------- binding


class Bound:
    """A formula tied to one cell: its tree with every reference resolved to cells.

    `cells` are the single cells it reads, `spans` the ranges of several cells
    (kept whole: a SUMIF over 10,000 rows is one dependency, not 10,000),
    `externals` the other blocks. A `volatile` formula (TODAY, NOW) is
    recomputed whenever its table is shown; a `dynamic` one (OFFSET) reads
    cells its references do not name, found when it runs.
    """

    __slots__ = ("text", "tree", "cell", "cells", "spans", "externals", "volatile", "dynamic")

    def __init__(self, text: str, tree: tuple[Any, ...], cell: Cell, cells: set[Cell], spans: set[Span],
                 externals: set[str], volatile: bool = False, dynamic: bool = False) -> None:
        self.text = text
        self.tree = tree
        self.cell = cell
        self.cells = cells
        self.spans = spans
        self.externals = externals
        self.volatile = volatile
        self.dynamic = dynamic


_COLUMN_LIMIT, _COLUMN_SHIFT = 4096, 8192
_ROW_LIMIT, _ROW_SHIFT = 262_144, 524_288
"""In a template, a fixed ($) column is below its limit; a relative one is its offset from the
formula's own column plus the shift (offsets within the limit either way). Rows likewise."""
_A1_REF = re.compile(r"(?<![\w.$])(\$?)([A-Za-z]{1,3})(\$?)(\d+)(?![\w(.!])")
_STRING_PARTS = re.compile(r'("(?:[^"]|"")*")')


def template(text: str, cell: Cell) -> str | None:
    """`text` with the relative part of each cell reference written as an offset from `cell`.

    The same formula filled down a column (B2 = B1+1, B3 = B2+1, ...) then has
    one template, parsed once. None when a reference cannot be written so.
    """
    unencodable = False

    def shift(match: re.Match[str]) -> str:
        nonlocal unencodable
        column_fixed, letters, row_fixed, digits = match.groups()
        column, row = _column_index(letters), int(digits) - 1
        column_fits = column < _COLUMN_LIMIT if column_fixed else abs(column - cell[1]) < _COLUMN_LIMIT
        row_fits = row < _ROW_LIMIT if row_fixed else abs(row - cell[0]) < _ROW_LIMIT
        if not (column_fits and row_fits):
            unencodable = True
        column = column if column_fixed else column - cell[1] + _COLUMN_SHIFT
        row = row if row_fixed else row - cell[0] + _ROW_SHIFT
        return f"{column_letter(column)}{row + 1}"

    parts = _STRING_PARTS.split(text)
    shifted = "".join(part if i % 2 else _A1_REF.sub(shift, part) for i, part in enumerate(parts))
    return None if unencodable else shifted


def _unshift(value: int | None, base: int, limit: int, shift: int) -> int | None:
    return value - shift + base if value is not None and value >= limit else value


class _Reads:
    """What binding a formula found it reads, and which of its functions are volatile or dynamic."""

    def __init__(self) -> None:
        self.cells: set[Cell] = set()
        self.spans: set[Span] = set()
        self.externals: set[str] = set()
        self.volatile = False
        self.dynamic = False


def _bind(node: tuple[Any, ...], cell: Cell, fields: dict[str, int], size: tuple[int, int],
          reads: _Reads, templated: bool) -> tuple[Any, ...]:
    kind = node[0]
    if kind == "const":
        return node
    if kind in ("op", "fn"):
        if kind == "fn":
            function = FUNCTIONS.find(node[1])
            reads.volatile |= bool(function and function.volatile)
            reads.dynamic |= bool(function and function.dynamic)
        return (kind, node[1], tuple(_bind(a, cell, fields, size, reads, templated) for a in node[2]))
    if kind == "name":
        _, name, sheet = node
        column = fields.get(name.lower())
        if column is None or sheet:
            known = ", ".join(sorted(fields)) or "none"
            return ("const", CellError(REF if sheet else NAME, f"no field named {name!r} (fields: {known})"))
        reads.cells.add((cell[0], column))
        return ("cell", cell[0], column)
    _, sheet, (r1, c1, r2, c2), text = node
    if templated:
        r1, r2 = (_unshift(r, cell[0], _ROW_LIMIT, _ROW_SHIFT) for r in (r1, r2))
        c1, c2 = (_unshift(c, cell[1], _COLUMN_LIMIT, _COLUMN_SHIFT) for c in (c1, c2))
        if None not in (r1, c1, r2, c2):
            text = cell_name((r1, c1)) + ("" if (r1, c1) == (r2, c2) else ":" + cell_name((r2, c2)))
    if sheet:
        block_id = sheet.lower()
        reads.externals.add(block_id)
        return ("xref", block_id, (r1, c1, r2, c2), text)
    rows, columns = size
    r1, r2 = (0, rows - 1) if r1 is None else (r1, r2)
    c1, c2 = (0, columns - 1) if c1 is None else (c1, c2)
    if r1 >= rows or c1 >= columns:
        return ("const", CellError(REF, f"{text} is outside the table ({rows} rows, {columns} fields)"))
    r2, c2 = min(r2, rows - 1), min(c2, columns - 1)
    if (r1, c1) == (r2, c2):
        reads.cells.add((r1, c1))
        return ("cell", r1, c1)
    reads.spans.add((r1, c1, r2, c2))
    return ("range", r1, c1, r2, c2)


def bind(text: str, cell: Cell, fields: dict[str, int], size: tuple[int, int]) -> Bound:
    """Formula `text` as written in `cell` of a table with `fields` (lower-case name to column) and `size`."""
    reads = _Reads()
    shifted = template(text, cell)
    try:
        tree = parse(shifted if shifted is not None else text)
    except FormulaSyntaxError:
        parse(text)
        raise
    tree = _bind(tree, cell, fields, size, reads, shifted is not None)
    return Bound(text, tree, cell, reads.cells, reads.spans, reads.externals, reads.volatile, reads.dynamic)


# ---------------------------------------------------------------- evaluation

External = Callable[[str], Grid]
"""Returns the values of another block as a grid; raises LookupError when it cannot be read."""


class Context:
    """What the formulas of one recompute share: the areas they read (with the indexes built on
    them), the time TODAY and NOW see, the table's size, and `read`, which gives a cell's value
    once it is final (computing it first if the recompute has not reached it yet)."""

    def __init__(self, size: tuple[int, int] | None = None, clock: Callable[[], float] = time.time,
                 read: Callable[[Cell], Any] | None = None, areas: dict[Span, Area] | None = None) -> None:
        self.size = size
        self.areas = {} if areas is None else areas
        self.read = read
        self._clock = clock
        self._now: float | None = None

    def now(self) -> float:
        if self._now is None:
            self._now = self._clock()
        return self._now


class _Evaluator:
    def __init__(self, values: Any, external: External | None, cell: Cell | None, context: Context | None) -> None:
        self.values = values
        self.external = external
        self.cell = cell
        self.context = context or Context()
        self.array = False
        self.dynamic_reads: list[Span] = []

    # -- what lazy functions call

    def scalar(self, node: tuple[Any, ...]) -> Any:
        """One value: a reference to several cells is cut to the one in the formula's row or column."""
        value = self.node_value(node)
        return self.one(value) if isinstance(value, list) else value

    def value(self, node: tuple[Any, ...], as_ref: bool) -> Any:
        return self.reference(node) if as_ref else self.scalar(node)

    def attempt(self, node: tuple[Any, ...]) -> Any:
        """The node's value, or the error it fails with (for IFERROR and the IS functions)."""
        try:
            return self.scalar(node)
        except Failure as exc:
            return exc.error
        except RecursionError:
            return CellError(VALUE, "the formula is nested too deeply")

    def now(self) -> float:
        return self.context.now()

    def one(self, value: list[Any]) -> Any:
        if len(value) == 1 and len(value[0]) == 1:
            return value[0][0]
        span = value.span if isinstance(value, Area) else None
        if span is not None and self.cell is not None:
            r1, c1, r2, c2 = span
            row, column = self.cell
            if c1 == c2 and r1 <= row <= r2:
                return value[row - r1][0]
            if r1 == r2 and c1 <= column <= c2:
                return value[0][column - c1]
        raise failure(VALUE, "a range was used where one value is needed")

    def span_of(self, node: tuple[Any, ...]) -> Span:
        """Where a reference argument points (OFFSET's first argument)."""
        if node[0] == "cell":
            return (node[1], node[2], node[1], node[2])
        if node[0] == "range":
            return node[1:5]
        value = self.reference(node) if node[0] == "fn" else None
        if isinstance(value, Area) and value.span is not None:
            return value.span
        raise failure(VALUE, "a reference to cells of this table is needed here")

    def read_span(self, span: Span) -> Area:
        """The cells of `span`, found while running (OFFSET); the recompute learns that this formula reads them."""
        r1, c1, r2, c2 = span
        size = self.context.size
        if r1 < 0 or c1 < 0 or (size is not None and (r2 >= size[0] or c2 >= size[1])):
            raise failure(NUM, "the reference points outside the table")
        self.dynamic_reads.append(span)
        read = self.context.read or self.values.get
        return Area([[read((r, c)) for c in range(c1, c2 + 1)] for r in range(r1, r2 + 1)], span)

    # -- the tree

    def node_value(self, node: tuple[Any, ...]) -> Any:
        kind = node[0]
        if kind == "cell":
            return self.values.get((node[1], node[2]))
        if kind == "const":
            return node[1]
        if kind == "op":
            return self.operation(node[1], node[2])
        if kind == "fn":
            return self.call(node[1], node[2], False)
        if kind == "range":
            return self.area(node[1:5])
        return self.xref(node)

    def reference(self, node: tuple[Any, ...]) -> Any:
        """A node as a function's reference argument: cells as an Area (one cell too), anything else as is."""
        kind = node[0]
        if kind == "cell":
            r, c = node[1], node[2]
            return Area([[self.values.get((r, c))]], (r, c, r, c))
        if kind == "fn":
            return self.call(node[1], node[2], True)
        if kind == "xref":
            value = self.xref(node)
            return value if isinstance(value, list) else Area([[value]])
        return self.node_value(node)

    def operation(self, name: str, args: tuple[tuple[Any, ...], ...]) -> Any:
        if len(args) == 2:
            operation = BINARY.get(name)
            if operation is None:
                raise failure(VALUE, f"the operator {name!r} is not supported")
            if self.array:
                return elementwise(operation, self.node_value(args[0]), self.node_value(args[1]))
            return operation(self.scalar(args[0]), self.scalar(args[1]))
        if self.array:
            return elementwise(UNARY[name], self.node_value(args[0]))
        return UNARY[name](self.scalar(args[0]))

    def area(self, span: Span) -> Area:
        """The cells of a range. Ranges read from a table's values are kept in the context (the
        table patches them as cells change); read while resolving a cycle they are read afresh."""
        cached = isinstance(self.values, dict)
        found = self.context.areas.get(span) if cached else None
        if found is None:
            r1, c1, r2, c2 = span
            get = self.values.get
            if c1 == c2:
                found = Area([[get((r, c1))] for r in range(r1, r2 + 1)], span)
            else:
                found = Area([[get((r, c)) for c in range(c1, c2 + 1)] for r in range(r1, r2 + 1)], span)
            if cached:
                self.context.areas[span] = found
        return found

    def xref(self, node: tuple[Any, ...]) -> Any:
        _, block_id, (r1, c1, r2, c2), text = node
        if self.external is None:
            raise failure(REF, f"{text}: references to other blocks are not available here")
        try:
            grid = self.external(block_id)
        except LookupError as exc:
            raise failure(REF, str(exc) or f"no block {block_id}") from None
        rows = len(grid)
        columns = max((len(row) for row in grid), default=0)
        r1, r2 = (0, rows - 1) if r1 is None else (r1, r2)
        c1, c2 = (0, columns - 1) if c1 is None else (c1, c2)
        if r1 >= rows or c1 >= columns:
            raise failure(REF, f"{block_id}!{text} is outside that block ({rows} rows, {columns} columns)")
        r2, c2 = min(r2, rows - 1), min(c2, columns - 1)
        block = [[grid[r][c] if c < len(grid[r]) else None for c in range(c1, c2 + 1)] for r in range(r1, r2 + 1)]
        return block[0][0] if len(block) == 1 and len(block[0]) == 1 else Area(block)

    def call(self, name: str, args: tuple[tuple[Any, ...], ...], as_ref: bool) -> Any:
        function = FUNCTIONS.find(name)
        if function is None:
            raise failure(NAME, f"unknown function {name}")
        if function.lazy:
            return function.call(self, args, as_ref)
        in_array = self.array
        self.array = in_array or function.array
        try:
            values = [self.reference(a) if function.refs(i) else self.node_value(a) if self.array else self.scalar(a)
                      for i, a in enumerate(args)]
        finally:
            self.array = in_array
        try:
            if in_array and any(isinstance(v, list) for i, v in enumerate(values) if not function.refs(i)):
                return elementwise(function.call, *values)
            return function.call(*values)
        except (ArithmeticError, ValueError, TypeError, IndexError, OverflowError) as exc:
            raise failure(VALUE, f"{name} cannot use these arguments ({exc})") from None


_MANY = 255
_ARITIES: dict[Callable[..., Any], tuple[int, int]] = {}


def _arity(call: Callable[..., Any]) -> tuple[int, int]:
    found = _ARITIES.get(call)
    if found is None:
        code = call.__code__
        positional = code.co_argcount
        defaults = len(call.__defaults__ or ())
        found = (positional - defaults, _MANY if code.co_flags & 0x04 else positional)
        _ARITIES[call] = found
    return found


def evaluate(bound: Bound, values: Any, external: External | None = None, context: Context | None = None,
             dynamic_reads: list[Span] | None = None) -> Any:
    """The value of `bound` given the cells' `values` (anything with `.get(cell)`); a CellError when it fails.

    `dynamic_reads`, when given, receives the ranges a dynamic formula (OFFSET) read.
    """
    evaluator = _Evaluator(values, external, bound.cell, context)
    try:
        result = evaluator.scalar(bound.tree)
    except Failure as exc:
        result = exc.error
    except RecursionError:
        result = CellError(VALUE, "the formula is nested too deeply")
    except Exception as exc:  # a fault in a function must not take the table down with it
        _log.exception("formula %s failed unexpectedly", bound.text)
        result = CellError(VALUE, f"the formula could not be computed ({type(exc).__name__}: {exc})")
    if dynamic_reads is not None:
        dynamic_reads.extend(evaluator.dynamic_reads)
    return 0 if result is None else result
