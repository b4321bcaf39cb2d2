"""A detector backend as a Ray Serve deployment that every service replica calls.

The deployment builds the backend named in its arguments on a machine of the
cluster (a backend behind the batching queue, detectron2, on a GPU when the
cluster has one; MediaPipe and markers on a CPU) and puts it behind the queue
of `vision.batching`, so that the frames of all replicas' streams run together
in batches (a backend without a batched entry point runs a batch one frame
after another). Replicas call it through a deployment handle: Serve's HTTP
proxy is not started. A frame goes as its JPEG bytes with its intrinsics; its
detections come back as `Detection`s, masks packed to bits on the way.

`deploy` finds the application of one backend and its options running on the
cluster, or starts it, so every replica configured alike shares one
deployment. This module imports Ray Serve: the service imports it only when it
joins a cluster (`vision.backends.ray_serve`).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import ray
from ray import serve
from ray.serve.handle import DeploymentHandle

from vision.batching import BatchingDetector, BatchStats
from vision.camera import Intrinsics
from vision.detection import DETECTORS, Detection, DetectorConfigError, create_detector
from vision.frames import decode_image

APPLICATION_PREFIX = "spatial-detector"
LIVE = ("RUNNING", "DEPLOYING", "UNHEALTHY")
"""Application states in which its handle is used as it is (an unhealthy one is being repaired by Serve)."""


@dataclass(frozen=True)
class Reply:
    """A frame's detections on their way back; a mask travels as bits (a 640x480 mask: 300 KB as booleans,
    38 KB as bits)."""

    detections: list[Detection]
    masks: list[tuple[np.ndarray, tuple[int, ...]] | None]

    @classmethod
    def of(cls, detections: list[Detection]) -> Reply:
        return cls(
            [replace(d, mask=None) for d in detections],
            [None if d.mask is None else (np.packbits(d.mask, axis=None), d.mask.shape) for d in detections],
        )

    def unpacked(self) -> list[Detection]:
        return [
            d if packed is None else replace(d, mask=unpack_mask(*packed))
            for d, packed in zip(self.detections, self.masks)
        ]


def unpack_mask(bits: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.unpackbits(bits, count=int(np.prod(shape))).reshape(shape).astype(bool)


@dataclass(frozen=True)
class DetectorSpec:
    """What the deployment runs: a backend by name with its options, and the batching queue's size and wait.
    `module` is the one that registers the backend, imported first (a `--plugin` of one's own, say)."""

    backend: str
    options: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 8
    batch_wait_ms: float = 10.0
    module: str = "vision.backends"

    def application_name(self) -> str:
        """The Serve application that runs it: replicas configured alike share one."""
        settings = json.dumps(asdict(self), sort_keys=True, default=str)
        return f"{APPLICATION_PREFIX}-{self.backend}-{hashlib.sha256(settings.encode()).hexdigest()[:10]}"


@dataclass(frozen=True)
class ReplicaStats:
    """What one replica of the deployment did: its process and its batches."""

    pid: int
    batches: BatchStats


class DetectorDeployment:
    """One backend behind the batching queue, in a replica of a Ray Serve deployment."""

    def __init__(self, spec: DetectorSpec) -> None:
        importlib.import_module(spec.module)
        detector = create_detector(spec.backend, **spec.options)
        self.queue = (detector if isinstance(detector, BatchingDetector)
                      else BatchingDetector(detector, spec.batch_size, spec.batch_wait_ms))

    async def detect(self, frame: bytes, intrinsics: Intrinsics) -> Reply:
        """The detections of one JPEG frame, run in a batch with the frames that arrive with it.

        The frame is decoded and queued right in the replica's event loop (a few milliseconds, and the queue
        has room: Serve sends a replica no more frames at once than the queue holds), so frames that arrive
        together reach the queue together and leave in one batch.
        """
        queued = self.queue.submit(decode_image(frame), intrinsics)
        return Reply.of(await asyncio.wrap_future(queued))

    def stats(self) -> ReplicaStats:
        return ReplicaStats(os.getpid(), self.queue.stats())

    def ping(self) -> bool:
        """Answers once the replica is up, its backend built: the service's way to see the cluster is back."""
        return True

    def __del__(self) -> None:
        """Serve calls this when the replica stops: frames still queued fail, the inference thread ends."""
        if hasattr(self, "queue"):  # not when the backend could not be built
            self.queue.close()


def replica_resources(backend: str) -> dict[str, float]:
    """What one replica of the deployment takes: a GPU for a backend behind the batching queue (detectron2)
    when the cluster has one, else a CPU."""
    import vision.backends  # noqa: F401  (registers the built-in backends)

    if issubclass(DETECTORS.get(backend), BatchingDetector) and ray.cluster_resources().get("GPU", 0) >= 1:
        return {"num_gpus": 1}
    return {"num_cpus": 1}


def autoscaling(resources: dict[str, float], batch_size: int) -> dict[str, Any]:
    """Ray Serve's autoscaling of the deployment: one replica, and another whenever more than a batch of frames
    waits for each, up to one replica per GPU (or CPU) the cluster had when it was deployed."""
    kind = "GPU" if "num_gpus" in resources else "CPU"
    most = max(1, int(ray.cluster_resources().get(kind, 1)))
    return {"min_replicas": 1, "max_replicas": most, "target_ongoing_requests": batch_size}


def deploy(spec: DetectorSpec) -> DeploymentHandle:
    """A handle to the deployment of `spec` on the cluster this process joined, started if it does not run.

    Raises DetectorConfigError when it cannot start there (a bad option, or code the cluster lacks).
    """
    name = spec.application_name()
    serve.start(proxy_location="Disabled")
    running = serve.status().applications.get(name)
    if running is not None and running.status in LIVE:
        return serve.get_app_handle(name)
    resources = replica_resources(spec.backend)
    deployment = serve.deployment(
        DetectorDeployment, name="detector", ray_actor_options=resources,
        max_ongoing_requests=4 * spec.batch_size, autoscaling_config=autoscaling(resources, spec.batch_size),
    )
    try:
        return serve.run(deployment.bind(spec), name=name, route_prefix=None)
    except RuntimeError as exc:
        raise DetectorConfigError(
            f"the {spec.backend} detector did not start on the Ray cluster: {why_not_deployed(name) or exc} (the"
            " cluster's nodes need this project installed, and the module of a backend of one's own, and the paths"
            " in detector options must exist there)"
        ) from None


def why_not_deployed(name: str) -> str | None:
    """The last line of what a failed deployment of the application reported (the exception its replica
    raised), if any."""
    application = serve.status().applications.get(name)
    messages = [d.message for d in application.deployments.values()] if application is not None else []
    lines = [line.strip() for message in messages for line in message.splitlines() if line.strip()]
    return lines[-1] if lines else None
