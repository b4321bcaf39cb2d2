"""Appearance signatures, the gallery of known objects, and teaching an object by example."""

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from vision import Intrinsics
from vision.identity import (
    BadBoxError,
    Gallery,
    IdentityError,
    Signature,
    SignatureFormatError,
    TooFewFeaturesError,
    describe,
    similarity,
)
from vision.recognition import Recogniser, teach
from vision.poses import pose_difference

K = Intrinsics(525.0, 525.0, 319.5, 239.5, 640, 480)
POSTER_WIDTH_M = 0.20


def desk() -> np.ndarray:
    gravel = cv2.resize(skdata.gravel(), (640, 480))
    return cv2.cvtColor((gravel * 0.3 + 120).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def poster() -> np.ndarray:
    return cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)


def poster_pose(rx_deg: float, ry_deg: float, distance: float, x: float = 0.0) -> np.ndarray:
    """Poster-to-camera pose: the poster faces the camera, tilted about its x and y axes."""
    pose = np.eye(4)
    pose[:3, :3] = np.diag([1.0, -1.0, -1.0]) @ cv2.Rodrigues(np.radians([rx_deg, ry_deg, 0.0]))[0]
    pose[:3, 3] = [x, 0.0, distance]
    return pose


def render(pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A frame showing the poster at `pose`, and the poster's four corners in it (top-left first, clockwise)."""
    texture = poster()
    h, w = texture.shape[:2]
    half_w, half_h = POSTER_WIDTH_M / 2, POSTER_WIDTH_M / 2 * h / w
    face = np.array([[-half_w, half_h, 0], [half_w, half_h, 0], [half_w, -half_h, 0], [-half_w, -half_h, 0]])
    camera = (pose[:3, :3] @ face.T).T + pose[:3, 3]
    pixels = (K.matrix() @ camera.T).T
    corners = (pixels[:, :2] / pixels[:, 2:]).astype(np.float32)
    warp = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), corners)
    frame = desk()
    cv2.warpPerspective(texture, warp, (640, 480), dst=frame, borderMode=cv2.BORDER_TRANSPARENT)
    return frame, corners


def bounding_box(corners: np.ndarray) -> tuple[float, float, float, float]:
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def test_taught_object_is_recognised_with_its_pose_by_a_new_recogniser() -> None:
    frame, corners = render(poster_pose(0, 0, 0.5))
    size = (POSTER_WIDTH_M, POSTER_WIDTH_M * poster().shape[0] / poster().shape[1])
    stored = teach(frame, bounding_box(corners), label="poster", size_m=size).to_bytes()

    # Another session: a fresh recogniser from the stored bytes, the poster seen from elsewhere.
    recogniser = Recogniser([Signature.from_bytes(stored)])
    truth = poster_pose(20, -25, 0.65, x=0.03)
    later, true_corners = render(truth)
    found = recogniser.detect(later, K)
    assert len(found) == 1
    poster_found = found[0]
    assert poster_found.object_id == Signature.from_bytes(stored).instance_id
    assert (poster_found.label, poster_found.backend) == ("poster", "taught")
    assert np.abs(poster_found.corners - true_corners).max() < 3.0
    assert np.linalg.norm(poster_found.pose[:3, 3] - truth[:3, 3]) < 0.01
    assert pose_difference(poster_found.pose, truth)[1] < 2.0


def test_recogniser_finds_nothing_where_the_object_is_not() -> None:
    frame, corners = render(poster_pose(0, 0, 0.5))
    recogniser = Recogniser([teach(frame, bounding_box(corners))])
    assert recogniser.detect(desk(), K) == []
    coffee = cv2.resize(cv2.cvtColor(skdata.coffee(), cv2.COLOR_RGB2BGR), (640, 480))
    assert recogniser.detect(coffee, K) == []


def test_teaching_without_a_size_gives_no_pose() -> None:
    frame, corners = render(poster_pose(0, 0, 0.5))
    recogniser = Recogniser([teach(frame, bounding_box(corners))])
    found = recogniser.detect(render(poster_pose(10, 10, 0.6))[0], K)
    assert len(found) == 1 and found[0].pose is None
    assert found[0].object_id.startswith("object:object/")


@pytest.mark.parametrize(
    "box, message",
    [
        ((700, 10, 800, 100), "outside the 640x480 frame"),
        ((-300, -300, -10, -10), "outside the 640x480 frame"),
        ((100, 100, 100, 200), "empty"),
        ((300, 200, 200, 300), "empty"),
        ((100, 100, 104, 200), "at least 8x8"),
        ((0, 0, float("nan"), 10), "finite"),
        ((1, 2, 3), "four"),
        ("abcd", "four numbers"),
    ],
)
def test_bad_boxes_are_refused_with_the_reason(box, message: str) -> None:
    frame, _ = render(poster_pose(0, 0, 0.5))
    with pytest.raises(BadBoxError, match=message):
        teach(frame, box)
    with pytest.raises(BadBoxError, match=message):
        describe(frame, box)


def test_plain_objects_cannot_be_taught() -> None:
    plain = np.full((480, 640, 3), (40, 120, 200), np.uint8)
    with pytest.raises(TooFewFeaturesError, match="textured"):
        teach(plain, (100, 100, 300, 300))


def test_bad_sizes_are_refused() -> None:
    frame, corners = render(poster_pose(0, 0, 0.5))
    with pytest.raises(IdentityError, match="size_m"):
        teach(frame, bounding_box(corners), size_m=-0.2)
    with pytest.raises(IdentityError, match="size_m"):
        teach(frame, bounding_box(corners), size_m="big")


def test_signatures_survive_storage_and_bad_bytes_are_refused() -> None:
    frame, corners = render(poster_pose(0, 0, 0.5))
    signature = describe(frame, bounding_box(corners), label="person", instance_id="object:person/1")
    copy = Signature.from_bytes(signature.to_bytes())
    assert (copy.instance_id, copy.label, copy.template_size) == ("object:person/1", "person", signature.template_size)
    assert np.array_equal(copy.descriptors, signature.descriptors)
    assert similarity(copy, signature) == pytest.approx(1.0)
    with pytest.raises(SignatureFormatError, match="not JSON"):
        Signature.from_bytes(b"\x00garbage")
    with pytest.raises(SignatureFormatError, match="not a stored signature"):
        Signature.from_bytes(b'{"format": 1}')
    with pytest.raises(SignatureFormatError, match="format 2"):
        Signature.from_bytes(signature.to_bytes().replace(b'"format":1', b'"format":2'))


def cup_view(height: int) -> np.ndarray:
    """A frame with the coffee cup (photo) `height` pixels tall on the desk, and its box."""
    cup = cv2.cvtColor(skdata.coffee(), cv2.COLOR_RGB2BGR)[10:330, 160:430]
    cup = cv2.resize(cup, None, fx=height / cup.shape[0], fy=height / cup.shape[0], interpolation=cv2.INTER_AREA)
    frame = desk()
    frame[50:50 + cup.shape[0], 60:60 + cup.shape[1]] = cup
    return frame, (60, 50, 60 + cup.shape[1], 50 + cup.shape[0])


def test_gallery_knows_an_object_again_and_tells_others_apart() -> None:
    gallery = Gallery()
    near, near_box = cup_view(300)
    cup_id = gallery.identify(describe(near, near_box, "cup"))
    assert cup_id.startswith("object:cup/")
    far, far_box = cup_view(150)
    assert gallery.identify(describe(far, far_box, "cup")) == cup_id
    cat = cv2.resize(cv2.cvtColor(skdata.chelsea(), cv2.COLOR_RGB2BGR), (400, 266))
    frame = desk()
    frame[100:366, 100:500] = cat
    cat_id = gallery.identify(describe(frame, (100, 100, 500, 366), "cat"))
    assert cat_id != cup_id
    # A cup seen while the known cup is in view elsewhere is another cup.
    assert gallery.identify(describe(far, far_box, "cup"), exclude={cup_id}) not in {cup_id, cat_id}


def test_gallery_reports_new_views_once_and_loads_stored_ones() -> None:
    gallery = Gallery()
    frame, box = cup_view(300)
    cup_id = gallery.identify(describe(frame, box, "cup"))
    updates = gallery.take_updates()
    assert [u.instance_id for u in updates] == [cup_id]
    assert gallery.take_updates() == []

    restored = Gallery()
    restored.add_all(Signature.from_bytes(u.to_bytes()) for u in updates)
    other, other_box = cup_view(200)
    assert restored.identify(describe(other, other_box, "cup")) == cup_id
    assert len(restored) == 1
