"""The stream endpoint `/v1/stream`: protocol v1 over one WebSocket (docs/protocol.md). Transport only.

The receive loop never waits for processing: frames go into the session's
one-slot mailbox, and a worker task hands the latest one to
`FramePipeline.step` in a thread, then sends what it gave. Every bad message
is answered with an `error` and the connection stays open. The session's
token is checked again before each frame (one indexed lookup), so a revoked
token gets no overlay after the frame in flight. A session in a space
relocalises from its frames; registration runs as a job of its own beside
the frame loop (`spatial.spaces`).

Supervision: an unexpected exception in a frame, a registration job or a
text message is logged with its traceback and answered with an `internal`
error; the session goes on. After MAX_FAILED_FRAMES frames in a row fail so,
the connection is closed with code 1011.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

import numpy as np
from fastapi import WebSocket, WebSocketDisconnect

from anchors import Anchor, AnchorsError, NotFound
from spatial.lifting import Triangulator
from spatial.overlays import ContentFormat
from spatial.pipeline import FrameOutcome
from spatial.protocol import (
    PROTOCOL_VERSION,
    FrameHeader,
    Hello,
    Limits,
    Page,
    Place,
    ProtocolError,
    ServerMessage,
    Teach,
    error_message,
    frame_ref,
    parse_client_message,
    parse_frame,
    peek_frame_id,
    placed_message,
    relocalised_message,
    taught_message,
    welcome_message,
)
from spatial.services import Services
from spatial.session import RateLimit, Session, Viewer
from spatial.spaces import PlaceError, Registration, SpaceSession, place_from_device, register_views
from vision.depth import DepthMapError
from vision.identity import IdentityError
from vision.relocalise import Relocalisation, RelocalisationError

log = logging.getLogger("spatial.stream")

REVOKED = "the access token was revoked; send hello again with a valid token"
MAX_FAILED_FRAMES = 10
"""Frames in a row that fail on the server (`internal`) before the connection is closed with code 1011."""


class TokenRevoked(Exception):
    """The session's token stopped working after its hello (checked before each frame)."""


class StreamConnection:
    def __init__(self, ws: WebSocket, services: Services) -> None:
        self.ws = ws
        self.services = services
        self.settings = services.settings
        self.session = Session(frame_rate=RateLimit(self.settings.max_frames_per_second))
        self._send_lock = asyncio.Lock()
        self._token: str | None = None
        self._last_stats = 0.0
        self._failed_frames = 0
        self._jobs: set[asyncio.Task[None]] = set()

    async def send(self, message: ServerMessage) -> None:
        async with self._send_lock:
            await self.ws.send_text(message.to_text())

    async def error(self, exc: ProtocolError) -> None:
        self.session.stats.errors += 1
        log.info("session %s: %s (%s)", self.session.id, exc.code, exc.message)
        await self.send(error_message(exc.code, exc.message, exc.ref))

    async def fault(self, exc: Exception, what: str, ref: str | None) -> None:
        """An unexpected exception: logged with its traceback and answered with an `internal` error."""
        log.error("session %s: %s failed", self.session.id, what, exc_info=exc)
        await self.error(ProtocolError(
            "internal", f"the server failed on {what} ({type(exc).__name__}, logged on the server);"
                        " the session goes on", ref,
        ))

    async def run(self) -> None:
        await self.ws.accept()
        worker = asyncio.create_task(self._process_frames())
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    await self._on_binary(message["bytes"])
                else:
                    await self._on_text(message.get("text") or "")
        except WebSocketDisconnect:
            return
        finally:
            worker.cancel()
            for job in self._jobs:
                job.cancel()
            if self.session.viewer is not None:
                self.services.sessions.leave(self.session.viewer.user.id)

    async def _on_binary(self, data: bytes) -> None:
        try:
            self._on_frame(data)
        except ProtocolError as exc:
            await self.error(exc)
        except Exception as exc:
            await self.fault(exc, "a binary message", frame_ref(peek_frame_id(data)))

    async def _on_text(self, text: str) -> None:
        try:
            if len(text.encode()) > self.settings.max_text_bytes:
                raise ProtocolError("too_large", f"text message is over the limit of {self.settings.max_text_bytes} bytes")
            message = parse_client_message(text)
        except ProtocolError as exc:
            await self.error(exc)
            return
        try:
            if isinstance(message, Hello):
                await self._on_hello(message)
            elif isinstance(message, Teach):
                await self._on_teach(message)
            elif isinstance(message, Place):
                await self._on_place(message)
            elif isinstance(message, Page):
                self._on_page(message)
            else:
                await self.send(self.session.stats.message())
        except ProtocolError as exc:
            await self.error(exc)
        except WebSocketDisconnect:
            raise
        except Exception as exc:
            await self.fault(exc, f"the {message.type} message", message.id)

    async def _on_hello(self, hello: Hello) -> None:
        if hello.protocol != PROTOCOL_VERSION:
            raise ProtocolError(
                "unsupported_version",
                f"this server speaks protocol {PROTOCOL_VERSION}, the client asked for {hello.protocol}",
                hello.id,
            )
        user = await asyncio.to_thread(self.services.accounts.authenticate, hello.token)
        if user is None:
            why = "no access token was given" if not hello.token else "the access token is unknown or revoked"
            raise ProtocolError("unauthorized", f"{why}; send hello again with a valid token", hello.id)
        space = None
        if hello.space is not None:
            try:
                space = await asyncio.to_thread(self.services.spaces.get_space, user, hello.space)
            except NotFound:
                raise ProtocolError("unknown_space", f"no space {hello.space}", hello.id) from None
        previous = self.session.viewer
        if previous is None or previous.user.id != user.id:
            if not self.services.sessions.join(user.id):
                limit = self.settings.max_sessions_per_user
                raise ProtocolError("too_many_sessions", f"{user.name} already has {limit} open sessions, the limit", hello.id)
            if previous is not None:
                self.services.sessions.leave(previous.user.id)
        pipeline, session = self.services.pipeline, self.session
        if previous is None:
            session.tracker = pipeline.new_tracker()
        # A new hello may come from a new XR session, whose reference space is another.
        session.triangulator = Triangulator()
        session.space = SpaceSession(space) if space is not None else None
        self._token = hello.token
        session.viewer = Viewer(user, pipeline.compute, pipeline.layouts, self.settings.overlay_linger_s,
                                self.settings.panel_metres_per_pixel)
        session.camera = hello.camera.intrinsics() if hello.camera is not None else None
        session.capabilities = tuple(hello.capabilities)
        session.content_format = ContentFormat.from_capabilities(hello.capabilities)
        limits = Limits(max_frame_bytes=self.settings.max_frame_bytes, max_text_bytes=self.settings.max_text_bytes,
                        max_image_pixels=self.settings.max_image_pixels)
        await self.send(welcome_message(session.id, user.name, pipeline.detector.name,
                                        session.content_format.capabilities(), limits, hello.id))

    async def _on_teach(self, teach: Teach) -> None:
        viewer, objects = self.session.viewer, self.services.objects
        if viewer is None:
            raise ProtocolError("not_ready", "send hello (with a valid token) before teach", teach.id)
        if not await asyncio.to_thread(self._signed_in, self._token, viewer):
            self._sign_out()
            raise ProtocolError("unauthorized", REVOKED, teach.id)
        image = self.session.recent.get(teach.frame_id)
        if image is None:
            kept = ", ".join(map(str, self.session.recent)) or "none yet"
            raise ProtocolError("unknown_frame", f"frame {teach.frame_id} is not among the recent frames ({kept})", teach.id)
        try:
            signature = await asyncio.get_running_loop().run_in_executor(
                self.services.executor, objects.teach, viewer.user, image, teach.box, teach.label, teach.size_m
            )
        except IdentityError as exc:
            raise ProtocolError("bad_teach", str(exc), teach.id) from None
        await self.send(taught_message(signature.instance_id, signature.label, teach.id))

    async def _on_place(self, place: Place) -> None:
        """Place a block, or move an anchor, in the session's space at a pose in the device's frame."""
        viewer, space_session, token = self.session.viewer, self.session.space, self._token
        if viewer is None:
            raise ProtocolError("not_ready", "send hello (with a valid token) before place", place.id)
        if space_session is None:
            raise ProtocolError("not_relocalised", "this session is in no space; name one in hello ('space')"
                                " to place anchors", place.id)

        def store() -> Anchor:
            if not self._signed_in(token, viewer):
                raise TokenRevoked
            return place_from_device(self.services.space_registry, viewer.user, space_session, place.matrix,
                                     place.block, place.anchor)

        try:
            anchor = await asyncio.to_thread(store)
        except TokenRevoked:
            self._sign_out()
            raise ProtocolError("unauthorized", REVOKED, place.id) from None
        except (PlaceError, AnchorsError) as exc:
            raise ProtocolError(exc.code, str(exc), place.id) from None
        await self.send(placed_message(anchor, place.id))

    def _on_page(self, page: Page) -> None:
        """Show another window of a table panel's rows, from the next frame on."""
        viewer = self.session.viewer
        if viewer is None:
            raise ProtocolError("not_ready", "send hello (with a valid token) before page", page.id)
        if not viewer.show_rows(page.overlay, page.first):
            raise ProtocolError("unknown_overlay", f"this session shows no overlay {page.overlay}", page.id)

    def _on_frame(self, data: bytes) -> None:
        stats = self.session.stats
        stats.received += 1
        if not self.session.ready:
            raise ProtocolError("not_ready", "send hello (with a valid token) before frames", frame_ref(peek_frame_id(data)))
        if len(data) > self.settings.max_frame_bytes:
            raise ProtocolError("too_large", f"frame is {len(data)} bytes, over the limit of"
                                f" {self.settings.max_frame_bytes}", frame_ref(peek_frame_id(data)))
        if not self._within_frame_rate():
            return
        header, image = parse_frame(data)
        if self.session.frames.put(header, image):
            stats.dropped += 1

    def _within_frame_rate(self) -> bool:
        """False for a frame over the rate limit; the first refusal in a second says why."""
        now = time.monotonic()
        if self.session.frame_rate.allow(now):
            return True
        self.session.stats.refused += 1
        if now - self.session.last_rate_error < 1.0:
            return False
        self.session.last_rate_error = now
        raise ProtocolError(
            "rate_limited",
            f"more than {self.settings.max_frames_per_second:g} frames a second; frames over the limit are refused",
        )

    async def _process_frames(self) -> None:
        while True:
            header, image_bytes = await self.session.frames.take()
            viewer, token = self.session.viewer, self._token
            if viewer is None:
                continue
            try:
                outcome = await asyncio.get_running_loop().run_in_executor(
                    self.services.executor, self._step, token, viewer, header, image_bytes
                )
            except ProtocolError as exc:
                await self.error(exc)
                continue
            except TokenRevoked:
                if self.session.viewer is not viewer:
                    continue  # a new hello came in meanwhile; it was checked on its own
                self._sign_out()
                await self.error(ProtocolError("unauthorized", REVOKED, frame_ref(header.frame_id)))
                continue
            except Exception as exc:
                if not await self._frame_failed(exc, header.frame_id):
                    return
                continue
            self._failed_frames = 0
            await self._send_outcome(outcome)

    def _step(self, token: str | None, viewer: Viewer, header: FrameHeader, image_bytes: bytes) -> FrameOutcome:
        """The frame's work in the worker thread, once the session's token is found still good."""
        if not self._signed_in(token, viewer):
            raise TokenRevoked
        return self.services.pipeline.step(self.session, header, image_bytes)

    async def _send_outcome(self, outcome: FrameOutcome) -> None:
        self.session.stats.processed += 1
        await self.send(outcome.objects)
        for error in outcome.errors:
            await self.error(error)
        if outcome.relocalised is not None:
            await self.send(outcome.relocalised)
        if outcome.registration is not None:
            self._start_job(self._register(outcome.registration))
        if outcome.overlays is not None:
            await self.send(outcome.overlays)
        await self._maybe_send_stats()

    async def _frame_failed(self, exc: Exception, frame_id: int) -> bool:
        """Answer a frame that failed on the server; False once too many in a row did, and the connection is closed."""
        self._failed_frames += 1
        await self.fault(exc, f"frame {frame_id}", frame_ref(frame_id))
        if self._failed_frames < MAX_FAILED_FRAMES:
            return True
        reason = f"{self._failed_frames} frames in a row failed on the server"
        log.error("session %s: %s; closing it", self.session.id, reason)
        async with self._send_lock:
            await self.ws.close(code=1011, reason=reason)
        return False

    def _start_job(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(job)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _register(self, job: Registration) -> None:
        """Relocalise from depth views in the worker pool, beside the frame loop; report the outcome.

        A session already relocalised registers its new views from where it is, to follow its
        device's drift, and hears only of a correction."""
        space_session: SpaceSession = job.session
        space, tracking = space_session.space, space_session.device_from_space
        try:
            found = await asyncio.get_running_loop().run_in_executor(
                self.services.executor, register_views, self.services.space_registry, job.user, space, job.views, tracking
            )
        except (RelocalisationError, DepthMapError, NotFound) as exc:
            found = Relocalisation(np.eye(4), 0.0, float("inf"), False, "registration", str(exc))
        except Exception as exc:
            await self.fault(exc, f"registering the depth views up to frame {job.frame_id}", frame_ref(job.frame_id))
            return
        finally:
            space_session.registering = False
        if self.session.space is not space_session:
            return
        report = space_session.accept(found) if tracking is None else space_session.accept_drift(found, job.views)
        if report:
            log.info("session %s in %s: relocalised=%s fitness=%.2f %s", self.session.id, space.id, found.success,
                     found.fitness, found.detail)
            await self.send(relocalised_message(space.id, found))

    def _signed_in(self, token: str | None, viewer: Viewer) -> bool:
        """The session's token still names its viewer (one indexed lookup; called in a worker thread)."""
        user = self.services.accounts.authenticate(token)
        return user is not None and user.id == viewer.user.id

    def _sign_out(self) -> None:
        """Forget the viewer: no more frames are processed until a new hello is accepted."""
        if self.session.viewer is not None:
            self.services.sessions.leave(self.session.viewer.user.id)
        self.session.viewer = None
        self._token = None

    async def _maybe_send_stats(self) -> None:
        now = time.monotonic()
        if now - self._last_stats >= self.settings.stats_interval_s:
            self._last_stats = now
            await self.send(self.session.stats.message())


async def stream_endpoint(ws: WebSocket) -> None:
    await StreamConnection(ws, ws.app.state.services).run()
