"""detectron2: Mask R-CNN and the rest of its model zoo, or a model of your own.

Options (all optional; `--detector-option key=value` on the command line):

- `config`: a model-zoo config name (`COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml`)
  or a path to a detectron2 `.yaml` config.
- `weights`: a local checkpoint (`.pth` as detectron2 saves it, or a model-zoo `.pkl`) or a
  URL. Default: the config's `MODEL.WEIGHTS` (a relative path is looked up beside the
  config file); for a model-zoo name, that model's trained weights from the model zoo
  (needs internet). `random` builds the model untrained, for benchmarks.
- `device`: `auto` (CUDA when torch sees a GPU, else CPU), `cpu`, `cuda`, `cuda:1`.
- `score_threshold`: drop detections scoring below it (0.5).
- `classes`: keep only these labels (a list, or names separated by commas).
- `labels`: the names of the model's classes in order, when neither the checkpoint
  (its `thing_classes`) nor the class count (80: COCO) tells them.
- `min_size`, `max_size`: the shortest and longest image side the model sees (default: the
  config's `INPUT.MIN_SIZE_TEST`, `INPUT.MAX_SIZE_TEST`).
- `max_detections`: per image (default: the config's `TEST.DETECTIONS_PER_IMAGE`).
- `precision`: `fp32`, `bf16` (CUDA or CPU) or `fp16` (CUDA), through autocast.
- `compile`: `true` or a torch.compile mode (`reduce-overhead` adds CUDA graphs,
  `max-autotune`) for the backbone and FPN.
- `batch_size`, `batch_wait_ms`, `max_pending`: the shared batching queue (vision/batching.py).

Labels are names from `vision.labels`: COCO's for COCO models. Each object is
`detectron2:<label>/<n>`, n counting that label's detections in the frame by
falling score. Each detection carries its instance mask, a boolean image-sized array.

torch and detectron2 are imported when a detector is built, so the rest of the
project runs without them; scripts/install_detectron2.py installs them.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vision.batching import BatchingDetector
from vision.camera import Intrinsics
from vision.detection import DETECTORS, Detection, DetectorConfigError
from vision.labels import COCO_CLASSES

log = logging.getLogger(__name__)

DEFAULT_CONFIG = "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml"
RANDOM_WEIGHTS = "random"
LABELS_KEY = "thing_classes"
"""The checkpoint entry naming the model's classes in order, as detectron2's dataset metadata does."""
INSTANCE_ARCHITECTURES = ("GeneralizedRCNN", "RetinaNet", "PanopticFPN")
PRECISIONS = ("fp32", "bf16", "fp16")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
INSTALL_HINT = "install it with `make detectron2` (scripts/install_detectron2.py); see docs/detectron2.md"


def import_detectron2() -> None:
    """Import torch and detectron2, with a clear error where they are missing, and register our backbones."""
    try:
        import detectron2  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        raise DetectorConfigError(f"the detectron2 backend needs torch and detectron2 ({exc}); {INSTALL_HINT}") from None
    register_backbones()


POOLED_FPN_BACKBONE = "build_resnet_fpn_pooled_backbone"


def register_backbones() -> None:
    """Add this project's backbone builder to detectron2's registry (once).

    `build_resnet_fpn_pooled_backbone` is detectron2's ResNet-FPN whose extra,
    coarsest level is max-pooled from the last FPN level, so a small trunk can
    stop at res4 (a ResNet-18's res5 alone holds 8 of its 11 M parameters).
    A ResNet-18 or -34 trunk takes its widths from `MODEL.RESNETS.STEM_OUT_CHANNELS`
    and `RES2_OUT_CHANNELS`, which detectron2's own builder fixes at 64.
    """
    from detectron2.modeling import BACKBONE_REGISTRY
    from detectron2.modeling.backbone.fpn import FPN, LastLevelMaxPool
    from detectron2.modeling.backbone.resnet import build_resnet_backbone

    if POOLED_FPN_BACKBONE in BACKBONE_REGISTRY:
        return

    def build_resnet_fpn_pooled_backbone(cfg: Any, input_shape: Any) -> Any:
        basic = cfg.MODEL.RESNETS.DEPTH in BASIC_BLOCKS_PER_STAGE
        bottom_up = (build_basic_resnet if basic else build_resnet_backbone)(cfg, input_shape)
        last_stride = bottom_up.output_shape()[cfg.MODEL.FPN.IN_FEATURES[-1]].stride
        top = LastLevelMaxPool()
        top.in_feature = f"p{int(math.log2(last_stride))}"
        return FPN(
            bottom_up=bottom_up,
            in_features=cfg.MODEL.FPN.IN_FEATURES,
            out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
            norm=cfg.MODEL.FPN.NORM,
            top_block=top,
            fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
        )

    BACKBONE_REGISTRY.register(build_resnet_fpn_pooled_backbone)


BASIC_BLOCKS_PER_STAGE = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


def build_basic_resnet(cfg: Any, input_shape: Any) -> Any:
    """A ResNet-18/34 trunk up to its last output stage, each stage twice as wide as the one before."""
    from detectron2.modeling.backbone.resnet import BasicBlock, BasicStem, ResNet

    resnets = cfg.MODEL.RESNETS
    stem = BasicStem(in_channels=input_shape.channels, out_channels=resnets.STEM_OUT_CHANNELS, norm=resnets.NORM)
    last_stage = max(int(name.removeprefix("res")) for name in resnets.OUT_FEATURES)
    in_channels, out_channels = resnets.STEM_OUT_CHANNELS, resnets.RES2_OUT_CHANNELS
    stages = []
    for index, blocks in enumerate(BASIC_BLOCKS_PER_STAGE[resnets.DEPTH][: last_stage - 1]):
        stride = 1 if index == 0 else 2
        stages.append(ResNet.make_stage(BasicBlock, blocks, in_channels=in_channels, out_channels=out_channels,
                                        stride_per_block=[stride] + [1] * (blocks - 1), norm=resnets.NORM))
        in_channels, out_channels = out_channels, 2 * out_channels
    return ResNet(stem, stages, out_features=resnets.OUT_FEATURES, freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT)


def load_config(config: str) -> tuple[Any, Path, bool]:
    """The detectron2 config, the file it came from, and whether that is a model-zoo config."""
    from detectron2 import model_zoo
    from detectron2.config import get_cfg

    path = Path(config).expanduser()
    if path.suffix == ".py":
        raise DetectorConfigError(
            f"detectron2 config {config!r}: Python (LazyConfig) configs are not supported; use a .yaml config"
        )
    from_zoo = not path.is_file()
    if from_zoo:
        name = config if config.endswith(".yaml") else f"{config}.yaml"
        try:
            path = Path(model_zoo.get_config_file(name))
        except RuntimeError:
            raise DetectorConfigError(
                f"unknown detectron2 config {config!r}: not a file, nor a model-zoo config such as {DEFAULT_CONFIG!r}"
            ) from None
    cfg = get_cfg()
    try:
        cfg.merge_from_file(str(path))
    except Exception as exc:  # noqa: BLE001  (yacs raises KeyError, ValueError, YAML errors...)
        raise DetectorConfigError(f"detectron2 config {path} cannot be read: {exc}") from None
    if cfg.MODEL.META_ARCHITECTURE not in INSTANCE_ARCHITECTURES:
        raise DetectorConfigError(
            f"detectron2 config {config!r} builds a {cfg.MODEL.META_ARCHITECTURE}, which finds no object instances; "
            f"use one of {', '.join(INSTANCE_ARCHITECTURES)}"
        )
    return cfg, path, from_zoo


def resolve_weights(weights: str | None, cfg: Any, config: str, config_path: Path, from_zoo: bool) -> str | None:
    """A local path or URL of the weights to load, or None for an untrained model."""
    if weights == RANDOM_WEIGHTS:
        return None
    if weights is None:
        if from_zoo:
            raise DetectorConfigError(
                f"model-zoo config {config!r} needs weights=PATH: weights are never fetched at run time; download "
                "the checkpoint named in detectron2's MODEL_ZOO.md where you have internet, or pass weights=random"
            )
        weights = cfg.MODEL.WEIGHTS
        if not weights:
            raise DetectorConfigError(f"detectron2 config {config_path} names no weights; pass weights=PATH_OR_URL")
        beside_config = config_path.parent / weights
        if "://" not in weights and not Path(weights).is_absolute() and beside_config.is_file():
            return str(beside_config)
    if "://" in weights:
        return weights
    if not Path(weights).expanduser().is_file():
        raise DetectorConfigError(f"detectron2 weights file {weights!r} does not exist")
    return str(Path(weights).expanduser())


def load_weights(model: Any, weights: str, config: str) -> dict[str, Any]:
    """Load `weights` into `model`, refusing a checkpoint that does not fit it; returns the checkpoint's other entries."""
    from detectron2.checkpoint import DetectionCheckpointer

    class CheckedCheckpointer(DetectionCheckpointer):
        """Keeps what did not fit, which detectron2 would only log."""

        incompatible: Any = None

        def _log_incompatible_keys(self, incompatible: Any) -> None:
            self.incompatible = incompatible
            super()._log_incompatible_keys(incompatible)

    checkpointer = CheckedCheckpointer(model)
    try:
        extra = checkpointer.load(weights)
    except Exception as exc:  # noqa: BLE001  (missing file, failed download, not a checkpoint...)
        where = "fetch" if "://" in weights else "read"
        raise DetectorConfigError(f"cannot {where} detectron2 weights {weights!r}: {type(exc).__name__}: {exc}") from None
    incompatible = checkpointer.incompatible
    if incompatible is not None:
        parameters = {name for name, _ in model.named_parameters()}
        reshaped = [f"{key} {tuple(theirs)} vs {tuple(ours)}" for key, theirs, ours in incompatible.incorrect_shapes]
        missing = sorted(set(incompatible.missing_keys) & parameters)
        if reshaped or missing:
            examples = "; ".join((reshaped + missing)[:3])
            raise DetectorConfigError(
                f"detectron2 weights {weights!r} do not fit config {config!r} ({len(reshaped)} tensors of another shape, "
                f"{len(missing)} missing, e.g. {examples}): are they for another architecture or class count?"
            )
    return extra


def class_count(cfg: Any) -> int:
    return cfg.MODEL.RETINANET.NUM_CLASSES if cfg.MODEL.META_ARCHITECTURE == "RetinaNet" else cfg.MODEL.ROI_HEADS.NUM_CLASSES


def names(value: Sequence[str] | str) -> list[str]:
    """Names from a list, or from one string of names separated by commas (as the command line gives them)."""
    return [v.strip() for v in value.split(",")] if isinstance(value, str) else [str(v).strip() for v in value]


def model_labels(cfg: Any, labels: Sequence[str] | str | None, saved: Sequence[str] | None) -> tuple[str, ...]:
    """The label of each class index: given, saved with the checkpoint, or COCO's for an 80-class model."""
    count = class_count(cfg)
    given = labels if labels is not None else saved
    if given is None:
        if count == len(COCO_CLASSES):
            return COCO_CLASSES
        raise DetectorConfigError(
            f"the detectron2 model has {count} classes and its checkpoint does not name them; "
            f"pass labels=[...] with {count} names"
        )
    found = tuple(names(given))
    if len(found) != count or not all(found):
        raise DetectorConfigError(f"the detectron2 model has {count} classes, but {len(found)} labels were given: {list(found)}")
    return found


def label_set(classes: Sequence[str] | str | None, known: Sequence[str]) -> frozenset[str] | None:
    if classes is None:
        return None
    wanted = names(classes)
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise DetectorConfigError(f"classes {unknown} are not labels of this detectron2 model; it knows {list(known)}")
    return frozenset(wanted)


def resized_shape(height: int, width: int, min_size: int, max_size: int) -> tuple[int, int]:
    """The image size detectron2's ResizeShortestEdge gives: shortest side `min_size`, longest at most `max_size`."""
    scale = min_size / min(height, width)
    if max(height, width) * scale > max_size:
        scale = max_size / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


class Detectron2Model:
    """A detectron2 model with its config, weights, labels, device and precision settled; runs batches of BGR images."""

    name = "detectron2"

    def __init__(
        self,
        config: str = DEFAULT_CONFIG,
        weights: str | None = None,
        device: str = "auto",
        score_threshold: float = 0.5,
        classes: Sequence[str] | str | None = None,
        labels: Sequence[str] | str | None = None,
        min_size: int | None = None,
        max_size: int | None = None,
        max_detections: int | None = None,
        precision: str = "fp32",
        compile: bool | str = False,  # noqa: A002  (the option's name on the command line)
    ) -> None:
        import_detectron2()
        import torch
        from detectron2.modeling import build_model

        if not 0.0 <= score_threshold <= 1.0:
            raise DetectorConfigError(f"score_threshold must be between 0 and 1, got {score_threshold}")
        if precision not in PRECISIONS:
            raise DetectorConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.device = resolve_device(device)
        if precision == "fp16" and self.device.type != "cuda":
            raise DetectorConfigError("precision fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
        compile_mode = "default" if compile is True else (str(compile) if compile else None)
        if compile_mode is not None and compile_mode not in COMPILE_MODES:
            raise DetectorConfigError(f"compile must be true or one of {', '.join(COMPILE_MODES)}, got {compile!r}")

        cfg, config_path, from_zoo = load_config(config)
        weights_path = resolve_weights(weights, cfg, config, config_path, from_zoo)
        cfg.MODEL.DEVICE = str(self.device)
        cfg.MODEL.WEIGHTS = ""
        cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = score_threshold
        cfg.MODEL.RETINANET.SCORE_THRESH_TEST = score_threshold
        if max_detections is not None:
            cfg.TEST.DETECTIONS_PER_IMAGE = int(max_detections)
        cfg.freeze()

        self.model = build_model(cfg).eval()
        extra = load_weights(self.model, weights_path, config) if weights_path else {}
        self.labels = model_labels(cfg, labels, extra.get(LABELS_KEY))
        self.keep = label_set(classes, self.labels)
        self.score_threshold = score_threshold
        self.min_size = int(min_size or cfg.INPUT.MIN_SIZE_TEST)
        self.max_size = int(max_size or cfg.INPUT.MAX_SIZE_TEST)
        self.rgb_input = cfg.INPUT.FORMAT == "RGB"
        self.autocast_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        self.cuda_graphs = False
        if compile_mode is not None:
            self._compile_backbone(compile_mode)
        self._lock = threading.Lock()
        log.info("detectron2 %s on %s (%s), %d classes, shortest side %d", config, self.device, precision,
                 len(self.labels), self.min_size)

    def _compile_backbone(self, mode: str) -> None:
        """torch.compile the backbone and FPN, the part of the model with static shapes."""
        import torch

        self.model.backbone = torch.compile(self.model.backbone, mode=mode, dynamic=False)
        self.cuda_graphs = mode in ("reduce-overhead", "max-autotune") and self.device.type == "cuda"

    def detect_batch(self, images: Sequence[np.ndarray], intrinsics: Sequence[Intrinsics]) -> list[list[Detection]]:
        """Detections of each BGR image (any sizes), in one forward pass."""
        import torch

        if not images:
            return []
        with self._lock, torch.inference_mode():
            inputs = [self._model_input(image) for image in images]
            with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
                if self.cuda_graphs:
                    torch.compiler.cudagraph_mark_step_begin()
                outputs = self.model(inputs)
            return [self._detections(output["instances"].to("cpu")) for output in outputs]

    def _model_input(self, image: np.ndarray) -> dict[str, Any]:
        """The image as the model takes it: CHW float on the device, resized, with its original size for the output."""
        import torch
        import torch.nn.functional as F

        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or 0 in image.shape:
            raise ValueError(f"detectron2 takes HxWx3 uint8 BGR images, got shape {image.shape} of {image.dtype}")
        height, width = image.shape[:2]
        pixels = torch.from_numpy(np.ascontiguousarray(image))
        if self.device.type == "cuda":
            pixels = pixels.pin_memory().to(self.device, non_blocking=True)
        if self.rgb_input:
            pixels = pixels.flip(-1)
        chw = pixels.permute(2, 0, 1).float()
        size = resized_shape(height, width, self.min_size, self.max_size)
        if size != (height, width):
            chw = F.interpolate(chw[None], size=size, mode="bilinear", align_corners=False, antialias=size[0] < height)[0]
        return {"image": chw, "height": height, "width": width}

    def _detections(self, instances: Any) -> list[Detection]:
        scores = instances.scores.float().numpy()
        boxes = instances.pred_boxes.tensor.float().numpy()
        class_ids = instances.pred_classes.numpy()
        masks = instances.pred_masks.numpy() if instances.has("pred_masks") else None
        found: list[Detection] = []
        seen: Counter[str] = Counter()
        for i in np.argsort(-scores, kind="stable"):
            label = self.labels[class_ids[i]]
            if scores[i] < self.score_threshold or (self.keep is not None and label not in self.keep):
                continue
            found.append(Detection(
                object_id=f"detectron2:{label}/{seen[label]}",
                label=label,
                score=float(scores[i]),
                box=tuple(float(v) for v in boxes[i]),  # type: ignore[arg-type]
                backend=self.name,
                mask=masks[i].astype(bool) if masks is not None else None,
                extra={"class_id": int(class_ids[i])},
            ))
            seen[label] += 1
        return found


def resolve_device(device: str) -> Any:
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise DetectorConfigError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if resolved.type not in ("cpu", "cuda"):
        raise DetectorConfigError(f"device {device!r} is not supported; use auto, cpu, cuda or cuda:N")
    if resolved.type == "cuda" and (resolved.index or 0) >= torch.cuda.device_count():
        raise DetectorConfigError(f"device {device!r} asked for, but torch sees no such CUDA device "
                                  f"({torch.cuda.device_count()} found)")
    return resolved


@DETECTORS.register("detectron2")
class Detectron2Detector(BatchingDetector):
    """A detectron2 model behind the shared batching queue: concurrent frames from all sessions run as one batch.

    `model` runs batches directly (benchmarks, evaluation); `detect` goes through the queue.
    """

    def __init__(
        self,
        batch_size: int = 8,
        batch_wait_ms: float = 10.0,
        max_pending: int | None = None,
        **model_options: Any,
    ) -> None:
        self.model = Detectron2Model(**model_options)
        super().__init__(self.model, max_batch=int(batch_size), max_wait_ms=float(batch_wait_ms), max_pending=max_pending)
