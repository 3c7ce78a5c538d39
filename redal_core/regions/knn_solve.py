"""The per-point solve of the exact k-NN search (step 3 of ``redal_core.regions.knn``'s docstring), fused
with the cues: candidate gathering, the bounded quickselect with its tie rule, the boundary test, the
parallel loops over groups and over the points retried on coarser blocks, and surface variation.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from redal_core.regions.knn_grid import _TOP, _block_ranges, _margin2, _retry_level

_GUESS = 1.2  # first bound tried: the previous point's k-th squared distance times this
_CHUNK_GROUPS = 64  # groups per parallel task (fixed, so results do not depend on the thread count)


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


@numba.njit(cache=True)
def _load_block(keys, pts, level, cx, cy, cz, starts, stops):
    """The 3x3x3 block of cells around cell (cx, cy, cz) at ``level``: its runs (starts/stops[:nr]), their
    point count C, gid[:C] / cand[:, :C] (``_gather``) and the scratch arrays fd, sd (float64) and sid (int64)
    of length C a solve uses. Returns (nr, C, gid, fd, sd, sid, cand)."""
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
    return nr, total, gid, fd, sd, sid, cand


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
                nr, total, gid, fd, sd, sid, cand = _load_block(keys, pts, level, cx, cy, cz, starts, stops)
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
            nr, total, gid, fd, sd, sid, cand = _load_block(keys, pts, level, cx, cy, cz, starts, stops)
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
