import pytest

from anchors import (
    AccountService,
    BlockService,
    BlockShapeError,
    NotFound,
    PermissionDenied,
    VersionConflict,
)
from anchors.model import IDENTITY_POSE
from harness.stores import AnchorServices, StoreBackend

TABLE = {"columns": ["item", "qty"], "rows": [["beans", 2], ["milk", 1.5]]}


def test_store_uses_wal_and_survives_reopen(backend: StoreBackend) -> None:
    store = backend.open()
    if backend.kind == "sqlite":
        assert store.journal_mode() == "wal"
    service = AnchorServices.on(store)
    alice = service.accounts.create_user("alice")
    block = service.blocks.create_block(alice, "table", "Stock", TABLE)
    service.blocks.attach(alice, block.id, "marker:aruco/7")
    store.close()

    again = AnchorServices.on(backend.open())
    alice = again.accounts.ensure_user("alice")
    [(anchor, stored)] = again.blocks.attached(alice, ["marker:aruco/7"])
    assert stored.content == {"fields": [{"name": "item", "type": "text"}, {"name": "qty", "type": "number"}]}
    rows = again.blocks.children(alice, stored.id)
    assert [r.content["cells"] for r in rows] == [{"item": "beans", "qty": 2}, {"item": "milk", "qty": 1.5}]
    assert list(stored.children) == [r.id for r in rows] and anchor.pose == IDENTITY_POSE
    again.store.close()


def test_tokens_authenticate_and_can_be_replaced(accounts: AccountService) -> None:
    alice = accounts.create_user("alice")
    first = accounts.issue_token(alice, label="serve")
    assert accounts.authenticate(first) == alice
    second = accounts.issue_token(alice, label="serve", replace=True)
    assert accounts.authenticate(first) is None
    assert accounts.authenticate(second) == alice
    assert accounts.authenticate("nonsense") is None and accounts.authenticate(None) is None


def test_owner_sharing_and_strangers(accounts: AccountService, blocks: BlockService) -> None:
    alice, bob, carol = (accounts.create_user(n) for n in ("alice", "bob", "carol"))
    note = blocks.create_block(alice, "markdown", "Note", "hello")
    with pytest.raises(NotFound):
        blocks.read_block(bob, note.id)
    assert blocks.list_blocks(bob) == []

    blocks.share_block(alice, note.id, "bob", "read")
    assert blocks.read_block(bob, note.id).content == "hello"
    with pytest.raises(PermissionDenied):
        blocks.update_block(bob, note.id, title=None, content="changed", version=None)
    with pytest.raises(PermissionDenied):
        blocks.share_block(bob, note.id, "carol", "read")

    blocks.share_block(alice, note.id, "bob", "write")
    assert blocks.update_block(bob, note.id, title=None, content="by bob", version=1).version == 2
    with pytest.raises(PermissionDenied):
        blocks.delete_block(bob, note.id)
    with pytest.raises(NotFound):
        blocks.read_block(carol, note.id)
    blocks.delete_block(alice, note.id)
    with pytest.raises(NotFound):
        blocks.read_block(alice, note.id)


def test_stale_version_is_refused(accounts: AccountService, blocks: BlockService) -> None:
    alice = accounts.create_user("alice")
    note = blocks.create_block(alice, "markdown", "Note", "v1")
    blocks.update_block(alice, note.id, title=None, content="v2", version=1)
    with pytest.raises(VersionConflict, match="version 2"):
        blocks.update_block(alice, note.id, title=None, content="lost update", version=1)
    assert blocks.read_block(alice, note.id).content == "v2"


@pytest.mark.parametrize(
    "kind, content, message",
    [
        ("markdown", {"not": "text"}, "must be a string"),
        ("table", ["a", "b"], "columns"),
        ("table", {"columns": ["a", "b"], "rows": [[1]]}, "row 0"),
        ("table", {"columns": ["a"], "rows": [[{"nested": 1}]]}, r"cell \(0, 0\)"),
        ("spreadsheet", "x", "unknown block kind"),
    ],
)
def test_wrong_shapes_are_refused_with_a_reason(
    accounts: AccountService, blocks: BlockService, kind: str, content: object, message: str,
) -> None:
    alice = accounts.create_user("alice")
    with pytest.raises(BlockShapeError, match=message):
        blocks.create_block(alice, kind, "x", content)
    assert blocks.list_blocks(alice) == []


def test_attach_visibility_follows_block_access(accounts: AccountService, blocks: BlockService) -> None:
    alice, bob = accounts.create_user("alice"), accounts.create_user("bob")
    note = blocks.create_block(alice, "markdown", "Note", "hi")
    anchor = blocks.attach(alice, note.id, "marker:aruco/7")
    assert blocks.attached(bob, ["marker:aruco/7"]) == []
    with pytest.raises(NotFound):
        blocks.attach(bob, note.id, "marker:aruco/8")
    with pytest.raises(NotFound):
        blocks.detach(bob, anchor.id)
    blocks.share_block(alice, note.id, "bob", "read")
    assert [a.id for a, _ in blocks.attached(bob, ["marker:aruco/7", "marker:aruco/9"])] == [anchor.id]
    blocks.detach(alice, anchor.id)
    assert blocks.attached(alice, ["marker:aruco/7"]) == []


def test_bad_pose_is_refused(accounts: AccountService, blocks: BlockService) -> None:
    alice = accounts.create_user("alice")
    note = blocks.create_block(alice, "markdown", "Note", "hi")
    with pytest.raises(BlockShapeError, match="16"):
        blocks.attach(alice, note.id, "marker:aruco/7", [1, 2, 3])
    with pytest.raises(BlockShapeError, match="last row"):
        blocks.attach(alice, note.id, "marker:aruco/7", [1] * 16)
