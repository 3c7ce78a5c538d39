"""Per-point region-information cues of ReDAL (Sec. 3.2): colour discontinuity and structural complexity.

Both come from ONE exact k-nearest-neighbour search per point (k = 50 in the paper, supplementary A.2).
The neighbour list of point i is the point itself followed by its k nearest OTHER points, ranked by
squared distance (float64) and, among equidistant points, by smaller index (so among duplicates of i the
lower-indexed ones are taken first; i itself is always in its own list).

Two scales, from the same list:

* ``scale="paper"`` (Eq. 2 and 3 as the paper writes them): colour discontinuity is the mean over the k
  nearest others j of ``||I_i - I_j||_1`` with colours in [0, 1] (values in [0, 3]);
* ``scale="official"`` (the official code, ``data_preparation/gen_color_gradient.py``): the mean over the k
  nearest points INCLUDING i (i and its k - 1 nearest others; i contributes 0) and over the 3 channels of
  ``|I_i,c - I_j,c|`` (colours in [0, 1]), clipped at ``OFFICIAL_COLOR_CLIP`` (0.1).

Surface variation (Eq. 3, after Pauly et al. 2002) is the same on both scales: ``l0 / (l0 + l1 + l2)`` for
the eigenvalues ``l0 <= l1 <= l2`` of the covariance of i and its k nearest others (k + 1 points; 0 on a
plane, 1/3 for isotropic scatter). ``structure_clip`` clips it from above: the official
``data_preparation/gen_surface_variation.py`` clips at 0.1 on SemanticKITTI and not on S3DIS
(``OFFICIAL_STRUCTURE_CLIP``). A region's score is the mean over its points.

The search is ``redal_core.regions.knn`` (an exact multi-level grid search in numba, fused with the
cues, so no (N, k) index array is stored); ``benchmarks/features.py`` measures it against the previous
implementation (scipy's cKDTree and a numba kernel) and other libraries.
"""

from __future__ import annotations

import math
import warnings
from types import MappingProxyType

import numpy as np

from redal_core.regions.knn import knn_features

__all__ = [
    "OFFICIAL_COLOR_CLIP",
    "OFFICIAL_K",
    "OFFICIAL_STRUCTURE_CLIP",
    "SCALES",
    "color_discontinuity",
    "region_features",
    "surface_variation",
]

#: The scales of the colour cue: the paper's Eq. 2, or what the official code computes.
SCALES = ("paper", "official")

# The official ReDAL code (tsunghan-wu/ReDAL), data_preparation/gen_color_gradient.py: sklearn KDTree
# query with k_n = 50 (the point itself included), np.mean(np.abs(neigh_rgb - cur_rgb)) over the 50 x 3
# values with rgb / 255, then ``colorgrad[colorgrad > 0.1] = 0.1``.
# data_preparation/gen_surface_variation.py: pyntcloud eigenvalues of the point and its k_n = 50
# neighbours ('e1(51)'..'e3(51)'), e_min / sum, with ``threshold=0.1`` for semantic_kitti only.
#: Neighbours per point in both official scripts.
OFFICIAL_K = 50
#: Upper clip of the official colour gradient (both datasets).
OFFICIAL_COLOR_CLIP = 0.1
#: Upper clip of the official surface variation per dataset (None: not clipped); read-only.
OFFICIAL_STRUCTURE_CLIP = MappingProxyType({"s3dis": None, "semantickitti": 0.1})


def region_features(
    xyz: np.ndarray,
    rgb: np.ndarray | None = None,
    k: int = 50,
    *,
    scale: str = "paper",
    structure_clip: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Colour discontinuity and surface variation from ONE k-NN search.

    xyz : (N, 3) float coordinates (finite); rgb : (N, 3) colours in 0..255 (uint8 or float), or None;
    k : neighbours per point (>= 1; reduced to N - 1 with a warning on smaller clouds);
    scale : "paper" (Eq. 2: mean L1 over the k nearest others, values in [0, 3]) or "official" (mean
    over i and its k - 1 nearest others and over the channels, clipped at ``OFFICIAL_COLOR_CLIP``);
    structure_clip : None, or a float > 0 that surface variation is clipped at (the official code uses
    0.1 on SemanticKITTI: ``OFFICIAL_STRUCTURE_CLIP``).
    Returns ``(color (N,) float32, structure (N,) float32)``; ``color`` is all zeros when rgb is None.
    """
    xyz, rgb, k = _check(xyz, rgb, k)
    official = _check_scale(scale)
    clip = _check_clip(structure_clip, "structure_clip")
    return _features(xyz, rgb, k, want_color=rgb is not None, want_structure=True, official=official,
                     structure_clip=clip)


def color_discontinuity(xyz: np.ndarray, rgb: np.ndarray, k: int = 50, *, scale: str = "paper") -> np.ndarray:
    """(N,) float32 colour discontinuity: Eq. 2 (``scale="paper"``) or the official gradient.

    xyz : (N, 3) float; rgb : (N, 3) colours in 0..255 (uint8 or float); k >= 1; scale : see
    ``region_features``.
    """
    if rgb is None:
        raise ValueError("color_discontinuity needs rgb (N, 3) colours in 0..255, got None")
    xyz, rgb, k = _check(xyz, rgb, k)
    official = _check_scale(scale)
    return _features(xyz, rgb, k, want_color=True, want_structure=False, official=official,
                     structure_clip=None)[0]


def surface_variation(xyz: np.ndarray, k: int = 50, *, structure_clip: float | None = None) -> np.ndarray:
    """(N,) float32 smallest eigenvalue over the eigenvalue sum of the local covariance (Eq. 3).

    xyz : (N, 3) float; k >= 1 neighbours (the covariance uses the point and its k neighbours);
    structure_clip : None, or a float > 0 the values are clipped at (0.1 on the official SemanticKITTI
    scale: ``OFFICIAL_STRUCTURE_CLIP``).
    """
    xyz, _, k = _check(xyz, None, k)
    value = _check_clip(structure_clip, "structure_clip")
    return _features(xyz, None, k, want_color=False, want_structure=True, official=False,
                     structure_clip=value)[1]


def _check_scale(scale) -> bool:
    if not isinstance(scale, str) or scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(map(repr, SCALES))}, got {scale!r}")
    return scale == "official"


def _check_clip(clip, name: str) -> float | None:
    if clip is None:
        return None
    if isinstance(clip, bool) or not isinstance(clip, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be None or a float > 0, got {clip!r}")
    value = float(clip)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be None or a float > 0, got {clip!r}")
    return value


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


def _features(xyz, rgb, k, *, want_color, want_structure, official, structure_clip):
    n = xyz.shape[0]
    if k == 0:  # a single point: no neighbours, no discontinuity, no variation
        return np.zeros(n, np.float32), np.zeros(n, np.float32)
    colors = np.asarray(rgb, np.float64) if want_color and rgb is not None else None
    l1_all, l1_far, structure = knn_features(xyz, colors, k, want_structure=want_structure)
    if colors is None:
        color = np.zeros(n, np.float32)
    elif official:  # i and its k - 1 nearest others (all but the farthest), 3 channels, clipped
        color = np.minimum((l1_all - l1_far) / (3.0 * 255.0 * k), OFFICIAL_COLOR_CLIP).astype(np.float32)
    else:  # the k nearest others (i contributes 0 to the sum)
        color = (l1_all / (255.0 * k)).astype(np.float32)
    if structure_clip is not None:
        np.minimum(structure, structure_clip, out=structure)
    return color, structure.astype(np.float32)
