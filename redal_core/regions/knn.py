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
"""

from __future__ import annotations

import math

import numba
import numpy as np

from redal_core.threads import holding_threads

__all__ = ["brute_force_knn", "knn_features", "knn_indices"]

_BITS = 20  # grid steps per axis: 2**20, levels 0 (one step) .. 20 (the whole cube)
_TOP = _BITS
_BLOCK_FACTOR = 4  # a group's block holds at least this many times k + 1 candidates
_GUESS = 1.2  # first bound tried: the previous point's k-th squared distance times this
_CHUNK_GROUPS = 64  # groups per parallel task (fixed, so results do not depend on the thread count)
_OUTLIER_SPAN = 1000.0  # a bounding box this many times wider than the bulk of the points: outliers
_SAFETY = 1e-9  # relative slack of the boundary test against rounding in the quantization


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


class _Grid:
    """The sorted points and their group decomposition (step 1 and 2 of the module docstring)."""

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


@numba.njit(cache=True, inline="always")
def _swap(sd, sid, a, b):
    sd[a], sd[b] = sd[b], sd[a]
    sid[a], sid[b] = sid[b], sid[a]


@numba.njit(cache=True)
def _select(sd, sid, m, kth):
    """Quickselect on sd[:m] (sid moved alongside): afterwards sd[kth] is the (kth + 1)-th smallest,
    sd[:kth] <= sd[kth] <= sd[kth + 1:m]; equal values end in any order."""
    lo = 0
    hi = m - 1
    while hi > lo:
        mid = (lo + hi) >> 1
        if sd[mid] < sd[lo]:  # median of three, moved to hi
            _swap(sd, sid, mid, lo)
        if sd[hi] < sd[lo]:
            _swap(sd, sid, hi, lo)
        if sd[mid] < sd[hi]:
            _swap(sd, sid, mid, hi)
        pivot = sd[hi]
        store = lo
        for j in range(lo, hi):  # Lomuto without branches: always swap, advance when smaller
            v = sd[j]
            vi = sid[j]
            sd[j] = sd[store]
            sid[j] = sid[store]
            sd[store] = v
            sid[store] = vi
            store += v < pivot
        _swap(sd, sid, store, hi)
        if store == kth:
            return
        if store > kth:
            hi = store - 1
            continue
        if store == lo:  # nothing below the pivot: gather its equals next to it (many duplicates)
            same = store + 1
            for j in range(store + 1, hi + 1):
                if sd[j] == pivot:
                    _swap(sd, sid, same, j)
                    same += 1
            if kth < same:
                return
            lo = same
        else:
            lo = store + 1


@numba.njit(cache=True)
def _break_ties(sd, sid, gid, order, m, kk):
    """After ``_select(sd, sid, m, kk - 1)``: among the entries equal to the k-th value, keep those of
    smaller index (order[gid[sid]]) in sd[:kk], the largest kept one at kk - 1 (the list's farthest)."""
    t = sd[kk - 1]
    below = 0
    for j in range(kk):
        below += sd[j] < t
    ties = kk - below
    if ties == 1:
        for j in range(kk, m):
            if sd[j] == t:
                ties = 2
                break
        if ties == 1:
            for j in range(kk - 1):  # the single entry at t is the farthest: move it last
                if sd[j] == t:
                    _swap(sd, sid, j, kk - 1)
                    break
            return
    # general case: put the entries below t first, then every entry equal to t ranked by index
    store = 0
    for j in range(kk):
        if sd[j] < t:
            _swap(sd, sid, store, j)
            store += 1
    ties = kk - store
    for j in range(kk, m):
        if sd[j] == t:
            _swap(sd, sid, store + ties, j)
            ties += 1
    for a in range(store + 1, store + ties):  # insertion sort of the equal entries by index
        v = sid[a]
        key = order[gid[v]]
        b = a - 1
        while b >= store and order[gid[sid[b]]] > key:
            sid[b + 1] = sid[b]
            b -= 1
        sid[b + 1] = v


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
def _local(starts, stops, nr, position):
    """Where the sorted ``position`` lands in the concatenation of the runs starts/stops[:nr] (-1: nowhere)."""
    c = 0
    for r in range(nr):
        if starts[r] <= position < stops[r]:
            return c + position - starts[r]
        c += stops[r] - starts[r]
    return -1


@numba.njit(cache=True)
def _gather(pts, starts, stops, nr, gid, cand):
    """gid[:C] = the sorted positions of the runs starts/stops[:nr], in order; cand[:, :C] their coordinates."""
    c = 0
    for r in range(nr):
        for j in range(starts[r], stops[r]):
            gid[c] = j
            cand[0, c] = pts[0, j]
            cand[1, c] = pts[1, j]
            cand[2, c] = pts[2, j]
            c += 1


@numba.njit(cache=True, inline="always")
def _compact(fd, total, bound, sd, sid):
    m = 0
    for j in range(total):  # without branches: always write, advance when within the bound
        v = fd[j]
        sd[m] = v
        sid[m] = j
        m += v <= bound
    return m


@numba.njit(cache=True)
def _solve_one(p, pts, cand, order, colors, k, gid, total, here, guess, safe, margin2, fd, sd, sid,
               want_color, want_structure, store, idx, l1_all, l1_far, structure):
    """Solve point p (sorted position; gid[here] == p) from the candidates gid[:total].

    guess <= safe: squared-distance bounds to try in turn (safe holds k + 1 points for sure unless the
    block misses some); margin2: the squared distance to the block's boundary. Returns ``(kth, proven)``:
    the k-th squared distance among the candidates (-1 with fewer than k + 1 of them) and whether it is
    below margin2, i.e. the list is the exact one; it is written only then.
    """
    kk = k + 1
    x = pts[0, p]
    y = pts[1, p]
    z = pts[2, p]
    cx = cand[0]
    cy = cand[1]
    cz = cand[2]
    for c in range(total):
        dx = cx[c] - x
        dy = cy[c] - y
        dz = cz[c] - z
        fd[c] = dx * dx + dy * dy + dz * dz
    fd[here] = -1.0  # the point itself ranks first
    m = _compact(fd, total, guess, sd, sid)
    if m < kk and guess < safe:
        m = _compact(fd, total, safe, sd, sid)
    if m < kk and safe < np.inf:
        m = _compact(fd, total, np.inf, sd, sid)
    if m < kk:
        return -1.0, False
    _select(sd, sid, m, kk - 1)
    _break_ties(sd, sid, gid, order, m, kk)
    kth = sd[kk - 1]
    if not kth < margin2:
        return kth, False
    i = order[p]
    if store:
        for a in range(1, kk):  # insertion sort of the list by (d2, index)
            vd = sd[a]
            vi = sid[a]
            key = order[gid[vi]]
            b = a - 1
            while b >= 0 and (sd[b] > vd or (sd[b] == vd and order[gid[sid[b]]] > key)):
                sd[b + 1] = sd[b]
                sid[b + 1] = sid[b]
                b -= 1
            sd[b + 1] = vd
            sid[b + 1] = vi
        for a in range(kk):
            idx[i, a] = order[gid[sid[a]]]
        return kth, True
    if want_color:
        r0 = colors[0, p]
        g0 = colors[1, p]
        b0 = colors[2, p]
        acc = 0.0
        for a in range(kk - 1):
            j = gid[sid[a]]
            acc += abs(r0 - colors[0, j]) + abs(g0 - colors[1, j]) + abs(b0 - colors[2, j])
        j = gid[sid[kk - 1]]
        far = abs(r0 - colors[0, j]) + abs(g0 - colors[1, j]) + abs(b0 - colors[2, j])
        l1_all[i] = acc + far
        l1_far[i] = far
    if want_structure:
        mx = 0.0
        my = 0.0
        mz = 0.0
        for a in range(kk):
            j = sid[a]
            mx += cx[j]
            my += cy[j]
            mz += cz[j]
        mx /= kk
        my /= kk
        mz /= kk
        cxx = 0.0
        cxy = 0.0
        cxz = 0.0
        cyy = 0.0
        cyz = 0.0
        czz = 0.0
        for a in range(kk):
            j = sid[a]
            dx = cx[j] - mx
            dy = cy[j] - my
            dz = cz[j] - mz
            cxx += dx * dx
            cxy += dx * dy
            cxz += dx * dz
            cyy += dy * dy
            cyz += dy * dz
            czz += dz * dz
        structure[i] = _variation(cxx, cxy, cxz, cyy, cyz, czz)
    return kth, True


@numba.njit(cache=True)
def _retry_level(kth, level, step):
    """The next level to try after ``level`` failed: one whose block around the point's own cell holds
    every point within sqrt(kth) (the failed k-th distance, -1 if unknown), where the proof then holds."""
    reach = math.sqrt(kth) if kth > 0.0 else 0.0
    out = level + 1
    while out < _TOP and step * (1 << out) <= reach * (1.0 + 1e-6):
        out += 1
    return min(out, _TOP)


@numba.njit(cache=True, parallel=True)
def _solve_groups(keys, pts, order, lo, step, groups, colors, k, want_color, want_structure, store,
                  idx, l1_all, l1_far, structure, retry_level, retry_bound):
    n_groups = groups.shape[0]
    for chunk in numba.prange((n_groups + _CHUNK_GROUPS - 1) // _CHUNK_GROUPS):
        starts = np.empty(27, np.int64)
        stops = np.empty(27, np.int64)
        prev_k2 = -1.0  # the last solved point of the chunk: its k-th squared distance bounds the next one's
        prev = 0
        first_group = chunk * _CHUNK_GROUPS
        nr = 0
        total = 0
        gid = np.empty(0, np.int64)
        fd = np.empty(0, np.float64)
        sd = np.empty(0, np.float64)
        sid = np.empty(0, np.int64)
        cand = np.empty((3, 0), np.float64)
        for g in range(first_group, min(n_groups, first_group + _CHUNK_GROUPS)):
            a = groups[g, 0]
            b = groups[g, 1]
            level = groups[g, 2]
            cx = groups[g, 3]
            cy = groups[g, 4]
            cz = groups[g, 5]
            if g == first_group or not (level == groups[g - 1, 2] and cx == groups[g - 1, 3]
                                        and cy == groups[g - 1, 4] and cz == groups[g - 1, 5]):
                # a new block (children of one cell follow each other and share their parent's block)
                nr = _block_ranges(keys, level, cx, cy, cz, starts, stops)
                total = 0
                for r in range(nr):
                    total += stops[r] - starts[r]
                gid = np.empty(total, np.int64)
                fd = np.empty(total, np.float64)
                sd = np.empty(total, np.float64)
                sid = np.empty(total, np.int64)
                cand = np.empty((3, total), np.float64)
                _gather(pts, starts, stops, nr, gid, cand)
            base = _local(starts, stops, nr, a)
            for p in range(a, b):
                guess = np.inf
                safe = np.inf
                if prev_k2 >= 0.0:
                    ddx = pts[0, p] - pts[0, prev]
                    ddy = pts[1, p] - pts[1, prev]
                    ddz = pts[2, p] - pts[2, prev]
                    reach = math.sqrt(prev_k2) + math.sqrt(ddx * ddx + ddy * ddy + ddz * ddz)
                    safe = reach * reach * (1.0 + 1e-9)
                    guess = min(safe, prev_k2 * _GUESS)
                margin2 = _margin2(pts[0, p], pts[1, p], pts[2, p], lo, step, level, cx, cy, cz)
                kth, proven = _solve_one(p, pts, cand, order, colors, k, gid, total, base + p - a, guess, safe,
                                         margin2, fd, sd, sid, want_color, want_structure, store, idx, l1_all,
                                         l1_far, structure)
                if proven:
                    prev_k2 = kth
                    prev = p
                else:  # the next level's block around p's cell contains this one: k + 1 points within kth
                    retry_level[p] = level + 1
                    retry_bound[p] = kth * (1.0 + 1e-9) if kth >= 0.0 else np.inf


@numba.njit(cache=True, parallel=True)
def _solve_points(keys, q, pts, order, lo, step, colors, k, want_color, want_structure, store,
                  idx, l1_all, l1_far, structure, retry, retry_level, retry_bound):
    for t in numba.prange(retry.shape[0]):
        p = retry[t]
        starts = np.empty(27, np.int64)
        stops = np.empty(27, np.int64)
        level = retry_level[p]
        bound = retry_bound[p]  # the failed block's k-th distance: k + 1 points lie within it
        while level <= _TOP:
            cx = q[p, 0] >> level
            cy = q[p, 1] >> level
            cz = q[p, 2] >> level
            nr = _block_ranges(keys, level, cx, cy, cz, starts, stops)
            total = 0
            for r in range(nr):
                total += stops[r] - starts[r]
            gid = np.empty(total, np.int64)
            fd = np.empty(total, np.float64)
            sd = np.empty(total, np.float64)
            sid = np.empty(total, np.int64)
            cand = np.empty((3, total), np.float64)
            _gather(pts, starts, stops, nr, gid, cand)
            base = _local(starts, stops, nr, p)
            margin2 = _margin2(pts[0, p], pts[1, p], pts[2, p], lo, step, level, cx, cy, cz)
            kth, proven = _solve_one(p, pts, cand, order, colors, k, gid, total, base, bound, bound, margin2, fd,
                                     sd, sid, want_color, want_structure, store, idx, l1_all, l1_far, structure)
            if proven:  # always at the top level, whose block is the whole cloud
                break
            if kth >= 0.0:
                bound = min(bound, kth * (1.0 + 1e-9))
            level = _retry_level(kth, level, step)


@numba.njit(cache=True, inline="always")
def _variation(a00, a01, a02, a11, a12, a22):
    """Smallest eigenvalue over the trace of a symmetric positive semi-definite 3x3 matrix (closed form)."""
    trace = a00 + a11 + a22
    if trace <= 0.0:
        return 0.0
    q = trace / 3.0
    off = a01 * a01 + a02 * a02 + a12 * a12
    b00 = a00 - q
    b11 = a11 - q
    b22 = a22 - q
    p2 = b00 * b00 + b11 * b11 + b22 * b22 + 2.0 * off
    if p2 <= 1e-30 * trace * trace:  # isotropic: three equal eigenvalues
        return 1.0 / 3.0
    p = math.sqrt(p2 / 6.0)
    det = (
        b00 * (b11 * b22 - a12 * a12)
        - a01 * (a01 * b22 - a12 * a02)
        + a02 * (a01 * a12 - b11 * a02)
    )
    half = det / (2.0 * p * p * p)
    half = min(1.0, max(-1.0, half))
    phi = math.acos(half) / 3.0
    smallest = q + 2.0 * p * math.cos(phi + 2.0 * math.pi / 3.0)
    return min(1.0 / 3.0, max(0.0, smallest / trace))
