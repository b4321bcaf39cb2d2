"""`spatial replay` over the sample video: an annotated video and one log line per frame."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from tests.support import SAMPLE_VIDEO, sample_truth

ROOT = Path(__file__).resolve().parents[2]


def test_replay_writes_annotated_video_and_log(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    seed = subprocess.run(
        [sys.executable, "-c", "from anchors import BlockService, SQLiteStore; from spatial.demo import seed_demo;"
         f"s = BlockService(SQLiteStore({str(store)!r})); seed_demo(s, s.ensure_user('local'))"],
        check=True, cwd=ROOT,
    )
    assert seed.returncode == 0
    k = sample_truth()["intrinsics"]
    out, log = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "spatial.cli", "replay", str(SAMPLE_VIDEO), "--out", str(out), "--log", str(log),
         "--store", str(store), "--intrinsics", f"{k['fx']},{k['fy']},{k['cx']},{k['cy']}"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "90/90" in done.stderr, "a progress bar is shown"

    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 90
    assert all(any(o["id"] == "marker:aruco/7" for o in line["objects"]) for line in lines)
    assert all(len(line["overlays"]) == 2 for line in lines)
    assert lines[0]["sent"]["added"] == 2 and all(line["sent"]["added"] == 0 for line in lines[1:])

    original, annotated = cv2.VideoCapture(str(SAMPLE_VIDEO)), cv2.VideoCapture(str(out))
    assert int(annotated.get(cv2.CAP_PROP_FRAME_COUNT)) == 90
    _, a = original.read()
    _, b = annotated.read()
    x0, y0, x1, y1 = (int(v) for v in lines[0]["objects"][0]["box"])
    above = slice(max(0, y0 - 60), y0 - 12), slice(x0, x1)
    assert np.abs(a[above].astype(int) - b[above].astype(int)).mean() > 30, "an overlay panel is drawn above the marker"
    assert b[above].mean() < a[above].mean(), "the panel is darker than the scene behind it"


def test_replay_of_a_missing_video_fails_clearly(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "spatial.cli", "replay", str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "o.mp4"),
         "--log", str(tmp_path / "o.jsonl"), "--store", str(tmp_path / "s.db")],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert done.returncode == 2 and "cannot open video" in done.stderr
