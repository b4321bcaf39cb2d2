"""Refuse REST request bodies over `max_request_bytes` with 413, before they are read into memory."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _OverLimit(Exception):
    pass


class BodySizeLimit:
    """Checks the declared Content-Length, and counts the bytes of bodies sent without one."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, f"the request body is {int(declared):,} bytes")
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _OverLimit
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except _OverLimit:
            if started:
                raise
            await self._refuse(send, f"the request body is over {self.max_bytes:,} bytes")

    async def _refuse(self, send: Send, what: str) -> None:
        body = json.dumps({"error": {
            "code": "too_large",
            "message": f"{what}, over the limit of {self.max_bytes:,} (max_request_bytes)",
            "limit": "max_request_bytes",
        }}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
