"""open3d and SciPy's assignment solver and k-d trees, imported on first use, not when the service starts.

Importing open3d takes about a second (its bindings, and its visualisation module
pulls in Dash) and `scipy.optimize` with `scipy.spatial` almost another. Only frames with
depth, a relocalisation or two overlapping tracks need them, while every `spatial serve`,
CLI command and test process would otherwise pay that before its first frame. The
service loads them beside its start (`load_all` in a thread) and a session's hello
waits for them, so that no frame does.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from scipy.spatial import cKDTree


@cache
def open3d() -> ModuleType:
    """The open3d module."""
    import open3d

    return open3d


def linear_sum_assignment(cost: np.ndarray) -> Any:
    """SciPy's `linear_sum_assignment(cost)`: the rows and columns of a minimum-cost matching."""
    from scipy.optimize import linear_sum_assignment as solve

    return solve(cost)


def kd_tree(points: np.ndarray) -> cKDTree:
    """SciPy's k-d tree over `points` (N, K), for nearest-neighbour queries."""
    from scipy.spatial import cKDTree

    return cKDTree(points)


def load_all() -> None:
    """Import all of them now (each once; a second caller waits for the first)."""
    open3d()
    import scipy.optimize  # noqa: F401
    import scipy.spatial  # noqa: F401
