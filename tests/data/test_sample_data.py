"""The committed sample data agrees with its ground truth.

Reads data/sample.mp4 back, finds ArUco 7 in every frame, solves its pose
and compares it with data/sample_path.json; also checks the marker sheet.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from harness.paths import DATA
from harness.samples import load_make_sample

MAX_TRANSLATION_ERROR_M = 0.01
MAX_ROTATION_ERROR_DEG = 2.0


def aruco_detector() -> cv2.aruco.ArucoDetector:
    """A DICT_4X4_50 detector with sub-pixel corner refinement."""
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    return cv2.aruco.ArucoDetector(dictionary, params)


def marker_object_points(side: float) -> np.ndarray:
    """Marker corners in the marker frame (x right, y up, z out), OpenCV order."""
    h = side / 2.0
    return np.array([[-h, h, 0], [h, h, 0], [h, -h, 0], [-h, -h, 0]], np.float64)


def read_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a video file, BGR."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def pose_errors(
    frame: np.ndarray, truth: np.ndarray, k: np.ndarray, side: float, marker_id: int
) -> tuple[float, float]:
    """Translation (m) and rotation (deg) error of the pose solved from `frame`."""
    corners, ids, _ = aruco_detector().detectMarkers(frame)
    assert ids is not None and marker_id in ids.ravel(), "marker not found"
    image_points = corners[list(ids.ravel()).index(marker_id)].reshape(4, 2).astype(np.float64)
    ok, rvec, tvec = cv2.solvePnP(
        marker_object_points(side), image_points, k, None, flags=cv2.SOLVEPNP_IPPE_SQUARE
    )
    assert ok
    rotation, _ = cv2.Rodrigues(rvec)
    translation_error = float(np.linalg.norm(tvec.ravel() - truth[:3, 3]))
    cos_angle = (np.trace(rotation.T @ truth[:3, :3]) - 1.0) / 2.0
    rotation_error = float(np.degrees(np.arccos(np.clip(cos_angle, -1.0, 1.0))))
    return translation_error, rotation_error


@pytest.fixture(scope="module")
def truth() -> dict:
    """The ground truth document, sample_path.json."""
    return json.loads((DATA / "sample_path.json").read_text())


def test_video_matches_ground_truth(truth: dict) -> None:
    frames = read_frames(DATA / "sample.mp4")
    assert len(frames) == len(truth["frames"]) == 90
    assert frames[0].shape == (truth["height"], truth["width"], 3)

    intr = truth["intrinsics"]
    k = np.array([[intr["fx"], 0, intr["cx"]], [0, intr["fy"], intr["cy"]], [0, 0, 1.0]])
    side, marker_id = truth["marker"]["size_m"], truth["marker"]["id"]
    errors = []
    for frame, record in zip(frames, truth["frames"], strict=True):
        pose = np.array(record["marker_to_camera"]).reshape(4, 4)
        errors.append(pose_errors(frame, pose, k, side, marker_id))
    max_t, max_r = np.max(errors, axis=0)
    print(f"max translation error {max_t * 1000:.2f} mm, max rotation error {max_r:.3f} deg")
    assert max_t <= MAX_TRANSLATION_ERROR_M
    assert max_r <= MAX_ROTATION_ERROR_DEG


def test_video_is_small() -> None:
    assert (DATA / "sample.mp4").stat().st_size < 3_000_000


def test_ground_truth_matches_generator(truth: dict) -> None:
    make_sample = load_make_sample()
    expected = make_sample.ground_truth(make_sample.camera_path())
    assert {k: v for k, v in truth.items() if k != "frames"} == {
        k: v for k, v in expected.items() if k != "frames"
    }
    stored = np.array([f["marker_to_camera"] for f in truth["frames"]])
    regenerated = np.array([f["marker_to_camera"] for f in expected["frames"]])
    assert [f["index"] for f in truth["frames"]] == list(range(len(stored)))
    np.testing.assert_allclose(stored, regenerated, atol=1e-9)


def test_marker_sheet_is_true_size() -> None:
    with Image.open(DATA / "marker_sheet.png") as page:
        dpi = page.info["dpi"]
        image = np.array(page.convert("L"))
    assert round(dpi[0]) == round(dpi[1]) == 300
    assert image.shape == (3508, 2480)
    corners, ids, _ = aruco_detector().detectMarkers(image)
    assert ids is not None and ids.ravel().tolist() == [7]
    quad = corners[0].reshape(4, 2)
    side_mm = np.linalg.norm(quad - np.roll(quad, 1, axis=0), axis=1) / 300 * 25.4
    assert np.allclose(side_mm, 100.0, atol=0.5)
    assert (DATA / "marker_sheet.pdf").read_bytes().startswith(b"%PDF")


def test_y4m_layout(tmp_path: Path) -> None:
    make_sample = load_make_sample()
    frames = [np.full((480, 640, 3), v, np.uint8) for v in (0, 128)]
    path = tmp_path / "clip.y4m"
    make_sample.write_y4m(frames, path, 15)
    raw = path.read_bytes()
    header = b"YUV4MPEG2 W640 H480 F15:1 Ip A1:1 C420jpeg\n"
    frame_bytes = 640 * 480 * 3 // 2
    assert raw.startswith(header)
    assert len(raw) == len(header) + 2 * (len(b"FRAME\n") + frame_bytes)
    assert raw[len(header) : len(header) + 6] == b"FRAME\n"
