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

A failed operation gives a `CellError` value instead of raising (values and
functions: `anchors.cell_values`). `anchors.sheet.Sheet` keeps a table's
cells and the dependency graph between their formulas.
"""

from __future__ import annotations

import re
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

from anchors.cell_values import (
    BINARY,
    FUNCTIONS,
    LAZY_FUNCTIONS,
    NAME,
    REF,
    UNARY,
    VALUE,
    Cell,
    CellError,
    Failure,
    Grid,
    failure,
    truth,
)
from anchors.errors import BlockShapeError


class FormulaSyntaxError(BlockShapeError):
    """A formula that cannot be parsed; raised when it is written, so it is never stored."""

    code = "bad_formula"


# ---------------------------------------------------------------- parsing


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
            self._stack.append((kind, token.name.upper(), tuple(args)))
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
    return builder[-1]


# ---------------------------------------------------------------- binding


class Bound:
    """A formula tied to one cell: its tree with every reference resolved to cells."""

    __slots__ = ("text", "tree", "cells", "externals")

    def __init__(self, text: str, tree: tuple[Any, ...], cells: set[Cell], externals: set[str]) -> None:
        self.text = text
        self.tree = tree
        self.cells = cells
        self.externals = externals


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


def _bind(node: tuple[Any, ...], cell: Cell, fields: dict[str, int], size: tuple[int, int],
          cells: set[Cell], externals: set[str], templated: bool) -> tuple[Any, ...]:
    kind = node[0]
    if kind == "const":
        return node
    if kind in ("op", "fn"):
        return (kind, node[1], tuple(_bind(a, cell, fields, size, cells, externals, templated) for a in node[2]))
    if kind == "name":
        _, name, sheet = node
        column = fields.get(name.lower())
        if column is None or sheet:
            known = ", ".join(sorted(fields)) or "none"
            return ("const", CellError(REF if sheet else NAME, f"no field named {name!r} (fields: {known})"))
        cells.add((cell[0], column))
        return ("cell", cell[0], column)
    _, sheet, (r1, c1, r2, c2), text = node
    if templated:
        r1, r2 = (_unshift(r, cell[0], _ROW_LIMIT, _ROW_SHIFT) for r in (r1, r2))
        c1, c2 = (_unshift(c, cell[1], _COLUMN_LIMIT, _COLUMN_SHIFT) for c in (c1, c2))
        if None not in (r1, c1, r2, c2):
            text = cell_name((r1, c1)) + ("" if (r1, c1) == (r2, c2) else ":" + cell_name((r2, c2)))
    if sheet:
        block_id = sheet.lower()
        externals.add(block_id)
        return ("xref", block_id, (r1, c1, r2, c2), text)
    rows, columns = size
    r1, r2 = (0, rows - 1) if r1 is None else (r1, r2)
    c1, c2 = (0, columns - 1) if c1 is None else (c1, c2)
    if r1 >= rows or c1 >= columns:
        return ("const", CellError(REF, f"{text} is outside the table ({rows} rows, {columns} fields)"))
    r2, c2 = min(r2, rows - 1), min(c2, columns - 1)
    if (r1, c1) == (r2, c2):
        cells.add((r1, c1))
        return ("cell", r1, c1)
    cells.update((r, c) for r in range(r1, r2 + 1) for c in range(c1, c2 + 1))
    return ("range", r1, c1, r2, c2)


def bind(text: str, cell: Cell, fields: dict[str, int], size: tuple[int, int]) -> Bound:
    """Formula `text` as written in `cell` of a table with `fields` (lower-case name to column) and `size`."""
    cells: set[Cell] = set()
    externals: set[str] = set()
    shifted = template(text, cell)
    try:
        tree = parse(shifted if shifted is not None else text)
    except FormulaSyntaxError:
        parse(text)
        raise
    tree = _bind(tree, cell, fields, size, cells, externals, shifted is not None)
    return Bound(text, tree, cells, externals)


# ---------------------------------------------------------------- evaluation

External = Callable[[str], Grid]
"""Returns the values of another block as a grid; raises LookupError when it cannot be read."""


class _Evaluator:
    def __init__(self, values: dict[Cell, Any], external: External | None) -> None:
        self.values = values
        self.external = external

    def scalar(self, node: tuple[Any, ...]) -> Any:
        value = self.node_value(node)
        if isinstance(value, list):
            if len(value) == 1 and len(value[0]) == 1:
                return value[0][0]
            raise failure(VALUE, "a range was used where one value is needed")
        return value

    def node_value(self, node: tuple[Any, ...]) -> Any:
        kind = node[0]
        if kind == "cell":
            return self.values.get((node[1], node[2]))
        if kind == "const":
            return node[1]
        if kind == "op":
            name, args = node[1], node[2]
            if len(args) == 2:
                operation = BINARY.get(name)
                if operation is None:
                    raise failure(VALUE, f"the operator {name!r} is not supported")
                return operation(self.scalar(args[0]), self.scalar(args[1]))
            return UNARY[name](self.scalar(args[0]))
        if kind == "fn":
            return self.call(node[1], node[2])
        if kind == "range":
            _, r1, c1, r2, c2 = node
            get = self.values.get
            return [[get((r, c)) for c in range(c1, c2 + 1)] for r in range(r1, r2 + 1)]
        return self.xref(node)

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
        return block[0][0] if len(block) == 1 and len(block[0]) == 1 else block

    def call(self, name: str, args: tuple[tuple[Any, ...], ...]) -> Any:
        if name in LAZY_FUNCTIONS:
            return self.lazy(name, args)
        function = FUNCTIONS.get(name)
        if function is None:
            raise failure(NAME, f"unknown function {name}")
        values = [self.node_value(a) for a in args]
        try:
            return function(*values)
        except TypeError:
            raise failure(VALUE, f"{name} got the wrong number of arguments ({len(args)})") from None

    def lazy(self, name: str, args: tuple[tuple[Any, ...], ...]) -> Any:
        if name == "IF":
            if not 1 <= len(args) <= 3:
                raise failure(VALUE, f"IF takes 1 to 3 arguments, got {len(args)}")
            if truth(self.scalar(args[0])):
                return self.scalar(args[1]) if len(args) > 1 else True
            return self.scalar(args[2]) if len(args) > 2 else False
        if len(args) != (2 if name == "IFERROR" else 1):
            raise failure(VALUE, f"{name} got the wrong number of arguments ({len(args)})")
        try:
            value = self.scalar(args[0])
            failed = isinstance(value, CellError)
        except Failure:
            value, failed = None, True
        if name == "IFERROR":
            return self.scalar(args[1]) if failed else value
        if name == "ISERROR":
            return failed
        if name == "ISBLANK":
            return not failed and value is None
        if name == "ISNUMBER":
            return not failed and isinstance(value, (int, float)) and not isinstance(value, bool)
        return not failed and isinstance(value, str)


def evaluate(bound: Bound, values: dict[Cell, Any], external: External | None = None) -> Any:
    """The value of `bound` given the cells' `values`; a CellError when it fails."""
    try:
        result = _Evaluator(values, external).scalar(bound.tree)
    except Failure as failure:
        return failure.error
    except RecursionError:
        return CellError(VALUE, "the formula is nested too deeply")
    return 0 if result is None else result
