"""The long-lived parts of a running service, built once from settings."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from anchors import BlockService, SQLiteStore
from spatial.config import Settings
from spatial.pipeline import FramePipeline
from vision import create_detector


@dataclass
class Services:
    settings: Settings
    store: SQLiteStore
    blocks: BlockService
    pipeline: FramePipeline
    executor: ThreadPoolExecutor

    @classmethod
    def build(cls, settings: Settings) -> Services:
        store = SQLiteStore(settings.store)
        blocks = BlockService(store)
        detector = create_detector(settings.detector, **settings.detector_options)
        pipeline = FramePipeline(detector, blocks, settings.default_fov_y_deg)
        executor = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="frames")
        return cls(settings, store, blocks, pipeline, executor)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.store.close()
