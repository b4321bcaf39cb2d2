"""Camera clips for the web client's browser tests and the registration benchmark.

Each frame carries its own index, coded into the picture's bottom-left corner
as two rows of black and white squares (the bits, then the same bits
inverted), so a page that shows the clip as its camera can tell which frame is
on screen. The scenes are built like `data/make_sequences.py`'s: photos that
ship with scikit-image (or ArUco markers) on a textured desk, under a camera
moving along a known path, so every frame's ground truth is exact:

* ``pan``: two cups side by side and a cat. The camera holds, pans right past
  the cups to the cat, holds, pans back, and pans once more quickly, as a
  person sweeping a phone over a table would (bench/registration.py).
* ``markers``: ArUco markers 3, 7 and 12 (DICT_4X4_50) a few centimetres
  apart, the camera drifting slowly over them (panel layout tests).

Usage: ``python data/make_camera_clips.py --out DIR [pan|markers]`` writes
``NAME.y4m`` (Chromium's fake camera format) and ``NAME_gt.json`` (per frame:
the boxes of the objects in view and the 2x3 desk-to-image map).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np

DATA_DIR = Path(__file__).resolve().parent

CODE_BITS = 10  # frame indices 0..1023
CODE_CELL_PX = 8
CODE_MARGIN_PX = 4
CODE_SIZE = (CODE_BITS * CODE_CELL_PX + 2 * CODE_MARGIN_PX, 2 * CODE_CELL_PX + 2 * CODE_MARGIN_PX)
"""Width and height of the code's white patch in the bottom-left corner, in pixels."""

MARKER_IDS = (3, 7, 12)
MARKER_PX = 96  # marker side on the desk, in desk pixels (the camera's zoom is about 1)
MARKER_BORDER_PX = 12


def load_make_sequences() -> ModuleType:
    """`data/make_sequences.py` as a module, for its desk, camera path and ground-truth machinery."""
    if "make_sequences" in sys.modules:
        return sys.modules["make_sequences"]
    spec = importlib.util.spec_from_file_location("make_sequences", DATA_DIR / "make_sequences.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_sequences"] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


seq = load_make_sequences()


# ---- the frame code ---------------------------------------------------------------------------

def stamp_index(image: np.ndarray, index: int) -> np.ndarray:
    """`image` (BGR) with `index` coded into its bottom-left corner, in place."""
    if not 0 <= index < 2 ** CODE_BITS:
        raise ValueError(f"frame index {index} does not fit in {CODE_BITS} bits")
    height = image.shape[0]
    width_px, height_px = CODE_SIZE
    image[height - height_px:, :width_px] = 255
    for bit in range(CODE_BITS):
        value = (index >> bit) & 1
        x = CODE_MARGIN_PX + bit * CODE_CELL_PX
        top = height - CODE_MARGIN_PX - 2 * CODE_CELL_PX
        image[top:top + CODE_CELL_PX, x:x + CODE_CELL_PX] = 0 if value else 255
        image[top + CODE_CELL_PX:top + 2 * CODE_CELL_PX, x:x + CODE_CELL_PX] = 255 if value else 0
    return image


def read_index(image: np.ndarray) -> int | None:
    """The index coded into a frame (BGR or grey, at the clip's size), or None where the code is unreadable."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    height = grey.shape[0]
    top = height - CODE_MARGIN_PX - 2 * CODE_CELL_PX
    index = 0
    for bit in range(CODE_BITS):
        x = CODE_MARGIN_PX + bit * CODE_CELL_PX + CODE_CELL_PX // 2
        upper = grey[top + CODE_CELL_PX // 2, x] < 128
        lower = grey[top + CODE_CELL_PX + CODE_CELL_PX // 2, x] < 128
        if upper == lower:
            return None
        index |= int(upper) << bit
    return index


# ---- the clips ------------------------------------------------------------------------------------

PAN = seq.SequenceSpec(
    "pan",
    length=300,
    placements=(
        seq.Placement("cup", "cup", (560, 600), 190),
        seq.Placement("yellow_cup", "yellow_cup", (790, 600), 190),
        seq.Placement("cat", "cat", (1180, 590), 170),
    ),
    keys=(
        seq.Key(0, 640, 600), seq.Key(30, 640, 600),
        seq.Key(100, 1050, 590, 1.05), seq.Key(130, 1050, 590, 1.05),  # 2.3 s pan right, 9 px a frame at most
        seq.Key(200, 660, 605), seq.Key(225, 660, 605),  # and back
        seq.Key(265, 980, 600), seq.Key(299, 640, 600),  # quicker sweeps right and back, 13 and 16 px a frame at most
    ),
)

MARKERS = seq.SequenceSpec(
    "markers",
    length=240,
    placements=tuple(
        seq.Placement(f"marker:aruco/{marker}", f"marker{marker}", centre, MARKER_PX + 2 * MARKER_BORDER_PX)
        for marker, centre in zip(MARKER_IDS, ((1080, 610), (1200, 585), (1320, 625)))
    ),
    keys=(seq.Key(0, 1180, 560), seq.Key(80, 1215, 575, 1.05, 3.0), seq.Key(160, 1160, 555, 0.97, -2.0),
          seq.Key(239, 1180, 560)),
)

CLIPS = {clip.name: clip for clip in (PAN, MARKERS)}


def marker_sprite(marker: int) -> np.ndarray:
    """ArUco marker `marker` (DICT_4X4_50) on a white sticker, as a BGR image."""
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    inner = cv2.aruco.generateImageMarker(dictionary, marker, MARKER_PX)
    sticker = cv2.copyMakeBorder(inner, *(4 * [MARKER_BORDER_PX]), cv2.BORDER_CONSTANT, value=245)
    return cv2.cvtColor(np.where(sticker > 127, 245, 20).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def build(name: str) -> Any:
    """A clip's scene (a `make_sequences.Sequence`): objects laid on the desk, ready to render."""
    spec = CLIPS.get(name)
    if spec is None:
        raise ValueError(f"unknown clip {name!r}; known: {sorted(CLIPS)}")
    if name == "pan":
        return seq.build(spec)
    width, height = spec.desk_size
    desk = seq.make_desk(width, height)
    corners, labels = {}, {}
    for placement, marker in zip(spec.placements, MARKER_IDS):
        sprite = marker_sprite(marker)
        h, w = sprite.shape[:2]
        x0, y0 = int(placement.centre[0] - w / 2), int(placement.centre[1] - h / 2)
        desk[y0:y0 + h, x0:x0 + w] = sprite
        inset = MARKER_BORDER_PX  # the ground-truth box is the black square, as the marker detector boxes it
        corners[placement.object_id] = np.float64(
            [[x0 + inset, y0 + inset], [x0 + w - inset, y0 + inset], [x0 + w - inset, y0 + h - inset],
             [x0 + inset, y0 + h - inset]])
        labels[placement.object_id] = "marker"
    rng = np.random.default_rng(len(spec.name))
    noise = [np.round(rng.normal(0, seq.NOISE_SIGMA, (seq.HEIGHT, seq.WIDTH, 3))).astype(np.int16)
             for _ in range(seq.NOISE_FIELDS)]
    return seq.Sequence(spec, desk, corners, labels, noise)


@dataclass(frozen=True)
class ClipFrame:
    """One frame of a clip: the picture (BGR, index coded in), the objects in view and the desk-to-image map."""

    index: int
    image: np.ndarray
    truth: list[Any]
    desk_to_image: np.ndarray


def frames(name: str) -> list[ClipFrame]:
    """Every frame of a clip, rendered."""
    scene = build(name)
    rendered = []
    for index in range(len(scene)):
        image, truth = scene.frame(index)
        transform = seq.desk_to_image(seq.camera_at(scene.spec.keys, index))
        rendered.append(ClipFrame(index, stamp_index(image, index), truth, transform))
    return rendered


def ground_truth(clip: list[ClipFrame]) -> dict[str, Any]:
    """The `NAME_gt.json` document: per frame, each object's box and the 2x3 desk-to-image map."""
    return {
        "fps": seq.FPS,
        "width": seq.WIDTH,
        "height": seq.HEIGHT,
        "intrinsics": dict(zip(("fx", "fy", "cx", "cy"), seq.intrinsics_values())),
        "frames": [
            {
                "index": frame.index,
                "desk_to_image": [round(float(v), 6) for v in frame.desk_to_image.ravel()],
                "objects": [{"id": t.object_id, "class": t.label, "box": [round(v, 2) for v in t.box]}
                            for t in frame.truth],
            }
            for frame in clip
        ],
    }


def write_y4m(clip: list[ClipFrame], path: Path) -> None:
    """The clip as uncompressed YUV4MPEG2 (I420), Chromium's fake camera format, at the clip's rate."""
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{seq.WIDTH} H{seq.HEIGHT} F{seq.FPS}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for frame in clip:
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(frame.image, cv2.COLOR_BGR2YUV_I420).tobytes())


def write(name: str, out: Path) -> tuple[Path, Path]:
    """Render clip `name` into `out`: `NAME.y4m` and `NAME_gt.json`."""
    out.mkdir(parents=True, exist_ok=True)
    clip = frames(name)
    video, truth = out / f"{name}.y4m", out / f"{name}_gt.json"
    write_y4m(clip, video)
    truth.write_text(json.dumps(ground_truth(clip)) + "\n")
    return video, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for the clips")
    parser.add_argument("names", nargs="*", help=f"clips to write (default: all of {sorted(CLIPS)})")
    args = parser.parse_args()
    for name in args.names or sorted(CLIPS):
        video, _ = write(name, args.out)
        print(f"wrote {video} ({CLIPS[name].length} frames)")


if __name__ == "__main__":
    main()
