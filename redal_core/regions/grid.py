"""Grid region division: cubic cells of a fixed size on the scan's raw coordinates (Annotator's voxels).

Annotator (Xie et al., NeurIPS 2023; ``BIT-DA/Annotator`` ``annotator/active/sampler.py``
``get_point_in_voxel``) selects 0.25 m cells of the unaugmented scan. Cells here are ``floor(xyz / size)``
(the official code casts with ``.int()``, which truncates toward zero and so makes the cells around 0 twice
as wide on each axis: a quirk not reproduced), numbered densely in lexicographic order of their cell
indices, so the ids do not depend on the order of the points.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ANNOTATOR_CELL", "grid_regions"]

#: Annotator's coarse voxel (``ACTIVE.ACTIVE_VOXEL_SIZE`` in every stored config), metres.
ANNOTATOR_CELL = 0.25


def grid_regions(xyz: np.ndarray, cell: float = ANNOTATOR_CELL) -> np.ndarray:
    """(N,) int64 cell id of every point, dense 0..R-1 in lexicographic (x, y, z) order of the cells.

    xyz : (N, 3) float coordinates in metres (finite); cell : edge length in metres (> 0).
    """
    xyz = np.asarray(xyz)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or xyz.shape[0] == 0:
        raise ValueError(f"xyz must be a non-empty (N, 3) array, got shape {xyz.shape}")
    if isinstance(cell, bool) or not isinstance(cell, int | float) or not math.isfinite(cell) or cell <= 0:
        raise ValueError(f"cell must be a positive number of metres, got {cell!r}")
    if not np.isfinite(xyz).all():
        raise ValueError("xyz holds non-finite coordinates")
    grid = np.floor(np.asarray(xyz, np.float64) / cell).astype(np.int64)
    grid -= grid.min(axis=0)
    span = grid.max(axis=0) + 1
    if np.prod(span.astype(np.float64)) >= 2.0**62:
        raise ValueError(f"the cloud spans {span.tolist()} cells of {cell} m: too many to index")
    flat = (grid[:, 0] * span[1] + grid[:, 1]) * span[2] + grid[:, 2]  # lexicographic order of (x, y, z)
    _, ids = np.unique(flat, return_inverse=True)
    return ids.reshape(-1).astype(np.int64)
