from pathlib import Path

import pytest

from anchors import (
    BlockService,
    BlockShapeError,
    NotFound,
    PermissionDenied,
    SQLiteStore,
    VersionConflict,
)
from anchors.model import IDENTITY_POSE

TABLE = {"columns": ["item", "qty"], "rows": [["beans", 2], ["milk", 1.5]]}


@pytest.fixture
def service(tmp_path: Path) -> BlockService:
    return BlockService(SQLiteStore(tmp_path / "store.db"))


def test_store_uses_wal_and_survives_reopen(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.db")
    assert store.journal_mode() == "wal"
    service = BlockService(store)
    alice = service.create_user("alice")
    block = service.create_block(alice, "table", "Stock", TABLE)
    service.attach(alice, block.id, "marker:aruco/7")
    store.close()

    again = BlockService(SQLiteStore(tmp_path / "store.db"))
    alice = again.ensure_user("alice")
    [(anchor, stored)] = again.attached(alice, ["marker:aruco/7"])
    assert stored.content == {"fields": [{"name": "item", "type": "text"}, {"name": "qty", "type": "number"}]}
    rows = again.children(alice, stored.id)
    assert [r.content["cells"] for r in rows] == [{"item": "beans", "qty": 2}, {"item": "milk", "qty": 1.5}]
    assert list(stored.children) == [r.id for r in rows] and anchor.pose == IDENTITY_POSE


def test_tokens_authenticate_and_can_be_replaced(service: BlockService) -> None:
    alice = service.create_user("alice")
    first = service.issue_token(alice, label="serve")
    assert service.authenticate(first) == alice
    second = service.issue_token(alice, label="serve", replace=True)
    assert service.authenticate(first) is None
    assert service.authenticate(second) == alice
    assert service.authenticate("nonsense") is None and service.authenticate(None) is None


def test_owner_sharing_and_strangers(service: BlockService) -> None:
    alice, bob, carol = (service.create_user(n) for n in ("alice", "bob", "carol"))
    note = service.create_block(alice, "markdown", "Note", "hello")
    with pytest.raises(NotFound):
        service.read_block(bob, note.id)
    assert service.list_blocks(bob) == []

    service.share_block(alice, note.id, "bob", "read")
    assert service.read_block(bob, note.id).content == "hello"
    with pytest.raises(PermissionDenied):
        service.update_block(bob, note.id, title=None, content="changed", version=None)
    with pytest.raises(PermissionDenied):
        service.share_block(bob, note.id, "carol", "read")

    service.share_block(alice, note.id, "bob", "write")
    assert service.update_block(bob, note.id, title=None, content="by bob", version=1).version == 2
    with pytest.raises(PermissionDenied):
        service.delete_block(bob, note.id)
    with pytest.raises(NotFound):
        service.read_block(carol, note.id)
    service.delete_block(alice, note.id)
    with pytest.raises(NotFound):
        service.read_block(alice, note.id)


def test_stale_version_is_refused(service: BlockService) -> None:
    alice = service.create_user("alice")
    note = service.create_block(alice, "markdown", "Note", "v1")
    service.update_block(alice, note.id, title=None, content="v2", version=1)
    with pytest.raises(VersionConflict, match="version 2"):
        service.update_block(alice, note.id, title=None, content="lost update", version=1)
    assert service.read_block(alice, note.id).content == "v2"


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
def test_wrong_shapes_are_refused_with_a_reason(service: BlockService, kind: str, content: object, message: str) -> None:
    alice = service.create_user("alice")
    with pytest.raises(BlockShapeError, match=message):
        service.create_block(alice, kind, "x", content)
    assert service.list_blocks(alice) == []


def test_attach_visibility_follows_block_access(service: BlockService) -> None:
    alice, bob = service.create_user("alice"), service.create_user("bob")
    note = service.create_block(alice, "markdown", "Note", "hi")
    anchor = service.attach(alice, note.id, "marker:aruco/7")
    assert service.attached(bob, ["marker:aruco/7"]) == []
    with pytest.raises(NotFound):
        service.attach(bob, note.id, "marker:aruco/8")
    with pytest.raises(NotFound):
        service.detach(bob, anchor.id)
    service.share_block(alice, note.id, "bob", "read")
    assert [a.id for a, _ in service.attached(bob, ["marker:aruco/7", "marker:aruco/9"])] == [anchor.id]
    service.detach(alice, anchor.id)
    assert service.attached(alice, ["marker:aruco/7"]) == []


def test_bad_pose_is_refused(service: BlockService) -> None:
    alice = service.create_user("alice")
    note = service.create_block(alice, "markdown", "Note", "hi")
    with pytest.raises(BlockShapeError, match="16"):
        service.attach(alice, note.id, "marker:aruco/7", [1, 2, 3])
    with pytest.raises(BlockShapeError, match="last row"):
        service.attach(alice, note.id, "marker:aruco/7", [1] * 16)
