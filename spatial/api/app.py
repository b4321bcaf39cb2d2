"""Assembles the app: REST routes, the stream endpoint, error handlers and the web client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

import spatial
from spatial.api.errors import install_error_handlers
from spatial.api.rest import router
from spatial.api.stream import stream_endpoint
from spatial.services import Services

CLIENT_DIR = Path(__file__).resolve().parents[2] / "webxr_client"


def create_app(services: Services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        services.close()

    app = FastAPI(
        title="spatial",
        version=spatial.__version__,
        summary="Blocks and compute pinned to real-world objects, streamed to XR clients as overlays.",
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    app.include_router(router)
    app.add_api_websocket_route("/v1/stream", stream_endpoint)
    app.mount("/", StaticFiles(directory=CLIENT_DIR, html=True), name="client")
    return app
