"""The sample data: the sample video as a client's JPEG frames, its ground truth and camera, and the scripts
of `data/` that make it and the camera clips."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import cv2
import numpy as np

from harness.paths import DATA, SAMPLE_PATH, SAMPLE_VIDEO


def load_data_script(name: str) -> ModuleType:
    """`data/<name>.py` as a module, loaded once (`data/` is a folder of scripts, not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DATA / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def load_make_sample() -> ModuleType:
    """`data/make_sample.py`, which renders the sample video and its ground truth."""
    return load_data_script("make_sample")


def load_camera_clips() -> ModuleType:
    """`data/make_camera_clips.py`, which renders the clips the browser's fake camera plays."""
    return load_data_script("make_camera_clips")


def sample_truth() -> dict[str, Any]:
    """The sample video's ground truth (data/sample_path.json)."""
    return json.loads(SAMPLE_PATH.read_text())


def sample_camera() -> dict[str, Any]:
    """The sample video's camera, as the stream's `hello` gives it."""
    truth = sample_truth()
    return {"width": truth["width"], "height": truth["height"], **truth["intrinsics"]}


def jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """A BGR image as JPEG bytes, as a client would send it."""
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def sample_jpegs(quality: int = 85) -> Iterator[bytes]:
    """The sample video's frames as JPEG bytes, in order."""
    capture = cv2.VideoCapture(str(SAMPLE_VIDEO))
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        yield jpeg(frame, quality)
    capture.release()
