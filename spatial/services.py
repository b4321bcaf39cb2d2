"""The long-lived parts of a running service, built once from settings."""

from __future__ import annotations

import importlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from anchors import AccountService, BlockService, ComputeService, Limits, SpaceService, Store, create_executor
from spatial.changes import ChangeFeed, keep_caches_current
from spatial.config import PluginError, Settings, open_store
from spatial.objects import ObjectMemory
from spatial.pipeline import FramePipeline
from spatial.recording import FrameRecorder
from spatial.session import SessionCounter
from spatial.spaces import SpaceRegistry
from vision import DETECTORS, Detector, create_detector
from vision.batching import BatchingDetector

RAY_HEAD_WAIT_ENV = "RAY_gcs_rpc_server_reconnect_timeout_s"
RAY_HEAD_WAIT_S = 24 * 3600
"""How long a service that joined a Ray cluster waits for a lost head node before Ray ends the process (Ray's
own default, 60 s, would end the service with the head; meanwhile it detects locally). The environment wins."""


def import_plugins(names: tuple[str, ...]) -> None:
    """Import the modules named in settings, so that the detector backends they register can be chosen by name."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise PluginError(f"plugin {name!r} could not be imported: {exc}") from None


def backend_options(settings: Settings) -> dict[str, Any]:
    """The backend's options; a backend behind the shared batching queue also gets the batch size and wait
    (where its own options do not set them)."""
    import vision.backends  # noqa: F401  (registers the built-in backends)

    options = dict(settings.detector_options)
    if issubclass(DETECTORS.get(settings.detector), BatchingDetector):
        options.setdefault("batch_size", settings.batch_size)
        options.setdefault("batch_wait_ms", settings.batch_wait_ms)
    return options


def build_detector(settings: Settings) -> Detector:
    """The detector every session shares: the backend by name, or that backend on the detector cluster."""
    options = backend_options(settings)
    if settings.detector_cluster is None:
        return create_detector(settings.detector, **options)
    return create_detector("ray", address=settings.detector_cluster, backend=settings.detector, options=options,
                           batch_size=settings.batch_size, batch_wait_ms=settings.batch_wait_ms)


@dataclass
class Services:
    settings: Settings
    store: Store
    accounts: AccountService
    blocks: BlockService
    spaces: SpaceService
    pipeline: FramePipeline
    executor: ThreadPoolExecutor
    sessions: SessionCounter
    compute: ComputeService
    objects: ObjectMemory
    space_registry: SpaceRegistry
    changes: ChangeFeed
    recorder: FrameRecorder | None = None

    @classmethod
    def build(cls, settings: Settings) -> Services:
        import_plugins(settings.plugins)
        store = open_store(settings)
        blocks = BlockService(store, limits=Limits(
            settings.max_title_chars, settings.max_block_content_bytes, settings.max_blocks_per_object,
            settings.max_map_points,
        ))
        spaces = SpaceService(blocks)
        if settings.ray_address or settings.detector_cluster:
            os.environ.setdefault(RAY_HEAD_WAIT_ENV, str(RAY_HEAD_WAIT_S))
        # One detector for all sessions; a batching one (detectron2) merges their frames into batches.
        detector = build_detector(settings)
        compute = ComputeService(blocks, create_executor(settings.ray_address))
        changes = ChangeFeed(store)  # listening before the memory reads the store; it catches up on any change
        objects = ObjectMemory(store.signatures())
        space_registry = SpaceRegistry(spaces, settings.max_view_distance_m)
        recorder = FrameRecorder(settings.record_dir) if settings.record_dir is not None else None
        pipeline = FramePipeline(
            detector, blocks, settings.default_fov_y_deg, compute, objects, settings.detect_every,
            settings.max_lifted_objects, space_registry, recorder, settings.max_image_pixels,
        )
        keep_caches_current(changes, compute, pipeline.layouts, space_registry, objects)
        executor = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="frames")
        sessions = SessionCounter(settings.max_sessions_per_user)
        return cls(settings, store, AccountService(store), blocks, spaces, pipeline, executor, sessions, compute, objects,
                   space_registry, changes, recorder)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.pipeline.detector.close()
        self.compute.close()
        self.store.close()
