"""Tokens and devices, public blocks, taking shares back, and the limits the service enforces."""

from pathlib import Path

import pytest

from anchors import (
    BlockService,
    Limits,
    NotFound,
    PermissionDenied,
    SQLiteStore,
    TooLarge,
    TooManyBlocks,
)

LIMITS = Limits(max_title_chars=20, max_block_content_bytes=100, max_blocks_per_object=3)


@pytest.fixture
def service(tmp_path: Path) -> BlockService:
    return BlockService(SQLiteStore(tmp_path / "store.db"), limits=LIMITS)


def test_device_tokens_are_listed_without_secrets_and_revoked_one_by_one(service: BlockService) -> None:
    alice, bob = service.create_user("alice"), service.create_user("bob")
    phone = service.issue_token(alice, label="phone")
    laptop = service.issue_token(alice, label="laptop")
    bobs = service.issue_token(bob, label="phone")
    listed = service.tokens(alice)
    assert [t.device for t in listed] == ["phone", "laptop"]
    assert all(t.id.startswith("tok_") and phone not in t.id for t in listed)
    assert service.token_id(phone) == listed[0].id

    with pytest.raises(NotFound):
        service.revoke_token(bob, listed[1].id)
    assert service.authenticate(laptop) == alice, "another user cannot revoke alice's token"
    service.revoke_token(alice, listed[1].id)
    assert service.authenticate(laptop) is None and service.authenticate(phone) == alice

    assert service.revoke_device(alice, "phone") == 1
    assert service.authenticate(phone) is None and service.authenticate(bobs) == bob, "only alice's phone"
    assert service.revoke_presented(bobs) and service.authenticate(bobs) is None
    assert not service.revoke_presented(bobs)


def test_public_blocks_are_readable_by_everyone_signed_in_and_writable_by_no_more(service: BlockService) -> None:
    alice, bob = service.create_user("alice"), service.create_user("bob")
    page = service.create_block(alice, "page", "Lobby", None)
    note = service.create_block(alice, "markdown", "Wifi", "guest / hunter2", parent=page.id)
    service.attach(alice, note.id, "marker:aruco/3")
    assert service.attached(bob, ["marker:aruco/3"]) == []
    with pytest.raises(NotFound):
        service.set_public(bob, page.id, True)
    service.set_public(alice, page.id, True)
    assert service.read_block(bob, note.id).content == "guest / hunter2", "public reaches what is under it"
    assert service.role(bob, note.id) == "read"
    assert [b.id for _, b in service.attached(bob, ["marker:aruco/3"])] == [note.id]
    assert service.list_blocks(bob) == [], "public blocks are found through their objects, not listed"
    for attempt in (
        lambda: service.update_block(bob, note.id, title=None, content="x", version=None),
        lambda: service.delete_block(bob, note.id),
        lambda: service.attach(bob, note.id, "marker:aruco/4"),
        lambda: service.set_public(bob, page.id, False),
        lambda: service.share_block(bob, page.id, "bob", "write"),
    ):
        with pytest.raises(PermissionDenied):
            attempt()
    assert service.access(alice, page.id).public
    service.set_public(alice, page.id, False)
    with pytest.raises(NotFound):
        service.read_block(bob, note.id)


def test_a_share_taken_back_stops_access(service: BlockService) -> None:
    alice, bob = service.create_user("alice"), service.create_user("bob")
    note = service.create_block(alice, "markdown", "n", "hello")
    service.share_block(alice, note.id, "bob", "write")
    access = service.access(alice, note.id)
    assert [(u.name, role) for u, role in access.shares] == [("bob", "write")] and not access.public
    with pytest.raises(PermissionDenied):
        service.access(bob, note.id)
    service.unshare_block(alice, note.id, "bob")
    with pytest.raises(NotFound):
        service.read_block(bob, note.id)
    with pytest.raises(NotFound, match="not shared with a user named 'bob'"):
        service.unshare_block(alice, note.id, "bob")


def test_text_sizes_are_limited_before_anything_is_written(service: BlockService) -> None:
    alice = service.create_user("alice")
    with pytest.raises(TooLarge, match=r"title is 21 characters, over the limit of 20 \(max_title_chars\)") as caught:
        service.create_block(alice, "markdown", "t" * 21, "")
    assert caught.value.limit == "max_title_chars"
    with pytest.raises(TooLarge, match=r"over the limit of 100 \(max_block_content_bytes\)"):
        service.create_block(alice, "json", "", {"text": "é" * 60})
    with pytest.raises(TooLarge, match="max_block_content_bytes"):
        service.create_block(alice, "table", "t", {"columns": ["a"], "rows": [["x" * 120]]})
    note = service.create_block(alice, "markdown", "ok", "short")
    with pytest.raises(TooLarge, match="max_block_content_bytes"):
        service.update_block(alice, note.id, title=None, content="y" * 200, version=None)
    table = service.create_block(alice, "table", "t", {"columns": ["a"], "rows": [["x"]]})
    with pytest.raises(TooLarge):
        service.add_rows(alice, table.id, [{"a": "z" * 200}])
    assert service.store.block_count() == 3 and service.read_block(alice, note.id).content == "short"


def test_blocks_per_object_are_limited_per_user(service: BlockService) -> None:
    alice, bob = service.create_user("alice"), service.create_user("bob")
    notes = [service.create_block(alice, "markdown", "", str(i)) for i in range(4)]
    for note in notes[:3]:
        service.attach(alice, note.id, "marker:aruco/7")
    with pytest.raises(TooManyBlocks, match=r"alice already has 3 blocks pinned to marker:aruco/7.*max_blocks_per_object"):
        service.attach(alice, notes[3].id, "marker:aruco/7")
    service.attach(alice, notes[3].id, "marker:aruco/8")
    bobs = service.create_block(bob, "markdown", "", "bob's")
    service.attach(bob, bobs.id, "marker:aruco/7")
    assert len(service.attached(alice, ["marker:aruco/7"])) == 3, "bob's pin does not count against alice"
