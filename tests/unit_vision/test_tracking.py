"""The tracker on generated sequences of real photos: ids through re-entry, twins and occlusion."""

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from bench.tracking import load_make_sequences, run_sequence, summary
from vision import Intrinsics, create_detector
from vision.boxes import box_iou
from vision.identity import Gallery, Signature
from vision.recognition import Recogniser, teach
from vision.tracking import Tracker, moved_box, moved_pose

make_sequences = load_make_sequences()
K = Intrinsics(*make_sequences.intrinsics_values(), make_sequences.WIDTH, make_sequences.HEIGHT)


@pytest.fixture(scope="module")
def detector():
    return create_detector("mediapipe", objectron=False)


@pytest.fixture(scope="module")
def runs(detector):
    """Every generated sequence through a fresh tracker."""
    return {s.name: run_sequence(s, Tracker(detector), K) for s in make_sequences.sequences()}


def test_each_object_keeps_one_id_in_every_sequence(runs) -> None:
    table = summary(list(runs.values()))
    for name, run in runs.items():
        given = run.ids_given()
        assert set(given) == set(truth_ids(name)), name
        assert all(len(ids) == 1 for ids in given.values()), (name, given)
        assert table.loc[name, "num_switches"] == 0
        assert table.loc[name, "idf1"] >= 0.85, (name, table.loc[name, "idf1"])
    assert table.loc["OVERALL", "idf1"] >= 0.9


def truth_ids(name: str) -> set[str]:
    return {p.object_id for p in next(s for s in make_sequences.SEQUENCES if s.name == name).placements}


def test_an_object_that_left_the_view_comes_back_with_its_id(runs) -> None:
    run = runs["reentry"]
    events = run.accumulator.mot_events
    cup = events[(events["Type"] == "MATCH") & (events["OId"] == run.number("cup"))]
    frames = cup.index.get_level_values("FrameId").to_numpy()
    assert np.diff(frames).max() > 30, "the cup must leave the view for a while and come back"
    assert cup["HId"].nunique() == 1
    names = {n: object_id for object_id, n in run.numbers.items()}
    assert names[int(cup["HId"].iloc[0])].startswith("object:cup/")


def test_two_cups_side_by_side_are_two_objects(runs) -> None:
    given = runs["two_cups"].ids_given()
    assert given["cup"] != given["yellow_cup"]
    assert all(ids[0].startswith("object:cup/") for ids in given.values())


def test_boxes_between_detections_come_from_tracking(detector) -> None:
    sequence = make_sequences.sequences(["reentry"])[0]
    tracker = Tracker(detector, detect_every=5)
    sources, ious = [], []
    for index in range(40):
        image, truth = sequence.frame(index)
        for d in tracker.update(image, K):
            sources.append(d.source)
            truth_box = next(t.box for t in truth if t.label == d.label)
            ious.append(box_iou(d.box, truth_box))
    assert {"detection", "tracking"} == set(sources)
    assert sources.count("tracking") > 2 * sources.count("detection")
    assert min(ious) > 0.6


def test_a_shared_gallery_gives_the_same_id_in_another_session(detector) -> None:
    sequence = make_sequences.sequences(["occlusion"])[0]
    gallery = Gallery()
    first_session = Tracker(detector, gallery=gallery)
    for index in range(12):
        found = first_session.update(sequence.frame(index)[0], K)
    ids = {d.label: d.object_id for d in found}

    stored = [s.to_bytes() for s in gallery.take_updates()]
    restored = Gallery()
    restored.add_all(Signature.from_bytes(b) for b in stored)
    for shared in (gallery, restored):
        next_session = Tracker(detector, gallery=shared)
        for index in range(150, 162):
            found = next_session.update(sequence.frame(index)[0], K)
        assert {d.label: d.object_id for d in found} == ids


def marker_frame(x: float, y: float) -> np.ndarray:
    frame = np.full((480, 640, 3), 150, np.uint8)
    marker = cv2.aruco.generateImageMarker(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50), 7, 120)
    tile = cv2.copyMakeBorder(marker, 20, 20, 20, 20, cv2.BORDER_CONSTANT, value=255)
    frame[int(y):int(y) + 160, int(x):int(x) + 160] = cv2.cvtColor(tile, cv2.COLOR_GRAY2BGR)
    return frame


def test_markers_keep_their_ids_and_are_tracked_between_detections() -> None:
    tracker = Tracker(create_detector("markers"), detect_every=4)
    first_pose = None
    for step in range(16):
        x, y = 100 + 6 * step, 120 + 3 * step
        found = tracker.update(marker_frame(x, y), K)
        assert [d.object_id for d in found] == ["marker:aruco/7"]
        marker = found[0]
        assert marker.source == ("detection" if step % 4 == 0 else "tracking")
        assert box_iou(marker.box, (x + 20, y + 20, x + 140, y + 140)) > 0.9
        first_pose = first_pose if first_pose is not None else marker.pose
    # 90 pixels right at the same depth is 90 / fx of the depth, in metres.
    depth = first_pose[2, 3]
    assert marker.pose[0, 3] - first_pose[0, 3] == pytest.approx(90 / K.fx * depth, rel=0.05)
    assert marker.pose[2, 3] == pytest.approx(depth, rel=0.02)


def test_tracked_objects_have_the_image_velocity_of_their_flow() -> None:
    tracker = Tracker(create_detector("markers"), detect_every=4)
    assert tracker.update(marker_frame(100, 120), K)[0].velocity is None, "no motion seen yet"
    assert tracker.update(marker_frame(106, 123), K)[0].velocity is None, "frames without times have no velocity"
    for step in range(2, 12):
        found = tracker.update(marker_frame(100 + 6 * step, 120 + 3 * step), K, timestamp_ms=1000 + 40 * step)
    # 6 and 3 pixels a frame, a frame every 40 ms; the box a detection moved it to is not motion.
    assert found[0].velocity == pytest.approx((150, 75), abs=8)
    held = [tracker.update(marker_frame(172, 156), K, timestamp_ms=1480 + 40 * k)[0].velocity for k in range(1, 6)]
    assert np.hypot(*held[-1]) < 15, "still again: the velocity decays"


def test_moving_a_box_and_a_pose_by_a_similarity() -> None:
    # Twice as large about the principal point: the box doubles, the object halves its depth.
    motion = np.array([[2.0, 0.0, -K.cx], [0.0, 2.0, -K.cy]])
    box = moved_box(np.array([K.cx - 10, K.cy - 5, K.cx + 10, K.cy + 5]), motion)
    assert np.allclose(box, [K.cx - 20, K.cy - 10, K.cx + 20, K.cy + 10])
    pose = np.eye(4)
    pose[:3, 3] = [0.0, 0.0, 1.0]
    assert np.allclose(moved_pose(pose, motion, K)[:3, 3], [0.0, 0.0, 0.5])
    # A quarter turn of the image about the principal point rolls the object about the optical axis.
    turn = cv2.getRotationMatrix2D((K.cx, K.cy), -90, 1.0)
    rolled = moved_pose(pose, turn, K)
    assert np.allclose(rolled[:3, :3] @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-9)


def test_bad_settings_are_refused(detector) -> None:
    with pytest.raises(ValueError, match="detect_every"):
        Tracker(detector, detect_every=0)


def test_a_new_resolution_starts_afresh(detector) -> None:
    sequence = make_sequences.sequences(["reentry"])[0]
    tracker = Tracker(detector)
    for index in range(8):
        tracker.update(sequence.frame(index)[0], K)
    small = cv2.resize(sequence.frame(8)[0], (320, 240))
    found = tracker.update(small, K.scaled_to(320, 240))
    assert all(d.source == "detection" for d in found)
    assert all(0 <= v <= 320 for d in found for v in d.box[::2])


def poster_frame(x: int, y: int) -> np.ndarray:
    """The astronaut photo as a 200x200 poster on a grey wall, its top-left corner at (x, y)."""
    frame = np.full((480, 640, 3), 120, np.uint8)
    frame[y:y + 200, x:x + 200] = cv2.resize(cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR), (200, 200))
    return frame


def test_a_taught_object_is_tracked_under_its_own_id() -> None:
    taught = teach(poster_frame(100, 100), (100, 100, 300, 300), label="poster", size_m=0.30)
    tracker = Tracker(create_detector("markers"), recogniser=Recogniser([taught]), detect_every=3)
    for step in range(9):
        x, y = 120 + 8 * step, 90 + 4 * step
        found = tracker.update(poster_frame(x, y), K)
        assert [(d.object_id, d.backend) for d in found] == [(taught.instance_id, "taught")]
        assert found[0].source == ("detection" if step % 3 == 0 else "tracking")
        assert box_iou(found[0].box, (x, y, x + 200, y + 200)) > 0.9
        assert found[0].pose is not None
