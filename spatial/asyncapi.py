"""The stream protocol as an AsyncAPI 3 document, generated from the message models of `spatial.protocol`.

OpenAPI cannot describe a WebSocket; AsyncAPI can, and client generators and
viewers read it. The service serves it at `/v1/stream/asyncapi.yaml`, and the
repository keeps a copy in docs/asyncapi.yaml:

    python -m spatial.asyncapi           # writes docs/asyncapi.yaml
    python -m spatial.asyncapi --check   # exits 1 when docs/asyncapi.yaml is not what the models give

Operations are the service's: it `receive`s what clients send and `send`s the rest.
"""

from __future__ import annotations

import argparse
import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

import spatial
from spatial.protocol import (
    CLIENT_MESSAGES,
    FIXED_HEADER_SIZE,
    PROTOCOL_VERSION,
    SERVER_MESSAGES,
    ErrorMessage,
    Hello,
    ObjectsMessage,
    OverlaysMessage,
    Page,
    PlacedMessage,
    Place,
    RelocalisedMessage,
    StatsMessage,
    StatsRequest,
    TaughtMessage,
    Teach,
    WelcomeMessage,
)

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "asyncapi.yaml"
CHANNEL = "#/channels/stream"

FRAME = {
    "name": "frame",
    "title": "Camera frame",
    "summary": "A binary message: a little-endian header, then the image (JPEG, PNG or WebP).",
    "description": (
        f"The fixed header is {FIXED_HEADER_SIZE} bytes: magic `SPF1`, flags (uint8: bit 0 intrinsics, bit 1"
        " device pose, bit 2 depth map), 3 reserved zero bytes, frame id (uint32), capture timestamp (float64,"
        " milliseconds). Then, as the flags say: fx, fy, cx, cy (4 x float32); the camera-to-reference-space"
        " pose (16 x float32, row-major); a depth map (width and height as uint16, sample format as uint8: 0"
        " float32 metres, 1 uint16 millimetres, 3 reserved zero bytes, then the samples row by row). The rest"
        " is the image. docs/protocol.md has the full layout."
    ),
    "contentType": "application/octet-stream",
    "payload": {"type": "string", "format": "binary"},
}

# message name -> (model, title); the order is the order of docs/protocol.md
RECEIVED: dict[str, tuple[type[BaseModel], str]] = {
    "hello": (Hello, "Hello"),
    "statsRequest": (StatsRequest, "Ask for stats"),
    "teach": (Teach, "Teach an object"),
    "place": (Place, "Place a block in the space"),
    "page": (Page, "Show other rows of a table panel"),
}
SENT: dict[str, tuple[type[BaseModel], str]] = {
    "welcome": (WelcomeMessage, "Welcome"),
    "objects": (ObjectsMessage, "Objects"),
    "overlays": (OverlaysMessage, "Overlays"),
    "relocalised": (RelocalisedMessage, "Relocalised"),
    "taught": (TaughtMessage, "Taught"),
    "placed": (PlacedMessage, "Placed"),
    "error": (ErrorMessage, "Error"),
    "stats": (StatsMessage, "Stats"),
}
REPLIES = {"hello": ["welcome", "error"], "statsRequest": ["stats"], "teach": ["taught", "error"],
           "place": ["placed", "error"], "page": ["overlays", "error"]}


def component_schemas() -> dict[str, Any]:
    """JSON schemas of every message model and their parts, as AsyncAPI schema objects."""
    models = [(model, "serialization") for model in SERVER_MESSAGES] + [(model, "validation") for model in CLIENT_MESSAGES]
    _, schema = models_json_schema(models, ref_template="#/components/schemas/{model}")
    return _asyncapi_discriminators(schema["$defs"])


def _asyncapi_discriminators(node: Any) -> Any:
    """An AsyncAPI schema names its discriminator property with a string, where pydantic writes OpenAPI's object."""
    if isinstance(node, dict):
        return {key: (value["propertyName"] if key == "discriminator" and isinstance(value, dict)
                      else _asyncapi_discriminators(value)) for key, value in node.items()}
    if isinstance(node, list):
        return [_asyncapi_discriminators(value) for value in node]
    return node


def _message(name: str, model: type[BaseModel], title: str) -> dict[str, Any]:
    return {
        "name": name,
        "title": title,
        "summary": (model.__doc__ or title).strip().split("\n")[0],
        "contentType": "application/json",
        "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
    }


def _operation(action: str, name: str, replies: list[str] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": CHANNEL},
        "messages": [{"$ref": f"{CHANNEL}/messages/{name}"}],
    }
    if replies:
        operation["reply"] = {"channel": {"$ref": CHANNEL},
                              "messages": [{"$ref": f"{CHANNEL}/messages/{reply}"} for reply in replies]}
    return operation


def asyncapi_document() -> dict[str, Any]:
    messages = {"frame": FRAME} | {name: _message(name, *spec) for name, spec in (RECEIVED | SENT).items()}
    operations = {"receiveFrame": _operation("receive", "frame")}
    operations |= {f"receive{name[0].upper()}{name[1:]}": _operation("receive", name, REPLIES.get(name))
                   for name in RECEIVED}
    operations |= {f"send{name[0].upper()}{name[1:]}": _operation("send", name) for name in SENT}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "spatial stream",
            "version": f"{PROTOCOL_VERSION}",
            "description": (
                f"Stream protocol version {PROTOCOL_VERSION} of spatial {spatial.__version__}: camera frames in,"
                " objects and overlays pinned to them out, over one WebSocket. Every bad message is answered with"
                " an `error` and the connection stays open. docs/protocol.md in the repository is the guide."
            ),
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {"host": "127.0.0.1:8000", "protocol": "ws",
                      "description": "`spatial serve` on this machine; `wss` when served over HTTPS"},
        },
        "channels": {
            "stream": {
                "address": "/v1/stream",
                "title": "The stream of one session",
                "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
            },
        },
        "operations": operations,
        "components": {"messages": messages, "schemas": component_schemas()},
    }


@cache
def asyncapi_yaml() -> str:
    return yaml.safe_dump(asyncapi_document(), sort_keys=False, allow_unicode=True, width=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help=f"only check that {DOCUMENT.name} is up to date")
    args = parser.parse_args(argv)
    text = asyncapi_yaml()
    if args.check:
        if not DOCUMENT.is_file() or DOCUMENT.read_text() != text:
            print(f"{DOCUMENT} is out of date: run python -m spatial.asyncapi", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.write_text(text)
    print(f"Wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
