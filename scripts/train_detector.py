"""Train the project's own small detectron2 model on the synthetic shapes data set.

The model is Mask R-CNN with a half-width ResNet-18 trunk (stages res2-res4 of
32, 64 and 128 channels, GroupNorm, trained from scratch), a 64-channel FPN and
light box and mask heads: about 3 MB in half precision, fast on a CPU. It writes, beside each other:

- `OUT.yaml`: the detectron2 config, whose `MODEL.WEIGHTS` names the checkpoint;
- `OUT.pth`: the checkpoint in detectron2's format (`{"model": state_dict, ...}`,
  tensors in fp16), with the class names as `thing_classes`.

Both load through the `detectron2` backend like model-zoo weights:

    spatial serve --detector detectron2 --detector-option config=OUT.yaml

    python scripts/train_detector.py --out data/models/shapes_r18_fpn --threads 1
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BASE_CONFIG = "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml"
TRAIN_SET = "shapes_train"


def load_shapes() -> ModuleType:
    """data/make_shapes_dataset.py as a module."""
    spec = importlib.util.spec_from_file_location("make_shapes_dataset", ROOT / "data" / "make_shapes_dataset.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def small_config(num_classes: int, image_size: int, width: int) -> Any:
    """Mask R-CNN R18-FPN (res2 `width` channels wide), GroupNorm, 64-channel FPN, light heads, for `image_size`-pixel images."""
    from detectron2 import model_zoo
    from detectron2.config import get_cfg

    from vision.backends.detectron2 import POOLED_FPN_BACKBONE, import_detectron2

    import_detectron2()
    cfg = get_cfg()
    cfg.merge_from_file(model_zoo.get_config_file(BASE_CONFIG))
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.PIXEL_STD = [57.375, 57.120, 58.395]
    cfg.MODEL.BACKBONE.NAME = POOLED_FPN_BACKBONE
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    cfg.MODEL.RESNETS.DEPTH = 18
    cfg.MODEL.RESNETS.STEM_OUT_CHANNELS = width
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = width
    cfg.MODEL.RESNETS.NORM = "GN"
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3", "res4"]
    cfg.MODEL.FPN.IN_FEATURES = ["res2", "res3", "res4"]
    cfg.MODEL.FPN.OUT_CHANNELS = 64
    cfg.MODEL.FPN.NORM = "GN"
    levels = ["p2", "p3", "p4", "p5"]
    cfg.MODEL.ANCHOR_GENERATOR.SIZES = [[16], [32], [64], [128]]
    cfg.MODEL.RPN.IN_FEATURES = levels
    cfg.MODEL.RPN.PRE_NMS_TOPK_TRAIN = 1000
    cfg.MODEL.RPN.POST_NMS_TOPK_TRAIN = 500
    cfg.MODEL.RPN.PRE_NMS_TOPK_TEST = 500
    cfg.MODEL.RPN.POST_NMS_TOPK_TEST = 100
    cfg.MODEL.ROI_HEADS.IN_FEATURES = levels
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = num_classes
    cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 128
    cfg.MODEL.ROI_BOX_HEAD.FC_DIM = 128
    cfg.MODEL.ROI_MASK_HEAD.NUM_CONV = 2
    cfg.MODEL.ROI_MASK_HEAD.CONV_DIM = 64
    cfg.MODEL.ROI_MASK_HEAD.NORM = "GN"
    cfg.INPUT.MIN_SIZE_TRAIN = (image_size - 16, image_size, image_size + 16)
    cfg.INPUT.MAX_SIZE_TRAIN = 2 * image_size
    cfg.INPUT.MIN_SIZE_TEST = image_size
    cfg.INPUT.MAX_SIZE_TEST = 2 * image_size
    cfg.INPUT.MASK_FORMAT = "bitmask"
    cfg.DATASETS.TRAIN = (TRAIN_SET,)
    cfg.DATASETS.TEST = ()
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.DATALOADER.ASPECT_RATIO_GROUPING = False
    cfg.TEST.DETECTIONS_PER_IMAGE = 20
    return cfg


def train(cfg: Any, iterations: int, batch: int, lr: float, seed: int) -> Any:
    """The trained model, after `iterations` SGD steps of `batch` images."""
    import torch
    from detectron2.data import build_detection_train_loader
    from detectron2.engine import SimpleTrainer, hooks
    from detectron2.modeling import build_model
    from detectron2.solver import build_lr_scheduler, build_optimizer
    from detectron2.utils.events import CommonMetricPrinter

    torch.manual_seed(seed)
    cfg.SOLVER.IMS_PER_BATCH = batch
    cfg.SOLVER.BASE_LR = lr
    cfg.SOLVER.MAX_ITER = iterations
    cfg.SOLVER.STEPS = (int(iterations * 0.75), int(iterations * 0.92))
    cfg.SOLVER.WARMUP_ITERS = min(100, iterations // 10)
    cfg.SEED = seed
    model = build_model(cfg)
    optimizer = build_optimizer(cfg, model)
    trainer = SimpleTrainer(model, build_detection_train_loader(cfg), optimizer)
    trainer.register_hooks([
        hooks.IterationTimer(),
        hooks.LRScheduler(optimizer, build_lr_scheduler(cfg, optimizer)),
        hooks.PeriodicWriter([CommonMetricPrinter(iterations)], period=20),
    ])
    trainer.train(0, iterations)
    return model.eval()


def save(model: Any, cfg: Any, out: Path, classes: tuple[str, ...], iterations: int) -> tuple[Path, Path]:
    """Write `out.pth` (fp16 tensors, class names) and `out.yaml` (the config, naming the checkpoint)."""
    import torch

    out.parent.mkdir(parents=True, exist_ok=True)
    weights, config = out.with_suffix(".pth"), out.with_suffix(".yaml")
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save({"model": state, "thing_classes": list(classes), "iteration": iterations}, weights)
    cfg.MODEL.WEIGHTS = weights.name
    cfg.DATASETS.TRAIN = ()
    config.write_text(cfg.dump())
    return config, weights


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "models" / "shapes_r18_fpn",
                        help="output path without suffix (default: %(default)s)")
    parser.add_argument("--train-images", type=int, default=768)
    parser.add_argument("--val-images", type=int, default=64)
    parser.add_argument("--size", type=int, default=128, help="image side in pixels (default: %(default)s)")
    parser.add_argument("--width", type=int, default=32,
                        help="channels of the trunk's first stage, doubled at each later one (default: %(default)s)")
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (default: torch's choice; 1 is faster on a busy machine)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    import torch
    from detectron2.data.datasets import register_coco_instances

    from vision import Intrinsics, create_detector

    if args.threads:
        torch.set_num_threads(args.threads)
    shapes = load_shapes()
    with tempfile.TemporaryDirectory(prefix="shapes-") as tmp:
        data = Path(tmp)
        register_coco_instances(TRAIN_SET, {}, str(shapes.write_split(data, "train", args.train_images, args.size, args.seed)),
                                str(data / "train"))
        cfg = small_config(len(shapes.CLASSES), args.size, args.width)
        start = time.monotonic()
        model = train(cfg, args.iterations, args.batch, args.lr, args.seed)
        train_s = time.monotonic() - start
    config, weights = save(model, cfg, args.out, shapes.CLASSES, args.iterations)

    detector = create_detector("detectron2", config=str(config), device="cpu", score_threshold=0.05)
    scenes = shapes.make_split("val", args.val_images, args.size, args.seed)
    camera = Intrinsics.from_fov(args.size, args.size, 60.0)
    found = detector.model.detect_batch([s.image for s in scenes], [camera] * len(scenes))
    scores = shapes.evaluate(shapes.coco_dataset(scenes), found)
    summary = {"width": args.width, "iterations": args.iterations, "train_images": args.train_images, "train_seconds": round(train_s),
               "checkpoint_mb": round(weights.stat().st_size / 2**20, 2), **{k: round(v, 1) for k, v in scores.items()}}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
