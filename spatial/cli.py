"""The `spatial` command: serve, replay, token, keys."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spatial.config import DEFAULT_STORE, SERVICE_KEY_ENV, Settings, open_store
from spatial.native_logs import route_native_logs
from spatial.network import is_loopback, url_host

if TYPE_CHECKING:
    from anchors import AccountService, User

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


def _use_https(args: argparse.Namespace) -> bool:
    """--https/--no-https as given; else on with a certificate of one's own or a host other devices reach."""
    https, certfile, keyfile = getattr(args, "https", None), getattr(args, "certfile", None), getattr(args, "keyfile", None)
    if (certfile is None) != (keyfile is None):
        raise SystemExit("error: --certfile and --keyfile go together: the certificate and its private key")
    if certfile is not None and https is False:
        raise SystemExit("error: --certfile and --keyfile are for HTTPS; drop --no-https")
    if https is None:
        return certfile is not None or not is_loopback(getattr(args, "host", Settings.host))
    return https


def _ray_addresses(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """--ray-address and --detector-cluster: one process joins one Ray cluster, which may serve both."""
    compute, detection = getattr(args, "ray_address", None), getattr(args, "detector_cluster", None)
    if compute and detection and compute != detection:
        raise SystemExit(f"error: --ray-address {compute} and --detector-cluster {detection} name two Ray clusters;"
                         " a service joins one: give both the same address")
    return compute, detection


def _settings(args: argparse.Namespace) -> Settings:
    options = detector_options(args.detector_option)
    ray_address, detector_cluster = _ray_addresses(args)
    if args.detector in ("markers", "auto"):
        options.setdefault("size_m", args.marker_size)
    return Settings(
        host=getattr(args, "host", "127.0.0.1"),
        port=getattr(args, "port", 8000),
        https=_use_https(args),
        certfile=getattr(args, "certfile", None),
        keyfile=getattr(args, "keyfile", None),
        store=args.store,
        detector=args.detector,
        plugins=tuple(args.plugin),
        detector_options=options,
        detect_every=args.detect_every,
        batch_size=args.batch_size,
        batch_wait_ms=args.batch_wait_ms,
        max_frames_per_second=getattr(args, "max_fps", Settings.max_frames_per_second),
        max_image_pixels=getattr(args, "max_image_pixels", Settings.max_image_pixels),
        ray_address=ray_address,
        detector_cluster=detector_cluster,
        service_key_file=args.service_key_file,
        service_key=os.environ.get(SERVICE_KEY_ENV) or None,
        record_dir=getattr(args, "record", None),
        max_view_distance_m=getattr(args, "max_view_distance", Settings.max_view_distance_m),
        max_lifted_objects=getattr(args, "max_lifted_objects", Settings.max_lifted_objects),
    )


def _store_settings(args: argparse.Namespace) -> Settings:
    return Settings(
        store=args.store, service_key_file=args.service_key_file,
        service_key=os.environ.get(SERVICE_KEY_ENV) or None,
    )


def _say_key_created(path: Path | None) -> None:
    if path is not None:
        print(f"Created the service key {path} (readable by you only). Keep it, and keep it apart from copies of"
              " the store: without it the blocks cannot be read.")


def _tls_files(settings: Settings) -> tuple[Path, Path] | None:
    """The certificate and key to serve HTTPS with (the user's own, checked, or the local CA's, made as
    needed), after saying which; None for plain HTTP."""
    from spatial import tls
    from spatial.join import device_bases

    if not settings.https:
        if not is_loopback(settings.host):
            print("Plain HTTP on an address other devices reach: their browsers give such a page no camera"
                  " and no WebXR (drop --no-https).")
        return None
    if settings.certfile is not None and settings.keyfile is not None:
        certificate = tls.load_key_pair(settings.certfile, settings.keyfile)
        print(f"HTTPS with {settings.certfile} ({certificate.subject.rfc4514_string()}).")
        return settings.certfile, settings.keyfile
    ca = tls.load_or_create_ca(settings.tls_dir)
    names = tls.server_names(settings.host)
    _, outside = tls.within_scope(ca.certificate, names)
    if outside.dns or outside.addresses:
        print(f"The local certificate authority may not sign for {outside} (it signs for local names and networks,"
              f" and those this machine was on when it was made): devices will not trust the service there. Move"
              f" {ca.cert_path} and its key away to make a new one, and install that on the devices.")
    server = tls.server_certificate(ca, names, settings.tls_dir)
    made = "Made the local certificate authority" if ca.created else "HTTPS with the local certificate authority"
    where = (device_bases(settings) or [f"https://{url_host(settings.host)}:{settings.port}"])[0]
    print(f"{made} {ca.cert_path} (SHA-256 {tls.fingerprint(ca.certificate)}). A phone or headset trusts this"
          f" service once it has installed it, from {where}/ca.crt (docs/devices.md).")
    if server.renewed:
        print(f"Made the server certificate {server.certfile} for {tls.certificate_names(server.certificate)}.")
    return server.certfile, server.keyfile


def _print_join_codes(settings: Settings, accounts: AccountService, owner: User) -> None:
    """For each address another device reaches the service at: a QR code of the address with a fresh
    device token (one for this start, replacing this replica's last start's)."""
    from spatial.join import device_bases, join_device, join_url, terminal_qr

    bases = device_bases(settings)
    if not bases:
        return
    device = join_device(settings)
    token = accounts.issue_token(owner, label=device, replace=True)
    print(f"To join from a phone or headset on the same network, scan a code below. Its token is for the device"
          f" {device!r}: the next start replaces it, `spatial token revoke {LOCAL_USER} --device {device}`"
          " ends it sooner; /join makes one for each device.")
    for base in bases:
        url = join_url(base, token)
        print(terminal_qr(url), end="")
        print(url)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from anchors.storage.database import shown
    from spatial.api import create_app
    from spatial.demo import seed_demo
    from spatial.services import Services

    settings = _settings(args)
    tls_files = _tls_files(settings)
    services = Services.build(settings)
    _say_key_created(services.store.created_key_file)
    owner, new_store = services.accounts.find_or_create(LOCAL_USER)
    if settings.demo and new_store and seed_demo(services.blocks, owner):
        print("Loaded the demo: a note and a table pinned to ArUco marker 7 (print data/marker_sheet.pdf).")
    token = services.accounts.issue_token(owner, label=f"serve@{settings.replica}", replace=True)
    shown_host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else url_host(settings.host)
    scheme = "https" if settings.https else "http"
    on_cluster = f" on the Ray cluster at {settings.detector_cluster}" if settings.detector_cluster else ""
    print(f"Store: {shown(settings.store)}   detector: {settings.detector}{on_cluster}   replica: {settings.replica}")
    if settings.record_dir is not None:
        print(f"Recording every stream's frames, faces blurred, into {settings.record_dir}")
    print(f"Open {scheme}://{shown_host}:{settings.port}/#token={token}")
    _print_join_codes(settings, services.accounts, owner)
    sys.stdout.flush()
    uvicorn.run(
        create_app(services),
        host=settings.host,
        port=settings.port,
        ws_max_size=settings.transport_max_bytes,
        log_level=args.log_level,
        ssl_certfile=tls_files[0] if tls_files else None,
        ssl_keyfile=tls_files[1] if tls_files else None,
    )
    return 0


def replay(args: argparse.Namespace) -> int:
    from spatial.replay import ReplayError
    from spatial.replay import replay as run_replay
    from spatial.services import Services
    from spatial.session import Viewer
    from vision import Intrinsics

    settings = _settings(args)
    services = Services.build(settings)
    user = services.accounts.ensure_user(args.user)
    intrinsics = None
    if args.intrinsics:
        fx, fy, cx, cy = (float(v) for v in args.intrinsics.split(","))
        intrinsics = Intrinsics(fx, fy, cx, cy, int(round(cx * 2 + 1)), int(round(cy * 2 + 1)))
    pipeline = services.pipeline
    viewer = Viewer(user, pipeline.compute, pipeline.layouts, settings.overlay_linger_s, settings.panel_metres_per_pixel)
    try:
        count = run_replay(pipeline, viewer, Path(args.video), Path(args.out), Path(args.log), intrinsics)
    except ReplayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        services.close()
    print(f"Wrote {count} frames to {args.out} and their log to {args.log}")
    return 0


TOKEN_ACTIONS = ("issue", "list", "revoke")


def token(args: argparse.Namespace) -> int:
    """`token USER` or `token issue USER` issues; `token list USER` lists; `token revoke USER` revokes."""
    from anchors import AccountService

    if args.second is None:
        action, name = "issue", args.first
    elif args.first in TOKEN_ACTIONS:
        action, name = args.first, args.second
    else:
        raise SystemExit(f"error: expected `spatial token [{'|'.join(TOKEN_ACTIONS)}] USER`, got {args.first!r} first")
    store = open_store(_store_settings(args))
    _say_key_created(store.created_key_file)
    accounts = AccountService(store)
    try:
        user = accounts.ensure_user(name) if action == "issue" else accounts.find_user(name)
        if user is None:
            print(f"error: no user named {name!r}", file=sys.stderr)
            return 2
        if action == "issue":
            print(accounts.issue_token(user, label=args.device or "cli"))
        elif action == "list":
            for info in accounts.tokens(user):
                print(f"{info.id}  {info.device}  {time.strftime('%Y-%m-%d %H:%M', time.localtime(info.created_at))}")
        elif args.id:
            accounts.revoke_token(user, args.id)
            print(f"Revoked {args.id} of {name}")
        elif args.device:
            print(f"Revoked {accounts.revoke_device(user, args.device)} token(s) of {name} on device {args.device!r}")
        else:
            raise SystemExit("error: say which token to revoke: --device NAME or --id TOKEN_ID")
    finally:
        store.close()
    return 0


def keys(args: argparse.Namespace) -> int:
    """`keys rotate`: rewrap every owner's data key under a new service key."""
    from anchors import ServiceKey
    from anchors.storage.database import shown

    store = open_store(_store_settings(args))
    new_file = Path(args.new_key_file)
    try:
        if new_file.exists():
            new_key = ServiceKey.from_file(new_file)
        else:
            new_key = ServiceKey.generate()
            new_key.save(new_file)
            print(f"Created the new service key {new_file} (readable by you only).")
        count = store.rotate_service_key(new_key)
    finally:
        store.close()
    print(f"Rewrapped {count} owner key(s) of {shown(args.store)} under {new_file}; block content was not touched.")
    print(f"From now on start with --service-key-file {new_file} (or {SERVICE_KEY_ENV} set to its content);"
          " the old key no longer opens the store and can be destroyed.")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="spatial", description="Blocks and compute pinned to real-world objects.")
    commands = root.add_subparsers(dest="command", required=True)

    def with_store(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--store", default=str(DEFAULT_STORE),
                       help="a SQLite file, or a PostgreSQL database as postgresql://user@host:port/db for several"
                            " replicas (default: %(default)s)")
        p.add_argument(
            "--service-key-file", type=Path, default=None,
            help=f"the key that opens the store's encrypted blocks ({SERVICE_KEY_ENV}, the key itself, wins over it;"
                 " default for SQLite: <store>.key; created with a new store; PostgreSQL needs one of the two)",
        )
        return p

    def with_detector(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--detector", default=Settings.detector,
                       help="detector backend: auto (MediaPipe objects and markers), markers, mediapipe, detectron2 "
                            "(default: %(default)s)")
        p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                       help="import a Python module of your own first, so that the detector backends it registers"
                            " can be named with --detector; repeatable")
        p.add_argument("--detect-every", type=int, default=Settings.detect_every,
                       help="run the detector every Nth frame, tracking objects in between (default: %(default)s)")
        p.add_argument("--marker-size", type=float, default=0.10, help="printed marker side in metres (default: %(default)s)")
        p.add_argument("--batch-size", type=int, default=Settings.batch_size,
                       help="detectron2: most frames, from all sessions, run as one batch (default: %(default)s)")
        p.add_argument("--batch-wait-ms", type=float, default=Settings.batch_wait_ms,
                       help="detectron2: how long a frame waits for others to join its batch (default: %(default)s)")
        p.add_argument(
            "--detector-option", action="append", default=[], metavar="KEY=VALUE",
            help="an option of the detector backend, repeatable (e.g. weights=model.pth)",
        )
        p.add_argument(
            "--detector-cluster", default=None, metavar="ADDRESS",
            help="run the detector on a Ray cluster as a Ray Serve deployment that every replica shares, with the"
                 " same backend here as the fallback: a cluster address (host:6379, ray://host:10001), auto, or"
                 " 'local' to start one here (default: in-process)",
        )
        return p

    p = with_detector(with_store(commands.add_parser("serve", help="run the service and the web client")))
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; 0.0.0.0 for phones and headsets on the network (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    p.add_argument("--https", action=argparse.BooleanOptionalAction, default=None,
                   help="serve HTTPS and WSS on the port, with a certificate from the local certificate authority"
                        " kept beside the store; plain HTTP there is refused (default: on when --host is not a"
                        " loopback address)")
    p.add_argument("--certfile", type=Path, default=None,
                   help="HTTPS with a certificate of your own (PEM, a chain may follow it) instead of the local CA's")
    p.add_argument("--keyfile", type=Path, default=None, help="the private key of --certfile (PEM, unencrypted)")
    p.add_argument("--max-fps", type=float, default=Settings.max_frames_per_second,
                   help="frames a second one session may send (default: %(default)s)")
    p.add_argument("--max-image-pixels", type=int, default=Settings.max_image_pixels, metavar="N",
                   help="a frame whose image declares more pixels (width x height) is refused before decoding"
                        " (default: %(default)s, 4096 x 4096)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument(
        "--ray-address", default=None,
        help="run compute on Ray: a cluster address (ray://host:10001, auto) or 'local' to start one here"
             " (default: in-process)",
    )
    p.add_argument("--record", type=Path, default=None, metavar="DIR",
                   help="write every processed stream frame, faces blurred, as JPEG with a JSON line each into DIR"
                        " (default: frames are never written)")
    p.add_argument("--max-view-distance", type=float, default=Settings.max_view_distance_m, metavar="METRES",
                   help="space anchors farther than this from the camera get no overlay and no compute"
                        " (default: %(default)s)")
    p.add_argument("--max-lifted-objects", type=int, default=Settings.max_lifted_objects, metavar="N",
                   help="objects placed in 3D per frame from depth or triangulation, highest scores first"
                        " (default: %(default)s)")
    p.set_defaults(run=serve)

    p = with_detector(with_store(commands.add_parser("replay", help="run the pipeline over a video file")))
    p.add_argument("video", help="input video file")
    p.add_argument("--out", required=True, help="annotated output video (.mp4)")
    p.add_argument("--log", required=True, help="JSON lines log, one line per frame")
    p.add_argument("--user", default=LOCAL_USER, help="whose blocks to show (default: %(default)s)")
    p.add_argument("--intrinsics", help="fx,fy,cx,cy in pixels (default: a 60 degree vertical field of view)")
    p.set_defaults(run=replay)

    p = with_store(commands.add_parser(
        "token", help="issue (a user is created if new), list or revoke a user's access tokens",
        description="spatial token USER | token issue USER [--device NAME] | token list USER |"
                    " token revoke USER (--device NAME | --id TOKEN_ID)",
    ))
    p.add_argument("first", metavar="ACTION|USER", help="issue (the default), list or revoke; or the user")
    p.add_argument("second", nargs="?", metavar="USER", help="the user, after an action")
    p.add_argument("--device", help="the device a token is for, a name (issue default: cli); revoke: all its tokens")
    p.add_argument("--id", help="revoke: the token with this id (tok_..., from `token list`)")
    p.set_defaults(run=token)

    keys_parser = commands.add_parser("keys", help="manage the service key")
    key_commands = keys_parser.add_subparsers(dest="keys_command", required=True)
    p = with_store(key_commands.add_parser(
        "rotate", help="rewrap the owners' data keys under a new service key (block content is not re-encrypted)",
    ))
    p.add_argument("--new-key-file", required=True, type=Path,
                   help="the new key: read if the file exists, else a new key is created in it (mode 0600)")
    p.set_defaults(run=keys)
    return root


OWN_LOGGERS = ("spatial", "anchors", "vision")
"""The project's loggers: what they say at info level is for the user. Other libraries speak up only for
warnings and errors (matplotlib, say, tells at info level that it built its font cache)."""


def configure_logging(command: str) -> None:
    """Warnings and errors of every library, and the project's own information, on standard error; the native
    libraries' log lines (MediaPipe's TensorFlow Lite and absl) at debug level, for the commands that load them."""
    if command in ("serve", "replay"):
        route_native_logs(logging.getLogger("vision.native"))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure_logging(args.command)
    from anchors import NotFound, ServiceKeyError, StoreFormatError
    from anchors.storage.database import StoreConnectionError
    from anchors.storage.locations import StoreLocationError
    from spatial.config import PluginError
    from spatial.tls import TLSConfigError
    from vision.detection import DetectorConfigError

    try:
        return args.run(args)
    except (DetectorConfigError, PluginError, ServiceKeyError, StoreConnectionError, StoreFormatError,
            StoreLocationError, NotFound, TLSConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
