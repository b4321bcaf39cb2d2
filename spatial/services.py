"""The long-lived parts of a running service, built once from settings."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from anchors import BlockService, ComputeService, Limits, SQLiteStore, create_executor
from spatial.config import Settings, open_store
from anchors.signatures import SignatureStore
from spatial.objects import ObjectMemory
from spatial.pipeline import FramePipeline
from spatial.recording import FrameRecorder
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
    recorder: FrameRecorder | None = None

    @classmethod
    def build(cls, settings: Settings) -> Services:
        store = open_store(settings)
        blocks = BlockService(store, limits=Limits(
            settings.max_title_chars, settings.max_block_content_bytes, settings.max_blocks_per_object
        ))
        detector = create_detector(settings.detector, **settings.detector_options)
        compute = ComputeService(blocks, create_executor(settings.ray_address))
        objects = ObjectMemory(SignatureStore(settings.store))
        pipeline = FramePipeline(
            detector, blocks, settings.default_fov_y_deg, compute, objects, settings.detect_every
        )
        executor = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="frames")
        sessions = SessionCounter(settings.max_sessions_per_user)
        recorder = FrameRecorder(settings.record_dir) if settings.record_dir is not None else None
        return cls(settings, store, blocks, pipeline, executor, sessions, compute, objects, recorder)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.pipeline.detector.close()
        self.compute.close()
        self.objects.store.close()
        self.store.close()
