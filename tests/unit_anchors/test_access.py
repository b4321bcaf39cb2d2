"""Tokens and devices, public blocks, taking shares back, and the limits the service enforces."""

import pytest

from anchors import (
    AccountService,
    BlockService,
    Limits,
    NotFound,
    PermissionDenied,
    TooLarge,
    TooManyBlocks,
)

LIMITS = Limits(max_title_chars=20, max_block_content_bytes=100, max_blocks_per_object=3)


@pytest.fixture
def limits() -> Limits:
    return LIMITS


def test_device_tokens_are_listed_without_secrets_and_revoked_one_by_one(accounts: AccountService) -> None:
    alice, bob = accounts.create_user("alice"), accounts.create_user("bob")
    phone = accounts.issue_token(alice, label="phone")
    laptop = accounts.issue_token(alice, label="laptop")
    bobs = accounts.issue_token(bob, label="phone")
    listed = accounts.tokens(alice)
    assert [t.device for t in listed] == ["phone", "laptop"]
    assert all(t.id.startswith("tok_") and phone not in t.id for t in listed)
    assert accounts.token_id(phone) == listed[0].id

    with pytest.raises(NotFound):
        accounts.revoke_token(bob, listed[1].id)
    assert accounts.authenticate(laptop) == alice, "another user cannot revoke alice's token"
    accounts.revoke_token(alice, listed[1].id)
    assert accounts.authenticate(laptop) is None and accounts.authenticate(phone) == alice

    assert accounts.revoke_device(alice, "phone") == 1
    assert accounts.authenticate(phone) is None and accounts.authenticate(bobs) == bob, "only alice's phone"
    assert accounts.revoke_presented(bobs) and accounts.authenticate(bobs) is None
    assert not accounts.revoke_presented(bobs)


def test_public_blocks_are_readable_by_everyone_signed_in_and_writable_by_no_more(
    accounts: AccountService, blocks: BlockService,
) -> None:
    alice, bob = accounts.create_user("alice"), accounts.create_user("bob")
    page = blocks.create_block(alice, "page", "Lobby", None)
    note = blocks.create_block(alice, "markdown", "Wifi", "guest / hunter2", parent=page.id)
    blocks.attach(alice, note.id, "marker:aruco/3")
    assert blocks.attached(bob, ["marker:aruco/3"]) == []
    with pytest.raises(NotFound):
        blocks.set_public(bob, page.id, True)
    blocks.set_public(alice, page.id, True)
    assert blocks.read_block(bob, note.id).content == "guest / hunter2", "public reaches what is under it"
    assert blocks.role(bob, note.id) == "read"
    assert [b.id for _, b in blocks.attached(bob, ["marker:aruco/3"])] == [note.id]
    assert blocks.list_blocks(bob) == [], "public blocks are found through their objects, not listed"
    for attempt in (
        lambda: blocks.update_block(bob, note.id, title=None, content="x", version=None),
        lambda: blocks.delete_block(bob, note.id),
        lambda: blocks.attach(bob, note.id, "marker:aruco/4"),
        lambda: blocks.set_public(bob, page.id, False),
        lambda: blocks.share_block(bob, page.id, "bob", "write"),
    ):
        with pytest.raises(PermissionDenied):
            attempt()
    assert blocks.access(alice, page.id).public
    blocks.set_public(alice, page.id, False)
    with pytest.raises(NotFound):
        blocks.read_block(bob, note.id)


def test_a_share_taken_back_stops_access(accounts: AccountService, blocks: BlockService) -> None:
    alice, bob = accounts.create_user("alice"), accounts.create_user("bob")
    note = blocks.create_block(alice, "markdown", "n", "hello")
    blocks.share_block(alice, note.id, "bob", "write")
    access = blocks.access(alice, note.id)
    assert [(u.name, role) for u, role in access.shares] == [("bob", "write")] and not access.public
    with pytest.raises(PermissionDenied):
        blocks.access(bob, note.id)
    blocks.unshare_block(alice, note.id, "bob")
    with pytest.raises(NotFound):
        blocks.read_block(bob, note.id)
    with pytest.raises(NotFound, match="not shared with a user named 'bob'"):
        blocks.unshare_block(alice, note.id, "bob")


def test_text_sizes_are_limited_before_anything_is_written(accounts: AccountService, blocks: BlockService) -> None:
    alice = accounts.create_user("alice")
    with pytest.raises(TooLarge, match=r"title is 21 characters, over the limit of 20 \(max_title_chars\)") as caught:
        blocks.create_block(alice, "markdown", "t" * 21, "")
    assert caught.value.limit == "max_title_chars"
    with pytest.raises(TooLarge, match=r"over the limit of 100 \(max_block_content_bytes\)"):
        blocks.create_block(alice, "json", "", {"text": "é" * 60})
    with pytest.raises(TooLarge, match="max_block_content_bytes"):
        blocks.create_block(alice, "table", "t", {"columns": ["a"], "rows": [["x" * 120]]})
    note = blocks.create_block(alice, "markdown", "ok", "short")
    with pytest.raises(TooLarge, match="max_block_content_bytes"):
        blocks.update_block(alice, note.id, title=None, content="y" * 200, version=None)
    table = blocks.create_block(alice, "table", "t", {"columns": ["a"], "rows": [["x"]]})
    with pytest.raises(TooLarge):
        blocks.add_rows(alice, table.id, [{"a": "z" * 200}])
    assert blocks.store.block_count() == 3 and blocks.read_block(alice, note.id).content == "short"


def test_blocks_per_object_are_limited_per_user(accounts: AccountService, blocks: BlockService) -> None:
    alice, bob = accounts.create_user("alice"), accounts.create_user("bob")
    notes = [blocks.create_block(alice, "markdown", "", str(i)) for i in range(4)]
    for note in notes[:3]:
        blocks.attach(alice, note.id, "marker:aruco/7")
    with pytest.raises(TooManyBlocks, match=r"alice already has 3 blocks pinned to marker:aruco/7.*max_blocks_per_object"):
        blocks.attach(alice, notes[3].id, "marker:aruco/7")
    blocks.attach(alice, notes[3].id, "marker:aruco/8")
    bobs = blocks.create_block(bob, "markdown", "", "bob's")
    blocks.attach(bob, bobs.id, "marker:aruco/7")
    assert len(blocks.attached(alice, ["marker:aruco/7"])) == 3, "bob's pin does not count against alice"
