"""Encryption at rest, on SQLite and PostgreSQL: nothing readable in what the database keeps, wrong keys
refused clearly, rotation; a SQLite file of format 2 is sealed in place."""

import sqlite3
import stat
from pathlib import Path

import pytest

from anchors import ServiceKey, ServiceKeyError, SQLiteStore, Store
from anchors.crypto import SealedDataError, default_key_file
from harness.stores import AnchorServices, StoreBackend

SECRET_TITLE = "Zanzibar-title-7f3a"
SECRET_NOTE = "the safe code is 48213-quokka"
SECRET_CELL = "quokka-cell-value-9931"


def fill(store: Store) -> tuple[str, str]:
    services = AnchorServices.on(store)
    blocks = services.blocks
    alice = services.accounts.create_user("alice")
    note = blocks.create_block(alice, "markdown", SECRET_TITLE, SECRET_NOTE)
    table = blocks.create_block(alice, "table", "Stock", {"columns": ["item"], "rows": [[SECRET_CELL]]})
    blocks.update_block(alice, note.id, title=None, content=SECRET_NOTE + " (edited)", version=None)
    return note.id, table.id


def bodies(backend: StoreBackend) -> dict[str, bytes]:
    db = backend.database()
    try:
        return {r["id"]: bytes(r["body"]) for r in db.query("SELECT id, body FROM blocks")}
    finally:
        db.close()


def test_the_store_files_hold_no_block_content(backend: StoreBackend) -> None:
    store = backend.open()
    note_id, _ = fill(store)
    while_open = backend.disk_bytes()
    if backend.kind == "sqlite":
        assert Path(backend.location + "-wal").exists(), "the writes are still in the WAL"
    store.close()
    after_close = backend.disk_bytes()
    for raw in (while_open, after_close):
        assert note_id.encode() in raw, "ids are stored in the clear, so the search itself works"
        for secret in (SECRET_TITLE, SECRET_NOTE, SECRET_CELL, "48213", "quokka"):
            assert secret.encode() not in raw, f"{secret!r} is readable in the store"

    again = AnchorServices.on(backend.open())
    alice = again.accounts.ensure_user("alice")
    assert again.blocks.read_block(alice, note_id).content == SECRET_NOTE + " (edited)"
    again.store.close()


def test_a_new_store_creates_its_key_file_readable_by_its_owner_only(backend: StoreBackend, tmp_path: Path) -> None:
    store = backend.open()
    assert store.created_key_file == backend.key_file
    if backend.kind == "sqlite":
        assert backend.key_file == default_key_file(backend.location) == tmp_path / "store.db.key"
    assert stat.S_IMODE(store.created_key_file.stat().st_mode) == 0o600
    if backend.kind == "sqlite":
        for made in (Path(backend.location), tmp_path / "store.db-wal"):
            assert stat.S_IMODE(made.stat().st_mode) == 0o600
    store.close()
    again = backend.open()
    assert again.created_key_file is None, "an existing key is used, not replaced"
    again.close()


def test_a_wrong_key_fails_clearly_at_open(backend: StoreBackend, tmp_path: Path) -> None:
    fill(backend.open())
    with pytest.raises(ServiceKeyError, match="does not open .*encrypted under another key"):
        backend.open(ServiceKey.generate())
    backend.key_file.rename(tmp_path / "elsewhere.key")
    with pytest.raises(ServiceKeyError, match=f"{backend.key_file.name} does not exist"):
        backend.open()
    (tmp_path / "bad.key").write_text("not a key\n")
    with pytest.raises(ServiceKeyError, match="bad.key is not a service key"):
        backend.open(key_file=tmp_path / "bad.key")
    assert backend.open(key_file=tmp_path / "elsewhere.key").block_count() == 3


def test_a_sealed_body_moved_to_another_block_does_not_open(backend: StoreBackend) -> None:
    store = backend.open()
    note_id, table_id = fill(store)
    db = backend.database()
    db.transaction(lambda tx: tx.execute(
        "UPDATE blocks SET body = (SELECT body FROM blocks WHERE id = ?) WHERE id = ?", (note_id, table_id)
    ))
    db.close()
    with pytest.raises(SealedDataError, match=f"block {table_id}: .*integrity check"):
        store.get_block(table_id)
    assert store.get_block(note_id).title == SECRET_TITLE
    store.close()


def test_rotation_rewraps_owner_keys_and_the_old_key_stops_working(backend: StoreBackend) -> None:
    old = ServiceKey.generate()
    store = backend.open(old)
    note_id, _ = fill(store)
    bodies_before = bodies(backend)
    new = ServiceKey.generate()
    assert store.rotate_service_key(new) == 1
    assert store.get_block(note_id).content.startswith(SECRET_NOTE), "the open store goes on working"
    store.close()

    assert bodies(backend) == bodies_before, "block content is not re-encrypted"
    with pytest.raises(ServiceKeyError):
        backend.open(old)
    rotated = AnchorServices.on(backend.open(new))
    alice = rotated.accounts.ensure_user("alice")
    assert rotated.blocks.read_block(alice, note_id).title == SECRET_TITLE
    bob = rotated.accounts.create_user("bob")
    assert rotated.blocks.create_block(bob, "markdown", "", "after rotation").content == "after rotation"
    rotated.store.close()


def test_service_key_text_round_trips(tmp_path: Path) -> None:
    key = ServiceKey.generate()
    assert len(key.to_text()) == 43
    assert ServiceKey.from_text(key.to_text()).same_as(key)
    key.save(tmp_path / "k")
    assert ServiceKey.from_file(tmp_path / "k").same_as(key)
    with pytest.raises(FileExistsError):
        key.save(tmp_path / "k")


FORMAT_2 = """
CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE blocks (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, owner TEXT NOT NULL REFERENCES users(id),
    parent TEXT REFERENCES blocks(id) ON DELETE CASCADE, position REAL NOT NULL, title TEXT NOT NULL,
    content TEXT NOT NULL, version INTEGER NOT NULL, seq INTEGER NOT NULL, created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
INSERT INTO users VALUES ('usr_1', 'alice');
INSERT INTO blocks VALUES ('blk_page', 'page', 'usr_1', NULL, 1, 'Zanzibar-title-7f3a', '{}', 1, 1, 0, 0);
INSERT INTO blocks VALUES ('blk_note', 'markdown', 'usr_1', 'blk_page', 1, '', '"the safe code is 48213-quokka"', 3, 2, 0, 0);
PRAGMA user_version = 2;
"""


def test_a_format_2_store_is_encrypted_in_place(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    db = sqlite3.connect(path)
    db.executescript(FORMAT_2)
    db.close()
    assert SECRET_NOTE.encode() in path.read_bytes()

    store = SQLiteStore(path)
    assert store.created_key_file is not None
    services = AnchorServices.on(store)
    blocks = services.blocks
    alice = services.accounts.ensure_user("alice")
    page = blocks.read_block(alice, "blk_page")
    assert (page.title, page.children) == (SECRET_TITLE, ("blk_note",))
    assert (blocks.read_block(alice, "blk_note").content, blocks.read_block(alice, "blk_note").version) == (SECRET_NOTE, 3)
    raw = StoreBackend.sqlite(tmp_path).disk_bytes()
    assert SECRET_NOTE.encode() not in raw and SECRET_TITLE.encode() not in raw
    store.close()
    assert AnchorServices.on(SQLiteStore(path)).blocks.read_block(alice, "blk_note").content == SECRET_NOTE
