"""`spatial replay` over the sample video: an annotated video and one log line per frame."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from harness.paths import SAMPLE_VIDEO
from harness.samples import sample_truth

ROOT = Path(__file__).resolve().parents[2]


def test_replay_writes_annotated_video_and_log(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    seed = subprocess.run(
        [sys.executable, "-c", "from anchors import AccountService, BlockService, SQLiteStore;"
         " from spatial.demo import seed_demo;"
         f"s = SQLiteStore({str(store)!r}); seed_demo(BlockService(s), AccountService(s).ensure_user('local'))"],
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


def test_replay_with_detectron2_waits_for_each_detection(tmp_path: Path) -> None:
    """Replay does not pace frames, so a detector that would run asynchronously in a live stream is waited for:
    two runs log the same boxes, and the object is found, then carried by tracking between detections."""
    from data.make_shapes_dataset import scene

    video = tmp_path / "clock.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30, (640, 480))
    for i in range(12):
        writer.write(scene([("clock", (200 + 10 * i, 230), 170)], photo_name="rocket", seed=0).image)
    writer.release()
    models = ROOT / "data" / "models"
    runs = []
    for run in range(2):
        log = tmp_path / f"run{run}.jsonl"
        done = subprocess.run(
            [sys.executable, "-m", "spatial.cli", "replay", str(video), "--out", str(tmp_path / f"run{run}.mp4"),
             "--log", str(log), "--store", str(tmp_path / f"store{run}.db"), "--detector", "detectron2",
             "--detector-option", f"config={models / 'shapes_r18_fpn.yaml'}",
             "--detector-option", f"weights={models / 'shapes_r18_fpn.pth'}", "--detect-every", "5"],
            capture_output=True, text=True, cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr
        runs.append([json.loads(line)["objects"] for line in log.read_text().splitlines()])
    boxes = [[[(o["box"], o["source"]) for o in objects] for objects in run] for run in runs]
    assert boxes[0] == boxes[1], "a replay does not depend on how fast the machine is"
    found = [objects for objects in runs[0] if objects]
    assert len(found) >= 8 and all(len(objects) == 1 for objects in found)
    assert len({objects[0]["id"] for objects in found}) == 1
    assert {objects[0]["source"] for objects in found} == {"detection", "tracking"}
