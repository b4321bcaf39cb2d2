"""The session controller without a socket: hello, teach, place, page and a registration answer with the
protocol's messages, and a request it cannot act on with the protocol's error. The service's parts are
the real ones, on a SQLite store of the test's own."""

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from anchors import User
from harness.poses import row_major
from harness.samples import jpeg, sample_camera, sample_jpegs
from harness.stores import StoreBackend
from spatial.config import Settings
from spatial.controller import SessionController
from spatial.protocol import (
    Hello,
    Page,
    Place,
    PlacedMessage,
    ProtocolError,
    RelocalisedMessage,
    TaughtMessage,
    Teach,
    WelcomeMessage,
    error_message,
    pack_frame,
    parse_frame,
)
from spatial.services import Services
from spatial.spaces import Registration
from tests.unit_vision.test_tracking import poster_frame
from vision.poses import make_pose
from vision.relocalise import Relocalisation

MARKER = "marker:aruco/7"
POSTER = [100.0, 100.0, 300.0, 300.0]


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    backend = StoreBackend.sqlite(tmp_path)
    built = Services.build(Settings(store=backend.location, service_key_file=backend.key_file, detector="markers",
                                    demo=False, max_sessions_per_user=1))
    yield built
    built.close()


def signed_in(user: User) -> None:
    """The connection's token check, for a token that stays good."""


class Revoked(Exception):
    pass


def revoked(user: User) -> None:
    raise Revoked(user.name)


def run(call: Awaitable[Any]) -> Any:
    return asyncio.run(call)


def refused(call: Callable[[], Any], code: str) -> dict[str, Any]:
    """The error message a refused request is answered with (the stream sends it as is)."""
    with pytest.raises(ProtocolError) as info:
        answer = call()
        if inspect.isawaitable(answer):
            run(answer)
    error = error_message(info.value.code, info.value.message, info.value.ref).to_json()
    assert error["code"] == code, error
    return error


def hello(space: str | None = None, **fields: Any) -> Hello:
    return Hello(type="hello", id="h1", protocol=1, camera=sample_camera(), space=space, **fields)


def frame(controller: SessionController, frame_id: int, image: bytes) -> Any:
    header, image_bytes = parse_frame(pack_frame(frame_id, 0.0, image))
    return controller.step(header, image_bytes)


def test_hello_starts_the_session_and_says_who_it_is(services: Services) -> None:
    alice = services.accounts.create_user("alice")
    controller = SessionController(services)
    assert not controller.ready
    welcome = run(controller.hello(hello(capabilities=["vector", "raster"]), alice))
    assert isinstance(welcome, WelcomeMessage) and controller.ready
    assert welcome.session == controller.session.id and welcome.user == "alice" and welcome.ref == "h1"
    assert welcome.detector == "markers" and welcome.limits.max_frame_bytes == services.settings.max_frame_bytes
    assert controller.session.camera is not None and controller.session.space is None
    tracker = controller.session.tracker
    run(controller.hello(hello(), alice))
    assert controller.session.tracker is tracker, "a new hello keeps the tracker"


def test_a_bad_hello_is_refused_and_changes_nothing(services: Services) -> None:
    alice = services.accounts.create_user("alice")
    controller = SessionController(services)
    error = refused(lambda: controller.hello(hello(space="spc_nowhere"), alice), "unknown_space")
    assert error == {"type": "error", "code": "unknown_space", "message": "no space spc_nowhere", "ref": "h1"}
    assert not controller.ready
    run(controller.hello(hello(), alice))
    other = SessionController(services)
    error = refused(lambda: other.hello(hello(), alice), "too_many_sessions")
    assert error["message"] == "alice already has 1 open sessions, the limit"
    controller.leave()
    assert isinstance(run(other.hello(hello(), alice)), WelcomeMessage), "the first left: room for another"


def test_before_hello_teach_place_and_page_are_not_ready(services: Services) -> None:
    controller = SessionController(services)
    teach = Teach(type="teach", id="t1", frame_id=0, box=POSTER)
    place = Place(type="place", id="p1", block="blk_1", pose=row_major(np.eye(4)))
    assert refused(lambda: controller.teach(teach, signed_in), "not_ready")["ref"] == "t1"
    assert refused(lambda: controller.place(place, signed_in), "not_ready")["message"] == \
        "send hello (with a valid token) before place"
    page = Page(type="page", id="g1", overlay="ovl_1", first=20)
    assert refused(lambda: controller.page(page), "not_ready")["ref"] == "g1"


def test_teach_remembers_the_object_in_a_recent_frame(services: Services) -> None:
    alice = services.accounts.create_user("alice")
    controller = SessionController(services)
    run(controller.hello(hello(), alice))
    assert frame(controller, 5, jpeg(poster_frame(100, 100))).objects.frame_id == 5
    teach = Teach(type="teach", id="t1", frame_id=5, box=POSTER, label="poster", size_m=0.3)
    taught = run(controller.teach(teach, signed_in))
    assert isinstance(taught, TaughtMessage) and taught.label == "poster" and taught.ref == "t1"
    assert [s["instance_id"] for s in services.objects.taught(alice)] == [taught.instance_id]

    error = refused(lambda: controller.teach(teach.model_copy(update={"frame_id": 4}), signed_in), "unknown_frame")
    assert error["message"] == "frame 4 is not among the recent frames (5)"
    grey = teach.model_copy(update={"box": [400.0, 300.0, 600.0, 460.0]})
    assert refused(lambda: controller.teach(grey, signed_in), "bad_teach")["ref"] == "t1", "a plain wall is no object"
    with pytest.raises(Revoked):
        run(controller.teach(teach, revoked))
    assert len(services.objects.taught(alice)) == 1, "a revoked token teaches nothing"


def test_place_puts_a_block_in_the_space_once_relocalised(services: Services) -> None:
    alice, bob = services.accounts.create_user("alice"), services.accounts.create_user("bob")
    space = services.spaces.create_space(alice, "room")
    note = services.blocks.create_block(alice, "markdown", "", "note")
    pose = row_major(make_pose(None, (0.0, 1.0, 0.0)))
    place = Place(type="place", id="p1", block=note.id, pose=pose)

    outside = SessionController(services)
    run(outside.hello(hello(), bob))
    assert "in no space" in refused(lambda: outside.place(place, signed_in), "not_relocalised")["message"]

    controller = SessionController(services)
    run(controller.hello(hello(space=space.id), alice))
    assert "not relocalised in space" in refused(lambda: controller.place(place, signed_in), "not_relocalised")["message"]
    assert controller.session.space is not None
    controller.session.space.accept(Relocalisation(np.eye(4), 1.0, 0.0, True, "markers"))
    with pytest.raises(Revoked):
        run(controller.place(place, revoked))
    placed = run(controller.place(place, signed_in))
    assert isinstance(placed, PlacedMessage) and placed.ref == "p1"
    assert placed.block == note.id and placed.space == space.id and placed.space_pose == pytest.approx(pose)
    move = Place(type="place", id="p2", anchor=placed.anchor, pose=row_major(np.eye(4)))
    moved = run(controller.place(move, signed_in))
    assert moved.anchor == placed.anchor and moved.space_pose == pytest.approx(row_major(np.eye(4)))
    stranger = place.model_copy(update={"block": "blk_unknown"})
    assert refused(lambda: controller.place(stranger, signed_in), "not_found")["ref"] == "p1"


def test_page_shows_another_window_of_a_table_from_the_next_frame(services: Services) -> None:
    alice = services.accounts.create_user("alice")
    table = services.blocks.create_block(alice, "table", "Parts", {
        "fields": [{"name": "part", "type": "text"}], "rows": [{"part": f"part {r}"} for r in range(100)],
    })
    services.blocks.attach(alice, table.id, MARKER)
    controller = SessionController(services)
    run(controller.hello(hello(), alice))
    unknown = Page(type="page", id="g1", overlay="ovl_none", first=20)
    error = refused(lambda: controller.page(unknown), "unknown_overlay")
    assert error["message"] == "this session shows no overlay ovl_none" and error["ref"] == "g1"

    jpegs = list(sample_jpegs())[:10]
    first = next(o.overlays for i, image in enumerate(jpegs) if (o := frame(controller, i, image)).overlays)
    (panel,) = [p for p in first.added if p.block_id == table.id]
    assert controller.page(Page(type="page", id="g2", overlay=panel.id, first=20)) is None, "nothing to send now"
    paged = frame(controller, 20, jpegs[-1]).overlays
    assert paged is not None and [p.id for p in paged.updated] == [panel.id]


def test_a_registration_without_a_map_is_reported_as_failed(services: Services) -> None:
    alice = services.accounts.create_user("alice")
    space = services.spaces.create_space(alice, "room")
    controller = SessionController(services)
    run(controller.hello(hello(space=space.id), alice))
    space_session = controller.session.space
    assert space_session is not None
    space_session.registering = True
    report = run(controller.register(Registration(space_session, alice, [], 7)))
    assert isinstance(report, RelocalisedMessage) and report.space == space.id and not report.success
    assert "has no map yet" in report.detail and not space_session.registering

    run(controller.hello(hello(), alice))
    assert run(controller.register(Registration(space_session, alice, [], 8))) is None, \
        "a session that left the space hears nothing"
