"""A small Python client for the stream protocol (docs/protocol.md), on `websockets`.

    client = await StreamClient.open("ws://127.0.0.1:8000/v1/stream", token, camera)
    objects = await client.frame(0, jpeg_bytes)
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from spatial.protocol import PROTOCOL_VERSION, pack_frame


class StreamError(RuntimeError):
    """The server answered with an `error` where a result was expected."""


class StreamClient:
    """Sends frames and keeps every message the server sent, in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []

    @classmethod
    async def open(
        cls, url: str, token: str | None, camera: dict[str, Any] | None = None, *, hello: bool = True,
        tls: ssl.SSLContext | None = None,
    ) -> StreamClient:
        """Connect and, with `hello`, introduce ourselves; raises StreamError if refused. A `wss://` URL is
        checked against `tls` (e.g. one trusting the service's CA file), else the system's trusted CAs."""
        options = {"ssl": tls} if tls is not None else {}
        client = cls(await connect(url, max_size=None, **options))
        if hello:
            await client.hello(token, camera)
        return client

    async def hello(self, token: str | None, camera: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        message = {"type": "hello", "protocol": PROTOCOL_VERSION, "token": token, "capabilities": ["vector"], **extra}
        if camera is not None:
            message["camera"] = camera
        await self.send_json(message)
        reply = await self.next_of("welcome", "error")
        if reply["type"] == "error":
            raise StreamError(f"{reply['code']}: {reply['message']}")
        return reply

    async def send_json(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.messages.append(message)
        return message

    async def next_of(self, *types: str, timeout: float = 10.0) -> dict[str, Any]:
        """The next message of one of `types`; others are kept in `messages` and skipped."""
        deadline = time.monotonic() + timeout
        while True:
            message = await self.recv(max(0.01, deadline - time.monotonic()))
            if message["type"] in types:
                return message

    async def frame(self, frame_id: int, image: bytes, **header: Any) -> dict[str, Any]:
        """Send one frame and wait for its `objects` message, or an `error`."""
        await self.ws.send(pack_frame(frame_id, time.time() * 1000, image, **header))
        return await self.next_of("objects", "error")

    async def stats(self) -> dict[str, Any]:
        """Ask for the session's counters and wait for them."""
        await self.send_json({"type": "stats"})
        return await self.next_of("stats")

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    async def close(self) -> None:
        await self.ws.close()
