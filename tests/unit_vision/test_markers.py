import cv2
import numpy as np
import pytest

from vision import FrameDecodeError, Intrinsics, create_detector, decode_image
from vision.detection import UnknownDetectorError
from vision.poses import pose_difference

K = Intrinsics(525.0, 525.0, 319.5, 239.5, 640, 480)


def render_marker(family_dict: int, marker_id: int, pose: np.ndarray, size_m: float = 0.10) -> np.ndarray:
    """A 640x480 view of a marker (with a white border) at `pose` (marker-to-camera)."""
    side = 400
    border = side // 5
    marker = cv2.aruco.generateImageMarker(cv2.aruco.getPredefinedDictionary(family_dict), marker_id, side)
    texture = cv2.copyMakeBorder(marker, border, border, border, border, cv2.BORDER_CONSTANT, value=255)
    half = size_m / 2 * (side + 2 * border) / side
    world = np.array([[-half, half, 0], [half, half, 0], [half, -half, 0], [-half, -half, 0]])
    cam = (pose[:3, :3] @ world.T).T + pose[:3, 3]
    pixels = (K.matrix() @ cam.T).T
    pixels = (pixels[:, :2] / pixels[:, 2:]).astype(np.float32)
    n = texture.shape[0] - 1
    src = np.float32([[0, 0], [n, 0], [n, n], [0, n]])
    warp = cv2.getPerspectiveTransform(src, pixels)
    image = cv2.warpPerspective(texture, warp, (640, 480), borderValue=140)
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)


def look_at_pose(rx_deg: float, ry_deg: float, distance: float) -> np.ndarray:
    """Marker-to-camera pose: marker facing the camera, tilted about x and y."""
    facing = np.diag([1.0, -1.0, -1.0])  # marker z (out of face) points back at the camera
    tilt = cv2.Rodrigues(np.radians([rx_deg, ry_deg, 0.0]))[0]
    pose = np.eye(4)
    pose[:3, :3] = facing @ tilt
    pose[:3, 3] = [0.02, -0.01, distance]
    return pose


@pytest.mark.parametrize(
    "rx, ry, distance, max_rotation_deg",
    # Seen head-on, a square's tilt is least constrained, so its tolerance is wider.
    [(0, 0, 0.4, 2.0), (0, 0, 0.7, 5.0), (25, -15, 0.5, 1.0), (-20, 30, 0.7, 1.0)],
)
def test_aruco_pose_matches_ground_truth(rx: float, ry: float, distance: float, max_rotation_deg: float) -> None:
    truth = look_at_pose(rx, ry, distance)
    found = create_detector("markers").detect(render_marker(cv2.aruco.DICT_4X4_50, 7, truth), K)
    assert [d.object_id for d in found] == ["marker:aruco/7"]
    pose = found[0].pose
    assert np.linalg.norm(pose[:3, 3] - truth[:3, 3]) < 0.01
    assert pose_difference(pose, truth)[1] < max_rotation_deg
    x0, y0, x1, y1 = found[0].box
    assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 480


def test_apriltag_is_its_own_family() -> None:
    image = render_marker(cv2.aruco.DICT_APRILTAG_36h11, 3, look_at_pose(10, 10, 0.5))
    found = create_detector("markers").detect(image, K)
    assert [d.object_id for d in found] == ["marker:apriltag/3"]


def test_marker_size_scales_distance() -> None:
    image = render_marker(cv2.aruco.DICT_4X4_50, 7, look_at_pose(0, 0, 0.5))
    small = create_detector("markers", size_m=0.05).detect(image, K)[0].pose
    assert small[2, 3] == pytest.approx(0.25, abs=0.01)


def test_empty_image_has_no_objects() -> None:
    assert create_detector("markers").detect(np.full((480, 640, 3), 128, np.uint8), K) == []


def test_unknown_backend_names_the_available_ones() -> None:
    with pytest.raises(UnknownDetectorError, match="markers"):
        create_detector("no-such-backend")


def test_decode_rejects_corrupt_and_foreign_bytes() -> None:
    ok, jpeg = cv2.imencode(".jpg", np.zeros((48, 64, 3), np.uint8))
    assert decode_image(jpeg.tobytes()).shape == (48, 64, 3)
    with pytest.raises(FrameDecodeError, match="not JPEG"):
        decode_image(b"GIF89a....")
    with pytest.raises(FrameDecodeError, match="corrupt"):
        decode_image(jpeg.tobytes()[:20])


def test_intrinsics_from_fov_and_scaling() -> None:
    k = Intrinsics.from_fov(640, 480, 90.0)
    assert k.fy == pytest.approx(240.0)
    half = k.scaled_to(320, 240)
    assert (half.fx, half.cx, half.width) == (pytest.approx(120.0), 160.0, 320)


def test_bad_backend_options_are_config_errors() -> None:
    from vision import DetectorConfigError

    with pytest.raises(DetectorConfigError, match="families"):
        create_detector("markers", families=("qr",))
    with pytest.raises(DetectorConfigError, match="unexpected keyword"):
        create_detector("markers", colour="red")
