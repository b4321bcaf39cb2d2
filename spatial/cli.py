"""The `spatial` command: serve, replay, token."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from spatial.config import DEFAULT_STORE, Settings

LOCAL_USER = "local"


def detector_options(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs; values are read as JSON where they parse (numbers, lists, booleans), else as text."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: --detector-option takes key=value, got {pair!r}")
        try:
            options[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            options[key.replace("-", "_")] = value
    return options


def _settings(args: argparse.Namespace) -> Settings:
    options = detector_options(args.detector_option)
    if args.detector in ("markers", "auto"):
        options.setdefault("size_m", args.marker_size)
    return Settings(
        host=getattr(args, "host", "127.0.0.1"),
        port=getattr(args, "port", 8000),
        store=Path(args.store),
        detector=args.detector,
        detector_options=options,
        detect_every=args.detect_every,
        max_frames_per_second=getattr(args, "max_fps", Settings.max_frames_per_second),
        ray_address=getattr(args, "ray_address", None),
    )


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from spatial.api import create_app
    from spatial.demo import seed_demo
    from spatial.services import Services

    settings = _settings(args)
    services = Services.build(settings)
    owner = services.blocks.ensure_user(LOCAL_USER)
    if settings.demo and seed_demo(services.blocks, owner):
        print("Loaded the demo: a note and a table pinned to ArUco marker 7 (print data/marker_sheet.pdf).")
    token = services.blocks.issue_token(owner, label="serve", replace=True)
    shown_host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    print(f"Store: {settings.store}   detector: {settings.detector}")
    print(f"Open http://{shown_host}:{settings.port}/#token={token}", flush=True)
    uvicorn.run(
        create_app(services),
        host=settings.host,
        port=settings.port,
        ws_max_size=settings.transport_max_bytes,
        log_level=args.log_level,
    )
    return 0


def replay(args: argparse.Namespace) -> int:
    from spatial.pipeline import Viewer
    from spatial.replay import ReplayError
    from spatial.replay import replay as run_replay
    from spatial.services import Services
    from vision import Intrinsics

    settings = _settings(args)
    services = Services.build(settings)
    user = services.blocks.ensure_user(args.user)
    intrinsics = None
    if args.intrinsics:
        fx, fy, cx, cy = (float(v) for v in args.intrinsics.split(","))
        intrinsics = Intrinsics(fx, fy, cx, cy, int(round(cx * 2 + 1)), int(round(cy * 2 + 1)))
    viewer = Viewer(user, settings.overlay_linger_s, settings.panel_metres_per_pixel)
    try:
        count = run_replay(services.pipeline, viewer, Path(args.video), Path(args.out), Path(args.log), intrinsics)
    except ReplayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        services.close()
    print(f"Wrote {count} frames to {args.out} and their log to {args.log}")
    return 0


def token(args: argparse.Namespace) -> int:
    from anchors import BlockService, SQLiteStore

    blocks = BlockService(SQLiteStore(args.store))
    user = blocks.ensure_user(args.user)
    print(blocks.issue_token(user, label=args.label))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="spatial", description="Blocks and compute pinned to real-world objects.")
    commands = root.add_subparsers(dest="command", required=True)

    def with_store(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--store", default=str(DEFAULT_STORE), help="SQLite file (default: %(default)s)")
        return p

    def with_detector(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--detector", default=Settings.detector,
                       help="detector backend: auto (MediaPipe objects and markers), markers, mediapipe, detectron2 "
                            "(default: %(default)s)")
        p.add_argument("--detect-every", type=int, default=Settings.detect_every,
                       help="run the detector every Nth frame, tracking objects in between (default: %(default)s)")
        p.add_argument("--marker-size", type=float, default=0.10, help="printed marker side in metres (default: %(default)s)")
        p.add_argument(
            "--detector-option", action="append", default=[], metavar="KEY=VALUE",
            help="an option of the detector backend, repeatable (e.g. weights=model.pth)",
        )
        return p

    p = with_detector(with_store(commands.add_parser("serve", help="run the service and the web client")))
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    p.add_argument("--max-fps", type=float, default=Settings.max_frames_per_second,
                   help="frames a second one session may send (default: %(default)s)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument(
        "--ray-address", default=None,
        help="run compute on Ray: a cluster address (ray://host:10001, auto) or 'local' to start one here"
             " (default: in-process)",
    )
    p.set_defaults(run=serve)

    p = with_detector(with_store(commands.add_parser("replay", help="run the pipeline over a video file")))
    p.add_argument("video", help="input video file")
    p.add_argument("--out", required=True, help="annotated output video (.mp4)")
    p.add_argument("--log", required=True, help="JSON lines log, one line per frame")
    p.add_argument("--user", default=LOCAL_USER, help="whose blocks to show (default: %(default)s)")
    p.add_argument("--intrinsics", help="fx,fy,cx,cy in pixels (default: a 60 degree vertical field of view)")
    p.set_defaults(run=replay)

    p = with_store(commands.add_parser("token", help="issue an access token for a user (created if new)"))
    p.add_argument("user")
    p.add_argument("--label", default="cli", help="a name for the token (default: %(default)s)")
    p.set_defaults(run=token)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from vision.detection import DetectorConfigError

    try:
        return args.run(args)
    except DetectorConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
