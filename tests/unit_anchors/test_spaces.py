"""Spaces in the store and the block service: maps, landmarks, access, anchors at space poses, migration."""

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from anchors import BlockService, BlockShapeError, Limits, NotFound, PermissionDenied, ServiceKey, SQLiteStore, TooLarge
from anchors.crypto import block_aad, new_data_key, seal
from anchors.model import IDENTITY_POSE
from anchors.sqlite import SCHEMA, SCHEMA_VERSION

POSE = tuple(float(v) for v in IDENTITY_POSE)


def shifted(x: float, y: float = 0.0, z: float = 0.0) -> list[float]:
    return [1, 0, 0, x, 0, 1, 0, y, 0, 0, 1, z, 0, 0, 0, 1]


@pytest.fixture
def service() -> BlockService:
    return BlockService(SQLiteStore(":memory:"), limits=Limits(max_map_points=1000))


def test_a_map_round_trips_sealed_with_its_landmarks(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    service = BlockService(SQLiteStore(path))
    alice = service.create_user("alice")
    space = service.create_space(alice, "kitchen")
    points = np.random.default_rng(0).uniform(-3, 3, (500, 3)).astype(np.float32)
    updated = service.set_space_map(alice, space.id, points, 0.04, {"marker:aruco/3": shifted(1.0, 1.5)})
    assert (updated.point_count, updated.voxel_size, updated.map_version) == (500, 0.04, 1)
    assert updated.landmarks == {"marker:aruco/3": tuple(float(v) for v in shifted(1.0, 1.5))}
    service.store.close()

    raw = path.read_bytes()
    assert points.tobytes()[:48] not in raw, "map points are sealed under the owner's key"
    again = BlockService(SQLiteStore(path))
    assert np.array_equal(again.space_points(alice, space.id), points)
    kept = again.set_space_map(alice, space.id, points[:10], 0.05, None)
    assert kept.map_version == 2 and kept.point_count == 10 and "marker:aruco/3" in kept.landmarks


def test_bad_maps_are_refused_with_what_was_wrong(service: BlockService) -> None:
    alice = service.create_user("alice")
    space = service.create_space(alice, "hall")
    with pytest.raises(TooLarge, match="1,001 points, over the limit of 1,000") as too_many:
        service.set_space_map(alice, space.id, np.zeros((1001, 3)))
    assert too_many.value.limit == "max_map_points"
    with pytest.raises(BlockShapeError, match=r"shape \(10, 2\)"):
        service.set_space_map(alice, space.id, np.zeros((10, 2)))
    with pytest.raises(BlockShapeError, match="finite"):
        service.set_space_map(alice, space.id, np.full((10, 3), np.inf))
    with pytest.raises(BlockShapeError, match="voxel_size"):
        service.set_space_map(alice, space.id, np.zeros((10, 3)), voxel_size=0)
    with pytest.raises(BlockShapeError, match="the pose of landmark 'm' must have a rotation"):
        service.set_space_map(alice, space.id, np.zeros((10, 3)), landmarks={"m": [2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]})
    with pytest.raises(BlockShapeError, match="16"):
        service.set_space_map(alice, space.id, np.zeros((10, 3)), landmarks={"m": [1, 2, 3]})
    assert service.get_space(alice, space.id).map_version == 0, "nothing was written"


def test_access_follows_owner_and_shares_and_hides_others_spaces(service: BlockService) -> None:
    alice, bob, carol = (service.create_user(n) for n in ("alice", "bob", "carol"))
    space = service.create_space(alice, "flat")
    for who in (bob, carol):
        for call in (lambda u: service.get_space(u, space.id), lambda u: service.space_points(u, space.id)):
            with pytest.raises(NotFound, match=f"^no space {space.id}$"):
                call(who)
    with pytest.raises(NotFound, match="^no space spc_unknown$"):
        service.get_space(alice, "spc_unknown")
    assert service.list_spaces(bob) == []

    service.share_space(alice, space.id, "bob", "read")
    assert service.get_space(bob, space.id).name == "flat"
    assert [s.id for s in service.list_spaces(bob)] == [space.id]
    note = service.create_block(bob, "markdown", "", "bob's note")
    with pytest.raises(PermissionDenied):
        service.attach_in_space(bob, note.id, space.id, POSE)
    with pytest.raises(PermissionDenied):
        service.set_space_map(bob, space.id, np.zeros((3, 3)))
    service.share_space(alice, space.id, "bob", "write")
    anchor, _ = service.attach_in_space(bob, note.id, space.id, shifted(0.5))
    with pytest.raises(PermissionDenied):
        service.delete_space(bob, space.id)
    assert [a.id for a, _ in service.space_anchors(alice, space.id)] == [], "alice may not read bob's note"
    assert [a.id for a, _ in service.space_anchors(bob, space.id)] == [anchor.id]

    service.unshare_space(alice, space.id, "bob")
    with pytest.raises(NotFound):
        service.get_space(bob, space.id)
    service.delete_space(alice, space.id)
    assert service.store.get_anchor(anchor.id) is None, "anchors go with their space; blocks stay"
    assert service.read_block(bob, note.id).content == "bob's note"


def test_space_anchors_move_and_every_change_bumps_the_revision(service: BlockService) -> None:
    alice = service.create_user("alice")
    space = service.create_space(alice, "lab")
    note = service.create_block(alice, "markdown", "", "here")
    other = service.create_block(alice, "markdown", "", "there")
    anchor, revision = service.attach_in_space(alice, note.id, space.id, shifted(1.0))
    assert revision == 1 and anchor.space_pose == tuple(float(v) for v in shifted(1.0))
    assert anchor.object_id == f"space:{space.id}/{anchor.id}"
    moved, revision = service.move_anchor(alice, anchor.id, shifted(2.0, 0.5))
    assert revision == 2 and moved.space_pose[3] == 2.0
    [(found, block)] = service.attached(alice, [anchor.object_id])
    assert found == moved and block.id == note.id
    second, revision = service.attach_in_space(alice, other.id, space.id, POSE)
    assert revision == 3
    assert service.detach(alice, second.id) == 4
    service.delete_block(alice, note.id)
    assert service.store.space_revision(space.id) == 5, "an anchor deleted with its block counts too"
    assert service.store.space_anchors(space.id) == (5, [])

    pinned = service.attach(alice, other.id, "marker:aruco/1")
    assert service.detach(alice, pinned.id) is None
    with pytest.raises(BlockShapeError, match="pinned to an object"):
        service.move_anchor(alice, service.attach(alice, other.id, "marker:aruco/1").id, POSE)
    with pytest.raises(BlockShapeError, match="rotation"):
        service.attach_in_space(alice, other.id, space.id, [0, 0, 0, 0] * 3 + [0, 0, 0, 1])


def test_a_format_3_store_gains_spaces_and_keeps_its_anchors(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    key = ServiceKey.generate()
    data_key = new_data_key()
    db = sqlite3.connect(path)
    for statement in SCHEMA.split(";"):
        if statement.strip():
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

    service = BlockService(SQLiteStore(path, key))
    alice = service.ensure_user("alice")
    [(anchor, block)] = service.attached(alice, ["marker:aruco/3"])
    assert (anchor.id, anchor.space_id, anchor.space_pose, block.content) == ("anc_1", None, None, "descale")
    space = service.create_space(alice, "after the upgrade")
    placed, revision = service.attach_in_space(alice, "blk_1", space.id, shifted(1.0))
    assert revision == 1
    service.store.close()
    reopened = SQLiteStore(path, key)
    assert reopened.get_anchor(placed.id).space_id == space.id
    assert reopened._query_one("PRAGMA user_version")[0] == SCHEMA_VERSION == 4
