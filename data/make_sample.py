"""Generate the project's sample data from a real photograph.

The photograph is `skimage.data.coffee()` (a coffee cup on a wooden table),
which ships with scikit-image, so nothing is downloaded. The script writes:

* ``marker_sheet.png`` / ``marker_sheet.pdf``: an A4 page at 300 dpi with
  ArUco DICT_4X4_50 id 7, 100 mm black square, to print at 100%.
* ``sample.mp4``: a 6 s, 640x480, 15 fps clip of a virtual pinhole camera
  moving around a 0.60 m wide poster of the photo that carries the same
  marker (0.10 m) as a sticker on the table beside the cup.
* ``sample_path.json``: the exact marker-to-camera pose of every frame.
* ``sample.y4m`` (only with ``--y4m``): the same frames, uncompressed, for use
  as a fake camera in headless Chromium.

World frame = marker frame: origin at the marker centre, x right, y up
(towards the top of the poster), z out of the poster face, metres. Camera
axes are OpenCV's: x right, y down, z forward. Everything is deterministic.

Usage: ``python data/make_sample.py [--out DIR] [--y4m]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from skimage import data as skdata
from tqdm import tqdm

DATA_DIR = Path(__file__).resolve().parent

DICTIONARY_NAME = "DICT_4X4_50"
MARKER_ID = 7
MARKER_SIZE_M = 0.10
STICKER_BORDER_M = 0.01

WIDTH, HEIGHT = 640, 480
FPS = 15
NUM_FRAMES = 90
FX = FY = 525.0
CX, CY = 319.5, 239.5

POSTER_WIDTH_M = 0.60
TEXTURE_PX_PER_M = 3600
MARKER_CENTRE_IN_PHOTO = (535.0, 335.0)
SUPERSAMPLE = 3
NOISE_SIGMA = 2.0
NOISE_SEED = 7

AIM_POINT_M = np.array([-0.13, 0.08, 0.0])
DISTANCE_RANGE_M = (0.45, 0.80)
MAX_VIEW_ANGLE_DEG = 30.0
MAX_ROLL_DEG = 10.0
VIEW_MARGIN_PX = 8.0

SHEET_DPI = 300
A4_MM = (210.0, 297.0)
PAPER_WHITE = 245
INK_BLACK = 20


@dataclass(frozen=True)
class Poster:
    """The poster's texture and where its pixels lie on the world plane z=0.

    `texture_to_world` maps homogeneous texture pixel coordinates (pixel
    centres at integers, rows downwards) to homogeneous world (x, y) on the
    plane, with y upwards.
    """

    texture: np.ndarray
    texture_to_world: np.ndarray


def camera_matrix() -> np.ndarray:
    """The 3x3 pinhole intrinsics of the virtual camera."""
    return np.array([[FX, 0.0, CX], [0.0, FY, CY], [0.0, 0.0, 1.0]])


def mm_to_px(mm: float, dpi: int = SHEET_DPI) -> int:
    """The nearest whole number of pixels for a length in millimetres."""
    return round(mm / 25.4 * dpi)


def marker_image(side_px: int) -> np.ndarray:
    """ArUco marker 7 of DICT_4X4_50 as a 0/255 image, black square edge to edge."""
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, DICTIONARY_NAME))
    return cv2.aruco.generateImageMarker(dictionary, MARKER_ID, side_px)


def _font(size_px: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's bundled font at the given pixel size."""
    return ImageFont.load_default(size=size_px)


def make_marker_sheet(dpi: int = SHEET_DPI) -> Image.Image:
    """A printable A4 page with the marker at 100 mm side and a caption."""
    page_w, page_h = mm_to_px(A4_MM[0], dpi), mm_to_px(A4_MM[1], dpi)
    side = mm_to_px(MARKER_SIZE_M * 1000.0, dpi)
    page = Image.new("L", (page_w, page_h), 255)
    left, top = (page_w - side) // 2, mm_to_px(60.0, dpi)
    page.paste(Image.fromarray(marker_image(side)), (left, top))

    draw = ImageDraw.Draw(page)
    quiet = mm_to_px(20.0, dpi)
    tick = mm_to_px(5.0, dpi)
    for x, dx in ((left - quiet, 1), (left + side + quiet, -1)):
        for y, dy in ((top - quiet, 1), (top + side + quiet, -1)):
            draw.line([(x, y), (x + dx * tick, y)], fill=0, width=2)
            draw.line([(x, y), (x, y + dy * tick)], fill=0, width=2)

    caption = (
        f"ArUco {DICTIONARY_NAME} id {MARKER_ID} - print at 100%, "
        f"the black square must measure {MARKER_SIZE_M * 1000:.0f} mm"
    )
    note = "Keep the white margin clear; cut along the corner marks if needed."
    y = top + side + quiet + mm_to_px(12.0, dpi)
    for text, size in ((caption, mm_to_px(4.2, dpi)), (note, mm_to_px(3.2, dpi))):
        font = _font(size)
        width = draw.textlength(text, font=font)
        draw.text(((page_w - width) / 2, y), text, fill=0, font=font)
        y += int(size * 1.8)
    return page


def write_marker_sheet(out_dir: Path, dpi: int = SHEET_DPI) -> list[Path]:
    """Write marker_sheet.png and marker_sheet.pdf; return their paths.

    The PDF holds a bi-level copy of the page, which Pillow stores losslessly.
    """
    page = make_marker_sheet(dpi)
    png, pdf = out_dir / "marker_sheet.png", out_dir / "marker_sheet.pdf"
    page.save(png, dpi=(dpi, dpi), optimize=True)
    title = f"ArUco {DICTIONARY_NAME} id {MARKER_ID}, {MARKER_SIZE_M * 1000:.0f} mm"
    bilevel = page.convert("1", dither=Image.Dither.NONE)
    bilevel.save(pdf, resolution=float(dpi), title=title, creationDate=None, modDate=None)
    return [png, pdf]


def make_poster(px_per_m: int = TEXTURE_PX_PER_M) -> Poster:
    """The coffee photo at poster scale with the marker sticker on the table."""
    photo = cv2.cvtColor(skdata.coffee(), cv2.COLOR_RGB2BGR)
    width = round(POSTER_WIDTH_M * px_per_m)
    height = round(width * photo.shape[0] / photo.shape[1])
    texture = cv2.resize(photo, (width, height), interpolation=cv2.INTER_CUBIC)

    scale = width / photo.shape[1]
    col, row = (round(c * scale) for c in MARKER_CENTRE_IN_PHOTO)
    marker_px = round(MARKER_SIZE_M * px_per_m)
    sticker_px = round((MARKER_SIZE_M + 2 * STICKER_BORDER_M) * px_per_m)
    if marker_px % 2 or sticker_px % 2:
        raise ValueError("marker and sticker must span an even number of texels")

    sticker = np.full((sticker_px, sticker_px), PAPER_WHITE, np.uint8)
    inset = (sticker_px - marker_px) // 2
    marker = np.where(marker_image(marker_px) > 127, PAPER_WHITE, INK_BLACK)
    sticker[inset : inset + marker_px, inset : inset + marker_px] = marker
    top, left = row - sticker_px // 2, col - sticker_px // 2
    if top < 0 or left < 0 or top + sticker_px > height or left + sticker_px > width:
        raise ValueError("the sticker does not fit on the poster")
    texture[top : top + sticker_px, left : left + sticker_px] = sticker[..., None]

    texture_to_world = np.array(
        [
            [1.0 / px_per_m, 0.0, (0.5 - col) / px_per_m],
            [0.0, -1.0 / px_per_m, (row - 0.5) / px_per_m],
            [0.0, 0.0, 1.0],
        ]
    )
    return Poster(texture, texture_to_world)


def look_at(eye: np.ndarray, target: np.ndarray, roll_deg: float) -> np.ndarray:
    """The 4x4 world-to-camera transform of a camera at `eye` looking at `target`.

    Without roll the camera's x axis stays horizontal (perpendicular to the
    world y axis); roll turns the camera about its viewing axis.
    """
    forward = target - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    c, s = np.cos(np.radians(roll_deg)), np.sin(np.radians(roll_deg))
    right, down = c * right + s * down, -s * right + c * down
    rotation = np.stack([right, down, forward])
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = -rotation @ eye
    return pose


def camera_path(num_frames: int = NUM_FRAMES) -> list[np.ndarray]:
    """Marker-to-camera 4x4 poses along a smooth, looping path.

    The camera sits on a sphere around the marker (distance, yaw and pitch
    as seen from the marker) and looks at a point that drifts around
    `AIM_POINT_M`, so the marker stays in the lower right part of the view.
    """
    poses = []
    for i in range(num_frames):
        phase = 2.0 * np.pi * i / num_frames
        distance = 0.625 + 0.15 * np.sin(phase + 0.3)
        yaw = np.radians(22.0 * np.sin(phase))
        pitch = np.radians(16.0 * np.sin(2.0 * phase + 0.7))
        roll = 8.0 * np.sin(phase + 1.2)
        direction = np.array(
            [np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)]
        )
        drift = np.array([0.03 * np.cos(phase), 0.02 * np.sin(2.0 * phase), 0.0])
        poses.append(look_at(distance * direction, AIM_POINT_M + drift, roll))
    return poses


def project(pose: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Pixel coordinates of world points (N x 3) seen from `pose`."""
    cam = points @ pose[:3, :3].T + pose[:3, 3]
    if np.any(cam[:, 2] <= 0):
        raise ValueError("point behind the camera")
    pix = cam @ camera_matrix().T
    return pix[:, :2] / pix[:, 2:]


def square_corners(side_m: float) -> np.ndarray:
    """Corners of a centred square on z=0, in OpenCV's ArUco corner order."""
    h = side_m / 2.0
    return np.array([[-h, h, 0.0], [h, h, 0.0], [h, -h, 0.0], [-h, -h, 0.0]])


def check_pose(index: int, pose: np.ndarray) -> None:
    """Fail loudly unless the whole sticker is in view and the pose is in range.

    The scene is a single plane, so a sticker in view on a poster that faces
    the camera is never occluded.
    """
    centre = pose[:3, 3]
    distance = float(np.linalg.norm(centre))
    facing = float(pose[:3, 2] @ -centre) / distance
    view_angle = np.degrees(np.arccos(np.clip(facing, -1.0, 1.0)))
    roll = np.degrees(np.arctan2(pose[0, 1], -pose[1, 1]))
    problems = []
    if not DISTANCE_RANGE_M[0] <= distance <= DISTANCE_RANGE_M[1]:
        problems.append(f"distance {distance:.3f} m outside {DISTANCE_RANGE_M}")
    if facing <= 0:
        problems.append("the poster faces away from the camera")
    if view_angle > MAX_VIEW_ANGLE_DEG:
        problems.append(f"marker seen {view_angle:.1f} deg off-axis")
    if abs(roll) > MAX_ROLL_DEG:
        problems.append(f"roll {roll:.1f} deg")
    try:
        corners = project(pose, square_corners(MARKER_SIZE_M + 2 * STICKER_BORDER_M))
    except ValueError as exc:
        problems.append(str(exc))
    else:
        lo, hi = VIEW_MARGIN_PX, np.array([WIDTH, HEIGHT]) - 1 - VIEW_MARGIN_PX
        if np.any(corners < lo) or np.any(corners > hi):
            problems.append(f"sticker not fully in view: corners {corners.round(1).tolist()}")
    if problems:
        raise RuntimeError(f"frame {index}: " + "; ".join(problems))


def background(width: int, height: int) -> np.ndarray:
    """A soft grey gradient, lighter at the top left, as a BGR image."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = xs / (width - 1), ys / (height - 1)
    grey = 196.0 - 38.0 * v - 18.0 * u - 14.0 * ((u - 0.5) ** 2 + (v - 0.5) ** 2)
    tint = np.array([1.0, 0.99, 0.97], np.float32)
    return np.clip(grey[..., None] * tint, 0, 255).astype(np.uint8)


def supersample_matrix(factor: int) -> np.ndarray:
    """Maps output pixel coordinates to those of a `factor` times larger image."""
    offset = (factor - 1) / 2.0
    return np.array([[factor, 0.0, offset], [0.0, factor, offset], [0.0, 0.0, 1.0]])


def render_frame(
    poster: Poster,
    pose: np.ndarray,
    backdrop: np.ndarray,
    rng: np.random.Generator,
    factor: int = SUPERSAMPLE,
) -> np.ndarray:
    """One BGR frame of the poster seen from `pose`, exact up to sampling and noise.

    The plane homography K [r1 r2 t] is applied at `factor` times the output
    resolution onto `backdrop` (already that large) and box-filtered down.
    """
    plane = pose[:3, [0, 1, 3]]
    homography = supersample_matrix(factor) @ camera_matrix() @ plane @ poster.texture_to_world
    size = (WIDTH * factor, HEIGHT * factor)
    big = cv2.warpPerspective(
        poster.texture,
        homography,
        size,
        dst=backdrop.copy(),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_TRANSPARENT,
    )
    frame = cv2.resize(big, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA).astype(np.float32)
    frame += rng.normal(0.0, NOISE_SIGMA, frame.shape).astype(np.float32)
    return np.clip(np.rint(frame), 0, 255).astype(np.uint8)


def ground_truth(poses: Sequence[np.ndarray]) -> dict[str, Any]:
    """The sample_path.json document for these marker-to-camera poses."""
    return {
        "fps": FPS,
        "width": WIDTH,
        "height": HEIGHT,
        "intrinsics": {"fx": FX, "fy": FY, "cx": CX, "cy": CY},
        "marker": {
            "family": "aruco",
            "dictionary": DICTIONARY_NAME,
            "id": MARKER_ID,
            "size_m": MARKER_SIZE_M,
        },
        "frames": [
            {"index": i, "marker_to_camera": [round(float(v), 12) for v in pose.ravel()]}
            for i, pose in enumerate(poses)
        ],
    }


def render_frames(
    num_frames: int = NUM_FRAMES, progress: bool = False
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """All BGR frames of the sample clip and its ground truth (sample_path.json)."""
    poses = camera_path(num_frames)
    for i, pose in enumerate(poses):
        check_pose(i, pose)
    poster = make_poster()
    backdrop = background(WIDTH * SUPERSAMPLE, HEIGHT * SUPERSAMPLE)
    rng = np.random.default_rng(NOISE_SEED)
    frames = [
        render_frame(poster, pose, backdrop, rng)
        for pose in tqdm(poses, desc="render", unit="frame", disable=not progress)
    ]
    return frames, ground_truth(poses)


def write_mp4(frames: Sequence[np.ndarray], path: Path, fps: int = FPS) -> None:
    """Encode BGR frames to an MPEG-4 Part 2 ('mp4v') file."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"cannot open a 'mp4v' video writer for {path}")
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()


def write_y4m(frames: Sequence[np.ndarray], path: Path, fps: int | Fraction = FPS) -> None:
    """Write BGR frames as uncompressed YUV4MPEG2, planar I420 as OpenCV converts it."""
    rate = Fraction(fps)
    height, width = frames[0].shape[:2]
    header = (
        f"YUV4MPEG2 W{width} H{height} F{rate.numerator}:{rate.denominator} "
        "Ip A1:1 C420jpeg\n"
    )
    with open(path, "wb") as out:
        out.write(header.encode("ascii"))
        for frame in frames:
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())


def write_json(document: dict[str, Any], path: Path) -> None:
    """Write a JSON document with a trailing newline."""
    path.write_text(json.dumps(document, indent=1) + "\n")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=DATA_DIR, help="output folder (default: data/)"
    )
    parser.add_argument("--y4m", action="store_true", help="also write sample.y4m (large)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Generate every sample file into the output folder."""
    args = parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    written = write_marker_sheet(out)
    frames, truth = render_frames(progress=True)
    write_mp4(frames, out / "sample.mp4")
    write_json(truth, out / "sample_path.json")
    written += [out / "sample.mp4", out / "sample_path.json"]
    if args.y4m:
        write_y4m(frames, out / "sample.y4m")
        written.append(out / "sample.y4m")

    for path in written:
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
