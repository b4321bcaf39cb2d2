"""What a store tells its watchers: each committed write's changes, named by kind and id with the new seq;
on PostgreSQL, those of every process on the database, through LISTEN/NOTIFY."""

import threading
import time
from collections.abc import Callable

import numpy as np

from anchors import AccountService, BlockService, SpaceService
from anchors.storage.change_events import Change
from anchors.storage.signatures import SignatureStore
from harness.stores import AnchorServices, StoreBackend


class Changes:
    """A watcher that keeps what it is told."""

    def __init__(self) -> None:
        self.seen: list[Change] = []
        self._lock = threading.Lock()

    def __call__(self, changes: list[Change]) -> None:
        with self._lock:
            self.seen.extend(changes)

    def wait_for(self, found: Callable[[Change], bool], timeout: float = 5.0) -> Change:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                match = next((c for c in self.seen if found(c)), None)
            if match is not None:
                return match
            time.sleep(0.01)
        raise AssertionError(f"no such change within {timeout} s; seen: {self.seen}")

    def kinds(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return [(c.kind, c.id, c.op) for c in self.seen]


def test_every_write_tells_the_watchers_what_changed_never_what_it_holds(
    backend: StoreBackend, accounts: AccountService, blocks: BlockService, spaces: SpaceService,
) -> None:
    watcher = Changes()
    blocks.store.watch(watcher)
    alice, bob = accounts.create_user("alice"), accounts.create_user("bob")
    token = accounts.issue_token(alice, "phone")
    table = blocks.create_block(alice, "table", "Secret stock", {"columns": ["item"], "rows": [["quokka"]]})
    row = blocks.children(alice, table.id)[0]
    edited = blocks.update_cells(alice, row.id, {"item": "wombat"}, None)
    blocks.share_block(alice, table.id, "bob", "read")
    anchor = blocks.attach(alice, table.id, "marker:aruco/7")
    blocks.detach(alice, anchor.id)
    space = spaces.create_space(alice, "kitchen")
    spaces.set_space_map(alice, space.id, np.zeros((10, 3)))
    blocks.unshare_block(alice, table.id, "bob")
    accounts.revoke_presented(token)
    blocks.delete_block(alice, table.id)
    spaces.delete_space(alice, space.id)

    last = watcher.wait_for(lambda c: c.kind == "space" and c.op == "deleted")
    assert watcher.kinds() == [
        ("user", alice.id, "created"), ("user", bob.id, "created"), ("token", alice.id, "issued"),
        ("block", table.id, "created"), ("block", row.id, "updated"), ("block", table.id, "shared"),
        ("anchor", anchor.id, "created"), ("anchor", anchor.id, "deleted"), ("space", space.id, "created"),
        ("space", space.id, "map"), ("block", table.id, "unshared"), ("token", alice.id, "revoked"),
        ("block", table.id, "deleted"), ("space", space.id, "deleted"),
    ]
    created, updated = watcher.seen[3], watcher.seen[4]
    assert 0 < created.seq < updated.seq, "each write's stamp, in the order they were made"
    assert (updated.parent, edited.version) == (table.id, 2)
    assert watcher.seen[5].user == bob.id and watcher.seen[7].parent == table.id
    assert {c.origin for c in watcher.seen} == {last.origin} != ""
    said = repr(watcher.seen)
    for secret in ("Secret", "quokka", "wombat", "kitchen", token):
        assert secret not in said, f"{secret!r} was in a change"


def test_a_rolled_back_write_tells_nothing(accounts: AccountService, blocks: BlockService) -> None:
    watcher = Changes()
    alice = accounts.create_user("alice")
    note = blocks.create_block(alice, "markdown", "", "v1")
    blocks.store.watch(watcher)
    assert blocks.store.update_block(note.id, "", "lost", expected_version=7) is None
    blocks.update_block(alice, note.id, title=None, content="v2", version=1)
    assert watcher.wait_for(lambda c: c.op == "updated").id == note.id
    assert watcher.kinds() == [("block", note.id, "updated")]


def test_each_replica_hears_the_others_changes(backend: StoreBackend) -> None:
    """Two stores on one database, as two replicas hold them: what one writes, the other is told of,
    with the writer's origin; SQLite tells only the process that wrote."""
    first, second = AnchorServices.on(backend.open()), AnchorServices.on(backend.open())
    heard = Changes()
    second.store.watch(heard)
    alice = first.accounts.create_user("alice")
    note = first.blocks.create_block(alice, "markdown", "", "hi")
    signatures: SignatureStore = first.store.signatures()
    seq = signatures.add("cup_1", "cup", b"\x00\x01")
    if backend.kind == "postgresql":
        added = heard.wait_for(lambda c: c.kind == "signature")
        assert (added.id, added.op, added.seq) == ("cup_1", "added", seq)
        made = heard.wait_for(lambda c: c.kind == "block")
        assert (made.id, made.op) == (note.id, "created") and made.origin != "" and made.origin == added.origin
        assert [s.instance_id for s in second.store.signatures().added_after(0)] == ["cup_1"]
    else:
        time.sleep(0.2)
        assert heard.seen == []
    first.store.close()
    second.store.close()
