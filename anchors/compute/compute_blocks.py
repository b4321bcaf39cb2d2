"""Compute blocks: registered Python functions that turn inputs into a block's content.

Developers register functions with the decorator, or through the entry point
group `spatial.compute` (each entry point names a function or a module whose
import registers them):

    from anchors.compute.compute_blocks import compute_function

    @compute_function("reorder_level")
    def reorder_level(stock: list[dict], in_view: bool) -> dict:
        ...

A compute block's content names the function and where each argument comes from:

    {"function": "reorder_level",
     "inputs": {"stock": {"block": "blk_..."},
                "in_view": {"signal": "in_view"},
                "cups": {"signal": "count", "class": "cup"},
                "now": {"time": true},
                "limit": {"value": 5}},
     "triggers": ["edit", "detection"], "interval_s": 10}

Triggers say which changes re-run it: `edit` (an input block changed),
`detection` (a signal of its object changed), `interval` (every `interval_s`
seconds). Results are cached by the values of all inputs, so a re-run with
inputs seen before costs nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import numpy as np

from anchors.errors import BlockShapeError
from anchors.model import check_json
from registry import DuplicateName, Registry, UnknownName

ENTRY_POINT_GROUP = "spatial.compute"
SIGNALS: tuple[str, ...] = ("in_view", "pose", "seen_for_s", "count")
TRIGGERS: tuple[str, ...] = ("edit", "detection", "interval")


class UnknownFunction(UnknownName):
    """No compute function is registered under a name."""


@dataclass(frozen=True)
class Registered:
    name: str
    function: Callable[..., Any]
    doc: str


class FunctionRegistry:
    """Compute functions by name; entry points are loaded on the first lookup that misses.

    A name is taken once (`registry.Registry`): registering it again raises `DuplicateName` unless
    `replace=True`. An entry point under a name taken already (by a decorator) is left out.
    """

    def __init__(self, group: str = ENTRY_POINT_GROUP) -> None:
        self.group = group
        self._functions: Registry[Registered] = Registry("compute function", UnknownFunction)
        self._loaded = False
        self._lock = threading.Lock()

    def register(
        self, name: str | None = None, *, replace: bool = False,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """A decorator that registers a function as `name` (its own name by default)."""

        def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
            key = name or function.__name__
            doc = (function.__doc__ or "").strip().split("\n")[0]
            self._functions.register(key, Registered(key, function, doc), replace=replace)
            return function

        return decorate

    def _load_entry_points(self) -> None:
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            for point in entry_points(group=self.group):
                loaded = point.load()
                if callable(loaded):
                    with contextlib.suppress(DuplicateName):  # a decorator took the name: it keeps it
                        doc = (loaded.__doc__ or "").strip()
                        self._functions.register(point.name, Registered(point.name, loaded, doc))

    def get(self, name: str) -> Registered:
        if name not in self._functions:
            self._load_entry_points()
        return self._functions.get(name)

    def names(self) -> list[str]:
        self._load_entry_points()
        return self._functions.names()

    def all(self) -> list[Registered]:
        self._load_entry_points()
        return [registered for _, registered in self._functions.items()]


REGISTRY = FunctionRegistry()
compute_function = REGISTRY.register


# ---------------------------------------------------------------- signals


@dataclass(frozen=True)
class ObjectSignal:
    """What the viewer knows about one object in view."""

    object_id: str
    label: str
    pose: tuple[float, ...] | None
    seen_for_s: float


@dataclass(frozen=True)
class Signals:
    """One viewer's objects in view at time `now` (monotonic seconds); `wall_time` is epoch seconds."""

    now: float
    wall_time: float
    objects: Mapping[str, ObjectSignal] = field(default_factory=dict)

    def count(self, label: str) -> int:
        return sum(1 for o in self.objects.values() if o.label == label)


@dataclass
class SignalTracker:
    """Turns a viewer's successive views into Signals: keeps when each object came into view."""

    first_seen: dict[str, float] = field(default_factory=dict)
    poses: dict[str, tuple[float, ...]] = field(default_factory=dict)

    def observe(self, in_view: Mapping[str, str], poses: Mapping[str, Any], now: float, wall_time: float) -> Signals:
        """`in_view` maps object id to class label; `poses` holds 4x4 poses (arrays or None) seen this frame."""
        self.first_seen = {oid: self.first_seen.get(oid, now) for oid in in_view}
        for oid, pose in poses.items():
            if pose is not None:
                self.poses[oid] = tuple(round(float(v), 4) for v in np.asarray(pose, dtype=float).reshape(-1))
        self.poses = {oid: p for oid, p in self.poses.items() if oid in in_view}
        objects = {
            oid: ObjectSignal(oid, label, self.poses.get(oid), round(now - self.first_seen[oid], 3))
            for oid, label in in_view.items()
        }
        return Signals(now, wall_time, objects)


# ---------------------------------------------------------------- compute block content


@dataclass(frozen=True)
class ComputeSpec:
    function: str
    inputs: Mapping[str, Mapping[str, Any]]
    triggers: frozenset[str]
    interval_s: float | None

    def block_inputs(self) -> list[str]:
        return [spec["block"] for spec in self.inputs.values() if "block" in spec]


def _check_input(name: str, spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict) or len(set(spec) & {"block", "signal", "time", "value"}) != 1:
        raise BlockShapeError(
            f"compute input {name!r} must be one of {{\"block\": id}}, {{\"signal\": name}},"
            ' {"time": true}, {"value": any}'
        )
    if "block" in spec and not (isinstance(spec["block"], str) and spec["block"].startswith("blk_")):
        raise BlockShapeError(f"compute input {name!r}: 'block' must be a block id (blk_...)")
    if "signal" in spec:
        if spec["signal"] not in SIGNALS:
            raise BlockShapeError(f"compute input {name!r}: signal must be one of {', '.join(SIGNALS)}")
        if spec["signal"] == "count" and not isinstance(spec.get("class"), str):
            raise BlockShapeError(f"compute input {name!r}: the count signal needs a 'class' (e.g. \"cup\")")
        if set(spec) - {"signal", "class", "object"}:
            raise BlockShapeError(f"compute input {name!r}: a signal takes only 'class' and 'object'")
    if "value" in spec:
        check_json(spec["value"], f"compute input {name!r}")
    return dict(spec)


def validate_compute(content: Any, registry: FunctionRegistry = REGISTRY) -> dict[str, Any]:
    """A compute block's content, checked; the function must be registered."""
    if not isinstance(content, dict) or not isinstance(content.get("function"), str):
        raise BlockShapeError('a compute block\'s content is {"function": name, "inputs": {...}, "triggers"?: [...]}')
    extra = set(content) - {"function", "inputs", "triggers", "interval_s"}
    if extra:
        raise BlockShapeError(f"a compute block has no {', '.join(sorted(extra))}")
    try:
        registry.get(content["function"])
    except UnknownFunction as exc:
        raise BlockShapeError(str(exc)) from None
    inputs = content.get("inputs", {})
    if not isinstance(inputs, dict):
        raise BlockShapeError("a compute block's inputs map argument names to input specs")
    checked = {name: _check_input(name, spec) for name, spec in inputs.items()}
    triggers = content.get("triggers")
    if triggers is None:
        triggers = ["edit"] + (["detection"] if any("signal" in s for s in checked.values()) else [])
        triggers += ["interval"] if content.get("interval_s") else []
    if not isinstance(triggers, list) or not set(triggers) <= set(TRIGGERS):
        raise BlockShapeError(f"compute triggers are a list of {', '.join(TRIGGERS)}")
    interval = content.get("interval_s")
    if "interval" in triggers and not (isinstance(interval, (int, float)) and interval > 0):
        raise BlockShapeError("the interval trigger needs interval_s, a number of seconds above 0")
    out: dict[str, Any] = {"function": content["function"], "inputs": checked, "triggers": list(triggers)}
    if interval is not None:
        out["interval_s"] = interval
    return out


def compute_spec(content: dict[str, Any]) -> ComputeSpec:
    return ComputeSpec(
        content["function"], content.get("inputs", {}), frozenset(content.get("triggers", ["edit"])),
        content.get("interval_s"),
    )


def signal_value(spec: Mapping[str, Any], signals: Signals, object_id: str | None) -> Any:
    """The value of a signal input for the block pinned to `object_id` (or the input's own `object`)."""
    name = spec["signal"]
    if name == "count":
        return signals.count(spec["class"])
    target = signals.objects.get(spec.get("object") or object_id or "")
    if name == "in_view":
        return target is not None
    if target is None:
        return None
    if name == "pose":
        return list(target.pose) if target.pose is not None else None
    return target.seen_for_s


def time_value(spec: ComputeSpec, wall_time: float) -> float:
    """Wall time as a compute input: whole seconds, or the start of the current interval."""
    step = spec.interval_s if spec.interval_s and "interval" in spec.triggers else 1.0
    return float(int(wall_time // step) * step)
