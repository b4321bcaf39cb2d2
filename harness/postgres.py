"""A real PostgreSQL server (Debian's) in a temporary data directory, with a database per caller."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import psycopg

from harness.ports import free_port

PG_USER = "spatial"


def _postgres_bin(program: str) -> str:
    """A PostgreSQL server program from Debian's packages (the newest installed version)."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{program}"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise RuntimeError(f"PostgreSQL's {program} is not installed: `make test` installs Debian's postgresql")
    return str(found[-1])


def _as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as Debian's `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class PostgresServer:
    """A PostgreSQL server in a temporary data directory, listening on loopback only, trusting local users.
    Each caller takes a database of its own (`new_database`)."""

    root: Path
    port: int
    _names: Iterator[int] = field(default_factory=count)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> Any:
        return psycopg.connect(self.url("postgres"), autocommit=True)

    def new_database(self, hint: str = "db") -> str:
        """A new, empty database; its URL."""
        name = f"{re.sub(r'[^a-z0-9]+', '_', hint.lower())[:40]}_{next(self._names)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def end_listeners(self, url: str) -> int:
        """End the connections listening for changes to the database at `url`, as a network failure would;
        how many there were."""
        with self.admin() as conn:
            return len(conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%%' AND datname = %s",
                (url.rsplit("/", 1)[1],),
            ).fetchall())

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_postgres(*settings: str) -> PostgresServer:
    """initdb and start a PostgreSQL server (as the `postgres` user when run as root) on a free port;
    `settings` are more `name=value` server settings."""
    root = Path(tempfile.mkdtemp(prefix="spatial-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    server = PostgresServer(root, free_port())
    subprocess.run(_as_postgres_user([_postgres_bin("initdb"), "-D", str(server.data), "-A", "trust",
                                      "-U", PG_USER, "-E", "UTF8", "--no-sync"]),
                   check=True, capture_output=True)
    options = " ".join([f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=300",
                        *(f"-c {setting}" for setting in settings)])
    subprocess.run(_as_postgres_user([_postgres_bin("pg_ctl"), "-D", str(server.data), "-o", options,
                                      "-l", str(root / "server.log"), "-w", "start"]),
                   check=True, capture_output=True)
    return server


def stop_postgres(server: PostgresServer) -> None:
    subprocess.run(_as_postgres_user([_postgres_bin("pg_ctl"), "-D", str(server.data), "-m", "fast", "stop"]),
                   capture_output=True)
    shutil.rmtree(server.root, ignore_errors=True)


def restart_postgres(server: PostgresServer) -> None:
    """Stop the server (ending every connection to it, as a database restart does) and start it again on the
    same data directory, port and settings; return once it accepts connections."""
    subprocess.run(_as_postgres_user([_postgres_bin("pg_ctl"), "-D", str(server.data), "-m", "fast",
                                      "-l", str(server.root / "server.log"), "-w", "restart"]),
                   check=True, capture_output=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            psycopg.connect(server.url("postgres"), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
