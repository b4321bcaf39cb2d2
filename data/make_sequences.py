"""Generate tracking sequences with ground truth from real photographs.

Photographs that ship with scikit-image (a coffee cup, Chelsea the cat, the
astronaut Eileen Collins) lie on a textured desk; a virtual camera moves over
the desk along a known path (pan, zoom, roll), so every frame's ground-truth
box of every object is exact. The sequences cover what a tracker must survive:

* ``reentry``: the camera pans from the cup and the cat to the astronaut, so
  the cup and the cat leave the view, then pans back and they re-enter.
* ``two_cups``: two cups (the second is the photo mirrored and recoloured
  yellow) side by side while the camera zooms and rolls, leaves them and comes
  back.
* ``occlusion``: a board slides in front of the cup, then of the cat.

Ground truth counts an object in a frame when at least half of its box is in
the frame and not behind the board; its box is then cut to the frame.
Everything is deterministic; nothing is downloaded.

Usage: ``python data/make_sequences.py --out DIR`` writes, per sequence,
``NAME.mp4`` and ``NAME_gt.txt`` (MOTChallenge: frame, id, x, y, w, h, 1, -1, -1, -1).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from skimage import data as skdata

WIDTH, HEIGHT = 640, 480
FPS = 30
FOV_Y_DEG = 60.0
MIN_VISIBLE = 0.5
NOISE_SIGMA = 2.0  # sensor noise, grey levels
NOISE_FIELDS = 5  # frames cycle through this many noise fields


@dataclass(frozen=True)
class Truth:
    """One object in one frame: ground-truth id, class and box (x0, y0, x1, y1) cut to the frame."""

    object_id: str
    label: str
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class Placement:
    """A photo on the desk: its ground-truth id, the photo, its centre and height in desk pixels."""

    object_id: str
    sprite: str
    centre: tuple[float, float]
    height: float


@dataclass(frozen=True)
class Key:
    """The camera at one frame: the desk point at the image centre, zoom (image px per desk px) and roll."""

    frame: int
    x: float
    y: float
    zoom: float = 1.0
    roll_deg: float = 0.0


@dataclass(frozen=True)
class Occluder:
    """A board in front of the camera from frame `start` to `end`, its centre sliding from `start_xy` to `end_xy`."""

    start: int
    end: int
    start_xy: tuple[float, float]
    end_xy: tuple[float, float]
    size: tuple[int, int] = (220, 520)


@dataclass(frozen=True)
class SequenceSpec:
    name: str
    length: int
    placements: tuple[Placement, ...]
    keys: tuple[Key, ...]
    occluders: tuple[Occluder, ...] = ()
    desk_size: tuple[int, int] = (2400, 1200)


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _recoloured(image: np.ndarray, hue_shift: int) -> np.ndarray:
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + hue_shift) % 180
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def sprites() -> dict[str, tuple[str, np.ndarray]]:
    """Photo name -> (class label, BGR image cropped to the object)."""
    cup = _bgr(skdata.coffee())[10:330, 160:430]
    return {
        "cup": ("cup", cup),
        "yellow_cup": ("cup", _recoloured(cv2.flip(cup, 1), 30)),
        "cat": ("cat", _bgr(skdata.chelsea())[:, :425]),
        "astronaut": ("person", _bgr(skdata.astronaut())[:, 10:370]),
    }


SEQUENCES: tuple[SequenceSpec, ...] = (
    SequenceSpec(
        "reentry",
        length=240,
        placements=(
            Placement("cup", "cup", (420, 560), 220),
            Placement("cat", "cat", (760, 600), 170),
            Placement("astronaut", "astronaut", (1650, 560), 330),
        ),
        keys=(
            Key(0, 600, 580), Key(20, 600, 580), Key(100, 1600, 560, 1.05), Key(140, 1600, 560, 1.05),
            Key(220, 620, 590), Key(239, 600, 580),
        ),
    ),
    SequenceSpec(
        "two_cups",
        length=240,
        placements=(
            Placement("cup", "cup", (520, 600), 200),
            Placement("yellow_cup", "yellow_cup", (820, 600), 200),
        ),
        keys=(
            Key(0, 670, 600), Key(40, 670, 610, 1.25, 6.0), Key(80, 680, 590, 0.9, -5.0),
            Key(130, 1650, 600, 1.0), Key(160, 1650, 600, 1.0), Key(220, 670, 600), Key(239, 670, 600),
        ),
    ),
    SequenceSpec(
        "occlusion",
        length=180,
        placements=(
            Placement("cup", "cup", (480, 600), 220),
            Placement("cat", "cat", (840, 600), 170),
        ),
        keys=(Key(0, 650, 600), Key(90, 690, 590, 1.05), Key(179, 650, 605)),
        occluders=(
            Occluder(20, 75, (-140, 240), (420, 240)),
            Occluder(95, 165, (220, 240), (820, 240)),
        ),
    ),
)


def intrinsics_values() -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) of the virtual camera."""
    f = (HEIGHT / 2) / np.tan(np.radians(FOV_Y_DEG) / 2)
    return (float(f), float(f), WIDTH / 2, HEIGHT / 2)


def camera_at(keys: tuple[Key, ...], frame: int) -> Key:
    """The camera at `frame`, eased between the surrounding keys."""
    for before, after in zip(keys, keys[1:]):
        if before.frame <= frame <= after.frame:
            t = (frame - before.frame) / max(1, after.frame - before.frame)
            s = 0.5 - 0.5 * np.cos(np.pi * t)
            mix = lambda a, b: float(a + (b - a) * s)  # noqa: E731
            return Key(frame, mix(before.x, after.x), mix(before.y, after.y),
                       mix(before.zoom, after.zoom), mix(before.roll_deg, after.roll_deg))
    return keys[-1]


def desk_to_image(camera: Key) -> np.ndarray:
    """The 2x3 affine map from desk pixels to image pixels for a camera."""
    rotation = cv2.getRotationMatrix2D((camera.x, camera.y), camera.roll_deg, camera.zoom)
    rotation[:, 2] += (WIDTH / 2 - camera.x, HEIGHT / 2 - camera.y)
    return rotation


def make_desk(width: int, height: int) -> np.ndarray:
    """A low-contrast warm-grey desk from the gravel texture."""
    gravel = skdata.gravel().astype(np.float32)
    tiles = np.tile(gravel, (height // gravel.shape[0] + 1, width // gravel.shape[1] + 1))[:height, :width]
    grey = 150 + 0.35 * (tiles - tiles.mean())
    return np.clip(np.dstack([grey * 0.85, grey * 0.95, grey * 1.05]), 0, 255).astype(np.uint8)


def make_board(size: tuple[int, int]) -> np.ndarray:
    """The occluding board: a bluish-grey brick texture."""
    brick = cv2.resize(skdata.brick(), size).astype(np.float32)
    return np.clip(np.dstack([brick * 0.7 + 60, brick * 0.6 + 50, brick * 0.5 + 40]), 0, 255).astype(np.uint8)


@dataclass
class Sequence:
    """A rendered sequence: frames and their ground truth, made on demand."""

    spec: SequenceSpec
    desk: np.ndarray
    corners: dict[str, np.ndarray]
    labels: dict[str, str]
    noise: list[np.ndarray]
    board_cache: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    def __len__(self) -> int:
        return self.spec.length

    def frame(self, index: int) -> tuple[np.ndarray, list[Truth]]:
        """The BGR frame `index` and its ground truth."""
        transform = desk_to_image(camera_at(self.spec.keys, index))
        image = cv2.warpAffine(self.desk, transform, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        board = self._board_box(index)
        if board is not None:
            x0, y0, x1, y1 = board
            size = (x1 - x0, y1 - y0)
            if size not in self.board_cache:
                self.board_cache[size] = make_board(size)
            texture = self.board_cache[size]
            sx0, sy0 = max(0, -x0), max(0, -y0)
            cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(WIDTH, x1), min(HEIGHT, y1)
            if cx1 > cx0 and cy1 > cy0:
                image[cy0:cy1, cx0:cx1] = texture[sy0:sy0 + cy1 - cy0, sx0:sx0 + cx1 - cx0]
        noise = self.noise[index % len(self.noise)]
        image = np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        return image, self._truth(transform, board)

    def frames(self) -> Iterator[tuple[np.ndarray, list[Truth]]]:
        for index in range(len(self)):
            yield self.frame(index)

    def _board_box(self, index: int) -> tuple[int, int, int, int] | None:
        for occluder in self.spec.occluders:
            if occluder.start <= index <= occluder.end:
                t = (index - occluder.start) / max(1, occluder.end - occluder.start)
                x = occluder.start_xy[0] + t * (occluder.end_xy[0] - occluder.start_xy[0])
                y = occluder.start_xy[1] + t * (occluder.end_xy[1] - occluder.start_xy[1])
                w, h = occluder.size
                return (int(x - w / 2), int(y - h / 2), int(x - w / 2) + w, int(y - h / 2) + h)
        return None

    def _truth(self, transform: np.ndarray, board: tuple[int, int, int, int] | None) -> list[Truth]:
        truth = []
        for object_id, corners in self.corners.items():
            points = corners @ transform[:, :2].T + transform[:, 2]
            x0, y0 = points.min(axis=0)
            x1, y1 = points.max(axis=0)
            area = (x1 - x0) * (y1 - y0)
            cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, WIDTH), min(y1, HEIGHT)
            inside = max(0.0, cx1 - cx0) * max(0.0, cy1 - cy0)
            hidden = 0.0
            if board is not None:
                bx0, by0, bx1, by1 = board
                hidden = max(0.0, min(cx1, bx1) - max(cx0, bx0)) * max(0.0, min(cy1, by1) - max(cy0, by0))
            if (inside - hidden) / area >= MIN_VISIBLE:
                truth.append(Truth(object_id, self.labels[object_id], (float(cx0), float(cy0), float(cx1), float(cy1))))
        return truth


def build(spec: SequenceSpec) -> Sequence:
    """Lay the photos on the desk for one sequence."""
    photos = sprites()
    width, height = spec.desk_size
    desk = make_desk(width, height)
    corners, labels = {}, {}
    for placement in spec.placements:
        label, photo = photos[placement.sprite]
        scale = placement.height / photo.shape[0]
        resized = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        h, w = resized.shape[:2]
        x0, y0 = int(placement.centre[0] - w / 2), int(placement.centre[1] - h / 2)
        desk[y0:y0 + h, x0:x0 + w] = resized
        corners[placement.object_id] = np.float64([[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]])
        labels[placement.object_id] = label
    rng = np.random.default_rng(len(spec.name))
    noise = [np.round(rng.normal(0, NOISE_SIGMA, (HEIGHT, WIDTH, 3))).astype(np.int16) for _ in range(NOISE_FIELDS)]
    return Sequence(spec, desk, corners, labels, noise)


def sequences(names: list[str] | None = None) -> list[Sequence]:
    """The evaluation sequences (all, or those named)."""
    chosen = [s for s in SEQUENCES if names is None or s.name in names]
    unknown = set(names or ()) - {s.name for s in SEQUENCES}
    if unknown:
        raise ValueError(f"unknown sequences {sorted(unknown)}; known: {[s.name for s in SEQUENCES]}")
    return [build(spec) for spec in chosen]


def write(sequence: Sequence, out: Path) -> None:
    """Write `NAME.mp4` and `NAME_gt.txt` (MOTChallenge format, ids numbered from 1) into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out / f"{sequence.name}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    numbers = {object_id: n for n, object_id in enumerate(sequence.corners, start=1)}
    lines = []
    for index, (image, truth) in enumerate(sequence.frames()):
        writer.write(image)
        for t in truth:
            x0, y0, x1, y1 = t.box
            lines.append(f"{index + 1},{numbers[t.object_id]},{x0:.1f},{y0:.1f},{x1 - x0:.1f},{y1 - y0:.1f},1,-1,-1,-1")
    writer.release()
    (out / f"{sequence.name}_gt.txt").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for the videos and ground truth")
    parser.add_argument("names", nargs="*", help="sequences to write (default: all)")
    args = parser.parse_args()
    for sequence in sequences(args.names or None):
        write(sequence, args.out)
        print(f"wrote {args.out / sequence.name}.mp4 ({len(sequence)} frames)")


if __name__ == "__main__":
    main()
