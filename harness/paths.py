"""Where the checkout and its sample data lie."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SAMPLE_VIDEO = DATA / "sample.mp4"
SAMPLE_PATH = DATA / "sample_path.json"
