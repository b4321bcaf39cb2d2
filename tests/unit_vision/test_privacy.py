"""Faces are blurred before a frame leaves the process: MediaPipe's face detector on a real photograph."""

import cv2
import numpy as np
from skimage import data as skdata

from vision.privacy import FaceBlurrer, blur_faces


def sharpness(image: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def test_the_astronauts_face_is_blurred_and_nothing_else_changes() -> None:
    astronaut = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    original = astronaut.copy()
    blurrer = FaceBlurrer()
    faces = blurrer.faces(astronaut)
    assert faces, "the detector finds the astronaut's face"
    x0, y0 = min(f.x0 for f in faces), min(f.y0 for f in faces)
    x1, y1 = max(f.x1 for f in faces), max(f.y1 for f in faces)
    assert 130 <= x0 < 200 and 30 <= y0 < 100 and 250 < x1 <= 330 and 170 < y1 <= 240, (x0, y0, x1, y1)

    blurred = blur_faces(astronaut)
    assert np.array_equal(astronaut, original), "the input is left as it was"
    assert blurrer.faces(blurred) == [], "no face is found in the blurred frame"
    face_before, face_after = original[y0:y1, x0:x1], blurred[y0:y1, x0:x1]
    assert sharpness(face_after) < 0.05 * sharpness(face_before)
    outside = np.ones(original.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(blurred[outside], original[outside]), "pixels away from faces are untouched"


def test_a_frame_without_faces_comes_back_unchanged() -> None:
    cat = cv2.cvtColor(skdata.chelsea(), cv2.COLOR_RGB2BGR)
    assert np.array_equal(blur_faces(cat), cat)
