"""The kernels of VCCS steps 1 to 4 (``redal_core.regions.vccs``'s docstring): voxel grid, adjacency,
normals, seeds and the flow-constrained expansion, with the distance ``D`` and the centroids that step 5
(``vccs_merge``) uses too.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy.spatial import cKDTree

_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
_EMPTY = np.int64(-1)


# ----------------------------------------------------------------------------------------------------------
# voxels and adjacency


def _voxelize(xyz: np.ndarray, bounds: tuple[np.ndarray, np.ndarray], voxel_size: float):
    """Voxel of every point (lexicographic voxel order), a hash table from voxel key to voxel row, and the
    voxel grid (``keys = ((gx * span[1]) + gy) * span[2] + gz``, ``g = floor((xyz - origin) / voxel_size) + 1``).

    The grid origin is PCL's octree alignment: a cube of ``2**d`` voxels centred on the bounding box.
    """
    low, high = bounds
    extent = np.ceil((high - low) / voxel_size - 1e-7).max()
    side = 2.0 ** max(1, math.ceil(math.log2(max(extent, 2.0)) - 1e-7)) * voxel_size
    origin = (low + high) / 2.0 - side / 2.0
    span = np.floor((high - origin) / voxel_size).astype(np.int64) + 3  # an empty layer on each side
    if float(np.prod(span.astype(np.float64))) >= 2.0**62:
        raise ValueError(f"point cloud spans {span.tolist()} voxels of {voxel_size} m: too large to index")
    point_voxel, first_keys, table_keys, table_vals = _hash_voxels(xyz, voxel_size, origin, span)
    order = np.argsort(first_keys, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    _remap(point_voxel, rank)
    _remap_table(table_keys, table_vals, rank)
    return point_voxel, first_keys[order], table_keys, table_vals, span


@numba.njit(cache=True, inline="always")
def _slot(key, shift):
    """Fibonacci hashing: the top bits of key * 2**64 / golden ratio."""
    return np.int64((np.uint64(key) * _HASH_MUL) >> shift)


@numba.njit(cache=True)
def _table_insert(table_keys, table_vals, key, value, shift, mask):
    h = _slot(key, shift)
    while table_keys[h] != _EMPTY:
        h = (h + 1) & mask
    table_keys[h] = key
    table_vals[h] = value


@numba.njit(cache=True)
def _hash_voxels(xyz, voxel_size, origin, span):
    """Voxel of every point in first-occurrence order, the voxel keys, and an open-addressing table
    (key -> voxel) kept at most half full (it doubles as voxels appear)."""
    n = xyz.shape[0]
    bits = 12
    table_keys = np.full(np.int64(1) << bits, _EMPTY, np.int64)
    table_vals = np.empty(np.int64(1) << bits, np.int64)
    point_voxel = np.empty(n, np.int64)
    first_keys = np.empty(n, np.int64)
    n_vox = 0
    last_key = _EMPTY
    last_vox = 0
    for i in range(n):
        gx = np.int64(math.floor((xyz[i, 0] - origin[0]) / voxel_size)) + 1
        gy = np.int64(math.floor((xyz[i, 1] - origin[1]) / voxel_size)) + 1
        gz = np.int64(math.floor((xyz[i, 2] - origin[2]) / voxel_size)) + 1
        key = (gx * span[1] + gy) * span[2] + gz
        if key == last_key:  # neighbouring points mostly share a voxel
            point_voxel[i] = last_vox
            continue
        mask = (np.int64(1) << bits) - 1
        shift = np.uint64(64 - bits)
        h = _slot(key, shift)
        while True:
            found = table_keys[h]
            if found == key:
                last_vox = table_vals[h]
                break
            if found == _EMPTY:
                table_keys[h] = key
                table_vals[h] = n_vox
                first_keys[n_vox] = key
                last_vox = n_vox
                n_vox += 1
                if 2 * n_vox > mask:  # grow: rehash into a table twice the size
                    bits += 1
                    table_keys = np.full(np.int64(1) << bits, _EMPTY, np.int64)
                    table_vals = np.empty(np.int64(1) << bits, np.int64)
                    for v in range(n_vox):
                        _table_insert(table_keys, table_vals, first_keys[v], v,
                                      np.uint64(64 - bits), (np.int64(1) << bits) - 1)
                break
            h = (h + 1) & mask
        last_key = key
        point_voxel[i] = last_vox
    return point_voxel, first_keys[:n_vox].copy(), table_keys, table_vals


@numba.njit(cache=True)
def _remap(values, rank):
    for i in range(values.shape[0]):
        values[i] = rank[values[i]]


@numba.njit(cache=True)
def _remap_table(table_keys, table_vals, rank):
    for h in range(table_keys.shape[0]):
        if table_keys[h] != _EMPTY:
            table_vals[h] = rank[table_vals[h]]


@numba.njit(cache=True)
def _voxel_means(xyz, rgb, has_rgb, point_voxel, n_vox):
    sum_xyz = np.zeros((n_vox, 3), np.float64)
    sum_rgb = np.zeros((n_vox, 3), np.float64)
    count = np.zeros(n_vox, np.float64)
    for i in range(xyz.shape[0]):
        v = point_voxel[i]
        count[v] += 1.0
        for c in range(3):
            sum_xyz[v, c] += xyz[i, c]
        if has_rgb:
            for c in range(3):
                sum_rgb[v, c] += rgb[i, c]
    for v in range(n_vox):
        for c in range(3):
            sum_xyz[v, c] /= count[v]
            sum_rgb[v, c] /= count[v]
    return sum_xyz, sum_rgb


@numba.njit(cache=True, inline="always")
def _leading_zeros(x):
    n = 0
    while x > 0:
        x >>= 1
        n += 1
    return 64 - n


@numba.njit(cache=True)
def _adjacency(keys, table_keys, table_vals, span):
    """(V, 26) int64 rows of the occupied 26-neighbours (padded with -1) and (V,) their count."""
    n_vox = keys.shape[0]
    size = np.int64(table_keys.shape[0])
    mask = size - 1
    shift = np.uint64(64 - (63 - _leading_zeros(size)))
    nbr = np.full((n_vox, 26), -1, np.int64)
    count = np.zeros(n_vox, np.int64)
    syz = span[1] * span[2]
    for v in range(n_vox):
        key = keys[v]
        k = 0
        for dx in range(-1, 2):
            for dy in range(-1, 2):
                for dz in range(-1, 2):
                    if dx == 0 and dy == 0 and dz == 0:
                        continue
                    other = key + dx * syz + dy * span[2] + dz
                    h = _slot(other, shift)
                    while True:
                        found = table_keys[h]
                        if found == other:
                            nbr[v, k] = table_vals[h]
                            k += 1
                            break
                        if found == _EMPTY:
                            break
                        h = (h + 1) & mask
        count[v] = k
    return nbr, count


def _voxel_normals(vox_xyz: np.ndarray, nbr: np.ndarray, nbr_count: np.ndarray) -> np.ndarray:
    """(V, 3) unit normals: smallest eigenvector of the two-ring covariance, flipped toward the origin."""
    cov = _two_ring_covariance(vox_xyz, nbr, nbr_count)
    _, vectors = np.linalg.eigh(cov)
    normals = vectors[:, :, 0]
    flip = np.einsum("ij,ij->i", normals, -vox_xyz) < 0
    normals[flip] *= -1.0
    return np.ascontiguousarray(normals)


@numba.njit(cache=True)
def _two_ring_covariance(vox_xyz, nbr, nbr_count):
    n_vox = vox_xyz.shape[0]
    cov = np.zeros((n_vox, 3, 3), np.float64)
    stamp = np.full(n_vox, -1, np.int64)
    ring = np.empty(1 + 26 + 26 * 26, np.int64)
    for v in range(n_vox):
        m = 0
        stamp[v] = v
        ring[m] = v
        m += 1
        for a in range(nbr_count[v]):
            u = nbr[v, a]
            if stamp[u] != v:
                stamp[u] = v
                ring[m] = u
                m += 1
            for b in range(nbr_count[u]):
                w = nbr[u, b]
                if stamp[w] != v:
                    stamp[w] = v
                    ring[m] = w
                    m += 1
        mean = np.zeros(3)
        for j in range(m):
            for c in range(3):
                mean[c] += vox_xyz[ring[j], c]
        mean /= m
        for j in range(m):
            for r in range(3):
                dr = vox_xyz[ring[j], r] - mean[r]
                for c in range(r, 3):
                    cov[v, r, c] += dr * (vox_xyz[ring[j], c] - mean[c])
        for r in range(3):
            for c in range(r):
                cov[v, r, c] = cov[v, c, r]
    return cov


# ----------------------------------------------------------------------------------------------------------
# seeds and expansion


def _select_seeds(vox_xyz: np.ndarray, keys: np.ndarray, span: np.ndarray, voxel_size: float, seed_size: float):
    """Voxel rows of the seeds, ascending (PCL's seeding with its min-points filter).

    The seed grid has a corner at the centroid of the first voxel in octree (Morton) order, as PCL's
    seed octree, which is built from the voxel centroids in that order, has.
    """
    first = int(np.argmin(_morton(keys, span)))
    low = vox_xyz[first]
    cells = np.floor((vox_xyz - low) / seed_size).astype(np.int64)
    cell_low = cells.min(axis=0)
    cells -= cell_low
    cell_span = cells.max(axis=0) + 1
    flat = np.unique((cells[:, 0] * cell_span[1] + cells[:, 1]) * cell_span[2] + cells[:, 2])
    cells = np.stack([flat // (cell_span[1] * cell_span[2]), (flat // cell_span[2]) % cell_span[1], flat % cell_span[2]], 1)
    cells += cell_low
    centres = low + (cells + 0.5) * seed_size
    tree = cKDTree(vox_xyz)
    _, nearest = tree.query(centres, k=1)
    candidates = np.unique(nearest.astype(np.int64))
    radius = 0.5 * seed_size
    counts = tree.query_ball_point(vox_xyz[candidates], r=radius, return_length=True)
    min_points = 0.05 * radius * radius * math.pi / (voxel_size * voxel_size)
    seeds = candidates[counts > min_points]
    if seeds.size == 0:  # a cloud too small or sparse for any seed: grow one region from the densest
        seeds = candidates[[int(np.argmax(counts))]]
    return seeds


def _morton(keys: np.ndarray, span: np.ndarray) -> np.ndarray:
    """(V,) uint64 octree order of the voxels: bits of (x, y, z) interleaved, x the most significant."""
    syz = span[1] * span[2]
    grid = np.stack([keys // syz, (keys // span[2]) % span[1], keys % span[2]], axis=1) - 1
    code = np.zeros(keys.shape[0], np.uint64)
    for bit in range(int(max(span.max(), 2) - 1).bit_length()):
        for axis in range(3):
            code |= ((grid[:, axis] >> bit) & 1).astype(np.uint64) << np.uint64(3 * bit + 2 - axis)
    return code


@numba.njit(cache=True, inline="always")
def _distance(vox_xyz, vox_rgb, vox_nrm, v, c_xyz, c_rgb, c_nrm, s, wc, ws, wn):
    d = 0.0
    if ws > 0:
        acc = 0.0
        for c in range(3):
            t = vox_xyz[v, c] - c_xyz[s, c]
            acc += t * t
        d += ws * math.sqrt(acc)
    if wc > 0:
        acc = 0.0
        for c in range(3):
            t = vox_rgb[v, c] - c_rgb[s, c]
            acc += t * t
        d += wc * math.sqrt(acc)
    if wn > 0:
        dot = 0.0
        for c in range(3):
            dot += vox_nrm[v, c] * c_nrm[s, c]
        d += wn * (1.0 - abs(dot))
    return d


@numba.njit(cache=True)
def _centroids(vox_xyz, vox_rgb, vox_nrm, label, n_labels):
    c_xyz = np.zeros((n_labels, 3))
    c_rgb = np.zeros((n_labels, 3))
    c_nrm = np.zeros((n_labels, 3))
    size = np.zeros(n_labels, np.int64)
    for v in range(label.shape[0]):
        s = label[v]
        if s < 0:
            continue
        size[s] += 1
        for c in range(3):
            c_xyz[s, c] += vox_xyz[v, c]
            c_rgb[s, c] += vox_rgb[v, c]
            c_nrm[s, c] += vox_nrm[v, c]
    for s in range(n_labels):
        if size[s] > 0:
            norm = 0.0
            for c in range(3):
                c_xyz[s, c] /= size[s]
                c_rgb[s, c] /= size[s]
                norm += c_nrm[s, c] * c_nrm[s, c]
            if norm > 0:
                norm = math.sqrt(norm)
                for c in range(3):
                    c_nrm[s, c] /= norm
    return c_xyz, c_rgb, c_nrm, size


@numba.njit(cache=True)
def _expand(vox_xyz, vox_rgb, vox_nrm, nbr, nbr_count, seeds, rounds, wc, ws, wn):
    """(V,) int64 owning supervoxel of every voxel after flow-constrained expansion (-1: unreached).

    Only voxels next to a voxel of another supervoxel can move; they are tracked in an active list (the
    voxels that saw such a neighbour last round, plus the neighbourhood of every voxel that moved), which
    gives the same result as visiting every voxel in every round.
    """
    n_vox = vox_xyz.shape[0]
    n_sv = seeds.shape[0]
    owner = np.full(n_vox, -1, np.int64)
    dist = np.full(n_vox, np.inf)
    for s in range(n_sv):
        owner[seeds[s]] = s
        dist[seeds[s]] = 0.0
    c_xyz, c_rgb, c_nrm, _ = _centroids(vox_xyz, vox_rgb, vox_nrm, owner, n_sv)
    stamp = np.full(n_vox, -1, np.int64)
    active = np.empty(n_vox, np.int64)
    n_active = 0
    for s in range(n_sv):
        v = seeds[s]
        for a in range(nbr_count[v]):
            u = nbr[v, a]
            if stamp[u] != 0:
                stamp[u] = 0
                active[n_active] = u
                n_active += 1
    moved = np.empty(n_vox, np.int64)
    moved_to = np.empty(n_vox, np.int64)
    moved_dist = np.empty(n_vox)
    following = np.empty(n_vox, np.int64)
    for r in range(rounds):
        n_moved = 0
        n_next = 0
        for f in range(n_active):
            v = active[f]
            mine = owner[v]
            best = dist[v]
            best_s = -1
            last = -1
            foreign = False
            for a in range(nbr_count[v]):
                s = owner[nbr[v, a]]
                if s < 0 or s == mine or s == last:
                    continue
                foreign = True
                last = s
                d = _distance(vox_xyz, vox_rgb, vox_nrm, v, c_xyz, c_rgb, c_nrm, s, wc, ws, wn)
                if d < best or (d == best and best_s >= 0 and s < best_s):
                    best = d
                    best_s = s
            if best_s >= 0:
                moved[n_moved] = v
                moved_to[n_moved] = best_s
                moved_dist[n_moved] = best
                n_moved += 1
            if foreign and stamp[v] != r + 1:
                stamp[v] = r + 1
                following[n_next] = v
                n_next += 1
        if n_moved == 0:
            break
        for m in range(n_moved):
            v = moved[m]
            owner[v] = moved_to[m]
            dist[v] = moved_dist[m]
        for m in range(n_moved):
            v = moved[m]
            if stamp[v] != r + 1:
                stamp[v] = r + 1
                following[n_next] = v
                n_next += 1
            for a in range(nbr_count[v]):
                u = nbr[v, a]
                if stamp[u] != r + 1:
                    stamp[u] = r + 1
                    following[n_next] = u
                    n_next += 1
        active, following = following, active
        n_active = n_next
        c_xyz, c_rgb, c_nrm, _ = _centroids(vox_xyz, vox_rgb, vox_nrm, owner, n_sv)
    return owner
