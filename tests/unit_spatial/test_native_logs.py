"""Native libraries' log lines on file descriptor 2 go to a logger; every other line goes on as it was."""

import logging
import subprocess
import sys

from spatial.native_logs import native_level

CHILD = r'''
import logging, os, sys, time
from spatial.native_logs import route_native_logs
route_native_logs(logging.getLogger("vision.native"))
logging.basicConfig(level=logging.DEBUG, format="LOGGED %(levelname)s %(message)s")
os.write(2, b"W0000 00:00:1796690555.438240   15853 inference_feedback_manager.cc:114] Feedback manager\n")
os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
os.write(2, b"E1207 10:11:12.000001  77 graph.cc:9] a native error\n")
os.write(2, b"a line of some other native code\n")
print("python's own", file=sys.stderr)
time.sleep(0.5)
'''


def test_native_lines_are_told_apart_from_other_lines() -> None:
    assert native_level("W0000 00:00:1796690555.438240   15853 inference_feedback_manager.cc:114] x") == logging.DEBUG
    assert native_level("I1207 10:11:12.000001  77 graph.cc:9] x") == logging.DEBUG
    assert native_level("E1207 10:11:12.000001  77 graph.cc:9] x") == logging.ERROR
    assert native_level("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.") == logging.DEBUG
    assert native_level("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR") \
        == logging.DEBUG
    assert native_level("INFO:     Uvicorn running on http://127.0.0.1:8000") is None
    assert native_level("error: no user named 'x'") is None


def test_a_process_routes_them_through_logging_and_passes_the_rest() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=True)
    lines = done.stderr.splitlines()
    assert "LOGGED DEBUG W0000 00:00:1796690555.438240   15853 inference_feedback_manager.cc:114] Feedback manager" in lines
    assert "LOGGED DEBUG INFO: Created TensorFlow Lite XNNPACK delegate for CPU." in lines
    assert "LOGGED ERROR E1207 10:11:12.000001  77 graph.cc:9] a native error" in lines
    assert "a line of some other native code" in lines and "python's own" in lines
    assert not any(line.startswith(("W0000", "INFO: Created", "E1207")) for line in lines), "no native line as it came"
