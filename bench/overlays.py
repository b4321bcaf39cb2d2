"""Overlays benchmark: the `overlays` stage of a frame with many blocks pinned to one marker, in steady state
and on the frame after one edit, and the bytes each panel takes on the wire; this tree against another
checkout of the project, side by side in one run.

Each scenario pins blocks to ArUco marker 7 for one viewer, then drives `Viewer.overlay_delta` (the
stage the frame step runs, timed by the frame's own `overlays` timing) with a frame that shows the marker:

- `demo`: the note and table a new store starts with;
- `tables-10x20`, `tables-60x20`, `tables-60x200`: that many tables of that many rows, each row with a
  formula (`total = qty * price`) and a last row summing the totals;
- `markdown-64`, `json-64`, `table-64`, `view-64`, `compute-64`, `page-64`, `row-64`: 64 blocks of each
  kind (views: grid, kanban, wiki and list in turn, each over a table of its own; compute blocks sum a
  table of their own and read the marker's `in_view` signal; pages hold a note and a table; rows are 64
  rows of one table).

Steady state is 300 frames with nothing changed. An edit is one cell (or a note's text) written through
`BlockService` between two frames; the frame after it is timed, 20 edits in all. Bytes per panel are
the overlays of the first frame as the stream sends them (vector content).

Each scenario runs in a process of its own, once for each checkout in turn (`--base`, then this tree),
`--repeats` times: `python -m bench.overlays --base /tmp/spatial-base [--write]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MEASURE = "--measure"
"""How `run_child` asks a process of its own for one scenario's figures."""
SECTION = "## Overlays: steady state, one edit, bytes per panel"
SCENARIOS = (
    "demo", "tables-10x20", "tables-60x20", "tables-60x200",
    "markdown-64", "json-64", "table-64", "view-64", "compute-64", "page-64", "row-64",
)
MARKER = "marker:aruco/7"
STEADY_FRAMES = 300
EDITS = 20


# ---------------------------------------------------------------- one scenario, in a process of its own


def table_content(rows: int) -> dict[str, Any]:
    """A table of `rows` items with a formula in each and a last row summing the totals."""
    fields = [{"name": "item", "type": "text"}, {"name": "qty", "type": "number"},
              {"name": "price", "type": "number"}, {"name": "total", "type": "any"}]
    body = [{"item": f"item {r + 1}", "qty": r % 7 + 1, "price": round(1.5 + r * 0.25, 2), "total": f"=B{r + 1}*C{r + 1}"}
            for r in range(rows)]
    body.append({"item": "sum", "qty": None, "price": None, "total": f"=SUM(D1:D{rows})"})
    return {"fields": fields, "rows": body}


class Scenario:
    """Builds the blocks of a scenario and makes its edits."""

    def __init__(self, name: str, blocks: Any, user: Any) -> None:
        self.name, self.blocks, self.user = name, blocks, user
        self.rows: list[str] = []  # row blocks an edit writes, in turn
        self.notes: list[str] = []  # markdown or json blocks an edit writes, in turn
        self.edits = 0

    def pin(self, block: Any) -> None:
        self.blocks.attach(self.user, block.id, MARKER)

    def table(self, title: str, rows: int) -> Any:
        table = self.blocks.create_block(self.user, "table", title, table_content(rows))
        self.rows += [r.id for r in self.blocks.children(self.user, table.id)[:1]]
        return table

    def build(self) -> None:
        name, blocks, user = self.name, self.blocks, self.user
        if name == "demo":
            from spatial.demo import seed_demo

            seed_demo(blocks, user)
            table = next(b for b in blocks.list_blocks(user) if b.kind == "table")
            self.rows = [blocks.children(user, table.id)[0].id]
        elif name.startswith("tables-"):
            count, rows = (int(n) for n in name.removeprefix("tables-").split("x"))
            for i in range(count):
                self.pin(self.table(f"Table {i + 1}", rows))
        elif name == "markdown-64":
            for i in range(64):
                note = blocks.create_block(user, "markdown", f"Note {i + 1}", f"# Note {i + 1}\n- first\n- second")
                self.notes.append(note.id)
                self.pin(note)
        elif name == "json-64":
            for i in range(64):
                record = blocks.create_block(user, "json", f"Record {i + 1}", {"n": i, "tags": ["a", "b"]})
                self.notes.append(record.id)
                self.pin(record)
        elif name == "table-64":
            for i in range(64):
                self.pin(self.table(f"Table {i + 1}", 5))
        elif name == "view-64":
            layouts = ("grid", "kanban", "wiki", "list")
            for i in range(64):
                table = blocks.create_block(user, "table", f"Board {i + 1}", {
                    "fields": [{"name": "task", "type": "text"}, {"name": "hours", "type": "number"},
                               {"name": "status", "type": "select", "options": ["todo", "doing", "done"]}],
                    "rows": [{"task": f"task {r + 1}", "hours": r, "status": ["todo", "doing", "done"][r % 3]}
                             for r in range(20)],
                })
                self.rows.append(blocks.children(user, table.id)[0].id)
                layout = layouts[i % 4]
                spec = {"table": table.id, "layout": layout} | ({"group_by": "status"} if layout == "kanban" else {})
                self.pin(blocks.create_block(user, "view", f"View {i + 1}", spec))
        elif name == "compute-64":
            from anchors.compute.compute_blocks import compute_function

            @compute_function("bench_total")
            def bench_total(rows: list[dict], seen: bool) -> float:
                return sum(r["total"] or 0 for r in rows if r["item"] != "sum") if seen else 0.0

            for i in range(64):
                table = self.table(f"Inputs {i + 1}", 5)
                self.pin(blocks.create_block(user, "compute", f"Total {i + 1}", {
                    "function": "bench_total", "inputs": {"rows": {"block": table.id}, "seen": {"signal": "in_view"}},
                }))
        elif name == "page-64":
            for i in range(64):
                page = blocks.create_block(user, "page", f"Page {i + 1}", {})
                note = blocks.create_block(user, "markdown", "Note", f"Page {i + 1}'s note", parent=page.id)
                self.notes.append(note.id)
                blocks.create_block(user, "table", "Parts", table_content(3), parent=page.id)
                self.pin(page)
        elif name == "row-64":
            table = blocks.create_block(user, "table", "Rows", table_content(64))
            rows = blocks.children(user, table.id)[:64]
            self.rows = [rows[0].id]
            for row in rows:
                self.pin(row)
        else:
            raise SystemExit(f"unknown scenario {name}")

    def edit(self) -> None:
        """Write one cell (or one note) of the scenario's first table (or note)."""
        self.edits += 1
        if self.rows:
            row = self.rows[0]
            field = "hours" if self.name == "view-64" else "qty"
            self.blocks.update_cells(self.user, row, {field: 10 + self.edits}, None)
        else:
            block = self.blocks.read_block(self.user, self.notes[0])
            content = f"edited {self.edits} times" if block.kind == "markdown" else {"n": self.edits}
            if block.kind == "page":
                raise AssertionError("pages are edited through their notes")
            self.blocks.update_block(self.user, block.id, title=None, content=content, version=None)


def wire_bytes(overlay: Any) -> int:
    """An overlay's size as the stream sends it (compact JSON, vector content), built from its fields, as
    `spatial.overlays.overlay_panel` does (which the code before cannot serialise for tables: its op models
    lacked `ref`). Ops are the protocol's models, or dicts in checkouts from before they were."""
    display = overlay.content
    panel = {
        "id": overlay.id, "object_id": overlay.object_id, "block_id": overlay.block_id,
        "placement": {"frame": overlay.frame, "pose": list(overlay.pose), "size_m": list(overlay.size_m),
                      "slot": overlay.slot},
        "content": {"width": display.width, "height": display.height, "ops": list(display.ops)},
        "hash": overlay.hash,
    }
    return len(json.dumps(panel, separators=(",", ":"), ensure_ascii=False, default=lambda op: op.to_json()).encode())


def measure(name: str) -> dict[str, Any]:
    """Build the scenario in a new store and time the overlays stage (in whatever checkout is imported)."""
    import numpy as np

    from anchors import AccountService, BlockService, ComputeService, SQLiteStore
    from spatial.overlays import LayoutCache
    from spatial.pipeline import FrameResult

    try:
        from spatial.pipeline import overlay_step
    except ImportError:  # a checkout from before it: `Viewer.overlay_delta` took the FrameResult and timed itself
        def overlay_step(viewer: Any, result: Any, now: float) -> Any:
            return viewer.overlay_delta(result, now)
    from spatial.session import Viewer
    from vision import Detection

    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "store.db")
        blocks = BlockService(store)
        user = AccountService(store).create_user("bench")
        scenario = Scenario(name, blocks, user)
        scenario.build()
        compute = ComputeService(blocks)
        viewer = Viewer(user, compute, LayoutCache(), 0.5, 0.0005)
        marker = Detection(MARKER, "marker", 1.0, (260.0, 180.0, 380.0, 300.0), "markers", pose=np.eye(4))
        frame_id = 0

        def frame() -> tuple[float, Any]:
            nonlocal frame_id
            frame_id += 1
            result = FrameResult(frame_id, frame_id * 33.0, (640, 480), [marker], {"total": 0.0})
            delta = overlay_step(viewer, result, frame_id / 30)
            return result.timing_ms["overlays"], delta

        first_ms, first = frame()
        panel_bytes = [wire_bytes(o) for o in first.added]
        for _ in range(10):
            frame()
        steady = [frame()[0] for _ in range(STEADY_FRAMES)]
        edited, updated = [], []
        for _ in range(EDITS):
            scenario.edit()
            ms, delta = frame()
            edited.append(ms)
            updated.append(len(delta.updated) + len(delta.added) + len(delta.removed))
            for _ in range(3):
                frame()
        store.close()
        compute.close()
    return {
        "scenario": name, "overlays": len(first.added), "first_ms": first_ms,
        "steady": steady, "edited": edited, "sent_after_edit": statistics.median(updated),
        "panel_bytes": panel_bytes,
    }


# ---------------------------------------------------------------- both checkouts, side by side


def run_child(checkout: Path, name: str) -> dict[str, Any]:
    """`measure(name)` in a new process that imports the project from `checkout`."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    done = subprocess.run([sys.executable, "-P", __file__, MEASURE, name], cwd=checkout, env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{name} in {checkout} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Medians over the runs of each run's figures."""
    def over(figure: Any) -> float:
        return statistics.median(figure(r) for r in runs)

    return {
        "overlays": runs[0]["overlays"],
        "steady_p50": over(lambda r: statistics.median(r["steady"])),
        "steady_p95": over(lambda r: percentile(r["steady"], 95)),
        "edit_p50": over(lambda r: statistics.median(r["edited"])),
        "edit_p95": over(lambda r: percentile(r["edited"], 95)),
        "sent": over(lambda r: r["sent_after_edit"]),
        "bytes_p50": over(lambda r: statistics.median(r["panel_bytes"])),
        "bytes_max": over(lambda r: max(r["panel_bytes"])),
        "first_ms": over(lambda r: r["first_ms"]),
    }


def report(rows: list[tuple[str, dict[str, float], dict[str, float]]], base: str, repeats: int, command: str) -> str:
    from bench.report import machine

    lines = [
        SECTION, "",
        f"Measured {machine()}: each scenario in a process of its own, before (commit {base}, a worktree of the"
        f" project under /tmp) and after (this tree) in turn, {repeats} time(s) each; medians over those runs.",
        f"Steady: {STEADY_FRAMES} frames with nothing changed; edit: the frame after one edit, {EDITS} edits.",
        "Times are the frame's own `overlays` timing in ms (median / p95); the first frame (the blocks read,"
        " computed and laid out for the first time) in ms. Bytes per panel: each overlay of the first frame as"
        " the stream sends it (compact JSON, vector content).", "",
        f"Command: `{command}`", "",
        "| pinned to marker 7 | overlays | steady before | steady after | edit before | edit after |"
        " sent after an edit | first frame before / after | bytes per panel before (p50 / max) | after (p50 / max) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, before, after in rows:
        lines.append(
            f"| {name} | {after['overlays']:.0f} | {before['steady_p50']:.3f} / {before['steady_p95']:.3f}"
            f" | {after['steady_p50']:.3f} / {after['steady_p95']:.3f}"
            f" | {before['edit_p50']:.2f} / {before['edit_p95']:.2f} | {after['edit_p50']:.2f} / {after['edit_p95']:.2f}"
            f" | {after['sent']:.0f} | {before['first_ms']:.0f} / {after['first_ms']:.0f}"
            f" | {before['bytes_p50']:,.0f} / {before['bytes_max']:,.0f}"
            f" | {after['bytes_p50']:,.0f} / {after['bytes_max']:,.0f} |"
        )
    return "\n".join(lines) + "\n" + NOTES


NOTES = """
Steady state is one query on the store's change log and a comparison of the
scene with the frame before (`anchors/visible.py`, `Viewer.overlay_delta`),
whatever is pinned. After an edit, the edited table reads the one row written
(`Store.versions`), recomputes that row's dependent cells, shapes its display
again (all its rows: the biggest share at 200 rows), lays out that one panel
and compares the overlays with what the client holds; one overlay is sent.
`row-64` evaluates all 64 rows' displays again after an edit (each reads the
table) and sends the one that changed; `compute-64` checks each compute
block's `in_view` signal every frame. A grid of more than 20 rows grows by
about 180 bytes: its pager (`rows 1-20 of 200` and a button) replaces the
`+180 more rows` line. A panel's content is at most 32 KiB whatever the table
holds (docs/protocol.md). First frames (everything read, computed and laid
out once) take about as long as before: some faster, some slower, within what
other work on the machine moves them.
"""


def compare(args: argparse.Namespace, command: str) -> str:
    """Every scenario in the checkout before and in this tree, taking turns: the section."""
    from bench.report import UsageError

    if args.base is None:
        raise UsageError("--base is required: a checkout of the code to compare with (git worktree add /tmp/... COMMIT)")
    base = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=args.base, capture_output=True, text=True,
                          check=True).stdout.strip()
    rows = []
    for name in args.scenarios:
        before, after = [], []
        for _ in range(args.repeats):
            before.append(run_child(args.base, name))
            after.append(run_child(ROOT, name))
        rows.append((name, summary(before), summary(after)))
        b, a = rows[-1][1], rows[-1][2]
        print(f"{name}: steady {b['steady_p50']:.3f} -> {a['steady_p50']:.3f} ms,"
              f" edit {b['edit_p50']:.2f} -> {a['edit_p50']:.2f} ms, bytes {b['bytes_max']:.0f} -> {a['bytes_max']:.0f}",
              flush=True)
    return report(rows, base, args.repeats, command)


def main() -> int:
    if sys.argv[1:2] == [MEASURE]:  # a child process of `run_child`: one scenario, its figures as JSON
        print(json.dumps(measure(sys.argv[2])))
        return 0
    # bench.report is imported here, not above: a child imports the project from the other checkout.
    sys.path.insert(0, str(ROOT))
    from bench.report import option, run_benchmark

    return run_benchmark(
        "bench.overlays", __doc__, compare,
        option("--base", help="a checkout of the code before, run side by side with this tree", type=Path),
        option("--repeats", 3, "runs of each scenario in each checkout"),
        option("--scenarios", list(SCENARIOS), nargs="+", choices=SCENARIOS),
    )


if __name__ == "__main__":
    raise SystemExit(main())
