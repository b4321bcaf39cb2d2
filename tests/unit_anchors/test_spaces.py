"""Spaces in the store and the space service: maps, landmarks, access, anchors at space poses, migration."""

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from anchors import (
    AccountService,
    BlockService,
    BlockShapeError,
    Limits,
    NotFound,
    PermissionDenied,
    ServiceKey,
    SpaceService,
    SQLiteStore,
    TooLarge,
)
from anchors.crypto import block_aad, new_data_key, seal
from anchors.model import IDENTITY_POSE
from anchors.storage.sqlite_schema import SCHEMA_VERSION, TABLES
from harness.stores import AnchorServices, StoreBackend

POSE = tuple(float(v) for v in IDENTITY_POSE)


def shifted(x: float, y: float = 0.0, z: float = 0.0) -> list[float]:
    return [1, 0, 0, x, 0, 1, 0, y, 0, 0, 1, z, 0, 0, 0, 1]


@pytest.fixture
def limits() -> Limits:
    return Limits(max_map_points=1000)


def test_a_map_round_trips_sealed_with_its_landmarks(backend: StoreBackend) -> None:
    service = AnchorServices.on(backend.open())
    alice = service.accounts.create_user("alice")
    space = service.spaces.create_space(alice, "kitchen")
    points = np.random.default_rng(0).uniform(-3, 3, (500, 3)).astype(np.float32)
    updated = service.spaces.set_space_map(alice, space.id, points, 0.04, {"marker:aruco/3": shifted(1.0, 1.5)})
    assert (updated.point_count, updated.voxel_size, updated.map_version) == (500, 0.04, 1)
    assert updated.landmarks == {"marker:aruco/3": tuple(float(v) for v in shifted(1.0, 1.5))}
    service.store.close()

    raw = backend.disk_bytes()
    assert space.id.encode() in raw
    assert points.tobytes()[:48] not in raw, "map points are sealed under the owner's key"
    again = AnchorServices.on(backend.open())
    assert np.array_equal(again.spaces.space_points(alice, space.id), points)
    kept = again.spaces.set_space_map(alice, space.id, points[:10], 0.05, None)
    assert kept.map_version == 2 and kept.point_count == 10 and "marker:aruco/3" in kept.landmarks
    again.store.close()


def test_bad_maps_are_refused_with_what_was_wrong(accounts: AccountService, spaces: SpaceService) -> None:
    alice = accounts.create_user("alice")
    space = spaces.create_space(alice, "hall")
    with pytest.raises(TooLarge, match="1,001 points, over the limit of 1,000") as too_many:
        spaces.set_space_map(alice, space.id, np.zeros((1001, 3)))
    assert too_many.value.limit == "max_map_points"
    with pytest.raises(BlockShapeError, match=r"shape \(10, 2\)"):
        spaces.set_space_map(alice, space.id, np.zeros((10, 2)))
    with pytest.raises(BlockShapeError, match="finite"):
        spaces.set_space_map(alice, space.id, np.full((10, 3), np.inf))
    with pytest.raises(BlockShapeError, match="voxel_size"):
        spaces.set_space_map(alice, space.id, np.zeros((10, 3)), voxel_size=0)
    with pytest.raises(BlockShapeError, match="the pose of landmark 'm' must have a rotation"):
        spaces.set_space_map(alice, space.id, np.zeros((10, 3)), landmarks={"m": [2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]})
    with pytest.raises(BlockShapeError, match="16"):
        spaces.set_space_map(alice, space.id, np.zeros((10, 3)), landmarks={"m": [1, 2, 3]})
    assert spaces.get_space(alice, space.id).map_version == 0, "nothing was written"


def test_access_follows_owner_and_shares_and_hides_others_spaces(
    accounts: AccountService, blocks: BlockService, spaces: SpaceService,
) -> None:
    alice, bob, carol = (accounts.create_user(n) for n in ("alice", "bob", "carol"))
    space = spaces.create_space(alice, "flat")
    for who in (bob, carol):
        for call in (lambda u: spaces.get_space(u, space.id), lambda u: spaces.space_points(u, space.id)):
            with pytest.raises(NotFound, match=f"^no space {space.id}$"):
                call(who)
    with pytest.raises(NotFound, match="^no space spc_unknown$"):
        spaces.get_space(alice, "spc_unknown")
    assert spaces.list_spaces(bob) == []

    spaces.share_space(alice, space.id, "bob", "read")
    assert spaces.get_space(bob, space.id).name == "flat"
    assert [s.id for s in spaces.list_spaces(bob)] == [space.id]
    note = blocks.create_block(bob, "markdown", "", "bob's note")
    with pytest.raises(PermissionDenied):
        spaces.attach_in_space(bob, note.id, space.id, POSE)
    with pytest.raises(PermissionDenied):
        spaces.set_space_map(bob, space.id, np.zeros((3, 3)))
    spaces.share_space(alice, space.id, "bob", "write")
    anchor, _ = spaces.attach_in_space(bob, note.id, space.id, shifted(0.5))
    with pytest.raises(PermissionDenied):
        spaces.delete_space(bob, space.id)
    assert [a.id for a, _ in spaces.space_anchors(alice, space.id)] == [], "alice may not read bob's note"
    assert [a.id for a, _ in spaces.space_anchors(bob, space.id)] == [anchor.id]

    spaces.unshare_space(alice, space.id, "bob")
    with pytest.raises(NotFound):
        spaces.get_space(bob, space.id)
    spaces.delete_space(alice, space.id)
    assert blocks.store.get_anchor(anchor.id) is None, "anchors go with their space; blocks stay"
    assert blocks.read_block(bob, note.id).content == "bob's note"


def test_space_anchors_move_and_every_change_bumps_the_revision(
    accounts: AccountService, blocks: BlockService, spaces: SpaceService,
) -> None:
    alice = accounts.create_user("alice")
    space = spaces.create_space(alice, "lab")
    note = blocks.create_block(alice, "markdown", "", "here")
    other = blocks.create_block(alice, "markdown", "", "there")
    anchor, revision = spaces.attach_in_space(alice, note.id, space.id, shifted(1.0))
    assert revision == 1 and anchor.space_pose == tuple(float(v) for v in shifted(1.0))
    assert anchor.object_id == f"space:{space.id}/{anchor.id}"
    moved, revision = spaces.move_anchor(alice, anchor.id, shifted(2.0, 0.5))
    assert revision == 2 and moved.space_pose[3] == 2.0
    [(found, block)] = blocks.attached(alice, [anchor.object_id])
    assert found == moved and block.id == note.id
    second, revision = spaces.attach_in_space(alice, other.id, space.id, POSE)
    assert revision == 3
    assert blocks.detach(alice, second.id) == 4
    blocks.delete_block(alice, note.id)
    assert blocks.store.space_revision(space.id) == 5, "an anchor deleted with its block counts too"
    assert blocks.store.space_anchors(space.id) == (5, [])

    pinned = blocks.attach(alice, other.id, "marker:aruco/1")
    assert blocks.detach(alice, pinned.id) is None
    with pytest.raises(BlockShapeError, match="pinned to an object"):
        spaces.move_anchor(alice, blocks.attach(alice, other.id, "marker:aruco/1").id, POSE)
    with pytest.raises(BlockShapeError, match="rotation"):
        spaces.attach_in_space(alice, other.id, space.id, [0, 0, 0, 0] * 3 + [0, 0, 0, 1])


def test_a_format_3_store_gains_spaces_and_keeps_its_anchors(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    key = ServiceKey.generate()
    data_key = new_data_key()
    db = sqlite3.connect(path)
    for statement in TABLES:
        db.execute(statement)
    body = seal(AESGCM(data_key), json.dumps(["Mug", "descale"]).encode(), block_aad("blk_1"))
    db.execute("INSERT INTO users VALUES ('usr_1', 'alice')")
    db.execute("INSERT INTO owner_keys VALUES ('usr_1', ?, 0)", (key.wrap(data_key, "usr_1"),))
    db.execute("INSERT INTO key_check VALUES (1, ?)", (key.key_check(),))
    db.execute("INSERT INTO blocks VALUES ('blk_1', 'markdown', 'usr_1', NULL, 1, 1, 1, 0, 0, 0, ?)", (body,))
    db.execute("INSERT INTO anchors VALUES ('anc_1', 'blk_1', 'marker:aruco/3', ?, 'usr_1', 0)", (json.dumps(POSE),))
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()

    service = AnchorServices.on(SQLiteStore(path, key))
    alice = service.accounts.ensure_user("alice")
    [(anchor, block)] = service.blocks.attached(alice, ["marker:aruco/3"])
    assert (anchor.id, anchor.space_id, anchor.space_pose, block.content) == ("anc_1", None, None, "descale")
    space = service.spaces.create_space(alice, "after the upgrade")
    placed, revision = service.spaces.attach_in_space(alice, "blk_1", space.id, shifted(1.0))
    assert revision == 1
    service.store.close()
    reopened = SQLiteStore(path, key)
    assert reopened.get_anchor(placed.id).space_id == space.id
    assert reopened.format_version() == SCHEMA_VERSION == 4
