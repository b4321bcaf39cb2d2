"""The anchors services over a real store in the test's own directory, and a first user.

Tests that use `services` (or what is built on it) run twice: on a SQLite file and on a PostgreSQL
database of their own (`backend`, in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from anchors import AccountService, BlockService, ComputeService, Limits, SpaceService, User
from harness.stores import AnchorServices, StoreBackend


@pytest.fixture
def limits() -> Limits:
    """The services' limits; a module that tests its own overrides this fixture."""
    return Limits()


@pytest.fixture
def services(backend: StoreBackend, limits: Limits) -> Iterator[AnchorServices]:
    built = AnchorServices.on(backend.open(), limits)
    yield built
    built.store.close()


@pytest.fixture
def accounts(services: AnchorServices) -> AccountService:
    return services.accounts


@pytest.fixture
def blocks(services: AnchorServices) -> BlockService:
    return services.blocks


@pytest.fixture
def spaces(services: AnchorServices) -> SpaceService:
    return services.spaces


@pytest.fixture
def alice(accounts: AccountService) -> User:
    return accounts.create_user("alice")


@pytest.fixture
def world(blocks: BlockService, compute: ComputeService, alice: User) -> tuple[BlockService, ComputeService, User]:
    """Blocks and compute over one store, with alice signed up."""
    return blocks, compute, alice
