"""MediaPipe's offline detectors: 2D boxes for 23 everyday classes, 3D boxes for four of them.

The 2D detector is the graph `ObjectDetectionOidV4Subgraph` of mediapipe
0.10.21 (SSD-MobileNetV2 trained on Open Images V4); its labels are mapped to
the project's vocabulary by `vision.labels.MEDIAPIPE_TO_COCO`. For cups,
chairs, shoes and cameras, MediaPipe Objectron's box-landmark models add a 3D
box, run in the same graph on the 2D detector's boxes (Objectron's own graph
would run the 2D detector a second time): the box's nine projected keypoints
and its proportions give a 6DoF pose by PnP with the frame's own intrinsics.
A single image fixes a box's shape but not its size, so the box is scaled to a
typical size for its class (`OBJECT_SIZES_M`, overridable); the pose's
distance is as good as that guess.

The object frame of a 3D box is Objectron's: origin at the box centre, y up
along the object, z out of its front, x to its right, metres. `corners` holds
the eight projected box corners in Objectron's keypoint order.

Object ids from this backend only name a detection within its frame
(`mediapipe:cup/0`); `vision.tracking.Tracker` gives each physical object its
identity. mediapipe is imported when the detector is built, so the rest of
`vision` works without it. Everything runs on the CPU with weights installed
by `scripts/install_mediapipe.sh`; nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vision.backends.markers import pose_matrix
from vision.boxes import clip_box, iou_matrix, suppress_overlaps
from vision.camera import Intrinsics
from vision.detection import DETECTORS, Detection, Detector, DetectorConfigError
from vision.labels import MEDIAPIPE_TO_COCO

INSTALL_ADVICE = "install it with `make mediapipe` (runs scripts/install_mediapipe.sh)"
SSD_MODEL = "object_detection_ssd_mobilenetv2_oidv4_fp16.tflite"

# Class -> the weights of its Objectron box-landmark model.
OBJECTRON_MODELS: dict[str, str] = {
    "cup": "object_detection_3d_cup.tflite",
    "chair": "object_detection_3d_chair.tflite",
    "shoe": "object_detection_3d_sneakers.tflite",
    "camera": "object_detection_3d_camera.tflite",
}

# Typical longest side of a 3D box, in metres, which fixes the scale of its pose.
OBJECT_SIZES_M: dict[str, float] = {"cup": 0.12, "chair": 0.90, "shoe": 0.28, "camera": 0.13}

# Objectron's nine keypoints (centre, then the corners) on a unit box in the object frame.
UNIT_BOX = 0.5 * np.array(
    [[0, 0, 0], [-1, -1, -1], [-1, -1, 1], [-1, 1, -1], [-1, 1, 1], [1, -1, -1], [1, -1, 1], [1, 1, -1], [1, 1, 1]],
    dtype=np.float64,
)

DETECTOR_NODES = """
input_stream: "image"
input_side_packet: "allowed_labels"
output_stream: "detections"
node {
  calculator: "ObjectDetectionOidV4Subgraph"
  input_stream: "IMAGE:image"
  input_side_packet: "LABELS_CSV:allowed_labels"
  output_stream: "DETECTIONS:detections"
}
node {
  calculator: "ImagePropertiesCalculator"
  input_stream: "IMAGE_CPU:image"
  output_stream: "SIZE:image_size"
}
"""

# For one class: its detections' boxes -> Objectron's box landmarks -> a lifted 3D box. It is
# the second half of mediapipe's ObjectronCpuSubgraph, fed by the detector above.
BOX_3D_NODES = """
input_side_packet: "{c}_labels"
input_side_packet: "{c}_model_path"
output_stream: "{c}_boxes"
node {{
  calculator: "FilterDetectionCalculator"
  input_stream: "DETECTIONS:detections"
  input_side_packet: "LABELS_CSV:{c}_labels"
  output_stream: "DETECTIONS:{c}_detections"
}}
node {{
  calculator: "DetectionsToRectsCalculator"
  input_stream: "DETECTIONS:{c}_detections"
  input_stream: "IMAGE_SIZE:image_size"
  output_stream: "NORM_RECTS:{c}_rects"
  options {{ [mediapipe.DetectionsToRectsCalculatorOptions.ext] {{ output_zero_rect_for_empty_detections: false }} }}
}}
node {{
  calculator: "ResourceProviderCalculator"
  input_side_packet: "RESOURCE_ID:0:{c}_model_path"
  output_side_packet: "RESOURCE:0:{c}_model_resource"
}}
node {{
  calculator: "TfLiteModelCalculator"
  input_side_packet: "MODEL_RESOURCE:{c}_model_resource"
  output_side_packet: "MODEL:{c}_model"
}}
node {{
  calculator: "BeginLoopNormalizedRectCalculator"
  input_stream: "ITERABLE:{c}_rects"
  input_stream: "CLONE:image"
  output_stream: "ITEM:{c}_rect"
  output_stream: "CLONE:{c}_image"
  output_stream: "BATCH_END:{c}_batch_end"
}}
node {{
  calculator: "BoxLandmarkSubgraph"
  input_stream: "IMAGE:{c}_image"
  input_stream: "NORM_RECT:{c}_rect"
  input_side_packet: "MODEL:{c}_model"
  output_stream: "NORM_LANDMARKS:{c}_landmarks"
}}
node {{
  calculator: "EndLoopNormalizedLandmarkListVectorCalculator"
  input_stream: "ITEM:{c}_landmarks"
  input_stream: "BATCH_END:{c}_batch_end"
  output_stream: "ITERABLE:{c}_all_landmarks"
}}
node {{
  calculator: "LandmarksToFrameAnnotationCalculator"
  input_stream: "MULTI_LANDMARKS:{c}_all_landmarks"
  output_stream: "FRAME_ANNOTATION:{c}_annotations"
}}
node {{
  calculator: "Lift2DFrameAnnotationTo3DCalculator"
  input_stream: "FRAME_ANNOTATION:{c}_annotations"
  output_stream: "LIFTED_FRAME_ANNOTATION:{c}_boxes"
  options {{
    [mediapipe.Lift2DFrameAnnotationTo3DCalculatorOptions.ext] {{ normalized_focal_x: 1 normalized_focal_y: 1 }}
  }}
}}
"""


def models_dir() -> Path:
    """Where the installed mediapipe package keeps its Objectron models; DetectorConfigError if not installed."""
    try:
        spec = importlib.util.find_spec("mediapipe")
    except (ImportError, ValueError):  # ValueError: a module blocked with sys.modules["mediapipe"] = None
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise DetectorConfigError(f"detector 'mediapipe' needs the mediapipe package: {INSTALL_ADVICE}")
    return Path(spec.submodule_search_locations[0]) / "modules" / "objectron"


def check_models(directory: Path, names: list[str]) -> None:
    """Raise DetectorConfigError naming the weight files missing from `directory`, if any."""
    missing = [name for name in names if not (directory / name).is_file()]
    if missing:
        raise DetectorConfigError(f"mediapipe weights missing from {directory}: {', '.join(missing)}; {INSTALL_ADVICE}")


@DETECTORS.register("mediapipe")
class MediaPipeDetector(Detector):
    """2D boxes for MediaPipe's 23 classes, with 3D boxes and poses for cups, chairs, shoes and cameras.

    Options: `min_score` (0-1), `max_objects` per frame, `classes` (names in the
    project's vocabulary to keep; default all), `objectron` (False: 2D only),
    `object_sizes_m` (class -> longest side in metres, for 3D poses).
    """

    def __init__(
        self,
        min_score: float = 0.4,
        max_objects: int = 10,
        classes: list[str] | None = None,
        objectron: bool = True,
        object_sizes_m: dict[str, float] | None = None,
    ) -> None:
        if not 0.0 <= min_score <= 1.0:
            raise DetectorConfigError(f"min_score must be within 0..1, got {min_score}")
        known = sorted(set(MEDIAPIPE_TO_COCO.values()))
        unknown = sorted(set(classes or ()) - set(known))
        if unknown:
            raise DetectorConfigError(f"mediapipe cannot detect {unknown}; its classes: {', '.join(known)}")
        self.min_score = min_score
        self.max_objects = max_objects
        self.classes = set(classes or known)
        self.sizes_m = {**OBJECT_SIZES_M, **(object_sizes_m or {})}
        self.boxes_3d = [c for c in OBJECTRON_MODELS if c in self.classes] if objectron else []
        directory = models_dir()
        check_models(directory, [SSD_MODEL, *(OBJECTRON_MODELS[c] for c in self.boxes_3d)])
        mp = _import_mediapipe()
        side_inputs = {"allowed_labels": _labels_of(self.classes)}
        for c in self.boxes_3d:
            side_inputs[f"{c}_labels"] = _labels_of({c})
            side_inputs[f"{c}_model_path"] = str(directory / OBJECTRON_MODELS[c])
        self._graph = mp.SolutionBase(
            graph_config=mp.parse_graph(DETECTOR_NODES + "".join(BOX_3D_NODES.format(c=c) for c in self.boxes_3d)),
            side_inputs=side_inputs,
            calculator_params={
                "objectdetectionoidv4subgraph__TensorsToDetectionsCalculator.min_score_thresh": min_score,
            },
            outputs=["detections", *(f"{c}_boxes" for c in self.boxes_3d)],
        )
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray, intrinsics: Intrinsics) -> list[Detection]:
        rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        with self._lock:
            results = self._graph.process(rgb)
        height, width = rgb.shape[:2]
        found = self._detections_2d(results.detections or [], width, height)
        for label in self.boxes_3d:
            boxes = getattr(results, f"{label}_boxes")
            same = [d for d in found if d.label == label]
            if boxes is not None and boxes.annotations and same:
                self._add_3d_boxes(boxes.annotations, same, (width, height), intrinsics)
        return found

    def _detections_2d(self, raw: list[Any], width: int, height: int) -> list[Detection]:
        candidates = []
        for item in raw:
            box = item.location_data.relative_bounding_box
            pixels = clip_box(
                (box.xmin * width, box.ymin * height, (box.xmin + box.width) * width, (box.ymin + box.height) * height),
                width, height,
            )
            if pixels[2] > pixels[0] and pixels[3] > pixels[1]:
                candidates.append((MEDIAPIPE_TO_COCO[item.label[0]], float(item.score[0]), pixels, item.label[0]))
        found: list[Detection] = []
        # "Mug" and "Coffee cup" (and the like) are one class here: keep the best of overlapping twins.
        for label in sorted({c[0] for c in candidates}):
            same = [c for c in candidates if c[0] == label]
            for index in suppress_overlaps([c[2] for c in same], [c[1] for c in same], max_iou=0.5):
                _, score, pixels, source_label = same[index]
                found.append(Detection(
                    object_id="", label=label, score=score, box=pixels, backend=self.name,
                    extra={"source_label": source_label},
                ))
        found.sort(key=lambda d: -d.score)
        found = found[: self.max_objects]
        for index, detection in enumerate(found):
            detection.object_id = f"mediapipe:{detection.label}/{index}"
        return found

    def _add_3d_boxes(
        self, annotations: Any, detections: list[Detection], size: tuple[int, int], intrinsics: Intrinsics
    ) -> None:
        """Give each detection the pose and projected corners of the 3D box that matches it."""
        width, height = size
        keypoints = [
            np.array([(k.point_2d.x * width, k.point_2d.y * height) for k in a.keypoints], dtype=np.float64)
            for a in annotations
        ]
        overlaps = iou_matrix([d.box for d in detections], [(*k.min(axis=0), *k.max(axis=0)) for k in keypoints])
        for d_index, detection in enumerate(detections):
            a_index = int(np.argmax(overlaps[d_index]))
            if overlaps[d_index, a_index] < 0.3:
                continue
            dims = np.asarray(annotations[a_index].scale, dtype=np.float64)
            dims = dims / dims.max() * self.sizes_m[detection.label]
            pose = box_pose(keypoints[a_index], dims, intrinsics)
            if pose is not None:
                detection.pose = pose
                detection.corners = keypoints[a_index][1:].astype(np.float32)
                detection.extra["size_m"] = [round(float(v), 4) for v in dims]


def box_pose(keypoints: np.ndarray, dims_m: np.ndarray, intrinsics: Intrinsics) -> np.ndarray | None:
    """Object-to-camera pose of a box of size `dims_m` whose nine keypoints project to `keypoints`.

    None when PnP fails or the fit is poor (mean reprojection error over a
    tenth of the projected box's size).
    """
    points = UNIT_BOX * dims_m
    camera = intrinsics.matrix()
    ok, rvec, tvec = cv2.solvePnP(points, keypoints, camera, None, flags=cv2.SOLVEPNP_EPNP)
    if not ok or tvec[2, 0] <= 0:
        return None
    rvec, tvec = cv2.solvePnPRefineLM(points, keypoints, camera, None, rvec, tvec)
    projected = cv2.projectPoints(points, rvec, tvec, camera, None)[0].reshape(-1, 2)
    extent = float(np.linalg.norm(keypoints.max(axis=0) - keypoints.min(axis=0)))
    if float(np.linalg.norm(projected - keypoints, axis=1).mean()) > 0.1 * extent:
        return None
    return pose_matrix(rvec, tvec)


def _labels_of(classes: set[str]) -> str:
    """MediaPipe's labels for some of the project's classes, as the graph's comma-separated list."""
    return ",".join(oid for oid, coco in MEDIAPIPE_TO_COCO.items() if coco in classes)


class _MediaPipe:
    """The few mediapipe entry points this backend uses, imported on first use."""

    def __init__(self) -> None:
        from google.protobuf import text_format
        from mediapipe.calculators.util import detections_to_rects_calculator_pb2  # noqa: F401 (graph options)
        from mediapipe.framework import calculator_pb2
        from mediapipe.modules.objectron.calculators import (  # noqa: F401 (graph options)
            lift_2d_frame_annotation_to_3d_calculator_pb2,
        )
        from mediapipe.python.solution_base import SolutionBase

        self.SolutionBase = SolutionBase
        self._text_format = text_format
        self._config = calculator_pb2.CalculatorGraphConfig

    def parse_graph(self, text: str) -> Any:
        return self._text_format.Parse(text, self._config())


def _import_mediapipe() -> _MediaPipe:
    try:
        return _MediaPipe()
    except ImportError as exc:
        raise DetectorConfigError(f"detector 'mediapipe' cannot import mediapipe ({exc}); {INSTALL_ADVICE}") from exc
