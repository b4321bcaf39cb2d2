"""A compute function that says which process ran it, for the tests of compute on a Ray cluster.

`spatial serve --plugin tests.ray_compute` registers it, as any module of compute functions of your own; the
cluster's workers import this module to run it.
"""

from __future__ import annotations

import os
from typing import Any

from anchors import compute_function


@compute_function("process_id")
def process_id(label: str) -> dict[str, Any]:
    """The id of the process that ran it, and its input back."""
    return {"pid": os.getpid(), "label": label}
