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

This module holds the public API and the checks of its arguments; steps 1 to 4 (and normals) are the
kernels of ``vccs_kernels``, step 5 is ``vccs_merge``.
"""

from __future__ import annotations

import math
from types import MappingProxyType

import numba
import numpy as np

from redal_core.regions.vccs_kernels import (
    _adjacency,
    _expand,
    _select_seeds,
    _voxel_means,
    _voxel_normals,
    _voxelize,
)
from redal_core.regions.vccs_merge import _complete

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
