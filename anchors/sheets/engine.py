"""ComputeService: tables computed, views shaped and compute blocks run, only when asked.

Nothing is computed ahead of time. The frame loop asks for the blocks pinned
to the objects in view (`evaluate_visible`); the REST API asks for one block.
Each answer computes what that block needs and nothing else:

- a table keeps a `Sheet` between calls; an edited row updates only its cells,
  so only the formulas downstream of the edit run again;
- compute cells of a table run as one batch on the executor, one task a cell;
- a compute block runs again only when one of its triggers fired, and a
  function called with inputs seen before returns its cached result.

An evaluation can also say what it read (`Reads`): the blocks whose writes
change what it shows, and the signals it depends on. A viewer keeps each
display (`display_pinned` gives it as `Displayed`) until the store's change
log names one of those blocks or a signal it read takes another value
(`anchors.visible`).

Formulas and compute run with the rights of the block's owner, so every
reader sees the same values.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from anchors.access import READ
from anchors.blocks import BlockService
from anchors.compute.compute_blocks import (
    REGISTRY,
    FunctionRegistry,
    Signals,
    UnknownFunction,
    compute_spec,
    signal_value,
    time_value,
)
from anchors.compute.executors import Executor, LocalExecutor, Outcome, Task
from anchors.errors import NotFound
from anchors.model import Anchor, Block, User
from anchors.sheets.cell_values import NAME, CellError, Grid
from anchors.sheets.formulas import External, bind, evaluate
from anchors.sheets.import_export import page_markdown
from anchors.sheets.sheet import Sheet
from anchors.sheets.tables import Field, is_compute, sheet_value, table_fields
from anchors.views import RowValues, TableValues, shape

COMPUTE_ERROR = "#COMPUTE!"
READ_ONE_BY_ONE = 16
"""Rows of a table changed since it was last read that are read one by one; more, and all are read at once."""


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _json_value(value: Any) -> Any:
    """A cell value as JSON: an error becomes {"error": {code, message}}."""
    return {"error": value.to_json()} if isinstance(value, CellError) else value


@dataclass
class _TableState:
    stamp: tuple[int, int]
    table: Block
    fields: list[Field]
    rows: list[Block]
    sheet: Sheet
    revision: int = 0
    external_revisions: dict[str, Any] = field(default_factory=dict)


@dataclass
class _ComputeState:
    trigger_key: Any
    outcome: Outcome


class _Revisions:
    """A display version for each (block, content digest): equal content, equal number; never reused."""

    def __init__(self, capacity: int = 8192) -> None:
        self._numbers: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._next = 1
        self.capacity = capacity

    def number(self, block_id: str, digest: str) -> int:
        key = (block_id, digest)
        if key not in self._numbers:
            self._numbers[key] = self._next
            self._next += 1
            if len(self._numbers) > self.capacity:
                self._numbers.popitem(last=False)
        self._numbers.move_to_end(key)
        return self._numbers[key]


SignalProbe = Callable[[Signals], Any]
"""How a display read a signal: gives the value it read, from a viewer's signals of another frame."""


@dataclass
class Reads:
    """What an evaluation read: the blocks whose writes (or whose children's) can change what it shows,
    and the signals it depends on."""

    blocks: set[str] = field(default_factory=set)
    probes: list[SignalProbe] = field(default_factory=list)


@dataclass(frozen=True)
class EvaluationContext:
    """What one evaluation computes with, passed down every call it makes: the viewer's `signals`, the
    blocks being resolved on the way to this call (meeting one of them again is a circular reference),
    and, when the caller keeps the result, where to note what it read (`reads`).

    Two sessions evaluating at once each pass their own; nothing of an evaluation is kept on the service.
    """

    signals: Signals
    resolving: tuple[str, ...] = ()
    reads: Reads | None = None

    def entering(self, block_id: str) -> EvaluationContext:
        return replace(self, resolving=(*self.resolving, block_id))

    def read(self, block_id: str) -> None:
        if self.reads is not None:
            self.reads.blocks.add(block_id)

    def probe(self, probe: SignalProbe) -> None:
        if self.reads is not None:
            self.reads.probes.append(probe)


@dataclass(frozen=True)
class Displayed:
    """A block pinned to an object, in its display form, with what the display read: the blocks (`reads`)
    and the signals (`probes`, with the values they gave, `signal_key`)."""

    anchor: Anchor
    block: Block
    reads: frozenset[str]
    probes: tuple[SignalProbe, ...] = ()
    signal_key: tuple[Any, ...] = ()

    def current(self, signals: Signals) -> bool:
        """True while the signals it read have the values they had (always, when it read none)."""
        return not self.probes or tuple(probe(signals) for probe in self.probes) == self.signal_key


def _context(signals: Signals | None = None) -> EvaluationContext:
    """A request from outside a frame sees the time now and no objects."""
    return EvaluationContext(signals if signals is not None else Signals(time.monotonic(), time.time()))


class ComputeService:
    """Computes what is asked for, for any number of sessions at once.

    Each call carries its own `EvaluationContext`. The lock guards only the
    caches shared by all sessions: table sheets (brought up to date and read
    under it, since every viewer of a table shares one), compute blocks' last
    outcomes, function results and display versions. A compute block's
    function runs outside it, so one session's slow function does not hold up
    another's frame.
    """

    def __init__(
        self, blocks: BlockService, executor: Executor | None = None, registry: FunctionRegistry = REGISTRY,
        cache_size: int = 4096,
    ) -> None:
        self.blocks = blocks
        self.store = blocks.store
        self.executor = executor or LocalExecutor()
        self.registry = registry
        self.cache_size = cache_size
        self.runs = 0
        """Function calls that actually ran (cache misses), for tests and stats."""
        self._lock = threading.RLock()
        self._tables: dict[str, _TableState] = {}
        self._computes: dict[tuple[str, str | None], _ComputeState] = {}
        self._results: OrderedDict[str, Outcome] = OrderedDict()
        self._revisions = _Revisions()
        self._retired_evaluations = 0

    @property
    def evaluations(self) -> int:
        """Formulas evaluated by the tables' sheets so far, for tests and stats."""
        with self._lock:
            return self._retired_evaluations + sum(state.sheet.evaluations for state in self._tables.values())

    # ------------------------------------------------------------ public API

    def evaluate_visible(self, user: User, object_ids: Iterable[str], signals: Signals) -> list[tuple[Anchor, Block]]:
        """The blocks `user` may see pinned to `object_ids`, each in its display form.

        Only these blocks (and what they read) are computed; blocks of objects
        out of view cost nothing.
        """
        pinned = self.blocks.attached(user, object_ids)
        context = EvaluationContext(signals)
        return [(anchor, self._display(user, block, anchor.object_id, context)) for anchor, block in pinned]

    def display_pinned(self, user: User, anchor: Anchor, block: Block, signals: Signals) -> Displayed:
        """`block` (as `user` may read it, pinned by `anchor`) in its display form, with what that read."""
        reads = Reads()
        context = EvaluationContext(signals, reads=reads)
        shown = self._display(user, block, anchor.object_id, context)
        probes = tuple(reads.probes)
        return Displayed(anchor, shown, frozenset(reads.blocks), probes, tuple(probe(signals) for probe in probes))

    def display(self, user: User, block_id: str, signals: Signals | None = None) -> Block:
        """One block in its display form (a table as a grid, a view shaped, a compute block's result)."""
        block = self.blocks.read_block(user, block_id)
        return self._display(user, block, None, _context(signals))

    def table(self, user: User, table_id: str) -> TableValues:
        block = self._table_block(user, table_id)
        with self._lock:
            state = self._table_state(table_id, _context())
            return TableValues(block, state.fields, state.rows, self._row_values(state))

    def view(self, user: User, view_id: str) -> dict[str, Any]:
        """The shaped content of a view block (or of a table, as a grid)."""
        return self._view(user, view_id, _context())

    def result(self, user: User, block_id: str, signals: Signals | None = None, object_id: str | None = None) -> Outcome:
        """Run a compute block now if its triggers say so (a subscriber asking for it)."""
        return self._result(user, block_id, object_id, _context(signals))

    def evaluate_formula(self, user: User, table_id: str, formula: str, row: int | None = None) -> Any:
        """Evaluate `formula` against a table as if written in a new column of `row` (from 0); nothing is stored."""
        table = self._table_block(user, table_id)
        context = _context()
        with self._lock:
            state = self._table_state(table_id, context)
            columns = {f.name.lower(): i for i, f in enumerate(state.fields)}
            rows, width = state.sheet.size
            target = (row if row is not None else 0, width)
            bound = bind(formula, target, columns, (max(rows, target[0] + 1), width + 1))
            return evaluate(bound, state.sheet.values, self._external(table.owner, context.entering(table_id)))

    def _table_block(self, user: User, table_id: str) -> Block:
        block = self.blocks.read_block(user, table_id)
        if block.kind != "table":
            raise NotFound(f"block {table_id} is a {block.kind}, not a table")
        return block

    def _view(self, user: User, view_id: str, context: EvaluationContext) -> dict[str, Any]:
        context.read(view_id)
        return self._shaped(user, self.blocks.read_block(user, view_id), context)

    def _result(self, user: User, block_id: str, object_id: str | None, context: EvaluationContext) -> Outcome:
        context.read(block_id)
        block = self.blocks.read_block(user, block_id)
        if block.kind != "compute":
            raise NotFound(f"block {block_id} is a {block.kind}, not a compute block")
        return self._compute(block, object_id, context)

    # ------------------------------------------------------------ display

    def _display(self, user: User, block: Block, object_id: str | None, context: EvaluationContext) -> Block:
        context.read(block.id)
        if block.kind in ("markdown", "json"):
            return block
        if block.kind == "compute":
            outcome = self._compute(block, object_id, context)
            kind, content = "compute", {
                "function": block.content["function"],
                "value": outcome.value,
                "error": outcome.error,
            }
        elif block.kind == "page":
            values = _PageValues(self, context)
            kind, content = "markdown", page_markdown(values, user, block, values)
        elif block.kind == "row":
            values = self._row_of(block, context)
            kind, content = "json", {k: _json_value(v) for k, v in values.items()}
        else:
            try:
                kind, content = "view", self._shaped(user, block, context)
            except NotFound as exc:
                kind, content = "compute", {"function": None, "value": None, "error": str(exc)}
        digest = _digest([kind, block.title, content])
        with self._lock:
            version = self._revisions.number(block.id, digest)
        return replace(block, kind=kind, content=content, version=version)

    def _row_of(self, row: Block, context: EvaluationContext) -> dict[str, Any]:
        """A row block's values, computed with its table."""
        if not row.parent:
            return {}
        with self._lock:
            state = self._table_state(row.parent, context)
            index = next((r for r, block in enumerate(state.rows) if block.id == row.id), None)
            return self._values_of_row(state, index).values if index is not None else {}

    def _shaped(self, user: User, block: Block, context: EvaluationContext) -> dict[str, Any]:
        if block.kind == "table":
            spec, table_id = {"layout": "grid"}, block.id
        elif block.kind == "view":
            spec, table_id = block.content, block.content["table"]
            context.read(table_id)
            self.blocks.sharing.require(user, table_id, READ)
        else:
            raise NotFound(f"block {block.id} is a {block.kind}; only tables and views have a shape")
        with self._lock:
            state = self._table_state(table_id, context)
            fields, values = state.fields, self._row_values(state)
        return shape(spec, fields, values)

    # ------------------------------------------------------------ tables (call these with the lock held)

    def _table_state(self, table_id: str, context: EvaluationContext) -> _TableState:
        """The table's sheet, brought up to date with the store: only the blocks that changed are read again,
        and only what depends on them is recomputed."""
        context.read(table_id)
        stamp = self.store.stamp(table_id)
        state = self._tables.get(table_id)
        if state is None or state.stamp != stamp:
            read = self._read_table(table_id, state)
            if read is None:
                self._forget_table(table_id)
                raise NotFound(f"no table {table_id}")
            table, rows = read
            state = self._update_table(table, rows, stamp, state, context)
            self._tables[table_id] = state
        self._refresh_externals(table_id, state, context)
        if state.sheet.volatile:
            context.probe(lambda seen: seen.wall_time)
            if state.sheet.recompute_volatile(context.signals.wall_time,
                                              self._external(state.table.owner, context.entering(table_id))):
                state.revision += 1  # TODAY and NOW are never taken as unchanged
        return state

    def _read_table(self, table_id: str, state: _TableState | None) -> tuple[Block, list[Block]] | None:
        """The table and its rows as stored now; of those `state` holds, only the ones whose version changed
        are read (and decrypted) again. None when there is no such table."""
        versions = self.store.versions(table_id)
        if versions is None:
            return None
        version, children = versions
        table = state.table if state is not None and state.table.version == version else self.store.get_block(table_id)
        if table is None or table.kind != "table":
            return None
        known = {row.id: row for row in state.rows} if state is not None else {}
        changed = [child_id for child_id, child_version in children
                   if child_id not in known or known[child_id].version != child_version]
        if len(changed) > READ_ONE_BY_ONE:
            return table, [row for row in self.store.children(table_id) if row.kind == "row"]
        read = {child_id: self.store.get_block(child_id) for child_id in changed}
        rows = [read[child_id] if child_id in read else known[child_id] for child_id, _ in children]
        return table, [row for row in rows if row is not None and row.kind == "row"]

    def _forget_table(self, table_id: str) -> None:
        state = self._tables.pop(table_id, None)
        if state is not None:
            self._retired_evaluations += state.sheet.evaluations

    def _update_table(
        self, table: Block, rows: list[Block], stamp: tuple[int, int], state: _TableState | None,
        context: EvaluationContext,
    ) -> _TableState:
        fields = table_fields(table.content)
        raw = [self._raw_row(fields, row) for row in rows]
        same_shape = state is not None and state.fields == fields and [r.id for r in state.rows] == [r.id for r in rows]
        external = self._external(table.owner, context.entering(table.id))
        if state is None or not same_shape:
            sheet = Sheet([f.name for f in fields])
            sheet.load([[self._cell_input(f, value) for f, value in zip(fields, row)] for row in raw], external)
            if state is not None:
                self._retired_evaluations += state.sheet.evaluations
            state = _TableState(stamp, table, fields, rows, sheet, (state.revision + 1) if state else 1)
            changed = [(r, c) for r in range(len(raw)) for c in range(len(fields))]
        else:
            changed = []
            for r, (new, old) in enumerate(zip(rows, state.rows)):
                if new.version != old.version:
                    before = self._raw_row(fields, old)
                    changed += [(r, c) for c in range(len(fields)) if raw[r][c] != before[c]]
            state.sheet.set_many({(r, c): self._cell_input(fields[c], raw[r][c]) for r, c in changed}, external)
            state.stamp, state.table, state.rows = stamp, table, rows
            state.revision += 1
        cells = {(r, c): raw[r][c] for r, c in changed if is_compute(raw[r][c])}
        self._run_compute_cells(state.sheet, cells, external)
        return state

    @staticmethod
    def _raw_row(fields: Sequence[Field], row: Block) -> list[Any]:
        """A row's stored cells in field order (a formula field's formula in each row)."""
        cells = row.content.get("cells", {})
        return [f.formula if f.type == "formula" else cells.get(f.name) for f in fields]

    def _cell_input(self, field: Field, raw: Any) -> Any:
        """What the sheet holds for a stored cell: a date as its serial number, a compute cell its cached value."""
        if is_compute(raw):
            return self._results.get(self._compute_key(raw["compute"], raw.get("args", {})), Outcome()).value
        return sheet_value(field, raw)

    def _row_values(self, state: _TableState) -> list[RowValues]:
        return [self._values_of_row(state, r) for r in range(len(state.rows))]

    @staticmethod
    def _values_of_row(state: _TableState, r: int) -> RowValues:
        row, values = state.rows[r], {}
        cells = row.content.get("cells", {})
        for c, field_ in enumerate(state.fields):
            value = state.sheet.value(r, c)
            stored = cells.get(field_.name)
            if field_.type == "date" and isinstance(stored, str) and not stored.startswith("="):
                value = stored
            values[field_.name] = value
        return RowValues(row.id, values)

    def _run_compute_cells(self, sheet: Sheet, cells: dict[tuple[int, int], dict[str, Any]], external: External) -> None:
        """Run the table's compute cells as one batch, a task a cell; a failure stays in its cell."""
        if not cells:
            return
        outcomes = self._run_many([(spec["compute"], spec.get("args", {})) for spec in cells.values()])
        sheet.set_many({
            cell: outcome.value if outcome.ok else CellError(COMPUTE_ERROR, f"{spec['compute']} failed: {outcome.error}")
            for (cell, spec), outcome in zip(cells.items(), outcomes)
        }, external)

    def _refresh_externals(self, table_id: str, state: _TableState, context: EvaluationContext) -> None:
        """Recompute the cells that read other blocks whose values changed since last time."""
        if table_id in context.resolving:
            return
        inner = context.entering(table_id)
        external = self._external(state.table.owner, inner)
        for block_id in sorted(state.sheet.externals()):
            revision = self._revision_of(block_id, inner)
            if state.external_revisions.get(block_id) != revision:
                if block_id in state.external_revisions and state.sheet.external_changed(block_id, external):
                    state.revision += 1
                state.external_revisions[block_id] = revision

    def _revision_of(self, block_id: str, context: EvaluationContext) -> Any:
        """Changes whenever the values another block shows to formulas change."""
        context.read(block_id)
        if block_id in context.resolving:
            return None
        known_table = self._is_known_table(block_id)
        block = None if known_table else self.store.get_block(block_id)
        if block is None and not known_table:
            return None
        if block is None or block.kind == "table":
            try:
                with self._lock:
                    return ("table", self._table_state(block_id, context).revision)
            except NotFound:
                return None
        if block.kind == "compute":
            return ("compute", self._compute(block, None, context).value)
        return ("block", block.version)

    def _is_known_table(self, block_id: str) -> bool:
        """A table whose sheet is kept: what it is needs no read (`_table_state` checks it is still there)."""
        with self._lock:
            return block_id in self._tables

    def _external(self, owner: str, context: EvaluationContext) -> External:
        """How formulas evaluated in `context` read other blocks: with `owner`'s rights."""
        return lambda block_id: self._external_grid(owner, block_id, context)

    def _external_grid(self, owner: str, block_id: str, context: EvaluationContext) -> Grid:
        """Another block's values as formulas see them, read with `owner`'s rights."""
        context.read(block_id)
        if self.store.role_of("block", block_id, owner) is None:
            raise LookupError(f"no block {block_id}")
        if block_id in context.resolving:
            raise LookupError(f"circular reference between blocks through {block_id}")
        block = None if self._is_known_table(block_id) else self.store.get_block(block_id)
        if block is None or block.kind == "table":
            with self._lock:
                return self._table_state(block_id, context).sheet.grid()
        value = self._compute(block, None, context).value if block.kind == "compute" else block.content
        return _as_grid(value)

    # ------------------------------------------------------------ compute blocks

    def _compute(self, block: Block, object_id: str | None, context: EvaluationContext) -> Outcome:
        context.read(block.id)
        spec = compute_spec(block.content)
        signals = context.signals
        key: list[Any] = [block.version]
        if "edit" in spec.triggers:
            key.append([self._input_revision(block.owner, b, context) for b in spec.block_inputs()])
        if "detection" in spec.triggers:
            inputs = [s for s in spec.inputs.values() if "signal" in s]
            context.probe(lambda seen: [signal_value(s, seen, object_id) for s in inputs])
            key.append([signal_value(s, signals, object_id) for s in inputs])
        if "interval" in spec.triggers:
            context.probe(lambda seen: time_value(spec, seen.wall_time))
            key.append(time_value(spec, signals.wall_time))
        with self._lock:
            state = self._computes.get((block.id, object_id))
        if state is not None and state.trigger_key == key:
            return state.outcome
        if block.id in context.resolving:
            return Outcome(error=f"circular reference between blocks through {block.id}")
        inner = context.entering(block.id)
        try:
            kwargs = {name: self._input_value(block.owner, spec_in, inner, object_id, spec)
                      for name, spec_in in spec.inputs.items()}
        except LookupError as exc:
            outcome = Outcome(error=str(exc))
        else:
            outcome = self._run_many([(spec.function, kwargs)])[0]
        with self._lock:
            self._computes[(block.id, object_id)] = _ComputeState(key, outcome)
        return outcome

    def _input_revision(self, owner: str, block_id: str, context: EvaluationContext) -> Any:
        context.read(block_id)
        if self.store.role_of("block", block_id, owner) is None:
            return None
        return self._revision_of(block_id, context)

    def _input_value(self, owner: str, spec_in: dict[str, Any], context: EvaluationContext, object_id: str | None,
                     spec: Any) -> Any:
        if "value" in spec_in:
            return spec_in["value"]
        if "time" in spec_in:
            return time_value(spec, context.signals.wall_time)
        if "signal" in spec_in:
            return signal_value(spec_in, context.signals, object_id)
        block_id = spec_in["block"]
        context.read(block_id)
        if self.store.role_of("block", block_id, owner) is None:
            raise LookupError(f"input block {block_id} is missing or not readable")
        block = self.store.get_block(block_id)
        assert block is not None
        if block.kind == "table":
            with self._lock:
                values = self._row_values(self._table_state(block_id, context))
            return [{name: (None if isinstance(v, CellError) else v) for name, v in row.values.items()} for row in values]
        if block.kind == "compute":
            outcome = self._compute(block, object_id, context)
            if not outcome.ok:
                raise LookupError(f"input block {block_id} failed: {outcome.error}")
            return outcome.value
        return block.content

    # ------------------------------------------------------------ running functions

    def _compute_key(self, function: str, kwargs: dict[str, Any]) -> str:
        return _digest([function, kwargs])

    def _run_many(self, calls: Sequence[tuple[str, dict[str, Any]]]) -> list[Outcome]:
        """Outcomes of `calls`: cached ones from the cache, the others run together on the executor
        (outside the lock, unless a table being brought up to date holds it)."""
        keys = [self._compute_key(function, kwargs) for function, kwargs in calls]
        outcomes: list[Outcome | None] = []
        pending: dict[str, tuple[int, Task]] = {}
        waiting: list[tuple[int, str]] = []
        with self._lock:
            for i, ((function, kwargs), key) in enumerate(zip(calls, keys)):
                hit = self._results.get(key)
                if hit is not None:
                    self._results.move_to_end(key)
                    outcomes.append(hit)
                    continue
                outcomes.append(None)
                if key not in pending:
                    try:
                        registered = self.registry.get(function)
                    except UnknownFunction as exc:
                        outcomes[i] = Outcome(error=f"{NAME} {exc}")
                        continue
                    pending[key] = (i, Task(registered.function, kwargs))
                waiting.append((i, key))
        if pending:
            ran = list(pending)
            results = [_checked_outcome(o) for o in self.executor.run_all([pending[k][1] for k in ran])]
            done = dict(zip(ran, results))
            with self._lock:
                self.runs += len(ran)
                for key, outcome in done.items():
                    if outcome.ok:
                        self._remember(key, outcome)
            for i, key in waiting:
                outcomes[i] = done[key]
        return [o if o is not None else Outcome(error="not run") for o in outcomes]

    def _remember(self, key: str, outcome: Outcome) -> None:
        self._results[key] = outcome
        if len(self._results) > self.cache_size:
            self._results.popitem(last=False)

    def forget(self, block_id: str) -> None:
        """Drop what is kept of a block that was deleted: its table's sheet and its compute outcomes."""
        with self._lock:
            self._tables.pop(block_id, None)
            for key in [k for k in self._computes if k[0] == block_id]:
                del self._computes[key]

    def forget_all(self) -> None:
        """Drop every table's sheet and compute outcome; they are computed again when next asked for.
        (Function results stay: they depend on their inputs only.)"""
        with self._lock:
            self._tables.clear()
            self._computes.clear()

    def close(self) -> None:
        self.executor.close()


class _PageValues:
    """The children, views and compute results a page's Markdown shows (`anchors.sheets.import_export.PageValues`), read in
    the evaluation that displays the page: its children see the same signals, cycles are still found, and
    what they read is noted with what the page read."""

    def __init__(self, compute: ComputeService, context: EvaluationContext) -> None:
        self._compute = compute
        self._context = context

    def children(self, user: User, block_id: str) -> list[Block]:
        children = self._compute.blocks.children(user, block_id)
        self._context.read(block_id)
        for child in children:
            self._context.read(child.id)
        return children

    def view(self, user: User, view_id: str) -> dict[str, Any]:
        return self._compute._view(user, view_id, self._context)

    def result(self, user: User, block_id: str) -> Outcome:
        return self._compute._result(user, block_id, None, self._context)


def _checked_outcome(outcome: Outcome) -> Outcome:
    """A function's result must be JSON to be stored and shown."""
    if not outcome.ok:
        return outcome
    try:
        json.dumps(outcome.value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return Outcome(error=f"the result is not JSON: {exc}")
    return outcome


def _as_grid(value: Any) -> Grid:
    """A block value as cells: a list of lists as is, a list of records by field, anything else in A1."""
    if isinstance(value, list) and value and all(isinstance(r, list) for r in value):
        return [list(r) for r in value]
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        names = list(dict.fromkeys(k for r in value for k in r))
        return [[r.get(n) for n in names] for r in value]
    if isinstance(value, (dict, list)):
        return [[json.dumps(value)]]
    return [[value]]
