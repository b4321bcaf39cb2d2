"""The service: sessions, the frame pipeline joining vision and anchors, overlays, API and CLI."""

__version__ = "0.1.0"
