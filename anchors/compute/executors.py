"""Where compute runs: one interface, an in-process executor and a Ray one.

An executor takes a batch of tasks and returns one outcome per task, in order.
A task that raises gives an outcome with an error; the other tasks are not
affected. A task is a function and its block's inputs, resolved to values:
what goes to a Ray cluster carries nothing of the user who asked, their token
or the store (tests/unit_anchors/test_ray_executor.py). Ray's token
authentication and TLS come from the environment (docs/scaling.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Task:
    function: Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Executor(ABC):
    name: str

    @abstractmethod
    def run_all(self, tasks: Sequence[Task]) -> list[Outcome]:
        """Run every task (possibly at once) and return their outcomes in order."""

    def close(self) -> None:
        """Release what the executor holds."""


class LocalExecutor(Executor):
    """Runs tasks one after another in the calling thread."""

    name = "local"

    def run_all(self, tasks: Sequence[Task]) -> list[Outcome]:
        outcomes = []
        for task in tasks:
            try:
                outcomes.append(Outcome(task.function(**task.kwargs)))
            except Exception as exc:  # a user's function may raise anything; it becomes that task's error
                outcomes.append(Outcome(error=describe(exc)))
        return outcomes


def _call(function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    return function(**kwargs)


class RayExecutor(Executor):
    """Runs each task as its own Ray task.

    With `address`, joins that cluster (`ray://host:10001` or `auto`); without,
    starts a local one with `init_options` (e.g. `num_cpus=2`). Functions travel
    to the workers by reference when their module is importable there, by value
    otherwise.
    """

    name = "ray"

    def __init__(self, address: str | None = None, **init_options: Any) -> None:
        import ray

        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            options = {"include_dashboard": False, "log_to_driver": False, **init_options}
            ray.init(address=address, **options)
            self._started = True
        self._remote = ray.remote(max_retries=0)(_call)

    def run_all(self, tasks: Sequence[Task]) -> list[Outcome]:
        refs = [self._remote.remote(task.function, task.kwargs) for task in tasks]
        outcomes = []
        for ref in refs:
            try:
                outcomes.append(Outcome(self._ray.get(ref)))
            except self._ray.exceptions.RayTaskError as exc:
                cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else exc
                outcomes.append(Outcome(error=describe(cause)))
            except self._ray.exceptions.RayError as exc:
                outcomes.append(Outcome(error=describe(exc)))
        return outcomes

    def close(self) -> None:
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()


def create_executor(ray_address: str | None = None, **ray_options: Any) -> Executor:
    """The in-process executor, or Ray when an address is given (`local` starts a Ray cluster here)."""
    if not ray_address:
        return LocalExecutor()
    return RayExecutor(None if ray_address == "local" else ray_address, **ray_options)
