"""Native libraries' log lines on standard error, routed through `logging` so that a user sees only their own.

MediaPipe's TensorFlow Lite and absl write straight to file descriptor 2 from their C++ threads
("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.", and once per detector thread
"W0000 ... inference_feedback_manager.cc:114] Feedback manager requires a model with a single signature
..."). Neither library offers a switch that quiets them here: GLOG_minloglevel, TF_CPP_MIN_LOG_LEVEL and
ABSL_MIN_LOG_LEVEL were tried and change nothing. So `route_native_logs` puts a pipe under descriptor 2: a
thread reads it line by line, hands the lines in those libraries' formats to a logger (informational lines
and warnings at debug level, errors as errors) and writes every other line to the real standard error as it
came. Python's own `sys.stderr` is pointed at the real standard error, so Python's output never passes
through the pipe (and the logger's handler cannot write into the pipe its thread reads).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading

NATIVE_LINE = re.compile(
    # absl and glog: severity, date, time (seconds since 1970 until absl is set up), thread, file:line
    r"^(?:(?P<severity>[IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^ ]+:\d+\]"
    r"|INFO: Created TensorFlow Lite"  # TensorFlow Lite's delegate notice
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called)"
)
LEVELS = {"I": logging.DEBUG, "W": logging.DEBUG, "E": logging.ERROR, "F": logging.CRITICAL}

_routed = False


def native_level(line: str) -> int | None:
    """The logging level for a native library's log line, None for any other line."""
    match = NATIVE_LINE.match(line)
    if match is None:
        return None
    return LEVELS.get(match.group("severity") or "I", logging.DEBUG)


def route_native_logs(logger: logging.Logger) -> None:
    """From now on, native log lines on descriptor 2 go to `logger`; everything else goes on to standard error.
    Call it before logging is configured (its handlers should write to the new `sys.stderr`); once per process."""
    global _routed
    if _routed:
        return
    _routed = True
    sys.stderr.flush()
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr = open(real, "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace", closefd=False)
    threading.Thread(target=_forward, args=(read_end, real, logger), name="native-logs", daemon=True).start()


def _forward(read_end: int, real: int, logger: logging.Logger) -> None:
    with open(read_end, "rb") as pipe:
        for raw in pipe:
            line = raw.decode("utf-8", "backslashreplace").rstrip("\n")
            level = native_level(line)
            if level is None:
                os.write(real, raw)
            else:
                logger.log(level, "%s", line)
