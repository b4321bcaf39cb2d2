"""The stream endpoint `/v1/stream`: protocol v1 over one WebSocket (docs/protocol.md).

The receive loop never waits for processing: frames go into the session's
one-slot mailbox, and a worker task processes the latest one in a thread.
Every bad message is answered with an `error` and the connection stays open.
The session's token is checked again before each frame (one indexed lookup),
so a revoked token gets no overlay after the frame in flight. A session in a
space relocalises from its frames, registration running as a job of its own
beside the frame loop (`spatial.spaces`); once relocalised, it may place and
move the space's anchors at poses in its own frame (`place`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import WebSocket, WebSocketDisconnect

from anchors import Anchor, AnchorsError, NotFound
from spatial.lifting import Triangulator
from spatial.overlays import VECTOR, ContentFormat, OverlayDelta
from spatial.pipeline import FrameResult, Viewer
from spatial.protocol import (
    FIXED_HEADER_SIZE,
    PROTOCOL_VERSION,
    FrameHeader,
    Hello,
    Place,
    ProtocolError,
    Teach,
    error_message,
    parse_client_message,
    parse_frame,
    pose_to_list,
)
from spatial.render.raster import RasterCache
from spatial.services import Services
from spatial.session import RateLimit, Session
from spatial.spaces import (
    PlaceError,
    SpaceSession,
    device_placements,
    place_from_device,
    register_views,
    relocalised_message,
)
from vision import FrameDecodeError, Intrinsics
from vision.depth import DepthMapError, DepthView
from vision.identity import IdentityError
from vision.poses import PoseError, check_pose
from vision.relocalise import Relocalisation, RelocalisationError

log = logging.getLogger("spatial.stream")


def camera_intrinsics(hello: Hello) -> Intrinsics | None:
    cam = hello.camera
    if cam is None:
        return None
    if cam.fx is not None:
        return Intrinsics(cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height)  # type: ignore[arg-type]
    return Intrinsics.from_fov(cam.width, cam.height, cam.fov_y_deg)  # type: ignore[arg-type]


def overlays_message(
    frame_id: int, delta: OverlayDelta, fmt: ContentFormat = VECTOR, rasters: RasterCache | None = None
) -> dict[str, Any]:
    return {
        "type": "overlays",
        "frame_id": frame_id,
        "added": [o.to_json(fmt, rasters) for o in delta.added],
        "updated": [o.to_json(fmt, rasters) for o in delta.updated],
        "removed": delta.removed,
    }


REVOKED = "the access token was revoked; send hello again with a valid token"


class TokenRevoked(Exception):
    """The session's token stopped working after its hello (checked before each frame)."""


@dataclass
class SpaceStep:
    """What a frame did for the session's space: anchors placed, a relocalisation to report, a job to start."""

    placed: dict[str, np.ndarray] = field(default_factory=dict)
    relocalised: dict[str, Any] | None = None
    register: list[DepthView] | None = None
    error: ProtocolError | None = None


def frame_ref(data: bytes) -> str | None:
    """`frame:<id>` when the fixed header is there to read the id from."""
    if len(data) >= FIXED_HEADER_SIZE:
        return f"frame:{int.from_bytes(data[8:12], 'little')}"
    return None


class StreamConnection:
    def __init__(self, ws: WebSocket, services: Services) -> None:
        self.ws = ws
        self.services = services
        self.settings = services.settings
        self.session = Session(frame_rate=RateLimit(self.settings.max_frames_per_second))
        self.content_format = VECTOR
        self._send_lock = asyncio.Lock()
        self._token: str | None = None
        self._last_stats = 0.0
        self._jobs: set[asyncio.Task[None]] = set()

    async def send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.ws.send_json(message)

    async def error(self, exc: ProtocolError) -> None:
        self.session.stats.errors += 1
        log.info("session %s: %s (%s)", self.session.id, exc.code, exc.message)
        await self.send(error_message(exc.code, exc.message, exc.ref))

    async def run(self) -> None:
        await self.ws.accept()
        worker = asyncio.create_task(self._process_frames())
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                try:
                    if message.get("bytes") is not None:
                        self._on_frame(message["bytes"])
                    else:
                        await self._on_text(message.get("text") or "")
                except ProtocolError as exc:
                    await self.error(exc)
        except WebSocketDisconnect:
            return
        finally:
            worker.cancel()
            for job in self._jobs:
                job.cancel()
            if self.session.viewer is not None:
                self.services.sessions.leave(self.session.viewer.user.id)

    async def _on_text(self, text: str) -> None:
        if len(text.encode()) > self.settings.max_text_bytes:
            raise ProtocolError("too_large", f"text message is over the limit of {self.settings.max_text_bytes} bytes")
        message = parse_client_message(text)
        if isinstance(message, Hello):
            await self._on_hello(message)
        elif isinstance(message, Teach):
            await self._on_teach(message)
        elif isinstance(message, Place):
            await self._on_place(message)
        else:
            await self.send(self.session.stats.message())

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
        await self.send({"type": "taught", "instance_id": signature.instance_id, "label": signature.label, "ref": teach.id})

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
        await self.send({"type": "placed", "anchor": anchor.id, "block": anchor.block_id, "space": anchor.space_id,
                         "space_pose": pose_to_list(np.asarray(anchor.space_pose)), "ref": place.id})

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
        if previous is None:
            self.session.tracker = self.services.pipeline.new_tracker()
        # A new hello may come from a new XR session, whose reference space is another.
        self.session.triangulator = Triangulator()
        self.session.space = SpaceSession(space) if space is not None else None
        self._token = hello.token
        self.session.viewer = Viewer(user, self.settings.overlay_linger_s, self.settings.panel_metres_per_pixel)
        self.session.camera = camera_intrinsics(hello)
        self.session.capabilities = tuple(hello.capabilities)
        self.content_format = ContentFormat.from_capabilities(hello.capabilities)
        await self.send({
            "type": "welcome",
            "protocol": PROTOCOL_VERSION,
            "session": self.session.id,
            "user": user.name,
            "detector": self.services.pipeline.detector.name,
            "capabilities": self.content_format.capabilities(),
            "limits": {"max_frame_bytes": self.settings.max_frame_bytes, "max_text_bytes": self.settings.max_text_bytes},
            "ref": hello.id,
        })

    def _on_frame(self, data: bytes) -> None:
        stats = self.session.stats
        stats.received += 1
        if not self.session.ready:
            raise ProtocolError("not_ready", "send hello (with a valid token) before frames", frame_ref(data))
        if len(data) > self.settings.max_frame_bytes:
            raise ProtocolError(
                "too_large", f"frame is {len(data)} bytes, over the limit of {self.settings.max_frame_bytes}", frame_ref(data)
            )
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
        pipeline = self.services.pipeline
        while True:
            header, image_bytes = await self.session.frames.take()
            session = self.session
            viewer = session.viewer
            if viewer is None:
                continue
            recorder, token = self.services.recorder, self._token

            space_session = session.space

            def work() -> tuple[FrameResult, OverlayDelta, SpaceStep]:
                if not self._signed_in(token, viewer):
                    raise TokenRevoked
                image, decode_ms = pipeline.decode(image_bytes)
                session.remember(header.frame_id, image)
                result = pipeline.process_image(header, image, session.camera, session.tracker, session.triangulator)
                result.add_timing("decode", decode_ms)
                if recorder is not None:
                    recorder.record(session.id, header.frame_id, header.timestamp_ms, image,
                                    result.objects_message()["objects"])
                step = SpaceStep()
                if space_session is not None:
                    step = self._space_step(space_session, viewer, header, result)
                return result, viewer.overlay_delta(pipeline, result, time.monotonic(), step.placed), step

            try:
                result, delta, step = await asyncio.get_running_loop().run_in_executor(self.services.executor, work)
            except FrameDecodeError as exc:
                await self.error(ProtocolError("bad_image", str(exc), f"frame:{header.frame_id}"))
                continue
            except TokenRevoked:
                if self.session.viewer is not viewer:
                    continue  # a new hello came in meanwhile; it was checked on its own
                self._sign_out()
                await self.error(ProtocolError("unauthorized", REVOKED, f"frame:{header.frame_id}"))
                continue
            self.session.stats.processed += 1
            await self.send(result.objects_message())
            if step.error is not None:
                await self.error(step.error)
            if result.depth_error is not None:
                await self.error(ProtocolError("bad_depth", result.depth_error, f"frame:{header.frame_id}"))
            if step.relocalised is not None:
                await self.send(step.relocalised)
            if step.register is not None and space_session is not None:
                job = asyncio.create_task(self._register(space_session, viewer, step.register))
                self._jobs.add(job)
                job.add_done_callback(self._jobs.discard)
            if delta:
                await self.send(await self._overlays_message(header.frame_id, delta))
            await self._maybe_send_stats()

    def _space_step(self, space_session: SpaceSession, viewer: Viewer, header: FrameHeader,
                    result: FrameResult) -> SpaceStep:
        """Relocalise from this frame (or correct drift from landmarks in view); place the space anchors in view.

        Runs in the worker thread of the frame. The space is read again when its
        map or landmarks changed since. Markers relocalise here (a few
        milliseconds); depth views are kept, and when enough are new, the
        caller starts a registration job beside the frame loop (to relocalise,
        or once relocalised, to follow the device's drift).
        """
        step = SpaceStep()
        ref = f"frame:{header.frame_id}"
        intrinsics = result.intrinsics
        space_session.space = self.services.space_registry.current(viewer.user, space_session.space)
        device_pose = header.device_pose
        if device_pose is not None:
            try:
                device_pose = check_pose(device_pose, "device pose")
            except PoseError as exc:
                return SpaceStep(error=ProtocolError("bad_header", str(exc), ref))
        if device_pose is not None:
            found = space_session.from_markers(result.detections, device_pose)
            if found is not None and space_session.accept(found):
                step.relocalised = relocalised_message(space_session.space.id, found)
            if result.depth is not None:
                step.register = space_session.add_depth(result.depth, intrinsics, device_pose)
        step.placed = device_placements(space_session, self.services.space_registry, device_pose, intrinsics)
        return step

    async def _register(self, space_session: SpaceSession, viewer: Viewer, views: list[DepthView]) -> None:
        """Relocalise from depth views in the worker pool, beside the frame loop; report the outcome.

        A session already relocalised registers its new views from where it is, to follow its
        device's drift, and hears only of a correction."""
        space = space_session.space
        tracking = space_session.device_from_space
        try:
            found = await asyncio.get_running_loop().run_in_executor(
                self.services.executor, register_views, self.services.space_registry, viewer.user, space, views, tracking
            )
        except (RelocalisationError, DepthMapError, NotFound) as exc:
            found = Relocalisation(np.eye(4), 0.0, float("inf"), False, "registration", str(exc))
        finally:
            space_session.registering = False
        if self.session.space is not space_session:
            return
        report = space_session.accept(found) if tracking is None else space_session.accept_drift(found, views)
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

    async def _overlays_message(self, frame_id: int, delta: OverlayDelta) -> dict[str, Any]:
        """Vector content is built here; images are painted (or taken from the cache) in the pool."""
        if not self.content_format.raster:
            return overlays_message(frame_id, delta)
        rasters = self.services.pipeline.layouts.rasters
        return await asyncio.get_running_loop().run_in_executor(
            self.services.executor, overlays_message, frame_id, delta, self.content_format, rasters
        )

    async def _maybe_send_stats(self) -> None:
        now = time.monotonic()
        if now - self._last_stats >= self.settings.stats_interval_s:
            self._last_stats = now
            await self.send(self.session.stats.message())


async def stream_endpoint(ws: WebSocket) -> None:
    await StreamConnection(ws, ws.app.state.services).run()
