"""`ray`: another backend, run on a Ray cluster as one deployment every service replica shares, with a local fallback.

`spatial serve --detector-cluster ADDRESS` wraps the backend named by
`--detector` in this one. It joins the cluster at `address` (`auto`, a
`host:port` or `ray://host:10001` address, or `local` to start one in this
process), starts the backend's deployment there unless it runs already
(`vision.serving.deploy`), and builds the same backend here as the fallback.

A frame goes to the deployment as the bytes the client sent (a stream's frame
is an `EncodedFrame`, which keeps them; any other image is encoded as JPEG
here), from a thread of this detector: `submit` returns a future at once, so
each stream's tracker runs detection asynchronously with at most one frame in
flight, as it does with the local batching queue. When a call fails, or takes
longer than `timeout_s`, the backend is in an outage (`outage()`, which each
stream reports once as a `detector_unavailable` error): frames are detected
here meanwhile, and a thread asks the deployment every `retry_s` until it
answers again, after which frames go to the cluster again. A frame that the
backend itself fails on raises, as it would here.
"""

from __future__ import annotations

import logging
import socket
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from vision.camera import Intrinsics
from vision.detection import DETECTORS, Detection, DetectorConfigError, Detector, Outage, create_detector
from vision.frames import encoded_bytes

if TYPE_CHECKING:
    from ray.serve.handle import DeploymentHandle, DeploymentResponse

log = logging.getLogger(__name__)

JPEG_QUALITY = 90


@DETECTORS.register("ray")
class RayServeDetector(Detector):
    """The backend `backend` with `options`, run by a Ray Serve deployment on the cluster at `address`.

    `batch_size` and `batch_wait_ms` size the deployment's batching queue, which imports the module that
    registers the backend first (one of your own too). `max_in_flight` bounds the calls waiting at once (one
    per stream; more streams wait their turn).
    """

    def __init__(
        self,
        address: str = "auto",
        backend: str = "auto",
        options: dict[str, Any] | None = None,
        batch_size: int = 8,
        batch_wait_ms: float = 10.0,
        timeout_s: float = 2.0,
        retry_s: float = 1.0,
        max_in_flight: int = 64,
    ) -> None:
        if backend == self.name:
            raise DetectorConfigError("the ray backend runs another backend on the cluster: name that one")
        options = dict(options or {})
        self.address = address
        self.backend = backend
        self.timeout_s = timeout_s
        self.retry_s = retry_s
        self.local = create_detector(backend, **options)
        try:
            self._started_ray = join_cluster(address)
            from vision.serving import DetectorSpec, deploy

            spec = DetectorSpec(backend, options, int(batch_size), float(batch_wait_ms), type(self.local).__module__)
            self.handle: DeploymentHandle = deploy(spec)
        except BaseException:
            self.local.close()
            raise
        self._lock = threading.Lock()
        self._outage: Outage | None = None
        self._outages = 0
        self._closed = threading.Event()
        self._calls = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="ray-detector")

    def submit(self, image: np.ndarray, intrinsics: Intrinsics) -> Future[list[Detection]]:
        """Hand one frame over without waiting; the future holds its detections."""
        return self._calls.submit(self.detect, image, intrinsics)

    def detect(self, image: np.ndarray, intrinsics: Intrinsics) -> list[Detection]:
        if self._outage is None:
            try:
                return self._detect_on_cluster(image, intrinsics)
            except Exception as exc:
                if not cluster_failed(exc):
                    raise  # the backend failed on this frame, as it could here
                self._lose_cluster(exc)
        return self.local.detect(image, intrinsics)

    def outage(self) -> Outage | None:
        return self._outage

    def close(self) -> None:
        self._closed.set()
        self._calls.shutdown(wait=False, cancel_futures=True)
        self.local.close()
        if self._started_ray:
            import ray

            ray.shutdown()

    def _detect_on_cluster(self, image: np.ndarray, intrinsics: Intrinsics) -> list[Detection]:
        encoded = encoded_bytes(image)
        if encoded is None:
            ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise ValueError(f"a {image.shape} image could not be encoded as JPEG")
            encoded = jpeg.tobytes()
        return self._result(self.handle.detect.remote(encoded, intrinsics)).unpacked()

    def _result(self, response: DeploymentResponse) -> Any:
        try:
            return response.result(timeout_s=self.timeout_s)
        except TimeoutError:
            response.cancel()
            raise

    def _lose_cluster(self, exc: Exception) -> None:
        """Start an outage (unless one runs) and the thread that waits for the deployment to answer again."""
        with self._lock:
            if self._outage is not None:
                return
            self._outages += 1
            self._outage = Outage(self._outages, (
                f"the {self.backend} detector on the Ray cluster at {self.address} does not answer"
                f" ({type(exc).__name__}); objects are detected on this server until it does"
            ))
        log.warning("%s: %s", self._outage.reason, exc)
        threading.Thread(target=self._wait_for_cluster, name="ray-detector-retry", daemon=True).start()

    def _wait_for_cluster(self) -> None:
        while not self._closed.wait(self.retry_s):
            try:
                self._result(self.handle.ping.remote())
            except Exception:  # noqa: BLE001  (still away; ask again)
                continue
            with self._lock:
                self._outage = None
            log.warning("the %s detector on the Ray cluster at %s answers again", self.backend, self.address)
            return


def join_cluster(address: str) -> bool:
    """Join the Ray cluster at `address` (`local` starts one in this process) unless this process has joined
    one; True when this call started Ray. Raises DetectorConfigError when there is no cluster there."""
    try:
        import ray
        from ray import serve  # noqa: F401
    except ImportError as exc:
        raise DetectorConfigError(
            f"a detector cluster needs Ray Serve ({exc}): pip install 'spatial-blocks[ray]'"
        ) from None

    if ray.is_initialized():
        return False
    try:
        check_reachable(address)
        ray.init(address=None if address == "local" else address, include_dashboard=False, log_to_driver=False)
    except OSError as exc:  # ConnectionError, a timeout, an unknown host
        raise DetectorConfigError(f"no Ray cluster answers at {address}: {exc}") from None
    return True


def check_reachable(address: str) -> None:
    """Raise OSError unless something listens at a `host:port` or `ray://host:port` address (Ray
    itself would wait for minutes at one where nothing does)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # `local`, `auto`: Ray finds the cluster, or says at once that there is none
    with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
        pass


def cluster_failed(exc: Exception) -> bool:
    """Whether a failed call means the deployment cannot be reached (else the backend raised on the frame,
    which Ray hands back as a RayTaskError)."""
    from ray.exceptions import RayTaskError

    return not isinstance(exc, RayTaskError)
