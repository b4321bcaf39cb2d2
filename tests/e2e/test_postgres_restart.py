"""A PostgreSQL restart under a running replica: every connection the replica's pool held is ended, and the
requests right after the database is back all succeed (the pool checks a connection before it hands it out),
with the data written before the restart still there."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.postgres import PostgresServer, restart_postgres, start_postgres, stop_postgres
from harness.servers import Server, start_server, stop_server

pytestmark = pytest.mark.timeout(120)
PARALLEL = 8
"""Requests sent at once before the restart, so that the pool holds several connections to end."""


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own: restarting the shared one would end other tests' connections."""
    server = start_postgres()
    yield server
    stop_postgres(server)


@pytest.fixture
def replica(own_postgres: PostgresServer, tmp_path: Path) -> Iterator[Server]:
    server = start_server(own_postgres.new_database("restart"), key_file=tmp_path / "service.key")
    yield server
    stop_server(server)


def backends(postgres: PostgresServer, url: str) -> int:
    """How many connections the database at `url` has open now."""
    with postgres.admin() as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                            (url.rsplit("/", 1)[1],)).fetchone()[0]


def ask(client: httpx.Client, method: str, path: str, **kwargs: Any) -> tuple[str, int | str, Any]:
    """`method path`, its status and its JSON body; where the request itself failed, the failure instead."""
    try:
        answer = client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        return f"{method} {path}", repr(exc), None
    return f"{method} {path}", answer.status_code, answer.json() if answer.status_code < 400 else answer.text


def test_requests_right_after_a_database_restart_all_succeed(own_postgres: PostgresServer, replica: Server) -> None:
    rest = replica.rest()
    _, status, note = ask(rest, "POST", "/v1/blocks", json={"kind": "markdown", "title": "", "content": "before"})
    assert status == 201, note

    def read(_: int) -> tuple[str, int | str, Any]:
        with replica.rest() as client:
            return ask(client, "GET", f"/v1/blocks/{note['id']}")

    with ThreadPoolExecutor(PARALLEL) as pool:
        assert all(status == 200 for _, status, _ in pool.map(read, range(PARALLEL)))
    assert backends(own_postgres, str(replica.store)) >= 2, "the pool holds connections for the restart to end"

    restart_postgres(own_postgres)

    answers = [read(n) for n in range(PARALLEL)]
    answers += [ask(rest, "GET", "/v1/blocks"), ask(rest, "GET", "/v1/me")]
    answers.append(ask(rest, "POST", "/v1/blocks", json={"kind": "markdown", "title": "", "content": "after"}))
    with ThreadPoolExecutor(PARALLEL) as pool:
        answers += pool.map(read, range(PARALLEL))
    failed = [(request, status) for request, status, _ in answers if not (isinstance(status, int) and status < 400)]
    assert not failed, failed

    assert answers[0][2]["content"] == "before"
    written = answers[PARALLEL + 2][2]
    _, _, listed = ask(rest, "GET", "/v1/blocks")
    assert {note["id"], written["id"]} <= {block["id"] for block in listed}
