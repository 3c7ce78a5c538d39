"""Load the regions' numba kernels into this process before it forks workers (``redal prepare --jobs N``).

A process's first VCCS division and first k-NN grid cost about 0.7 s more than the next ones: numba sets up
its CPU target and loads each kernel from its on-disk cache (or compiles it). A worker forked from a process
that has done this inherits the loaded kernels, so ``redal prepare`` does it once, in the main process,
while its workers write a synthetic dataset, instead of once in every worker.
"""

from __future__ import annotations

import numpy as np

from redal_core.regions.cached import vccs_arguments
from redal_core.regions.knn_grid import _Grid
from redal_core.regions.vccs import vccs

__all__ = ["warm_kernels"]

#: Points of the cloud the kernels run on: enough for VCCS to seed, grow and merge regions.
_POINTS = 2_000


def warm_kernels(*, color: bool, k: int = 50) -> None:
    """Run every serial kernel of VCCS and of the k-NN grid once on a tiny cloud, for scans with colour
    (``color``: uint8 rgb, the S3DIS preset) or without (the SemanticKITTI preset): the dtypes of a real
    scan (``Scan``: float32 xyz), so that the kernels loaded are the ones its division and cues call.

    The two parallel k-NN solvers are not run: they would start numba's thread pool, after which this
    process could no longer fork safely (``redal_core.workers.fork_unsafe_reason``); a worker loads them
    at its first scan. k : the cues' neighbours (the grid's group size depends on it, not its kernels).
    """
    rng = np.random.default_rng(0)
    xyz = (rng.random((_POINTS, 3)) * np.array([20.0, 20.0, 3.0])).astype(np.float32)
    rgb = rng.integers(0, 256, (_POINTS, 3), dtype=np.uint8) if color else None
    params, _ = vccs_arguments("s3dis" if color else "semantickitti", has_color=color)
    vccs(xyz, rgb, **params)
    _Grid(np.ascontiguousarray(xyz, dtype=np.float64), int(k))
