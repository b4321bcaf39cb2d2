"""The change feed keeps each replica's caches current: objects one replica learns, is taught or forgets
are known to the others; a deleted block or space leaves no cache anywhere; after a lost connection
everything is read again. Replicas here are the service's parts as `spatial serve` builds them, two on
one PostgreSQL database (one on SQLite, which tells its own process only)."""

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from anchors.storage.change_events import LOST, Change
from harness.postgres import PostgresServer
from harness.stores import StoreBackend
from spatial.config import Settings
from spatial.services import Services
from tests.unit_vision.test_identity import K, cup_view, desk
from tests.unit_vision.test_tracking import poster_frame
from vision.identity import describe


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time a notification takes"
        time.sleep(0.02)


def replica(backend: StoreBackend) -> Services:
    return Services.build(Settings(store=backend.location, service_key_file=backend.key_file, detector="markers",
                                   demo=False))


@pytest.fixture
def pair(postgres: PostgresServer, postgres_url: str, tmp_path: Path) -> Iterator[tuple[Services, Services]]:
    backend = StoreBackend.postgresql(postgres, postgres_url, tmp_path)
    a, b = replica(backend), replica(backend)
    yield a, b
    a.close()
    b.close()


def test_objects_learned_taught_and_forgotten_on_one_replica_are_known_on_the_other(pair: tuple[Services, Services]) -> None:
    a, b = pair
    alice = a.accounts.ensure_user("alice")
    near, near_box = cup_view(300)
    cup_id = a.objects.gallery.identify(describe(near, near_box, "cup"))
    a.objects.save_new_views()
    eventually(lambda: cup_id in b.objects.gallery)
    far, far_box = cup_view(150)
    assert b.objects.gallery.identify(describe(far, far_box, "cup")) == cup_id, "the same cup, the same id"

    crate = desk()
    crate[100:366, 100:500] = 255 - crate[100:366, 100:500] // 2
    crate_id = b.objects.gallery.identify(describe(crate, (100, 100, 500, 366), "box"))
    b.objects.save_new_views()
    eventually(lambda: crate_id in a.objects.gallery)
    assert len(a.objects.gallery.views(cup_id)) == len(b.objects.gallery.views(cup_id)), "no view taken in twice"

    taught = a.objects.teach(alice, poster_frame(100, 100), (100, 100, 300, 300), "poster", 0.30)
    eventually(lambda: len(b.objects.recogniser) == 1)
    [found] = b.objects.recogniser.detect(poster_frame(120, 90), K)
    assert found.object_id == taught.instance_id
    assert a.objects.forget(alice, taught.instance_id)
    eventually(lambda: len(b.objects.recogniser) == 0)


def test_a_deleted_block_or_space_leaves_no_cache_on_any_replica(backend: StoreBackend) -> None:
    replicas = [replica(backend)] if backend.kind == "sqlite" else [replica(backend), replica(backend)]
    writer, viewer = replicas[0], replicas[-1]
    alice = writer.accounts.ensure_user("alice")
    table = writer.blocks.create_block(alice, "table", "t", {"columns": ["n"], "rows": [[1], [2]]})
    note = writer.blocks.create_block(alice, "markdown", "", "hello")
    space = writer.spaces.create_space(alice, "room")
    writer.spaces.set_space_map(alice, space.id, np.random.default_rng(0).uniform(-2, 2, (200, 3)))
    viewer.compute.table(alice, table.id)
    viewer.pipeline.layouts.get(viewer.blocks.read_block(alice, note.id))
    assert viewer.space_registry.prepared_map(alice, viewer.spaces.get_space(alice, space.id)) is not None
    viewer.space_registry.anchors(space.id)
    assert table.id in viewer.compute._tables and space.id in viewer.space_registry._maps

    writer.blocks.delete_block(alice, table.id)
    writer.blocks.delete_block(alice, note.id)
    writer.spaces.delete_space(alice, space.id)
    eventually(lambda: table.id not in viewer.compute._tables)
    eventually(lambda: not any(key[0] == note.id for key in viewer.pipeline.layouts._items))
    eventually(lambda: space.id not in viewer.space_registry._maps and space.id not in viewer.space_registry._anchors)
    for built in replicas:
        built.close()


def test_after_a_lost_connection_every_cache_is_read_again(
    pair: tuple[Services, Services], postgres: PostgresServer, postgres_url: str,
) -> None:
    a, b = pair
    lost: list[Change] = []
    b.changes.subscribe(lambda change: lost.append(change) if change.kind == LOST else None)
    alice = a.accounts.ensure_user("alice")
    table = a.blocks.create_block(alice, "table", "t", {"columns": ["n"], "rows": [[1]]})
    b.compute.table(alice, table.id)
    assert postgres.end_listeners(postgres_url) == 2
    near, near_box = cup_view(300)
    cup_id = a.objects.gallery.identify(describe(near, near_box, "cup"))
    a.objects.save_new_views()  # perhaps while b's listener is away: its notification may be lost
    eventually(lambda: len(lost) == 1, timeout=10)
    assert b.compute._tables == {}
    eventually(lambda: cup_id in b.objects.gallery)
