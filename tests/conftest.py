"""Shared fixtures: a real `spatial serve` process on loopback, a real PostgreSQL server, the sample data,
and a compute engine over the `blocks` fixture of the test's own directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from anchors import BlockService, ComputeService
from harness.postgres import PostgresServer, start_postgres, stop_postgres
from harness.samples import load_make_sample
from harness.servers import Server, start_server, stop_server
from harness.stores import StoreBackend


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real server with the demo store, shared by the tests of one module."""
    srv = start_server(tmp_path_factory.mktemp("store") / "store.db")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server (Debian's) for the whole run, in a temporary data directory; each test that
    uses it takes a database of its own (`postgres_url`)."""
    server = start_postgres()
    yield server
    stop_postgres(server)


@pytest.fixture
def postgres_url(postgres: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database for this test, dropped after it."""
    url = postgres.new_database(request.node.name)
    yield url
    postgres.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> StoreBackend:
    """Where this test's store lives: a SQLite file, or a PostgreSQL database of its own (a test that takes
    it runs once on each)."""
    if request.param == "sqlite":
        return StoreBackend.sqlite(tmp_path)
    return StoreBackend.postgresql(request.getfixturevalue("postgres"), request.getfixturevalue("postgres_url"),
                                   tmp_path)


@pytest.fixture(scope="session")
def sample_y4m(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample video as a .y4m file, Chromium's fake camera format."""
    make_sample = load_make_sample()
    frames, _ = make_sample.render_frames()
    path = tmp_path_factory.mktemp("camera") / "sample.y4m"
    make_sample.write_y4m(frames, path, fps=15)
    return path


@pytest.fixture
def compute(blocks: BlockService) -> Iterator[ComputeService]:
    """A compute engine over `blocks`, which each test directory's conftest or module defines."""
    engine = ComputeService(blocks)
    yield engine
    engine.close()
