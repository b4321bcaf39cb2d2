"""A benchmark's command line and results: its options, the command that reproduces a run, its section printed
and written into docs/benchmarks.md (one section per benchmark), and the statistics the sections share."""

from __future__ import annotations

import argparse
import os
import platform
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

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


def rerun_command(module: str, options: Sequence[Option], args: argparse.Namespace) -> str:
    """The command that reproduces this run and writes it: `python -m MODULE`, the options that differ from
    their defaults, then `--write`."""
    words = [f"python -m {module}"]
    for each in options:
        dest = each.flag.lstrip("-").replace("-", "_")
        value, default = getattr(args, dest), each.settings.get("default")
        if value == default or value in (None, []) or each.settings.get("help") == argparse.SUPPRESS:
            continue
        shown = " ".join(_word(v) for v in value) if isinstance(value, list) else _word(value)
        if value is True:
            words.append(each.flag)
        elif each.flag.startswith("-"):
            words.append(f"{each.flag} {shown}")
        else:
            words.append(shown)  # a positional argument
    return " ".join([*words, "--write"])


def _word(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Option:
    """One command-line option of a benchmark, as `argparse.ArgumentParser.add_argument` takes it."""

    flag: str
    settings: dict[str, Any] = field(default_factory=dict)


def option(flag: str, default: Any = None, help: str | None = None, **settings: Any) -> Option:
    """The option `flag` with `default` (whose type it takes unless `settings` say otherwise) and `help`,
    to which the default is added unless the help speaks of it."""
    if default is not None and not isinstance(default, (bool, list)) and not {"type", "action", "nargs"} & set(settings):
        settings["type"] = type(default)
    if help is not None and default is not None and default is not False and default != "" and "default" not in help:
        help += " (default: %(default)s)"
    return Option(flag, {"default": default, "help": help, **settings})


class UsageError(Exception):
    """The options given do not go together; said as argparse says its own errors."""


def run_benchmark(
    module: str, doc: str, measure: Callable[[argparse.Namespace, str], str | None], *options: Option,
    argv: list[str] | None = None,
) -> int:
    """A benchmark's command line: parse `options` and `--write` (described by the first line of `doc`), call
    `measure` with them and the command that reproduces the run, print the section it returns and, with
    `--write`, put it into docs/benchmarks.md in place of the section with the same first line. `measure`
    returns None when there is nothing to report, and raises UsageError for options that do not go together."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    for each in options:
        parser.add_argument(each.flag, **each.settings)
    parser.add_argument("--write", action="store_true", help="write the results into docs/benchmarks.md")
    args = parser.parse_args(argv)
    try:
        text = measure(args, rerun_command(module, options, args))
    except UsageError as exc:
        parser.error(str(exc))
    if text is not None:
        print(text)
        if args.write:
            write_section(text, text.splitlines()[0])
    return 0


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
