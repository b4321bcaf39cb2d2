"""Store benchmark: operations per second on PostgreSQL against SQLite, side by side, and how long a change
takes to reach another replica.

Both stores run here with their durable defaults: SQLite in WAL mode with
`synchronous=FULL`, PostgreSQL 15 from Debian's packages (fsync and
synchronous commit on) on loopback, started by the benchmark in a temporary
folder. Each operation runs in rounds that alternate between the two stores,
so both see the same machine load; the figure is the median round. The
reads are those a frame makes (`frame read`: what is pinned to one marker,
10 notes, with each one's access check) and a token check; the writes are
the REST API's (a note created, a note edited from its version).
`4 threads` runs the frame read from four threads at once, as the frame
workers and REST handlers of one replica do.

Change delivery: one PostgreSQL store writes, a second one (another
replica's) is told through LISTEN/NOTIFY; the time from the write's start to
the second store's watcher.

Run: `python -m bench.store [--rounds N] [--write]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

from anchors import User
from anchors.storage.change_events import Change
from bench.report import machine, option, percentile, run_benchmark
from harness.postgres import PostgresServer, start_postgres, stop_postgres
from harness.stores import AnchorServices, StoreBackend

SECTION = "## Store: PostgreSQL against SQLite, operations per second"
MARKER = "marker:aruco/7"
FRAME_READ = "frame read (10 pinned notes, access checked)"
OPTIONS = (
    option("--rounds", 7, "rounds per operation and store"),
    option("--reads", 400, "reads per round"),
    option("--writes", 40, "writes per round"),
    option("--deliveries", 300, "changes timed to another replica"),
)


class Bench:
    """One store with a user, ten notes pinned to one marker, a table and a token."""

    def __init__(self, backend: StoreBackend) -> None:
        self.backend = backend
        self.services = AnchorServices.on(backend.open())
        self.user: User = self.services.accounts.create_user("alice")
        self.token = self.services.accounts.issue_token(self.user, "bench")
        for i in range(10):
            note = self.services.blocks.create_block(self.user, "markdown", f"note {i}", "pinned " * 20)
            self.services.blocks.attach(self.user, note.id, MARKER)
        self.note = self.services.blocks.create_block(self.user, "markdown", "edited", "v1")

    def operations(self) -> dict[str, tuple[Callable[[int], None], bool]]:
        """Each operation by name, and whether it writes."""
        blocks, accounts = self.services.blocks, self.services.accounts

        def create(_: int) -> None:
            blocks.create_block(self.user, "markdown", "", "a new note")

        def edit(i: int) -> None:
            current = blocks.read_block(self.user, self.note.id)
            blocks.update_block(self.user, self.note.id, title=None, content=f"edit {i}", version=current.version)

        def frame_read(_: int) -> None:
            assert len(blocks.attached(self.user, [MARKER, "marker:aruco/1"])) == 10

        def token_check(_: int) -> None:
            assert accounts.authenticate(self.token) is not None

        return {"note created": (create, True), "note edited (read, then conditional update)": (edit, True),
                FRAME_READ: (frame_read, False), "token check": (token_check, False)}

    def close(self) -> None:
        self.services.store.close()


def timed(operation: Callable[[int], None], count: int, threads: int = 1) -> float:
    """Operations per second of `count` runs of `operation` on `threads` threads."""
    start = time.perf_counter()
    if threads == 1:
        for i in range(count):
            operation(i)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(operation, range(count)))
    return count / (time.perf_counter() - start)


def change_delivery(postgres: PostgresServer, folder: Path, count: int) -> list[float]:
    """Milliseconds from a write's start on one store to another store's watcher being told of it."""
    backend = StoreBackend.postgresql(postgres, postgres.new_database("delivery"), folder)
    writer, reader = AnchorServices.on(backend.open()), backend.open()
    user = writer.accounts.create_user("alice")
    note = writer.blocks.create_block(user, "markdown", "", "v")
    heard: dict[int, float] = {}
    arrived = threading.Condition()

    def watch(changes: list[Change]) -> None:
        with arrived:
            for change in changes:
                if change.kind == "block" and change.seq is not None:
                    heard[change.seq] = time.perf_counter()
            arrived.notify_all()

    reader.watch(watch)
    delays = []
    for i in range(count):
        start = time.perf_counter()
        updated = writer.store.update_block(note.id, "", f"v{i}", i + 1)
        assert updated is not None
        seq = writer.store.stamp(note.id)[1]
        with arrived:
            arrived.wait_for(lambda: seq in heard, timeout=5)
        delays.append((heard[seq] - start) * 1e3)
    writer.store.close()
    reader.close()
    return delays


def run(args: argparse.Namespace, command: str) -> str:
    """Each operation on both stores, taking turns, and changes reaching another replica: the section."""
    load = os.getloadavg()[0]

    postgres = start_postgres()
    folder = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        sqlite = Bench(StoreBackend.sqlite(folder / "sqlite"))
        pg = Bench(StoreBackend.postgresql(postgres, postgres.new_database("bench"), folder))
        with postgres.admin() as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        rates: dict[str, dict[str, list[float]]] = {}
        plans = [(name, 1) for name in sqlite.operations()] + [(FRAME_READ, 4)]
        for name, threads in plans:
            label = name if threads == 1 else f"{name}, {threads} threads"
            rates[label] = {"sqlite": [], "postgresql": []}
            count = args.writes if sqlite.operations()[name][1] else args.reads
            for round_ in range(args.rounds):
                order = (sqlite, pg) if round_ % 2 == 0 else (pg, sqlite)
                for bench in order:
                    rates[label][bench.backend.kind].append(timed(bench.operations()[name][0], count, threads))
            print(label, {k: round(statistics.median(v)) for k, v in rates[label].items()}, flush=True)
        delays = change_delivery(postgres, folder, args.deliveries)
        sqlite.close()
        pg.close()
    finally:
        stop_postgres(postgres)

    rows = []
    for label, by_store in rates.items():
        s, p = statistics.median(by_store["sqlite"]), statistics.median(by_store["postgresql"])
        rows.append(f"| {label} | {s:,.0f} | {p:,.0f} | {p / s:.2f} |")
    return "\n".join([
        SECTION,
        "",
        f"{machine()}, load average {load:.1f} when it started; PostgreSQL {version} (Debian's package, on loopback, fsync and synchronous commit on),"
        f" psycopg {psycopg.__version__}; SQLite in WAL mode, synchronous=FULL. Command: `{command}`.",
        "",
        f"Operations per second, the median of {args.rounds} rounds taking turns between the two stores"
        f" ({args.reads} reads or {args.writes} writes a round), through the access-checked services:",
        "",
        "| operation | SQLite | PostgreSQL | PostgreSQL / SQLite |",
        "| --- | ---: | ---: | ---: |",
        *rows,
        "",
        "Every PostgreSQL statement is a round trip to another process (a token check takes"
        f" {1e6 / statistics.median(rates['token check']['postgresql']):.0f} µs against"
        f" {1e6 / statistics.median(rates['token check']['sqlite']):.0f} µs in SQLite's own process), so reads cost"
        " more; a write costs a commit flushed to disk on both. PostgreSQL's writes run one at a time (one advisory"
        " lock), as SQLite's do.",
        "",
        f"A change reaches another replica's watcher (LISTEN/NOTIFY, write included) in"
        f" **{statistics.median(delays):.2f} ms** p50, {percentile(delays, 95):.2f} ms p95"
        f" ({args.deliveries} edits, one at a time).",
        "",
    ])


if __name__ == "__main__":
    raise SystemExit(run_benchmark("bench.store", __doc__, run, *OPTIONS))
