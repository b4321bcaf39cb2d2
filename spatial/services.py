"""The long-lived parts of a running service, built once from settings."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from anchors import BlockService, ComputeService, SQLiteStore, create_executor
from spatial.config import Settings
from anchors.signatures import SignatureStore
from spatial.objects import ObjectMemory
from spatial.pipeline import FramePipeline
from spatial.session import SessionCounter
from vision import create_detector


@dataclass
class Services:
    settings: Settings
    store: SQLiteStore
    blocks: BlockService
    pipeline: FramePipeline
    executor: ThreadPoolExecutor
    sessions: SessionCounter
    compute: ComputeService
    objects: ObjectMemory

    @classmethod
    def build(cls, settings: Settings) -> Services:
        store = SQLiteStore(settings.store)
        blocks = BlockService(store)
        detector = create_detector(settings.detector, **settings.detector_options)
        compute = ComputeService(blocks, create_executor(settings.ray_address))
        objects = ObjectMemory(SignatureStore(settings.store))
        pipeline = FramePipeline(
            detector, blocks, settings.default_fov_y_deg, compute, objects, settings.detect_every
        )
        executor = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="frames")
        sessions = SessionCounter(settings.max_sessions_per_user)
        return cls(settings, store, blocks, pipeline, executor, sessions, compute, objects)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.compute.close()
        self.objects.store.close()
        self.store.close()
