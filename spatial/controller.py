"""The session controller: what a stream session's messages do, and the messages that answer them.

`SessionController` holds one session's domain state (`spatial.session.Session`)
and acts on its `hello`, `teach`, `place` and `page` messages, its frames
(`FramePipeline.step`) and the registration jobs they ask for. It returns the
protocol's messages to send and raises ProtocolError for a request it refuses;
the domain's refusals become ProtocolErrors in one place (`_refused`). It knows
no socket and no token: `spatial.api.stream` authenticates, sends and
supervises, and gives `teach` and `place` a check of the connection's token
(`Authorise`) to run before their work.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from anchors import Anchor, AnchorsError, NotFound, User
from spatial.lifting import Triangulator
from spatial.overlays import ContentFormat
from spatial.pipeline import FrameOutcome
from spatial.protocol import (
    FrameHeader,
    Hello,
    Limits,
    Page,
    Place,
    PlacedMessage,
    ProtocolError,
    RelocalisedMessage,
    TaughtMessage,
    Teach,
    WelcomeMessage,
    placed_message,
    relocalised_message,
    taught_message,
    welcome_message,
)
from spatial.services import Services
from spatial.session import Session, Viewer
from spatial.spaces import PlaceError, Registration, SpaceSession, place_from_device, register_views
from vision.depth import DepthMapError
from vision.identity import IdentityError
from vision.lazy import load_all
from vision.relocalise import Relocalisation, RelocalisationError

log = logging.getLogger("spatial.stream")
"""The stream sessions' log, which the stream endpoint writes too."""

Authorise = Callable[[User], None]
"""The connection's check that its token still names the user: raises when it was revoked. Blocking (one
indexed lookup), so it runs in a worker thread; `place` runs it in the same call as the store work it guards."""


@contextmanager
def _refused(ref: str | None) -> Iterator[None]:
    """Turn the domain's refusals of a request into the protocol's errors about the message `ref`."""
    try:
        yield
    except IdentityError as exc:
        raise ProtocolError("bad_teach", str(exc), ref) from None
    except (PlaceError, AnchorsError) as exc:
        raise ProtocolError(exc.code, str(exc), ref) from None


def _failed_registration(exc: Exception) -> Relocalisation:
    """A registration that could not be done (no map, bad depth, the space gone), reported as a failure."""
    return Relocalisation(np.eye(4), 0.0, float("inf"), False, "registration", str(exc))


class SessionController:
    """One stream session's work: its state, built by `hello`, and what its messages, frames and jobs do."""

    def __init__(self, services: Services, session: Session | None = None) -> None:
        self.services = services
        self.session = session if session is not None else Session()

    @property
    def ready(self) -> bool:
        """True once a `hello` was accepted (and the session was not signed out since)."""
        return self.session.ready

    async def hello(self, hello: Hello, user: User) -> WelcomeMessage:
        """Start the session for `user` (authenticated from the hello's token), in the space it names.

        A new hello may come from a new XR session, whose reference space is
        another: the triangulator and the space session start afresh (the
        tracker is kept). Raises ProtocolError (`unknown_space`, `too_many_sessions`).
        """
        services, settings, session = self.services, self.services.settings, self.session
        await asyncio.to_thread(load_all)  # the libraries some frames need, loading since the service started
        space = None
        if hello.space is not None:
            try:
                space = await asyncio.to_thread(services.spaces.get_space, user, hello.space)
            except NotFound:
                raise ProtocolError("unknown_space", f"no space {hello.space}", hello.id) from None
        previous = session.viewer
        if previous is None or previous.user.id != user.id:
            if not services.sessions.join(user.id):
                limit = settings.max_sessions_per_user
                raise ProtocolError("too_many_sessions", f"{user.name} already has {limit} open sessions, the limit",
                                    hello.id)
            if previous is not None:
                services.sessions.leave(previous.user.id)
        pipeline = services.pipeline
        if previous is None:
            session.tracker = pipeline.new_tracker()
        session.triangulator = Triangulator()
        session.space = SpaceSession(space) if space is not None else None
        session.viewer = Viewer(user, pipeline.compute, pipeline.layouts, settings.overlay_linger_s,
                                settings.panel_metres_per_pixel)
        session.camera = hello.camera.intrinsics() if hello.camera is not None else None
        session.capabilities = tuple(hello.capabilities)
        session.content_format = ContentFormat.from_capabilities(hello.capabilities)
        limits = Limits(max_frame_bytes=settings.max_frame_bytes, max_text_bytes=settings.max_text_bytes,
                        max_image_pixels=settings.max_image_pixels)
        return welcome_message(session.id, user.name, pipeline.detector.name, session.content_format.capabilities(),
                               limits, hello.id)

    async def teach(self, teach: Teach, authorise: Authorise) -> TaughtMessage:
        """Remember the object in a box of one of the recent frames; raises ProtocolError (`not_ready`,
        `unknown_frame`, `bad_teach`)."""
        viewer = self._viewer("teach", teach.id)
        await asyncio.to_thread(authorise, viewer.user)
        image = self.session.recent.get(teach.frame_id)
        if image is None:
            kept = ", ".join(map(str, self.session.recent)) or "none yet"
            raise ProtocolError("unknown_frame", f"frame {teach.frame_id} is not among the recent frames ({kept})",
                                teach.id)
        with _refused(teach.id):
            signature = await asyncio.get_running_loop().run_in_executor(
                self.services.executor, self.services.objects.teach, viewer.user, image, teach.box, teach.label,
                teach.size_m,
            )
        return taught_message(signature.instance_id, signature.label, teach.id)

    async def place(self, place: Place, authorise: Authorise) -> PlacedMessage:
        """Place a block, or move an anchor, in the session's space at a pose in the device's frame; raises
        ProtocolError (`not_ready`, `not_relocalised`, `bad_place`, and the store's codes)."""
        viewer, space_session = self._viewer("place", place.id), self.session.space
        if space_session is None:
            raise ProtocolError("not_relocalised", "this session is in no space; name one in hello ('space')"
                                " to place anchors", place.id)

        def store() -> Anchor:
            authorise(viewer.user)
            return place_from_device(self.services.space_registry, viewer.user, space_session, place.matrix,
                                     place.block, place.anchor)

        with _refused(place.id):
            anchor = await asyncio.to_thread(store)
        return placed_message(anchor, place.id)

    def page(self, page: Page) -> None:
        """Show another window of a table panel's rows, from the next frame on (nothing is sent now); raises
        ProtocolError (`not_ready`, `unknown_overlay`)."""
        viewer = self._viewer("page", page.id)
        if not viewer.show_rows(page.overlay, page.first):
            raise ProtocolError("unknown_overlay", f"this session shows no overlay {page.overlay}", page.id)

    def step(self, header: FrameHeader, image_bytes: bytes, outage_reported: int | None = None) -> FrameOutcome:
        """The whole work of one frame (worker-thread work; see `FramePipeline.step`)."""
        return self.services.pipeline.step(self.session, header, image_bytes, outage_reported)

    async def register(self, job: Registration) -> RelocalisedMessage | None:
        """Relocalise from a frame's depth views in the worker pool; the relocalisation to report, if any.

        A session already relocalised registers its new views from where it is, to follow its
        device's drift, and hears only of a correction. A session that left the space meanwhile hears nothing.
        """
        space_session: SpaceSession = job.session
        space, tracking = space_session.space, space_session.device_from_space
        try:
            found = await asyncio.get_running_loop().run_in_executor(
                self.services.executor, register_views, self.services.space_registry, job.user, space, job.views,
                tracking,
            )
        except (RelocalisationError, DepthMapError, NotFound) as exc:
            found = _failed_registration(exc)
        finally:
            space_session.registering = False
        if self.session.space is not space_session:
            return None
        report = space_session.accept(found) if tracking is None else space_session.accept_drift(found, job.views)
        if not report:
            return None
        log.info("session %s in %s: relocalised=%s fitness=%.2f %s", self.session.id, space.id, found.success,
                 found.fitness, found.detail)
        return relocalised_message(space.id, found)

    def sign_out(self) -> None:
        """Forget the viewer: no more frames are processed until a new hello is accepted."""
        self.leave()
        self.session.viewer = None

    def leave(self) -> None:
        """The session no longer counts among its user's open sessions (its connection closed)."""
        if self.session.viewer is not None:
            self.services.sessions.leave(self.session.viewer.user.id)

    def _viewer(self, what: str, ref: str | None) -> Viewer:
        viewer = self.session.viewer
        if viewer is None:
            raise ProtocolError("not_ready", f"send hello (with a valid token) before {what}", ref)
        return viewer
