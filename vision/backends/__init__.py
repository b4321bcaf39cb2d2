"""Built-in detector backends; importing this package registers them."""

from vision.backends import auto, detectron2, markers, mediapipe, ray_serve

__all__ = ["auto", "detectron2", "markers", "mediapipe", "ray_serve"]
