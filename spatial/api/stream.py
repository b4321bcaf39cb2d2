"""The stream endpoint `/v1/stream`: protocol v1 over one WebSocket (docs/protocol.md). Transport only.

The receive loop never waits for processing: frames go into the connection's
one-slot mailbox, and a worker task hands the latest one to the session
controller (`spatial.controller`) in a thread, then sends what it gave. Text
messages go to the controller too, whose replies are sent. The endpoint
checks the protocol version and the token: a hello's token signs the session
in, and it is checked again before each frame, teach and place (one indexed
lookup), so a revoked token gets no overlay after the frame in flight. A
registration job a frame asks for runs as a job of its own beside the frame loop.

Supervision: every bad message is answered with an `error` and the connection
stays open. An unexpected exception in a frame, a job or a text message is
logged with its traceback and answered with an `internal` error; the session
goes on. After MAX_FAILED_FRAMES frames in a row fail so, the connection is
closed with code 1011.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

from fastapi import WebSocket, WebSocketDisconnect

from anchors import User
from spatial.controller import SessionController
from spatial.pipeline import FrameOutcome
from spatial.protocol import (
    PROTOCOL_VERSION,
    FrameHeader,
    Hello,
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
)
from spatial.services import Services
from spatial.session import LatestFrame, RateLimit, Stats, Viewer

log = logging.getLogger("spatial.stream")

REVOKED = "the access token was revoked; send hello again with a valid token"
MAX_FAILED_FRAMES = 10
"""Frames in a row that fail on the server (`internal`) before the connection is closed with code 1011."""

Job = Callable[[], Awaitable[ServerMessage | None]]
"""Work beside the frame loop (a registration): the message it gives to send, if any."""


class TokenRevoked(Exception):
    """The session's token stopped working after its hello (checked before each frame, teach and place)."""


@dataclass
class ConnectionState:
    """What one connection keeps for transport: the mailbox, the rate limit, the counters, the token, and what
    it was told of lately."""

    frame_rate: RateLimit
    frames: LatestFrame = field(default_factory=LatestFrame)
    stats: Stats = field(default_factory=Stats)
    token: str | None = None
    """The token of the hello accepted last; None before one, and once it was found revoked."""
    last_stats: float = 0.0
    """When the last `stats` message went out unasked (monotonic seconds)."""
    failed_frames: int = 0
    """Frames in a row that failed on the server."""
    last_rate_error: float = float("-inf")
    """When the last `rate_limited` error went out (monotonic seconds): one a second at most."""
    outage_reported: int | None = None
    """The number of the detector's last outage this connection was told of (`detector_unavailable`)."""


class StreamConnection:
    def __init__(self, ws: WebSocket, services: Services) -> None:
        self.ws = ws
        self.services = services
        self.settings = services.settings
        self.controller = SessionController(services)
        self.state = ConnectionState(RateLimit(self.settings.max_frames_per_second))
        self._send_lock = asyncio.Lock()
        self._jobs: set[asyncio.Task[None]] = set()

    async def send(self, message: ServerMessage) -> None:
        async with self._send_lock:
            await self.ws.send_text(message.to_text())

    async def error(self, exc: ProtocolError) -> None:
        self.state.stats.errors += 1
        log.info("session %s: %s (%s)", self.controller.session.id, exc.code, exc.message)
        await self.send(error_message(exc.code, exc.message, exc.ref))

    async def fault(self, exc: Exception, what: str, ref: str | None) -> None:
        """An unexpected exception: logged with its traceback and answered with an `internal` error."""
        log.error("session %s: %s failed", self.controller.session.id, what, exc_info=exc)
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
            self.controller.leave()

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
        authorise = partial(self._authorise, self.state.token)
        try:
            if isinstance(message, Hello):
                await self._on_hello(message)
            elif isinstance(message, Teach):
                await self.send(await self.controller.teach(message, authorise))
            elif isinstance(message, Place):
                await self.send(await self.controller.place(message, authorise))
            elif isinstance(message, Page):
                self.controller.page(message)
            else:
                await self.send(self.state.stats.message())
        except ProtocolError as exc:
            await self.error(exc)
        except TokenRevoked:
            self._sign_out()
            await self.error(ProtocolError("unauthorized", REVOKED, message.id))
        except WebSocketDisconnect:
            raise
        except Exception as exc:
            await self.fault(exc, f"the {message.type} message", message.id)

    async def _on_hello(self, hello: Hello) -> None:
        """Check the protocol version and the token, then start the session (the controller's part)."""
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
        welcome = await self.controller.hello(hello, user)
        self.state.token = hello.token
        await self.send(welcome)

    def _on_frame(self, data: bytes) -> None:
        stats = self.state.stats
        stats.received += 1
        if not self.controller.ready:
            raise ProtocolError("not_ready", "send hello (with a valid token) before frames", frame_ref(peek_frame_id(data)))
        if len(data) > self.settings.max_frame_bytes:
            raise ProtocolError("too_large", f"frame is {len(data)} bytes, over the limit of"
                                f" {self.settings.max_frame_bytes}", frame_ref(peek_frame_id(data)))
        if not self._within_frame_rate():
            return
        header, image = parse_frame(data)
        if self.state.frames.put(header, image):
            stats.dropped += 1

    def _within_frame_rate(self) -> bool:
        """False for a frame over the rate limit; the first refusal in a second says why."""
        now = time.monotonic()
        if self.state.frame_rate.allow(now):
            return True
        self.state.stats.refused += 1
        if now - self.state.last_rate_error < 1.0:
            return False
        self.state.last_rate_error = now
        raise ProtocolError(
            "rate_limited",
            f"more than {self.settings.max_frames_per_second:g} frames a second; frames over the limit are refused",
        )

    async def _process_frames(self) -> None:
        while True:
            header, image_bytes = await self.state.frames.take()
            viewer, token = self.controller.session.viewer, self.state.token
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
                if self.controller.session.viewer is not viewer:
                    continue  # a new hello came in meanwhile; it was checked on its own
                self._sign_out()
                await self.error(ProtocolError("unauthorized", REVOKED, frame_ref(header.frame_id)))
                continue
            except Exception as exc:
                if not await self._frame_failed(exc, header.frame_id):
                    return
                continue
            self.state.failed_frames = 0
            if outcome.outage is not None:
                self.state.outage_reported = outcome.outage
            await self._send_outcome(outcome)

    def _step(self, token: str | None, viewer: Viewer, header: FrameHeader, image_bytes: bytes) -> FrameOutcome:
        """The frame's work in the worker thread, once the session's token is found still good."""
        self._authorise(token, viewer.user)
        return self.controller.step(header, image_bytes, self.state.outage_reported)

    async def _send_outcome(self, outcome: FrameOutcome) -> None:
        self.state.stats.processed += 1
        await self.send(outcome.objects)
        for error in outcome.errors:
            await self.error(error)
        if outcome.relocalised is not None:
            await self.send(outcome.relocalised)
        job = outcome.registration
        if job is not None:
            self._start_job(partial(self.controller.register, job),
                            f"registering the depth views up to frame {job.frame_id}", frame_ref(job.frame_id))
        if outcome.overlays is not None:
            await self.send(outcome.overlays)
        await self._maybe_send_stats()

    async def _frame_failed(self, exc: Exception, frame_id: int) -> bool:
        """Answer a frame that failed on the server; False once too many in a row did, and the connection is closed."""
        self.state.failed_frames += 1
        await self.fault(exc, f"frame {frame_id}", frame_ref(frame_id))
        if self.state.failed_frames < MAX_FAILED_FRAMES:
            return True
        reason = f"{self.state.failed_frames} frames in a row failed on the server"
        log.error("session %s: %s; closing it", self.controller.session.id, reason)
        async with self._send_lock:
            await self.ws.close(code=1011, reason=reason)
        return False

    def _start_job(self, job: Job, what: str, ref: str | None) -> None:
        task = asyncio.create_task(self._run_job(job, what, ref))
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _run_job(self, job: Job, what: str, ref: str | None) -> None:
        """Run a job beside the frame loop and send what it gives; a fault in it is answered like a frame's."""
        try:
            message = await job()
        except Exception as exc:
            await self.fault(exc, what, ref)
            return
        if message is not None:
            await self.send(message)

    def _authorise(self, token: str | None, user: User) -> None:
        """Raise TokenRevoked unless `token` still names `user` (one indexed lookup; called in a worker thread)."""
        found = self.services.accounts.authenticate(token)
        if found is None or found.id != user.id:
            raise TokenRevoked

    def _sign_out(self) -> None:
        """Forget the viewer and the token: no more frames are processed until a new hello is accepted."""
        self.controller.sign_out()
        self.state.token = None

    async def _maybe_send_stats(self) -> None:
        now = time.monotonic()
        if now - self.state.last_stats >= self.settings.stats_interval_s:
            self.state.last_stats = now
            await self.send(self.state.stats.message())


async def stream_endpoint(ws: WebSocket) -> None:
    await StreamConnection(ws, ws.app.state.services).run()
