"""VCCS supervoxels (Papon et al., CVPR 2013), deterministic, in numba.

The paper's query unit is a VCCS supervoxel. This module follows PCL's ``SupervoxelClustering::extract``
step by step, but every step is order-independent, so the same input always gives the same output:

1. **Voxelize** at ``voxel_size``: each voxel keeps the mean xyz and the mean rgb of its points. The grid
   is PCL's octree grid (a cube of ``2**d`` voxels centred on the bounding box), so voxels, seeds and
   region counts are comparable with PCL's. Voxels are numbered in lexicographic (x, y, z) order.
2. **Adjacency**: the 26 neighbouring voxels that are occupied.
3. **Seeds** (PCL's ``selectInitialSupervoxelSeeds``): a grid of ``seed_size`` cells over the voxel
   centroids, with a corner at the centroid of the first voxel in octree (Morton) order as in PCL; for
   every occupied cell the voxel nearest to the cell's centre; a seed is kept only if more than
   ``0.05 * pi * (seed_size / 2)**2 / voxel_size**2`` voxels lie within ``seed_size / 2`` of it.
   When no candidate passes (a tiny or very sparse cloud), the candidate with the most voxels around it
   is the only seed. (The seed count is very sensitive to where the cell borders fall: a border through
   a LiDAR ground plane doubles it. Following PCL's alignment keeps the two comparable.)
4. **Flow-constrained expansion** for ``int(1.8 * seed_size / voxel_size) - 1`` rounds (PCL's depth loop),
   stopping early once a round changes nothing. In a round, every voxel adjacent to a voxel of
   supervoxel ``s`` (not its own) measures
   ``D = color_weight * |rgb - rgb_s| / 255 + spatial_weight * |xyz - xyz_s| / seed_size
   + normal_weight * (1 - |n . n_s|)`` (Euclidean norms, as PCL) to the centroid of ``s``, and moves to the
   supervoxel with the smallest ``D`` if that is smaller than the distance it was claimed with (PCL's
   "steal" rule). All voxels decide at once from the previous round's state (ties: lower supervoxel id),
   where PCL lets supervoxels steal one after another in list order; that order dependence is what makes
   PCL's output vary. Seeds start at distance 0 and their own centroid. Centroids (mean voxel xyz, rgb,
   normalised sum of normals) are recomputed after every round.
5. **Completion** (PCL leaves such voxels unlabeled; every point here gets a region id >= 0):

   a. voxels left unowned but connected to owned voxels are flooded breadth-first from them: at each
      step an unowned voxel joins the adjacent region whose centroid is nearest in ``D``;
   b. every connected component of voxels with the same label becomes its own region (stealing can cut
      a supervoxel in pieces; components no seed reached become regions too);
   c. regions with fewer than ``min_region_voxels`` voxels join the adjacent region whose centroid is
      nearest in ``D``, repeated until no small region has a neighbour;
   d. small regions with no adjacent region at all (isolated clusters) join the region of the nearest
      voxel, in Euclidean distance, that belongs to a region of at least ``min_region_voxels`` voxels
      (when there is none, they stay as they are).

   Region ids are then renumbered 0..R-1 in the order of each region's first voxel.

Normals (only computed when ``normal_weight > 0``) are PCL's: the smallest-eigenvalue eigenvector of the
covariance of the voxel centroids in the voxel's two-ring of neighbours, flipped toward the origin.
"""

from __future__ import annotations

import math
from types import MappingProxyType

import numba
import numpy as np
from scipy.spatial import cKDTree

__all__ = ["VCCS_PRESETS", "default_min_region_voxels", "vccs"]

#: The paper's VCCS parameters (supplementary A.2): keyword arguments of :func:`vccs`.
VCCS_PRESETS: MappingProxyType = MappingProxyType(
    {
        "s3dis": MappingProxyType(
            {"voxel_size": 0.1, "seed_size": 1.0, "color_weight": 0.5, "spatial_weight": 0.5, "normal_weight": 0.0}
        ),
        "semantickitti": MappingProxyType(
            {"voxel_size": 0.5, "seed_size": 10.0, "color_weight": 0.0, "spatial_weight": 1.0, "normal_weight": 0.0}
        ),
    }
)

_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
_EMPTY = np.int64(-1)


def default_min_region_voxels(voxel_size: float, seed_size: float) -> int:
    """Smallest region kept on its own: ``ceil(pi / 100 * (seed_size / voxel_size)**2)``, at least 2.

    That is 4/5 of the voxels PCL requires within ``seed_size / 2`` of a seed: 13 voxels for the
    SemanticKITTI preset, 4 for the S3DIS preset. The factor was chosen so that region counts stay close
    to PCL's on the real SemanticKITTI scans and synthetic S3DIS rooms of ``benchmarks/vccs.py``.
    """
    return max(2, int(math.ceil(math.pi / 100.0 * (seed_size / voxel_size) ** 2 - 1e-9)))


def vccs(
    xyz: np.ndarray,
    rgb: np.ndarray | None = None,
    *,
    voxel_size: float,
    seed_size: float,
    color_weight: float,
    spatial_weight: float,
    normal_weight: float = 0.0,
    min_region_voxels: int | None = None,
) -> np.ndarray:
    """Supervoxel id of every point.

    xyz : (N, 3) float coordinates in metres (finite).
    rgb : (N, 3) colours in 0..255 (uint8 or float), or None when the cloud has no colour
          (then ``color_weight`` must be 0).
    voxel_size, seed_size : voxel and seed resolution in metres, ``0 < voxel_size <= seed_size``.
    color_weight, spatial_weight, normal_weight : the non-negative importances of the distance ``D``.
    min_region_voxels : regions with fewer voxels join a neighbour (rule 5c/5d of the module docstring);
          None means ``default_min_region_voxels(voxel_size, seed_size)``; 1 keeps every region.

    Returns (N,) int64 region ids 0..R-1, dense, every point >= 0; identical for identical input.
    """
    xyz, bounds, rgb = _check_points(xyz, rgb)
    voxel_size = _check_positive("voxel_size", voxel_size)
    seed_size = _check_positive("seed_size", seed_size)
    if seed_size < voxel_size:
        raise ValueError(f"seed_size ({seed_size}) must be at least voxel_size ({voxel_size})")
    weights = {"color_weight": color_weight, "spatial_weight": spatial_weight, "normal_weight": normal_weight}
    for name, value in weights.items():
        if not (isinstance(value, int | float | np.floating | np.integer) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if rgb is None and color_weight > 0:
        raise ValueError(f"color_weight={color_weight} needs rgb; pass rgb or color_weight=0")
    if min_region_voxels is None:
        min_region_voxels = default_min_region_voxels(voxel_size, seed_size)
    elif not isinstance(min_region_voxels, int | np.integer) or min_region_voxels < 1:
        raise ValueError(f"min_region_voxels must be an integer >= 1 or None, got {min_region_voxels!r}")

    point_voxel, keys, table_keys, table_vals, span = _voxelize(xyz, bounds, voxel_size)
    n_vox = keys.shape[0]
    colors = rgb if rgb is not None else np.zeros((1, 3), np.uint8)
    vox_xyz, vox_rgb = _voxel_means(xyz, colors, rgb is not None, point_voxel, n_vox)
    nbr, nbr_count = _adjacency(keys, table_keys, table_vals, span)
    if normal_weight > 0:
        vox_nrm = _voxel_normals(vox_xyz, nbr, nbr_count)
    else:
        vox_nrm = np.zeros((n_vox, 3), np.float64)

    wc = float(color_weight) / 255.0
    ws = float(spatial_weight) / seed_size
    wn = float(normal_weight)
    seeds = _select_seeds(vox_xyz, keys, span, voxel_size, seed_size)
    depth = int(np.float32(1.8) * np.float32(seed_size) / np.float32(voxel_size))
    owner = _expand(vox_xyz, vox_rgb, vox_nrm, nbr, nbr_count, seeds, max(depth - 1, 1), wc, ws, wn)
    label = _complete(vox_xyz, vox_rgb, vox_nrm, nbr, nbr_count, owner, int(min_region_voxels), wc, ws, wn)
    return label[point_voxel]


# ----------------------------------------------------------------------------------------------------------
# boundary checks


def _check_points(xyz: np.ndarray, rgb: np.ndarray | None):
    """xyz as contiguous float32/float64, its (3,) bounds, rgb as contiguous uint8/float32 in 0..255."""
    xyz = np.asarray(xyz)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or xyz.shape[0] == 0:
        raise ValueError(f"xyz must be a non-empty (N, 3) array, got shape {xyz.shape}")
    if not np.issubdtype(xyz.dtype, np.number):
        raise ValueError(f"xyz must be numeric, got dtype {xyz.dtype}")
    if xyz.dtype not in (np.float32, np.float64):
        xyz = xyz.astype(np.float64)
    low, high, first_bad = _bounds(xyz)
    if first_bad >= 0:
        bad = int((~np.isfinite(xyz).all(axis=1)).sum())
        raise ValueError(f"xyz has {bad} non-finite rows (first at row {first_bad})")
    if rgb is None:
        return xyz, (low, high), None
    rgb = np.asarray(rgb)
    if rgb.shape != xyz.shape:
        raise ValueError(f"rgb must have the shape of xyz {xyz.shape}, got {rgb.shape}")
    if rgb.dtype == np.uint8:
        return xyz, (low, high), rgb
    rgb = rgb.astype(np.float32, copy=False)
    if not np.isfinite(rgb).all() or rgb.min() < 0 or rgb.max() > 255:
        raise ValueError(
            f"rgb must hold colours in 0..255, got values in [{np.nanmin(rgb)}, {np.nanmax(rgb)}]"
            " (scale colours in [0, 1] by 255)"
        )
    return xyz, (low, high), rgb


@numba.njit(cache=True)
def _bounds(xyz):
    """Per-axis min and max (float64) and the first row with a non-finite value (-1: none)."""
    low = np.full(3, np.inf)
    high = np.full(3, -np.inf)
    for i in range(xyz.shape[0]):
        for c in range(3):
            x = np.float64(xyz[i, c])
            if not math.isfinite(x):
                return low, high, i
            low[c] = min(low[c], x)
            high[c] = max(high[c], x)
    return low, high, -1


def _check_positive(name: str, value: float) -> float:
    if not (isinstance(value, int | float | np.floating | np.integer) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number of metres, got {value!r}")
    return float(value)


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


# ----------------------------------------------------------------------------------------------------------
# completion: flood unowned voxels, split fragments, merge small regions


def _complete(vox_xyz, vox_rgb, vox_nrm, nbr, nbr_count, owner, min_voxels, wc, ws, wn) -> np.ndarray:
    n_sv = int(owner.max()) + 1
    label = _flood(vox_xyz, vox_rgb, vox_nrm, nbr, nbr_count, owner, n_sv, wc, ws, wn)
    label[label < 0] = n_sv  # voxels no seed reaches: split into their components next
    label = _split_components(label, nbr, nbr_count)
    if min_voxels > 1:
        label = _merge_small(vox_xyz, vox_rgb, vox_nrm, nbr, nbr_count, label, min_voxels, wc, ws, wn)
        label = _merge_isolated(vox_xyz, label, min_voxels)
    return _renumber(label)


@numba.njit(cache=True)
def _flood(vox_xyz, vox_rgb, vox_nrm, nbr, nbr_count, owner, n_sv, wc, ws, wn):
    """Breadth-first flood of unowned voxels from owned ones (rule 5a); still -1 where unreachable."""
    label = owner.copy()
    c_xyz, c_rgb, c_nrm, _ = _centroids(vox_xyz, vox_rgb, vox_nrm, owner, n_sv)
    n_vox = label.shape[0]
    frontier = np.empty(n_vox, np.int64)
    n_front = 0
    for v in range(n_vox):
        if label[v] < 0:
            for a in range(nbr_count[v]):
                if label[nbr[v, a]] >= 0:
                    frontier[n_front] = v
                    n_front += 1
                    break
    queued = np.zeros(n_vox, np.bool_)
    choice = np.empty(n_vox, np.int64)
    next_front = np.empty(n_vox, np.int64)
    while n_front > 0:
        for f in range(n_front):
            v = frontier[f]
            best = np.inf
            best_s = -1
            for a in range(nbr_count[v]):
                s = label[nbr[v, a]]
                if s < 0:
                    continue
                d = _distance(vox_xyz, vox_rgb, vox_nrm, v, c_xyz, c_rgb, c_nrm, s, wc, ws, wn)
                if d < best or (d == best and s < best_s):
                    best = d
                    best_s = s
            choice[f] = best_s
        for f in range(n_front):
            label[frontier[f]] = choice[f]
        n_next = 0
        for f in range(n_front):
            v = frontier[f]
            for a in range(nbr_count[v]):
                u = nbr[v, a]
                if label[u] < 0 and not queued[u]:
                    queued[u] = True
                    next_front[n_next] = u
                    n_next += 1
        frontier[:n_next] = np.sort(next_front[:n_next])
        n_front = n_next
    return label


@numba.njit(cache=True)
def _find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@numba.njit(cache=True)
def _split_components(label, nbr, nbr_count):
    """Every connected component of equally labelled voxels as its own label (rule 5b)."""
    n_vox = label.shape[0]
    parent = np.arange(n_vox)
    for v in range(n_vox):
        for a in range(nbr_count[v]):
            u = nbr[v, a]
            if u > v and label[u] == label[v]:
                ru = _find(parent, u)
                rv = _find(parent, v)
                if ru != rv:
                    if ru < rv:
                        parent[rv] = ru
                    else:
                        parent[ru] = rv
    out = np.empty(n_vox, np.int64)
    for v in range(n_vox):
        out[v] = _find(parent, v)
    return out


@numba.njit(cache=True)
def _renumber_inplace(label):
    n = label.shape[0]
    mapping = np.full(n + 1, -1, np.int64)
    k = 0
    for v in range(n):
        s = label[v]
        if mapping[s] < 0:
            mapping[s] = k
            k += 1
        label[v] = mapping[s]
    return k


def _renumber(label: np.ndarray) -> np.ndarray:
    """Dense ids 0..R-1 in the order of each region's first voxel (labels must be < V + 1)."""
    label = label.astype(np.int64, copy=True)
    if label.max() > label.shape[0]:
        _, label = np.unique(label, return_inverse=True)
        label = label.astype(np.int64)
    _renumber_inplace(label)
    return label


@numba.njit(cache=True)
def _merge_small(vox_xyz, vox_rgb, vox_nrm, nbr, nbr_count, label, min_voxels, wc, ws, wn):
    """Rule 5c: small regions join their nearest adjacent region in D, until none can."""
    n_vox = label.shape[0]
    label = label.copy()
    n_labels = _renumber_inplace(label)
    while True:
        c_xyz, c_rgb, c_nrm, size = _centroids(vox_xyz, vox_rgb, vox_nrm, label, n_labels)
        best = np.full(n_labels, np.inf)
        target = np.full(n_labels, -1, np.int64)
        for v in range(n_vox):
            r = label[v]
            if size[r] >= min_voxels:
                continue
            for a in range(nbr_count[v]):
                t = label[nbr[v, a]]
                if t == r:
                    continue
                d = _distance(c_xyz, c_rgb, c_nrm, r, c_xyz, c_rgb, c_nrm, t, wc, ws, wn)
                if d < best[r] or (d == best[r] and t < target[r]):
                    best[r] = d
                    target[r] = t
        parent = np.arange(n_labels)
        merged = 0
        for r in range(n_labels):
            if target[r] >= 0:
                a = _find(parent, r)
                b = _find(parent, target[r])
                if a != b:
                    if a < b:
                        parent[b] = a
                    else:
                        parent[a] = b
                    merged += 1
        if merged == 0:
            return label
        for v in range(n_vox):
            label[v] = _find(parent, label[v])
        n_labels = _renumber_inplace(label)


def _merge_isolated(vox_xyz: np.ndarray, label: np.ndarray, min_voxels: int) -> np.ndarray:
    """Rule 5d: a small region without neighbours joins the region of the nearest voxel of a large region.

    The nearest pair is taken over all voxels of the small region (ties: the lower voxel row).
    """
    size = np.bincount(label)
    small = size[label] < min_voxels
    if not small.any() or small.all():
        return label
    large = np.flatnonzero(~small)
    small_rows = np.flatnonzero(small)
    dist, nearest = cKDTree(vox_xyz[large]).query(vox_xyz[small_rows], k=1)
    small_labels = label[small_rows]
    order = np.lexsort((small_rows, dist, small_labels))  # per small region: its closest voxel first
    regions, first = np.unique(small_labels[order], return_index=True)
    targets = label[large[nearest[order[first]]]]
    out = label.copy()
    out[small_rows] = targets[np.searchsorted(regions, small_labels)]
    return out
