"""Service settings with their defaults; the CLI fills them from flags."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anchors.storage.locations import url_scheme

if TYPE_CHECKING:
    from anchors import Store

DEFAULT_STORE = Path.home() / ".local" / "share" / "spatial" / "store.db"
SERVICE_KEY_ENV = "SPATIAL_SERVICE_KEY"


class PluginError(Exception):
    """A module named with `--plugin` could not be imported."""


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    https: bool = False
    """Serve HTTPS (and WSS) on `port`, plain HTTP refused; the CLI turns it on for a non-loopback host."""
    certfile: Path | None = None
    """With `keyfile`: the user's own certificate (a chain may follow it); None uses the local CA's."""
    keyfile: Path | None = None
    store: str = str(DEFAULT_STORE)
    """A SQLite file's path, or a PostgreSQL database's URL (`postgresql://user@host:port/db`)."""
    detector: str = "auto"
    detect_every: int = 5
    """Run the detector every Nth frame of a stream; a tracker carries objects in between."""
    detector_options: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 8
    """Backends behind the shared batching queue (detectron2): most frames, from all sessions, in one batch."""
    batch_wait_ms: float = 10.0
    """The latency budget: how long the oldest queued frame waits for others to fill its batch."""
    ray_address: str | None = None
    """Run compute on Ray: a cluster address, `auto`, or `local` to start one here; None runs it in-process."""
    detector_cluster: str | None = None
    """Run the detector on this Ray cluster, as a Ray Serve deployment every replica shares (an address, `auto`,
    or `local` to start one here), with the same backend here as the fallback; None runs it in-process."""
    demo: bool = True
    """Load the demo blocks (pinned to ArUco marker 7) into a new store (the start that creates its local user)."""
    plugins: tuple[str, ...] = ()
    """Python modules imported before the service is built: they register detector backends of their own."""
    max_frame_bytes: int = 2 * 1024 * 1024
    max_image_pixels: int = 4096 * 4096
    """A frame whose image header declares more pixels (width x height) is refused before it is decoded."""
    max_text_bytes: int = 64 * 1024
    max_frames_per_second: float = 60.0
    """Per session; faster frames are refused with a `rate_limited` error (at most one a second)."""
    max_sessions_per_user: int = 16
    max_request_bytes: int = 8 * 1024 * 1024
    """A REST request body; larger ones are refused with 413 before they are read."""
    max_title_chars: int = 200
    max_block_content_bytes: int = 256 * 1024
    """One block's content as compact JSON; a table's rows are blocks of their own."""
    max_blocks_per_object: int = 64
    """Anchors one user may put on one object (or one `class:` key)."""
    service_key_file: Path | None = None
    """The file holding the key that wraps the owners' data keys; None: `<store>.key` beside a SQLite store,
    created with a new store (a PostgreSQL store needs it, or `service_key`)."""
    service_key: str | None = field(default=None, repr=False)
    """The service key itself (from SPATIAL_SERVICE_KEY); wins over the file."""
    record_dir: Path | None = None
    """Record the frames of every stream here (faces blurred first); None records nothing."""
    default_fov_y_deg: float = 60.0
    """Used for a client that gives neither intrinsics nor a field of view."""
    overlay_linger_s: float = 0.5
    """How long an overlay stays after its object was last seen, to ride out missed detections."""
    stats_interval_s: float = 1.0
    panel_metres_per_pixel: float = 0.0005
    """Size of a world-locked panel: a 320-pixel-wide panel is 16 cm wide."""
    max_view_distance_m: float = 10.0
    """Space anchors farther from the camera than this are culled: no overlay, no compute."""
    max_lifted_objects: int = 8
    """Objects placed in 3D per frame (from depth or triangulation), highest scores first."""
    max_map_points: int = 200_000
    """Points in one space's map upload; more are refused with 413 (`max_map_points`)."""

    @property
    def tls_dir(self) -> Path:
        """Where the local certificate authority and the server certificate it signs are kept: beside a SQLite
        store; for a database named by URL, beside the service key file (else in the default folder)."""
        if url_scheme(self.store) is None:
            return Path(self.store).parent
        return self.service_key_file.parent if self.service_key_file is not None else DEFAULT_STORE.parent

    @property
    def replica(self) -> str:
        """This service's name among the replicas on one store: its host's name and its port. The tokens a
        start issues carry it, so a replica replaces its own last start's tokens and never another's."""
        return f"{socket.gethostname()}:{self.port}"

    @property
    def transport_max_bytes(self) -> int:
        """The WebSocket layer's own limit, above ours so oversized frames get a clear error."""
        return 4 * max(self.max_frame_bytes, self.max_text_bytes)


def open_store(settings: Settings) -> Store:
    """The store, opened with the service key from SPATIAL_SERVICE_KEY, the key file, or `<store>.key`."""
    from anchors import ServiceKey
    from anchors.storage.locations import open_store as open_location

    key = ServiceKey.from_text(settings.service_key, SERVICE_KEY_ENV) if settings.service_key else None
    return open_location(settings.store, key, settings.service_key_file)
