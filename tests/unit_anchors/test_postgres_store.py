"""What only the PostgreSQL store has to get right: locations and keys given clearly, its format, several
processes opening and writing one database at once, and a change listener that survives losing the server."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from anchors import ServiceKey, ServiceKeyError, StoreFormatError, VersionConflict
from anchors.storage.change_events import LOST
from anchors.storage.database import StoreConnectionError
from anchors.storage.locations import StoreLocationError, open_store
from anchors.storage.postgres import PostgresStore
from harness.ports import free_port
from harness.postgres import PostgresServer
from harness.stores import AnchorServices, StoreBackend
from tests.unit_anchors.test_store_changes import Changes


@pytest.fixture
def pg(postgres: PostgresServer, postgres_url: str, tmp_path: Path) -> StoreBackend:
    return StoreBackend.postgresql(postgres, postgres_url, tmp_path)


def test_a_url_of_an_unknown_scheme_is_refused_and_nothing_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for location in ("mysql://spatial@127.0.0.1:3306/spatial", "Redis://cache/0"):
        with pytest.raises(StoreLocationError, match=r"names no store .*postgresql://.*file path for SQLite"):
            open_store(location)
    assert list(tmp_path.iterdir()) == [], "no folder named after the scheme, no file"


def test_a_postgresql_store_needs_a_key_and_a_server_and_says_so_without_the_password(tmp_path: Path) -> None:
    with pytest.raises(ServiceKeyError, match="keeps no key beside it: give the service key with --service-key-file"):
        open_store("postgresql://spatial@127.0.0.1:5432/spatial")
    closed = f"postgresql://spatial:sesame-7731@127.0.0.1:{free_port()}/spatial"
    with pytest.raises(StoreConnectionError, match=r"cannot open the PostgreSQL store postgresql://spatial:\*\*\*@") as refused:
        open_store(closed, key_file=tmp_path / "store.key")
    assert "sesame" not in str(refused.value)
    assert not (tmp_path / "store.key").exists(), "no key is made for a database never reached"


def test_the_format_is_kept_in_the_database_and_others_are_refused(pg: StoreBackend) -> None:
    pg.open().close()
    db = pg.database()
    assert db.query_one("SELECT version FROM store_format")["version"] == 4
    db.transaction(lambda tx: tx.execute("UPDATE store_format SET version = 99"))
    with pytest.raises(StoreFormatError, match="holds store format 99; this version reads format 4"):
        pg.open()
    db.transaction(lambda tx: tx.execute("DROP TABLE store_format"))
    db.close()
    with pytest.raises(StoreFormatError, match="tables named like the store's but no store format"):
        pg.open()


def test_replicas_starting_at_once_create_the_store_once_with_one_key(pg: StoreBackend) -> None:
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: pg.open(), range(4)))
    assert sum(s.created_key_file is not None for s in stores) == 1
    with ThreadPoolExecutor(4) as pool:
        users = list(pool.map(lambda s: AnchorServices.on(s).accounts.find_or_create("local"), stores))
    assert len({u.id for u, _ in users}) == 1 and sum(created for _, created in users) == 1
    for store in stores:
        store.close()


def test_concurrent_writers_on_two_replicas_keep_seq_versions_positions_and_limits(pg: StoreBackend) -> None:
    first, second = AnchorServices.on(pg.open()), AnchorServices.on(pg.open())
    sides = (first, second)
    alice = first.accounts.create_user("alice")
    table = first.blocks.create_block(alice, "table", "t", {"columns": ["n"], "rows": [[i] for i in range(32)]})
    rows = first.blocks.children(alice, table.id)

    def edit(i: int) -> tuple[int, int]:
        side = sides[i % 2]
        before = side.store.stamp(table.id)
        side.blocks.update_cells(alice, rows[i].id, {"n": 100 + i}, 1)
        return before[1], side.store.stamp(table.id)[1]

    def same_edit(i: int) -> bool:
        """Both replicas edit one row from the same version: one edit wins, the other is refused."""
        try:
            sides[i % 2].blocks.update_cells(alice, rows[0].id, {"n": -i}, 2)
        except VersionConflict:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        stamps = list(pool.map(edit, range(32)))
        won = list(pool.map(same_edit, range(8)))
        added = list(pool.map(lambda i: sides[i % 2].blocks.add_rows(alice, table.id, [{"n": i}]), range(16)))
        pinned = list(pool.map(lambda i: sides[i % 2].store.insert_anchor(
            table.id, "marker:aruco/1", tuple(float(v) for v in range(16)), alice.id, 5), range(12)))
    assert all(after > before for before, after in stamps), "every edit moved the table's stamp on"
    assert sum(won) == 1 and first.store.get_block(rows[0].id).version == 3
    db = pg.database()
    blocks = db.query("SELECT id, seq FROM blocks")
    assert len({r["seq"] for r in blocks}) == len(blocks) == 1 + 32 + 16, "no two writes took the same seq"
    logged = db.query("SELECT seq, subject, subject_id FROM changes ORDER BY seq")
    assert [r["seq"] for r in logged] == list(range(logged[0]["seq"], logged[-1]["seq"] + 1)), "stamps have no gaps"
    stamps: dict[str, set[int]] = {}
    for r in logged:
        stamps.setdefault(r["subject_id"], set()).add(r["seq"])
    assert all(r["seq"] in stamps[r["id"]] for r in blocks), "a block's seq is the stamp of one of its logged writes"
    positions = [r["position"] for r in db.query("SELECT position FROM blocks WHERE parent = ?", (table.id,))]
    db.close()
    assert sorted(positions) == list(range(1, 49)), "every row has its own place"
    assert len(added) == 16 and sum(a is not None for a in pinned) == 5, "the per-owner limit held"
    first.store.close()
    second.store.close()


def test_a_replica_still_on_a_rotated_key_writes_no_owner_key(pg: StoreBackend) -> None:
    old = ServiceKey.generate()
    stale, rotating = AnchorServices.on(pg.open(old)), pg.open(old)
    new = ServiceKey.generate()
    assert rotating.rotate_service_key(new) == 0
    bob = stale.accounts.create_user("bob")
    with pytest.raises(ServiceKeyError, match="was rotated; start again with the new key"):
        stale.blocks.create_block(bob, "markdown", "", "written under the old key")
    fresh = AnchorServices.on(pg.open(new))
    assert fresh.blocks.create_block(bob, "markdown", "", "under the new one").content == "under the new one"
    for store in (stale.store, rotating, fresh.store):
        store.close()


def test_the_listener_comes_back_after_losing_the_server_and_says_changes_may_be_lost(
    pg: StoreBackend, postgres: PostgresServer,
) -> None:
    watching, writing = pg.open(), AnchorServices.on(pg.open())
    heard = Changes()
    watching.watch(heard)
    assert postgres.end_listeners(pg.location) == 1, "the listener has a connection of its own"
    heard.wait_for(lambda c: c.kind == LOST, timeout=10)
    alice = writing.accounts.create_user("alice")
    assert heard.wait_for(lambda c: c.kind == "user").id == alice.id, "changes flow again"
    watching.close()
    writing.store.close()
    time.sleep(0.1)
    assert not [t for t in threading.enumerate() if t.name == "store-changes" and t.is_alive()], "closing stops it"


def test_a_store_opened_by_url_is_a_postgres_store(pg: StoreBackend) -> None:
    store = pg.open()
    assert isinstance(store, PostgresStore) and store.created_key_file == pg.key_file
    store.close()
