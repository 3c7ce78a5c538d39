"""Exact k nearest neighbours of every point of a cloud (a self-join), fused with the region cues.

The neighbour list of point i is i itself followed by its k nearest OTHER points, ranked by the float64
squared distance ``(dx*dx + dy*dy) + dz*dz`` and, among equidistant points, by smaller index. That total
order makes the list unique, so any exact method gives the same list (``brute_force_knn`` is the
reference the tests hold this module to).

The search is a multi-level grid in numba:

1. the coordinates are quantized to a 2**20 grid over the bounding cube (over the bulk of the points
   when a few far outliers would stretch it: ``_grid_box``) and the points sorted by the Morton code of
   their cell, so that a cell of any level ``l`` (``2**l`` grid steps wide) is a contiguous run of the
   sorted points, found by binary search on the codes;
2. a walk down the implicit octree cuts the points into groups: a child cell is refined while the 3x3x3
   block of cells of its own level around it holds at least ``_BLOCK_FACTOR * (k + 1)`` points;
   otherwise its points form a group that reads the 3x3x3 block of its parent's level (which does), so a
   block holds a few hundred candidates on dense and sparse parts of a scan alike;
3. per point of a group (in Morton order), the squared distances to the block's candidates are filtered
   by a guess (``_GUESS`` times the previous point's k-th squared distance), widened when fewer than
   k + 1 pass to the bound the triangle inequality guarantees (the previous point's k-th distance plus
   the step between the two points); a quickselect picks the k + 1 smallest keys, and the answer is kept
   only when the k-th distance is smaller than the distance from the point to the block's boundary,
   which proves that no point outside the block is closer; points that fail that test (about 1 % of a
   SemanticKITTI scan) are solved again with blocks of coarser levels around their own cell, up to the
   cube that holds the whole cloud.

``knn_features`` computes colour discontinuity and surface variation from each list as it is found (no
(N, k) array is stored); ``knn_indices`` returns the lists themselves.

Steps 1 and 2 are ``knn_grid`` (with the block geometry the proof of step 3 uses), step 3 and the cues
are the kernels of ``knn_solve``; this module holds the public API.
"""

from __future__ import annotations

import numpy as np

from redal_core.regions.knn_grid import _Grid
from redal_core.regions.knn_solve import _solve_groups, _solve_points
from redal_core.threads import holding_threads

__all__ = ["brute_force_knn", "knn_features", "knn_indices"]


def knn_indices(xyz: np.ndarray, k: int) -> np.ndarray:
    """(N, k + 1) int64: row i is i followed by its k nearest other points (ties: smaller index first).

    xyz : (N, 3) float64, finite; 1 <= k <= N - 1 (unchecked: the public callers validate).
    """
    grid = _Grid(xyz, k)
    idx = np.empty((xyz.shape[0], k + 1), np.int64)
    _solve(grid, None, k, idx, np.empty(1, np.float64), np.empty(1, np.float64), np.empty(1, np.float64),
           want_structure=False, store=True)
    return idx


def knn_features(
    xyz: np.ndarray, colors: np.ndarray | None, k: int, *, want_structure: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point, from its exact list (i and its k nearest others), the raw cues in float64.

    xyz : (N, 3) float64, finite; colors : (N, 3) float64 in 0..255, or None; 1 <= k <= N - 1.
    Returns ``(l1_all (N,), l1_farthest (N,), structure (N,))``: the sum over the list of the L1 colour
    difference to i in 0..255 units, the part of that sum from the list's last (farthest) point, and the
    surface variation of the k + 1 points; the colour arrays are zeros when colors is None, structure
    zeros when not wanted.
    """
    n = xyz.shape[0]
    grid = _Grid(xyz, k)
    l1_all = np.zeros(n, np.float64)
    l1_far = np.zeros(n, np.float64)
    structure = np.zeros(n, np.float64)
    _solve(grid, colors, k, np.empty((1, 1), np.int64), l1_all, l1_far, structure,
           want_structure=want_structure, store=False)
    return l1_all, l1_far, structure


def brute_force_knn(xyz: np.ndarray, k: int) -> np.ndarray:
    """The reference of ``knn_indices``: every distance in float64, ranked by (self first, d2, index).

    xyz : (N, 3) float; O(N^2) time, O(N) memory per row: for tests on small clouds.
    """
    xyz = np.asarray(xyz, np.float64)
    n = xyz.shape[0]
    out = np.empty((n, k + 1), np.int64)
    index = np.arange(n)
    for i in range(n):
        d2 = ((xyz - xyz[i]) ** 2).sum(axis=1)
        d2[i] = -1.0
        out[i] = np.lexsort((index, d2))[: k + 1]
    return out


def _solve(grid, colors, k, idx, l1_all, l1_far, structure, *, want_structure, store):
    want_color = colors is not None
    if colors is None:
        colors = np.zeros((1, 3), np.float64)
    else:
        colors = np.ascontiguousarray(colors[grid.order].T)  # (3, N) sorted like the points
    retry_level = np.zeros(grid.keys.shape[0], np.int64)
    retry_bound = np.empty(grid.keys.shape[0], np.float64)
    with holding_threads():  # numba's pool start-up must not move torch's thread count (issue 9)
        _solve_groups(grid.keys, grid.pts, grid.order, grid.lo, grid.step, grid.groups, colors, k,
                      want_color, want_structure, store, idx, l1_all, l1_far, structure, retry_level,
                      retry_bound)
        retry = np.flatnonzero(retry_level)
        if retry.size:
            _solve_points(grid.keys, grid.q, grid.pts, grid.order, grid.lo, grid.step, colors, k,
                          want_color, want_structure, store, idx, l1_all, l1_far, structure, retry,
                          retry_level, retry_bound)
