"""The `mediapipe` and `auto` backends on real photographs that ship with scikit-image."""

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from vision import DetectorConfigError, Intrinsics, create_detector
from vision.backends.mediapipe import models_dir
from vision.boxes import box_iou
from vision.labels import COCO_CLASSES, MEDIAPIPE_TO_COCO

# The cup's body in skimage's coffee photo (600x400), outlined by hand.
COFFEE_CUP_BOX = (172, 18, 412, 318)
OWN_NAMES = {"box", "camera", "shoe"}  # classes COCO lacks, named in docs/vision.md


def bgr(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def camera_for(image: np.ndarray) -> Intrinsics:
    return Intrinsics.from_fov(image.shape[1], image.shape[0], 60.0)


@pytest.fixture(scope="module")
def mediapipe():
    return create_detector("mediapipe")


def test_cup_in_the_coffee_photo_is_a_cup_with_a_3d_box(mediapipe) -> None:
    image = bgr(skdata.coffee())
    found = mediapipe.detect(image, camera_for(image))
    cups = [d for d in found if d.label == "cup"]
    assert len(cups) == 1, [(d.label, d.score) for d in found]
    cup = cups[0]
    assert cup.backend == "mediapipe" and cup.source == "detection"
    assert cup.score >= 0.4
    assert box_iou(cup.box, COFFEE_CUP_BOX) > 0.75
    # Objectron's 3D box gives a proper rotation, the object in front of the camera, and
    # a box whose projected centre lies inside the 2D box.
    assert cup.pose is not None and cup.corners.shape == (8, 2)
    rotation = cup.pose[:3, :3]
    assert np.allclose(rotation.T @ rotation, np.eye(3), atol=1e-6) and np.linalg.det(rotation) > 0
    assert 0.05 < cup.pose[2, 3] < 1.0
    centre = camera_for(image).matrix() @ cup.pose[:3, 3]
    x, y = centre[:2] / centre[2]
    x0, y0, x1, y1 = cup.box
    assert x0 < x < x1 and y0 < y < y1
    assert max(cup.extra["size_m"]) == pytest.approx(0.12)


@pytest.mark.parametrize("photo, label", [("chelsea", "cat"), ("astronaut", "person")])
def test_other_photos_give_their_class(mediapipe, photo: str, label: str) -> None:
    image = bgr(getattr(skdata, photo)())
    found = mediapipe.detect(image, camera_for(image))
    assert found and found[0].label == label
    assert all(d.object_id.startswith("mediapipe:") for d in found)


def test_nothing_is_found_where_there_is_nothing_it_knows(mediapipe) -> None:
    rocket = bgr(skdata.rocket())
    assert mediapipe.detect(rocket, camera_for(rocket)) == []
    grey = np.full((480, 640, 3), 128, np.uint8)
    assert mediapipe.detect(grey, camera_for(grey)) == []


def test_class_filter_keeps_only_the_classes_asked_for() -> None:
    image = bgr(skdata.astronaut())
    only_cups = create_detector("mediapipe", classes=["cup"], objectron=False)
    assert only_cups.detect(image, camera_for(image)) == []


def test_every_mediapipe_label_maps_into_one_vocabulary() -> None:
    shipped = set((models_dir() / "object_detection_oidv4_labelmap.txt").read_text().splitlines()) - {"???"}
    assert len(shipped) == 23 and shipped == set(MEDIAPIPE_TO_COCO)
    assert set(MEDIAPIPE_TO_COCO.values()) <= set(COCO_CLASSES) | OWN_NAMES
    assert MEDIAPIPE_TO_COCO["Mug"] == MEDIAPIPE_TO_COCO["Coffee cup"] == "cup"
    assert MEDIAPIPE_TO_COCO["Computer monitor"] == "tv"


def test_every_mapping_is_in_the_documented_table() -> None:
    table = (Path(__file__).resolve().parents[2] / "docs" / "vision.md").read_text()
    for source, name in MEDIAPIPE_TO_COCO.items():
        assert f"| {source} | `{name}` |" in table


def test_auto_finds_real_objects_and_markers_together() -> None:
    frame = np.full((480, 640, 3), 200, np.uint8)
    cup = cv2.resize(bgr(skdata.coffee())[10:330, 160:430], (216, 256))
    frame[40:296, 40:256] = cup
    marker = cv2.aruco.generateImageMarker(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50), 7, 160)
    frame[260:420, 420:580] = cv2.cvtColor(marker, cv2.COLOR_GRAY2BGR)
    found = create_detector("auto", size_m=0.05, min_score=0.35).detect(frame, camera_for(frame))
    by_backend = {d.backend: d for d in found}
    assert by_backend["markers"].object_id == "marker:aruco/7"
    assert by_backend["mediapipe"].label == "cup"


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(DetectorConfigError, match="no option colour"):
        create_detector("auto", colour="red")
    with pytest.raises(DetectorConfigError, match="cannot detect \\['unicorn'\\]"):
        create_detector("mediapipe", classes=["unicorn"])
    with pytest.raises(DetectorConfigError, match="min_score"):
        create_detector("mediapipe", min_score=1.5)


def test_without_mediapipe_the_core_works_and_the_error_says_how_to_install() -> None:
    script = (
        "import sys; sys.modules['mediapipe'] = None\n"
        "from vision import DetectorConfigError, create_detector\n"
        "create_detector('markers')\n"
        "try:\n"
        "    create_detector('auto')\n"
        "except DetectorConfigError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "make mediapipe" in result.stdout
