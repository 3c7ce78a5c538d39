"""Per-point region-information cues of ReDAL (Sec. 3.2): colour discontinuity and structural complexity.

Both come from the k nearest neighbours of every point (k = 50 in the paper, supplementary A.2), found
once by ``redal_core.regions.knn`` (an exact grid search in numba, fused with the cues, so no (N, k) index
array is stored):

* colour discontinuity (Eq. 2, per point): the mean over the k neighbours j of ``||I_i - I_j||_1``, with
  colours scaled to [0, 1] (so values lie in [0, 3]);
* surface variation (Eq. 3, after Pauly et al. 2002): ``l0 / (l0 + l1 + l2)`` for the eigenvalues
  ``l0 <= l1 <= l2`` of the covariance of the point and its k neighbours (0 on a plane, 1/3 for isotropic
  scatter).

The neighbours of point i are its k nearest OTHER points, ranked by squared distance (float64) and, among
equidistant points (duplicates of i included), by smaller index. A region's score is the mean over its points.
"""

from __future__ import annotations

import warnings

import numpy as np

from redal_core.regions.knn import knn_features

__all__ = ["color_discontinuity", "region_features", "surface_variation"]


def region_features(
    xyz: np.ndarray, rgb: np.ndarray | None = None, k: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """Colour discontinuity and surface variation from ONE k-NN query.

    xyz : (N, 3) float coordinates (finite); rgb : (N, 3) colours in 0..255 (uint8 or float), or None;
    k : neighbours per point (>= 1; reduced to N - 1 with a warning on smaller clouds).
    Returns ``(color (N,) float32, structure (N,) float32)``; ``color`` is all zeros when rgb is None.
    """
    xyz, rgb, k = _check(xyz, rgb, k)
    return _features(xyz, rgb, k, want_color=rgb is not None, want_structure=True)


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


def _features(xyz, rgb, k, *, want_color: bool, want_structure: bool) -> tuple[np.ndarray, np.ndarray]:
    n = xyz.shape[0]
    if k == 0:  # a single point: no neighbours, no discontinuity, no variation
        return np.zeros(n, np.float32), np.zeros(n, np.float32)
    colors = np.asarray(rgb, np.float64) if want_color and rgb is not None else None
    l1_all, _, structure = knn_features(xyz, colors, k, want_structure=want_structure)
    color = np.zeros(n, np.float32) if colors is None else (l1_all / (255.0 * k)).astype(np.float32)
    return color, structure.astype(np.float32)
