"""Writing benchmark results into docs/benchmarks.md, one section per benchmark."""

from __future__ import annotations

import argparse
import os
import platform
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def percentile(values: list[float], q: float) -> float:
    """The `q`-th percentile (0-100) of `values`, nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def machine() -> str:
    """Today's date and this machine, for a result's heading line."""
    return (
        f"{date.today().isoformat()} on {platform.node() or 'this machine'} "
        f"({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()})"
    )


def write_section(text: str, heading: str) -> None:
    """Replace the section starting with `heading` (a `## ` line) in docs/benchmarks.md, keeping the others."""
    existing = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    if heading in existing:
        head, rest = existing.split(heading, 1)
        tail = rest[rest.find("\n## "):] if "\n## " in rest else ""
        existing = head + text.rstrip("\n") + "\n" + tail
    else:
        existing = existing.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    BENCHMARKS.write_text(existing)


def rerun_command(module: str, parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """The command that reproduces this run and writes it: `python -m MODULE`, the options that differ from
    their defaults, then `--write`."""
    options = [f"--{name.replace('_', '-')} {value}" for name, value in vars(args).items()
               if name != "write" and value != parser.get_default(name)]
    return " ".join([f"python -m {module}", *options, "--write"])


def stream_latencies(send: Callable[[int], object], streams: int, seconds: float, stride: int = 1) -> list[float]:
    """Per-item latencies in ms of `streams` threads for `seconds`, each with one item in flight: thread k
    calls `send(i)` for i = k * stride, k * stride + 1, ... and times each call."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def stream(offset: int) -> None:
        i = offset
        while time.perf_counter() < stop:
            start = time.perf_counter()
            send(i)
            with lock:
                latencies.append((time.perf_counter() - start) * 1e3)
            i += 1

    threads = [threading.Thread(target=stream, args=(k * stride,)) for k in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies
