"""A table's cells with a dependency graph between its formulas.

An edit recomputes only the cells downstream of it, in dependency order, each
once. A range is one dependency however many cells it covers (a column of
SUMIFs over 10,000 rows does not make 10,000 edges each), found from the
cell's column. A cycle, a bad reference or a failed operation becomes a
`CellError` in that cell, never an exception.

Cells in a circular reference (and those reading them) are computed last, a
cycle at a time from its first cell in row order, as LibreOffice does it: a
formula that reads a cell still being computed gets #CYCLE! there, which
IFERROR can catch; without that, every cell of the cycle is #CYCLE!.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from anchors.sheets.cell_values import CYCLE, NAME, Area, Cell, CellError, Failure, Grid, Span
from anchors.sheets.formulas import (
    Bound,
    Context,
    External,
    FormulaSyntaxError,
    bind,
    cell_name,
    evaluate,
)


@dataclass(frozen=True)
class _External:
    block_id: str


Node = Cell | _External


class Sheet:
    """The cells of one table with a dependency graph between its formulas.

    `set` recomputes only the cells downstream of an edit; `evaluations` counts
    formula evaluations, the work a recompute did. Formulas read other blocks
    through `external`; a call may pass its own instead, for a sheet kept
    between evaluations that each read other blocks in their own context.
    `volatile` holds the cells whose formulas give another value each time
    (TODAY, NOW): `recompute_volatile` computes them and what depends on them again.
    """

    def __init__(self, fields: Sequence[str], external: External | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.fields = list(fields)
        self._columns = {name.lower(): i for i, name in enumerate(self.fields)}
        self.external = external
        self.clock = clock
        self.rows = 0
        self.raw: dict[Cell, Any] = {}
        self.values: dict[Cell, Any] = {}
        self.formulas: dict[Cell, Bound] = {}
        self.dependents: dict[Node, set[Cell]] = {}
        self.volatile: set[Cell] = set()
        self.evaluations = 0
        self._volatile_at: float | None = None
        self._readers: dict[Span, set[Cell]] = {}
        self._dynamic_readers: dict[Span, set[Cell]] = {}
        self._dynamic: dict[Cell, set[Span]] = {}
        self._column_spans: dict[int, set[Span]] = {}
        self._areas: dict[Span, Area] = {}
        """The values of the ranges formulas read, kept between recomputes and patched cell by cell,
        so a column of SUMIFs over 10,000 rows does not read them again after each edit."""

    @property
    def size(self) -> tuple[int, int]:
        return self.rows, len(self.fields)

    def load(self, rows: Sequence[Sequence[Any]], external: External | None = None) -> None:
        """Replace every cell with `rows` (one value or formula text per field) and compute all."""
        self.rows = len(rows)
        self.raw, self.values, self.formulas, self.dependents = {}, {}, {}, {}
        self.volatile, self._readers, self._dynamic_readers, self._dynamic, self._column_spans = set(), {}, {}, {}, {}
        self._volatile_at, self._areas = None, {}
        for r, row in enumerate(rows):
            for c, raw in enumerate(row):
                self._put(r, c, raw)
        self.recompute_all(external)

    def set(self, r: int, c: int, raw: Any) -> list[Cell]:
        """Put `raw` (a value or formula text) in a cell; returns the formula cells recomputed, in order."""
        return self.set_many({(r, c): raw})

    def set_many(self, cells: dict[Cell, Any], external: External | None = None) -> list[Cell]:
        """Put several cells, then recompute what depends on any of them, each cell once."""
        for (r, c), raw in cells.items():
            if not (0 <= r < self.rows and 0 <= c < len(self.fields)):
                raise IndexError(f"cell ({r}, {c}) is outside the sheet {self.size}")
            self._put(r, c, raw)
        return self._recompute(cells, external) if cells else []

    def external_changed(self, block_id: str, external: External | None = None) -> list[Cell]:
        """Recompute the cells that reference `block_id` (and what depends on them)."""
        return self._recompute([_External(block_id.lower())], external)

    def recompute_all(self, external: External | None = None) -> list[Cell]:
        return self._recompute(list(self.formulas), external)

    def recompute_volatile(self, now: float | None = None, external: External | None = None) -> list[Cell]:
        """Compute the volatile cells (TODAY, NOW) and their dependents again, as at `now` (epoch
        seconds; the clock's time by default). Returns the cells whose value changed; nothing is
        computed when `now` is the time they were last computed at."""
        if not self.volatile or (now is not None and now == self._volatile_at):
            return []
        self._volatile_at = now
        run = self._run(list(self.volatile), self.clock if now is None else (lambda: now), external)
        return run.changed

    def externals(self) -> set[str]:
        return {k.block_id for k in self.dependents if isinstance(k, _External) and self.dependents[k]}

    def value(self, r: int, c: int) -> Any:
        return self.values.get((r, c))

    def grid(self) -> Grid:
        return [[self.values.get((r, c)) for c in range(len(self.fields))] for r in range(self.rows)]

    # ------------------------------------------------------------ the graph

    def _put(self, r: int, c: int, raw: Any) -> None:
        cell = (r, c)
        self._unlink(cell)
        self.raw[cell] = raw
        if isinstance(raw, str) and raw.startswith("=") and len(raw) > 1:
            try:
                bound = bind(raw, cell, self._columns, self.size)
            except FormulaSyntaxError as exc:
                self._store(cell, CellError(NAME, str(exc)))
                return
            self.formulas[cell] = bound
            for key in self._keys(bound):
                self.dependents.setdefault(key, set()).add(cell)
            for span in bound.spans:
                self._add_reader(self._readers, span, cell)
            if bound.volatile:
                self.volatile.add(cell)
        else:
            self._store(cell, raw)

    def _store(self, cell: Cell, value: Any) -> None:
        """Set a cell's value, in the ranges kept for formulas too (their indexes are built again)."""
        self.values[cell] = value
        if not self._areas:
            return
        row, column = cell
        for span in self._column_spans.get(column, ()):
            area = self._areas.get(span)
            if area is not None and span[0] <= row <= span[2]:
                area[row - span[0]][column - span[1]] = value
                area.memo.clear()

    def _unlink(self, cell: Cell) -> None:
        old = self.formulas.pop(cell, None)
        if old is not None:
            for key in self._keys(old):
                self.dependents.get(key, set()).discard(cell)
            for span in old.spans:
                self._remove_reader(self._readers, span, cell)
            self.volatile.discard(cell)
        self._set_dynamic(cell, ())

    @staticmethod
    def _keys(bound: Bound) -> Iterable[Node]:
        yield from bound.cells
        for block_id in bound.externals:
            yield _External(block_id)

    def _add_reader(self, readers: dict[Span, set[Cell]], span: Span, cell: Cell) -> None:
        readers.setdefault(span, set()).add(cell)
        for column in range(span[1], span[3] + 1):
            self._column_spans.setdefault(column, set()).add(span)

    def _remove_reader(self, readers: dict[Span, set[Cell]], span: Span, cell: Cell) -> None:
        cells = readers.get(span)
        if cells is None:
            return
        cells.discard(cell)
        if not cells:
            del readers[span]
            if span not in self._readers and span not in self._dynamic_readers:
                self._areas.pop(span, None)
                for column in range(span[1], span[3] + 1):
                    self._column_spans.get(column, set()).discard(span)

    def _set_dynamic(self, cell: Cell, spans: Iterable[Span]) -> None:
        """Record the ranges a dynamic formula (OFFSET) read this time, in place of those of last time."""
        new = set(spans)
        old = self._dynamic.get(cell, set())
        if new == old:
            return
        for span in old - new:
            self._remove_reader(self._dynamic_readers, span, cell)
        for span in new - old:
            self._add_reader(self._dynamic_readers, span, cell)
        if new:
            self._dynamic[cell] = new
        else:
            self._dynamic.pop(cell, None)

    def _next(self, node: Node | Span) -> set[Cell | Span]:
        """What reads `node` in the recompute graph. A cell is read by the formulas naming it and by
        the ranges over it; a range (a 4-tuple) by the formulas reading it. Going through the range
        keeps a column of 10,000 changed cells under 200 SUMIFs to 10,200 edges, not 2,000,000."""
        found: set[Cell | Span] = set(self.dependents.get(node, ()))  # type: ignore[arg-type]
        if isinstance(node, tuple) and len(node) == 2:
            row, column = node
            found.update(span for span in self._column_spans.get(column, ()) if span[0] <= row <= span[2])
        elif isinstance(node, tuple):
            found.update(self._readers.get(node, ()))
            found.update(self._dynamic_readers.get(node, ()))
        return found

    # ------------------------------------------------------------ recomputing

    def _recompute(self, starts: Iterable[Node], external: External | None) -> list[Cell]:
        """Evaluate the formula cells downstream of `starts` in dependency order; returns them in that order."""
        return self._run(starts, self.clock, external).order

    def _run(self, starts: Iterable[Node], clock: Callable[[], float], external: External | None) -> _Run:
        edges: dict[Cell | Span, set[Cell | Span]] = {}
        queue: deque[Any] = deque()
        for start in starts:
            if isinstance(start, tuple) and start in self.formulas:
                edges[start] = set()
            queue.append(start)
        seen: set[Any] = set(queue)
        while queue:
            node = queue.popleft()
            following = self._next(node)
            if node in edges:
                edges[node] = following
            for nxt in following:
                if nxt not in seen:
                    seen.add(nxt)
                    edges[nxt] = set()
                    queue.append(nxt)
        waiting = dict.fromkeys(edges, 0)
        for following in edges.values():
            for nxt in following:
                waiting[nxt] += 1
        run = _Run(self, {node for node in edges if len(node) == 2}, clock, external or self.external)  # type: ignore[misc]
        ready = deque(sorted(node for node, count in waiting.items() if count == 0))
        done: set[Any] = set()
        while ready:
            node = ready.popleft()
            done.add(node)
            if node in run.pending:
                run.compute(node, self.values)  # type: ignore[arg-type]
            for nxt in edges[node]:
                waiting[nxt] -= 1
                if waiting[nxt] == 0:
                    ready.append(nxt)
        if run.pending:
            left = set(edges) - done
            for component in _components(left, edges):
                for node in sorted(component):
                    if node in run.pending:
                        run.compute(node, run)  # type: ignore[arg-type]
        self.evaluations += len(run.order)
        return run

    def _evaluate(self, cell: Cell, values: Any, context: Context, external: External | None) -> bool:
        """Compute one formula cell; True when its value changed."""
        bound = self.formulas[cell]
        reads: list[Span] | None = [] if bound.dynamic else None
        before = self.values.get(cell, _UNSET)
        after = evaluate(bound, values, external, context, reads)
        self._store(cell, after)
        if reads is not None:
            self._set_dynamic(cell, reads)
        return type(before) is not type(after) or before != after


_UNSET = object()


class _Run:
    """One recompute: the cells still to compute, and those being computed now (a stack).

    `get` gives a cell's value once it is final, computing it first when it is
    still pending; reading a cell that is being computed is a circular reference.
    """

    def __init__(self, sheet: Sheet, cells: set[Cell], clock: Callable[[], float], external: External | None) -> None:
        self.sheet = sheet
        self.external = external
        self.pending = cells
        self.active: list[Cell] = []
        self.order: list[Cell] = []
        self.changed: list[Cell] = []
        self.context = Context(sheet.size, clock, read=self.get, areas=sheet._areas)

    def get(self, cell: Cell) -> Any:
        if cell in self.pending:
            if cell in self.active:
                cycle = self.active[self.active.index(cell):]
                names = ", ".join(cell_name(c) for c in cycle[:6]) + (" ..." if len(cycle) > 6 else "")
                raise Failure(CellError(CYCLE, f"circular reference among {names}"))
            self.compute(cell, self)
        return self.sheet.values.get(cell)

    def compute(self, cell: Cell, values: Any) -> None:
        self.active.append(cell)
        try:
            changed = self.sheet._evaluate(cell, values, self.context, self.external)
        finally:
            self.active.pop()
        self.pending.discard(cell)
        self.order.append(cell)
        if changed:
            self.changed.append(cell)


def _components(cells: set[Any], edges: dict[Any, set[Any]]) -> list[list[Any]]:
    """The strongly connected components among `cells` (Tarjan's algorithm, without recursion),
    those upstream first; `edges` lead from a node to the nodes that read it."""
    index: dict[Any, int] = {}
    low: dict[Any, int] = {}
    stack: list[Any] = []
    on_stack: set[Any] = set()
    found: list[list[Any]] = []

    def enter(cell: Any) -> tuple[Any, Iterable[Any]]:
        index[cell] = low[cell] = len(index)
        stack.append(cell)
        on_stack.add(cell)
        return cell, iter(sorted(edges[cell] & cells))

    for root in sorted(cells):
        if root in index:
            continue
        work = [enter(root)]
        while work:
            cell, following = work[-1]
            for nxt in following:
                if nxt not in index:
                    work.append(enter(nxt))
                    break
                if nxt in on_stack:
                    low[cell] = min(low[cell], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[cell])
                if low[cell] == index[cell]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == cell:
                            break
                    found.append(component)
    found.reverse()
    return found
