"""What the detector deployment (vision.serving) sends back, and which application a replica uses."""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np

from tests.unit_vision.test_batching import CAMERA, marker_image
from vision.backends.markers import MarkerDetector
from vision.serving import DetectorSpec, Reply


def test_detections_come_back_whole_with_their_masks_sent_as_bits() -> None:
    (marker,) = MarkerDetector().detect(marker_image(5), CAMERA)
    mask = np.zeros((240, 320), bool)
    mask[60:180, 100:220] = True
    mask[0, 0] = mask[239, 319] = True
    sent = [replace(marker, mask=mask), replace(marker, object_id="marker:aruco/6", mask=np.eye(7, 13, dtype=bool))]

    wire = pickle.dumps(Reply.of([*sent, marker]))
    back = pickle.loads(wire).unpacked()

    assert len(wire) < mask.size // 4, "a mask travels as bits, not as one byte a pixel"
    assert [d.object_id for d in back] == ["marker:aruco/5", "marker:aruco/6", "marker:aruco/5"]
    assert np.array_equal(back[0].mask, mask) and np.array_equal(back[1].mask, np.eye(7, 13, dtype=bool))
    assert back[2].mask is None and back[0].mask.dtype == bool
    assert np.array_equal(back[0].pose, marker.pose) and np.array_equal(back[0].corners, marker.corners)
    assert (back[0].box, back[0].score, back[0].backend) == (marker.box, marker.score, "markers")


def test_replicas_configured_alike_share_one_application_and_others_get_their_own() -> None:
    name = DetectorSpec("markers", {"size_m": 0.1, "families": ["aruco"]}).application_name()
    assert name == DetectorSpec("markers", {"families": ["aruco"], "size_m": 0.1}).application_name()
    assert name.startswith("spatial-detector-markers-")
    others = {DetectorSpec("markers", {"size_m": 0.2, "families": ["aruco"]}).application_name(),
              DetectorSpec("markers", {"size_m": 0.1, "families": ["aruco"]}, batch_size=4).application_name(),
              DetectorSpec("markers", {"size_m": 0.1, "families": ["aruco"]}, module="mine").application_name(),
              DetectorSpec("auto", {"size_m": 0.1, "families": ["aruco"]}).application_name()}
    assert name not in others and len(others) == 4
