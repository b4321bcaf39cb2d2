"""Vision: frames in, detected objects out.

Independent of `anchors` and `spatial`. Types that leave this package are plain
dataclasses and numpy arrays; poses are 4x4 matrices (object-to-camera, OpenCV
camera axes: x right, y down, z forward, metres).
"""

from vision.camera import Intrinsics
from vision.detection import DETECTORS, Detection, Detector, DetectorConfigError, create_detector
from vision.frames import EncodedFrame, FrameDecodeError, ImageTooLarge, decode_frame, decode_image

__all__ = [
    "DETECTORS",
    "Detection",
    "Detector",
    "DetectorConfigError",
    "EncodedFrame",
    "FrameDecodeError",
    "ImageTooLarge",
    "Intrinsics",
    "create_detector",
    "decode_frame",
    "decode_image",
]
