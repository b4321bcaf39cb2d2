"""Assembles the app: REST routes, the stream endpoint, error handlers and the web client."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

import spatial
from spatial.api.body_limit import BodySizeLimit
from spatial.api.errors import install_error_handlers
from spatial.api.compute import router as compute_router
from spatial.api.join import router as join_router
from spatial.api.objects import router as objects_router
from spatial.api.rest import router
from spatial.api.spaces import router as spaces_router
from spatial.api.views import router as views_router
from spatial.api.stream import stream_endpoint
from spatial.asyncapi import asyncapi_yaml
from spatial.services import Services
from spatial.tls import CA_CERT
from vision.lazy import load_all

ROOT = Path(__file__).resolve().parents[2]
CLIENT_DIR = ROOT / "webxr_client"
NODE_MODULES = ROOT / "node_modules"

VENDOR_FILES = {
    "three/three.module.js": NODE_MODULES / "three" / "build" / "three.module.js",
    "three/three.core.js": NODE_MODULES / "three" / "build" / "three.core.js",
    "iwer/iwer.module.js": NODE_MODULES / "iwer" / "build" / "iwer.module.js",
    "opencv/opencv.js": NODE_MODULES / "@techstark" / "opencv-js" / "dist" / "opencv.js",
}
"""The browser libraries the web client loads, from npm (`make client`), never from a CDN.
iwer (WebXR emulation) is only used by the browser tests; OpenCV.js by camera-window
mode's tracker (webxr_client/tracker_worker.js)."""


def vendor_file(path: str) -> FileResponse:
    """One of the VENDOR_FILES, or 404 saying how to install it."""
    file = VENDOR_FILES.get(path)
    if file is None:
        raise HTTPException(404, f"/vendor/{path} is not a served library file")
    if not file.is_file():
        raise HTTPException(404, f"/vendor/{path} is not installed; run `make client` (npm ci) in the repository")
    return FileResponse(file, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


def ca_certificate(request: Request) -> FileResponse:
    """The local certificate authority's certificate, for a device to install (docs/devices.md); 404 when the
    service does not serve HTTPS with it."""
    settings = request.app.state.services.settings
    if not settings.https or settings.certfile is not None:
        why = "a certificate of its own (--certfile)" if settings.https else "plain HTTP"
        raise HTTPException(404, f"this service serves {why}, not the local certificate authority's")
    return FileResponse(
        settings.tls_dir / CA_CERT, media_type="application/x-x509-ca-cert",
        filename="spatial-ca.crt", headers={"Cache-Control": "no-cache"},
    )


def join_page() -> FileResponse:
    """The page that shows a signed-in browser a QR code for another device (webxr_client/join.html)."""
    return FileResponse(CLIENT_DIR / "join.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


def stream_description() -> Response:
    """The stream protocol (`/v1/stream`, a WebSocket) as an AsyncAPI 3 document, generated from its message models."""
    return Response(asyncapi_yaml(), media_type="application/yaml")


def create_app(services: Services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=load_all, name="load-libraries", daemon=True).start()
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
    app.add_middleware(BodySizeLimit, max_bytes=services.settings.max_request_bytes)
    app.include_router(router)
    app.include_router(views_router)
    app.include_router(compute_router)
    app.include_router(objects_router)
    app.include_router(spaces_router)
    app.include_router(join_router)
    app.add_api_websocket_route("/v1/stream", stream_endpoint)
    app.add_api_route("/v1/stream/asyncapi.yaml", stream_description, methods=["GET"], tags=["stream"],
                      response_class=Response, responses={200: {"content": {"application/yaml": {}}}})
    app.add_api_route("/vendor/{path:path}", vendor_file, methods=["GET"], include_in_schema=False)
    app.add_api_route("/ca.crt", ca_certificate, methods=["GET"], include_in_schema=False)
    app.add_api_route("/join", join_page, methods=["GET"], include_in_schema=False)
    app.mount("/", StaticFiles(directory=CLIENT_DIR, html=True), name="client")
    return app
