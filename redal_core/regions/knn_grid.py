"""The Morton grid of the exact k-NN search (steps 1 and 2 of ``redal_core.regions.knn``'s docstring):
quantization, Morton codes, the cell runs of a level and their 3x3x3 blocks, the group decomposition, and
the block geometry the boundary proof of step 3 rests on (``_margin2``, ``_retry_level``).
"""

from __future__ import annotations

import math

import numba
import numpy as np

_BITS = 20  # grid steps per axis: 2**20, levels 0 (one step) .. 20 (the whole cube)
_TOP = _BITS
_BLOCK_FACTOR = 4  # a group's block holds at least this many times k + 1 candidates
_OUTLIER_SPAN = 1000.0  # a bounding box this many times wider than the bulk of the points: outliers
_SAFETY = 1e-9  # relative slack of the boundary test against rounding in the quantization


class _Grid:
    """The sorted points and their group decomposition (steps 1 and 2 of ``knn``'s docstring)."""

    def __init__(self, xyz: np.ndarray, k: int):
        lo, extent = _grid_box(xyz)
        step = extent / ((1 << _BITS) - 1) if extent > 0 else 1.0
        q, keys = _quantize(xyz, lo, 1.0 / step)
        order = np.argsort(keys, kind="stable")
        self.order = order
        self.keys = keys[order]
        self.q = np.ascontiguousarray(q[order])
        self.pts = np.ascontiguousarray(xyz[order].T)  # (3, N) rows x, y, z in sorted order
        self.lo = lo.astype(np.float64)
        self.step = step
        self.groups = _make_groups(self.keys, self.q, _BLOCK_FACTOR * (k + 1))


def _grid_box(xyz: np.ndarray) -> tuple[np.ndarray, float]:
    """(lo (3,), extent) of the quantization cube: the bounding box, or, when a few far outliers make it
    more than ``_OUTLIER_SPAN`` times wider than the bulk of the points (a sample's 0.1 .. 99.9 %
    quantiles), a box around the bulk; points outside it are clamped into its boundary cells, which keeps
    the boundary proof valid (a clamped point is at least as far from any block as its cell) and the cells
    small where the points are."""
    lo = xyz.min(axis=0)
    extent = float((xyz.max(axis=0) - lo).max())
    sample = xyz[:: max(1, xyz.shape[0] // 4096)]
    q_lo, q_hi = np.quantile(sample, [0.001, 0.999], axis=0)
    bulk = float((q_hi - q_lo).max())
    if bulk > 0 and extent > _OUTLIER_SPAN * bulk:
        return q_lo - bulk, 3.0 * bulk
    return lo, extent


@numba.njit(cache=True)
def _spread(v):
    """The 20 low bits of v spread to every third bit (the Morton interleave of one axis)."""
    v &= 0x1FFFFF
    v = (v | (v << 32)) & 0x1F00000000FFFF
    v = (v | (v << 16)) & 0x1F0000FF0000FF
    v = (v | (v << 8)) & 0x100F00F00F00F00F
    v = (v | (v << 4)) & 0x10C30C30C30C30C3
    v = (v | (v << 2)) & 0x1249249249249249
    return v


@numba.njit(cache=True)
def _code(x, y, z):
    return _spread(x) | (_spread(y) << 1) | (_spread(z) << 2)


@numba.njit(cache=True)
def _quantize(xyz, lo, inv_step):
    n = xyz.shape[0]
    top = (1 << _BITS) - 1
    q = np.empty((n, 3), np.int64)
    keys = np.empty(n, np.int64)
    for i in range(n):
        for d in range(3):
            c = int(math.floor((xyz[i, d] - lo[d]) * inv_step))
            q[i, d] = min(max(c, 0), top)
        keys[i] = _code(q[i, 0], q[i, 1], q[i, 2])
    return q, keys


@numba.njit(cache=True, inline="always")
def _lower_bound(keys, lo, hi, value):
    """First position in keys[lo:hi] (sorted) whose key is >= value."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True)
def _block_ranges(keys, level, cx, cy, cz, starts, stops):
    """Fill starts/stops with the non-empty runs of the 3x3x3 cells of ``level`` around (cx, cy, cz)."""
    n = keys.shape[0]
    cells = 1 << (_BITS - level)
    shift = 3 * level
    count = 0
    for dx in range(-1, 2):
        x = cx + dx
        if x < 0 or x >= cells:
            continue
        for dy in range(-1, 2):
            y = cy + dy
            if y < 0 or y >= cells:
                continue
            for dz in range(-1, 2):
                z = cz + dz
                if z < 0 or z >= cells:
                    continue
                first = _code(x, y, z) << shift
                a = _lower_bound(keys, 0, n, first)
                if a == n or keys[a] >= first + (1 << shift):
                    continue
                b = _lower_bound(keys, a, n, first + (1 << shift))
                starts[count] = a
                stops[count] = b
                count += 1
    return count


@numba.njit(cache=True)
def _block_count(keys, level, cx, cy, cz, enough, starts, stops):
    """Points in the 3x3x3 block of ``level`` around (cx, cy, cz) (exact up to ``enough``)."""
    m = _block_ranges(keys, level, cx, cy, cz, starts, stops)
    total = 0
    for r in range(m):
        total += stops[r] - starts[r]
        if total >= enough:
            break
    return total


@numba.njit(cache=True)
def _make_groups(keys, q, enough):
    """(G, 6) int64 rows (start, stop, level, cx, cy, cz): sorted runs and the block each one reads."""
    n = keys.shape[0]
    out = np.empty((n, 6), np.int64)
    stack = np.empty((8 * (_TOP + 2), 3), np.int64)
    starts = np.empty(27, np.int64)
    stops = np.empty(27, np.int64)
    g = 0
    stack[0, 0] = _TOP
    stack[0, 1] = 0
    stack[0, 2] = n
    top = 1
    while top > 0:
        top -= 1
        level = stack[top, 0]
        a = stack[top, 1]
        b = stack[top, 2]
        child = level - 1
        shift = 3 * child
        pos = a
        while pos < b:
            first = (keys[pos] >> shift) << shift
            stop = _lower_bound(keys, pos, b, first + (1 << shift))
            cx = q[pos, 0] >> child
            cy = q[pos, 1] >> child
            cz = q[pos, 2] >> child
            if child >= 1 and _block_count(keys, child, cx, cy, cz, enough, starts, stops) >= enough:
                stack[top, 0] = child
                stack[top, 1] = pos
                stack[top, 2] = stop
                top += 1
            else:
                out[g, 0] = pos
                out[g, 1] = stop
                out[g, 2] = level
                out[g, 3] = q[pos, 0] >> level
                out[g, 4] = q[pos, 1] >> level
                out[g, 5] = q[pos, 2] >> level
                g += 1
            pos = stop
    return out[:g].copy()


@numba.njit(cache=True)
def _margin2(x, y, z, lo, step, level, cx, cy, cz):
    """Squared distance from (x, y, z) to the boundary of the 3x3x3 block of ``level`` around the cell
    (cx, cy, cz), shrunk by ``_SAFETY``; infinite where the block reaches past the grid on every side."""
    cells = 1 << (_BITS - level)
    width = step * (1 << level)
    best = np.inf
    p = (x, y, z)
    c = (cx, cy, cz)
    for d in range(3):
        if c[d] - 1 > 0:
            best = min(best, p[d] - (lo[d] + (c[d] - 1) * width))
        if c[d] + 2 < cells:
            best = min(best, lo[d] + (c[d] + 2) * width - p[d])
    if best == np.inf:
        return np.inf
    best -= _SAFETY * (width + abs(p[0]) + abs(p[1]) + abs(p[2]))
    if best <= 0:
        return 0.0
    return best * best


@numba.njit(cache=True)
def _retry_level(kth, level, step):
    """The next level to try after ``level`` failed: one whose block around the point's own cell holds
    every point within sqrt(kth) (the failed k-th distance, -1 if unknown), where the proof then holds."""
    reach = math.sqrt(kth) if kth > 0.0 else 0.0
    out = level + 1
    while out < _TOP and step * (1 << out) <= reach * (1.0 + 1e-6):
        out += 1
    return min(out, _TOP)
