"""A table's cells with a dependency graph between its formulas.

An edit recomputes only the cells downstream of it, in dependency order, each
once. A cycle, a bad reference or a failed operation becomes a `CellError` in
that cell, never an exception.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from anchors.cell_values import CYCLE, NAME, Cell, CellError, Grid
from anchors.formulas import (
    Bound,
    External,
    FormulaSyntaxError,
    bind,
    cell_name,
    evaluate,
)


@dataclass(frozen=True)
class _External:
    block_id: str


class Sheet:
    """The cells of one table with a dependency graph between its formulas.

    `set` recomputes only the cells downstream of an edit; `evaluations` counts
    formula evaluations, the work a recompute did. Formulas read other blocks
    through `external`; a call may pass its own instead, for a sheet kept
    between evaluations that each read other blocks in their own context.
    """

    def __init__(self, fields: Sequence[str], external: External | None = None) -> None:
        self.fields = list(fields)
        self._columns = {name.lower(): i for i, name in enumerate(self.fields)}
        self.external = external
        self.rows = 0
        self.raw: dict[Cell, Any] = {}
        self.values: dict[Cell, Any] = {}
        self.formulas: dict[Cell, Bound] = {}
        self.dependents: dict[Cell | _External, set[Cell]] = {}
        self.evaluations = 0

    @property
    def size(self) -> tuple[int, int]:
        return self.rows, len(self.fields)

    def load(self, rows: Sequence[Sequence[Any]], external: External | None = None) -> None:
        """Replace every cell with `rows` (one value or formula text per field) and compute all."""
        self.rows = len(rows)
        self.raw, self.values, self.formulas, self.dependents = {}, {}, {}, {}
        for r, row in enumerate(rows):
            for c, raw in enumerate(row):
                self._put(r, c, raw)
        self.recompute_all(external)

    def _put(self, r: int, c: int, raw: Any) -> None:
        cell = (r, c)
        old = self.formulas.pop(cell, None)
        if old is not None:
            for key in self._keys(old):
                self.dependents.get(key, set()).discard(cell)
        self.raw[cell] = raw
        if isinstance(raw, str) and raw.startswith("=") and len(raw) > 1:
            try:
                bound = bind(raw, cell, self._columns, self.size)
            except FormulaSyntaxError as exc:
                self.values[cell] = CellError(NAME, str(exc))
                return
            self.formulas[cell] = bound
            for key in self._keys(bound):
                self.dependents.setdefault(key, set()).add(cell)
        else:
            self.values[cell] = raw

    @staticmethod
    def _keys(bound: Bound) -> Iterable[Cell | _External]:
        yield from bound.cells
        for block_id in bound.externals:
            yield _External(block_id)

    def set(self, r: int, c: int, raw: Any) -> list[Cell]:
        """Put `raw` (a value or formula text) in a cell; returns the formula cells recomputed, in order."""
        return self.set_many({(r, c): raw})

    def set_many(self, cells: dict[Cell, Any], external: External | None = None) -> list[Cell]:
        """Put several cells, then recompute what depends on any of them, each cell once."""
        for (r, c), raw in cells.items():
            if not (0 <= r < self.rows and 0 <= c < len(self.fields)):
                raise IndexError(f"cell ({r}, {c}) is outside the sheet {self.size}")
            self._put(r, c, raw)
        return self._recompute(self._downstream(cells), external) if cells else []

    def external_changed(self, block_id: str, external: External | None = None) -> list[Cell]:
        """Recompute the cells that reference `block_id` (and what depends on them)."""
        return self._recompute(self._downstream([_External(block_id.lower())]), external)

    def recompute_all(self, external: External | None = None) -> list[Cell]:
        return self._recompute(set(self.formulas), external)

    def externals(self) -> set[str]:
        return {k.block_id for k in self.dependents if isinstance(k, _External) and self.dependents[k]}

    def value(self, r: int, c: int) -> Any:
        return self.values.get((r, c))

    def grid(self) -> Grid:
        return [[self.values.get((r, c)) for c in range(len(self.fields))] for r in range(self.rows)]

    def _downstream(self, starts: Iterable[Cell | _External]) -> set[Cell]:
        seen: set[Cell] = set()
        queue: deque[Cell | _External] = deque()
        for start in starts:
            if isinstance(start, tuple) and start in self.formulas:
                seen.add(start)
            queue.append(start)
        while queue:
            for dependent in self.dependents.get(queue.popleft(), ()):
                if dependent not in seen:
                    seen.add(dependent)
                    queue.append(dependent)
        return seen

    def _recompute(self, cells: set[Cell], external: External | None) -> list[Cell]:
        """Evaluate `cells` in dependency order; those left in or behind a cycle get #CYCLE!."""
        waiting = {cell: sum(1 for p in self.formulas[cell].cells if p in cells) for cell in cells}
        ready = deque(sorted(cell for cell, count in waiting.items() if count == 0))
        order: list[Cell] = []
        values, external = self.values, external or self.external
        while ready:
            cell = ready.popleft()
            order.append(cell)
            values[cell] = evaluate(self.formulas[cell], values, external)
            for dependent in self.dependents.get(cell, ()):
                if dependent in waiting:
                    waiting[dependent] -= 1
                    if waiting[dependent] == 0:
                        ready.append(dependent)
        self.evaluations += len(order)
        stuck = sorted(cells.difference(order))
        if stuck:
            names = ", ".join(cell_name(c) for c in stuck[:6]) + (" ..." if len(stuck) > 6 else "")
            for cell in stuck:
                values[cell] = CellError(CYCLE, f"circular reference among {names}")
        return order + stuck
