"""Per-point region-information cues of ReDAL (Sec. 3.2): colour discontinuity and structural complexity.

Both come from the k nearest neighbours of every point (k = 50 in the paper, supplementary A.2), found
once with scipy's ``cKDTree`` (numba's thread count) in chunks of rows, so memory stays bounded (about 30 MB per
chunk) for scans of millions of points:

* colour discontinuity (Eq. 2, per point): the mean over the k neighbours j of ``||I_i - I_j||_1``, with
  colours scaled to [0, 1] (so values lie in [0, 3]);
* surface variation (Eq. 3, after Pauly et al. 2002): ``l0 / (l0 + l1 + l2)`` for the eigenvalues
  ``l0 <= l1 <= l2`` of the covariance of the point and its k neighbours (0 on a plane, 1/3 for isotropic
  scatter).

The neighbours of point i are the k + 1 nearest points with i itself removed (when duplicates crowd i out
of that list, the farthest one is removed instead). A region's score is the mean over its points.
"""

from __future__ import annotations

import math
import warnings

import numba
import numpy as np
from scipy.spatial import cKDTree

from redal_core.threads import holding_threads

__all__ = ["color_discontinuity", "region_features", "surface_variation"]

_CHUNK_ROWS = 1 << 16


#: The official code's colour clip (``data_preparation/gen_color_gradient.py``: values above 0.1 become 0.1).
OFFICIAL_COLOR_CLIP = 0.1
#: The official code's structure clip on SemanticKITTI (``gen_surface_variation.py``; none on S3DIS).
OFFICIAL_KITTI_STRUCTURE_CLIP = 0.1
SCALES = ("paper", "official")


def region_features(
    xyz: np.ndarray, rgb: np.ndarray | None = None, k: int = 50, *, scale: str = "paper",
    structure_clip: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Colour discontinuity and surface variation from ONE k-NN query.

    xyz : (N, 3) float coordinates (finite); rgb : (N, 3) colours in 0..255 (uint8 or float), or None;
    k : neighbours per point (>= 1; reduced to N - 1 with a warning on smaller clouds).
    scale : ``paper`` (Eq. 2: mean over the k nearest OTHER points of the L1 colour difference, colours in
    [0, 1], values in [0, 3]) or ``official`` (the official code: mean over the point itself and its k - 1
    nearest others and over the 3 channels, clipped at ``OFFICIAL_COLOR_CLIP``); structure_clip : None or
    the value surface variation is clipped at (the official code: 0.1 on SemanticKITTI).
    Returns ``(color (N,) float32, structure (N,) float32)``; ``color`` is all zeros when rgb is None.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if structure_clip is not None and not (isinstance(structure_clip, int | float) and structure_clip > 0):
        raise ValueError(f"structure_clip must be None or a number > 0, got {structure_clip!r}")
    xyz, rgb, k = _check(xyz, rgb, k)
    color, structure = _features(xyz, rgb, k, want_color=rgb is not None, want_structure=True,
                                 official=scale == "official")
    if scale == "official" and rgb is not None:
        np.minimum(color, np.float32(OFFICIAL_COLOR_CLIP), out=color)
    if structure_clip is not None:
        np.minimum(structure, np.float32(structure_clip), out=structure)
    return color, structure


def color_discontinuity(xyz: np.ndarray, rgb: np.ndarray, k: int = 50) -> np.ndarray:
    """(N,) float32 mean L1 colour difference (colours in [0, 1]) to the k nearest neighbours (Eq. 2).

    xyz : (N, 3) float; rgb : (N, 3) colours in 0..255 (uint8 or float); k >= 1.
    """
    if rgb is None:
        raise ValueError("color_discontinuity needs rgb (N, 3) colours in 0..255, got None")
    xyz, rgb, k = _check(xyz, rgb, k)
    return _features(xyz, rgb, k, want_color=True, want_structure=False)[0]


def surface_variation(xyz: np.ndarray, k: int = 50) -> np.ndarray:
    """(N,) float32 smallest eigenvalue over the eigenvalue sum of the local covariance (Eq. 3).

    xyz : (N, 3) float; k >= 1 neighbours (the covariance uses the point and its k neighbours).
    """
    xyz, _, k = _check(xyz, None, k)
    return _features(xyz, None, k, want_color=False, want_structure=True)[1]


def _check(xyz, rgb, k) -> tuple[np.ndarray, np.ndarray | None, int]:
    xyz = np.asarray(xyz)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or xyz.shape[0] == 0:
        raise ValueError(f"xyz must be a non-empty (N, 3) array, got shape {xyz.shape}")
    if not np.issubdtype(xyz.dtype, np.number):
        raise ValueError(f"xyz must be numeric, got dtype {xyz.dtype}")
    xyz = np.ascontiguousarray(xyz, dtype=np.float64)
    if not np.isfinite(xyz).all():
        bad = ~np.isfinite(xyz).all(axis=1)
        raise ValueError(f"xyz has {int(bad.sum())} non-finite rows (first at row {int(np.argmax(bad))})")
    if rgb is not None:
        rgb = np.asarray(rgb)
        if rgb.shape != xyz.shape:
            raise ValueError(f"rgb must have the shape of xyz {xyz.shape}, got {rgb.shape}")
        if rgb.dtype != np.uint8:
            rgb = rgb.astype(np.float32)
            if not np.isfinite(rgb).all() or rgb.min() < 0 or rgb.max() > 255:
                raise ValueError(
                    f"rgb must hold colours in 0..255, got values in [{np.nanmin(rgb)}, {np.nanmax(rgb)}]"
                    " (scale colours in [0, 1] by 255)"
                )
        rgb = np.ascontiguousarray(rgb)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    n = xyz.shape[0]
    if k > n - 1:
        warnings.warn(
            f"k={k} neighbours requested but the cloud has only {n} points: using k={n - 1}",
            stacklevel=3,
        )
        k = n - 1
    return xyz, rgb, int(k)


def _features(xyz, rgb, k, *, want_color: bool, want_structure: bool, official: bool = False) -> tuple[np.ndarray, np.ndarray]:
    n = xyz.shape[0]
    color = np.zeros(n, np.float32)
    structure = np.zeros(n, np.float32)
    if k == 0:  # a single point: no neighbours, no discontinuity, no variation
        return color, structure
    tree = cKDTree(xyz)
    colors = rgb if rgb is not None else np.zeros((1, 3), np.uint8)
    with holding_threads():  # numba's pool start-up must not move torch's thread count (issue 9)
        for start in range(0, n, _CHUNK_ROWS):
            stop = min(start + _CHUNK_ROWS, n)
            _, idx = tree.query(xyz[start:stop], k=k + 1, workers=numba.get_num_threads())
            _chunk_features(xyz, colors, idx, start, want_color, want_structure, official, color[start:stop],
                            structure[start:stop])
    return color, structure


@numba.njit(cache=True, parallel=True)
def _chunk_features(xyz, rgb, idx, start, want_color, want_structure, official, color_out, structure_out):
    m, kk = idx.shape
    for r in numba.prange(m):
        i = start + r
        if want_color and official:  # the point itself (adds 0) and its kk - 2 nearest others, channel mean
            acc = 0.0
            taken = 0
            for j in range(kk):
                q = idx[r, j]
                if q == i or taken == kk - 2:
                    continue
                taken += 1
                for c in range(3):
                    acc += abs(np.float64(rgb[i, c]) - np.float64(rgb[q, c]))
            color_out[r] = acc / (255.0 * 3.0 * (kk - 1))
        elif want_color:
            skip = kk - 1  # drop the farthest unless the point itself is in its list
            for j in range(kk):
                if idx[r, j] == i:
                    skip = j
                    break
            acc = 0.0
            for j in range(kk):
                if j == skip:
                    continue
                q = idx[r, j]
                for c in range(3):
                    acc += abs(np.float64(rgb[i, c]) - np.float64(rgb[q, c]))
            color_out[r] = acc / (255.0 * (kk - 1))
        if want_structure:
            mx = 0.0
            my = 0.0
            mz = 0.0
            for j in range(kk):
                q = idx[r, j]
                mx += xyz[q, 0]
                my += xyz[q, 1]
                mz += xyz[q, 2]
            mx /= kk
            my /= kk
            mz /= kk
            cxx = 0.0
            cxy = 0.0
            cxz = 0.0
            cyy = 0.0
            cyz = 0.0
            czz = 0.0
            for j in range(kk):
                q = idx[r, j]
                dx = xyz[q, 0] - mx
                dy = xyz[q, 1] - my
                dz = xyz[q, 2] - mz
                cxx += dx * dx
                cxy += dx * dy
                cxz += dx * dz
                cyy += dy * dy
                cyz += dy * dz
                czz += dz * dz
            structure_out[r] = _variation(cxx, cxy, cxz, cyy, cyz, czz)


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
