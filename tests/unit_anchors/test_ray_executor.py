"""Compute on a real local Ray cluster: a 100-cell table, a task per cell, a reducer on another task."""

import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from ray import cloudpickle

from anchors import (
    ComputeService,
    LocalExecutor,
    RayExecutor,
    SQLiteStore,
    Task,
    compute_function,
)
from anchors.compute.executors import Outcome
from harness.stores import AnchorServices

CELLS = 100
cloudpickle.register_pickle_by_value(sys.modules[__name__])
"""Ray's workers cannot import a test module, so its functions travel by value."""


@compute_function("ray_test_cell")
def cell_work(x: int) -> int:
    """One cell's computation: fails for negative input, to show a failure stays in its cell."""
    if x < 0:
        raise RuntimeError(f"sensor {x} is offline")
    return x * x + 1


@compute_function("ray_test_reduce")
def reduce_cells(rows: list[dict], field: str) -> dict:
    """Unifies the cells: their sum and how many had a value."""
    values = [r[field] for r in rows if r[field] is not None]
    return {"sum": sum(values), "count": len(values)}


def worker_pid() -> int:
    return os.getpid()


@pytest.fixture(scope="module")
def ray_executor() -> Iterator[RayExecutor]:
    executor = RayExecutor(num_cpus=2)
    yield executor
    executor.close()


def build(tmp_path: Path, name: str, engine_executor) -> tuple[ComputeService, object, str, str]:
    services = AnchorServices.on(SQLiteStore(tmp_path / f"{name}.db"))
    blocks = services.blocks
    engine = ComputeService(blocks, engine_executor)
    alice = services.accounts.create_user("alice")
    rows = [{"n": i, "result": {"compute": "ray_test_cell", "args": {"x": -1 if i == 37 else i}}} for i in range(CELLS)]
    table = blocks.create_block(alice, "table", "Cells", {
        "fields": [{"name": "n", "type": "number"}, {"name": "result", "type": "number"}], "rows": rows,
    })
    reducer = blocks.create_block(alice, "compute", "All cells", {
        "function": "ray_test_reduce", "inputs": {"rows": {"block": table.id}, "field": {"value": "result"}},
    })
    return engine, alice, table.id, reducer.id


def test_each_cell_runs_as_a_ray_task_and_matches_the_in_process_executor(tmp_path: Path, ray_executor: RayExecutor) -> None:
    ray_engine, alice, table_id, reducer_id = build(tmp_path, "ray", ray_executor)
    local_engine, local_alice, local_table, local_reducer = build(tmp_path, "local", LocalExecutor())

    reduced = ray_engine.result(alice, reducer_id)
    assert ray_engine.runs == CELLS + 1, "a task per cell, and one for the reducer"
    assert reduced.ok and reduced.value == {"sum": sum(i * i + 1 for i in range(CELLS) if i != 37), "count": CELLS - 1}

    values = [r.values["result"] for r in ray_engine.table(alice, table_id).values]
    assert values[37].code == "#COMPUTE!" and "sensor -1 is offline" in values[37].message
    assert all(v == i * i + 1 for i, v in enumerate(values) if i != 37), "only the failed task's cell has an error"

    local_values = [r.values["result"] for r in local_engine.table(local_alice, local_table).values]
    assert [str(v) for v in values] == [str(v) for v in local_values]
    assert local_engine.result(local_alice, local_reducer).value == reduced.value


def test_ray_tasks_run_in_other_processes(ray_executor: RayExecutor) -> None:
    outcomes = ray_executor.run_all([Task(worker_pid) for _ in range(4)])
    assert all(o.ok for o in outcomes)
    assert os.getpid() not in {o.value for o in outcomes}


class Submitting(RayExecutor):
    """The Ray executor, keeping each task it hands to Ray and the task's bytes, pickled as Ray pickles them."""

    def __init__(self) -> None:
        super().__init__()
        self.submitted: list[tuple[Task, bytes]] = []

    def run_all(self, tasks: Sequence[Task]) -> list[Outcome]:
        self.submitted += [(task, cloudpickle.dumps((task.function, task.kwargs))) for task in tasks]
        return super().run_all(tasks)


def test_a_task_carries_its_blocks_inputs_and_nothing_of_who_asked(tmp_path: Path, ray_executor: RayExecutor) -> None:
    services = AnchorServices.on(SQLiteStore(tmp_path / "owners.db"))
    executor = Submitting()
    engine = ComputeService(services.blocks, executor)
    owner = services.accounts.create_user("owner-with-a-name")
    token = services.accounts.issue_token(owner, label="headset")
    table = services.blocks.create_block(owner, "table", "Sensors", {
        "fields": [{"name": "n", "type": "number"}, {"name": "result", "type": "number"}],
        "rows": [{"n": i, "result": {"compute": "ray_test_cell", "args": {"x": i}}} for i in (2, 3)],
    })
    total = services.blocks.create_block(owner, "compute", "All sensors", {
        "function": "ray_test_reduce", "inputs": {"rows": {"block": table.id}, "field": {"value": "result"}},
    })

    assert engine.result(owner, total.id).value == {"sum": 5 + 10, "count": 2}
    assert [task.kwargs for task, _ in executor.submitted] == [
        {"x": 2}, {"x": 3},
        {"rows": [{"n": 2, "result": 5}, {"n": 3, "result": 10}], "field": "result"},
    ], "each task gets its cell's or its block's inputs, resolved to values"
    assert [task.function for task, _ in executor.submitted] == [cell_work, cell_work, reduce_cells]
    for _, payload in executor.submitted:
        for secret in (owner.name, owner.id, token, table.id, total.id, str(tmp_path)):
            assert secret.encode() not in payload, f"{secret!r} went to Ray"
