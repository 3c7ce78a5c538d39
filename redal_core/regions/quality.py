"""How well regions follow ground truth: purity, boundary recall, under-segmentation error, sizes.

All functions take per-point ``region`` ids (N,) int >= 0 and ground-truth ``labels`` (N,) int (semantic
classes or instance ids); points whose label equals ``ignore_index`` are left out of every count.

* weighted purity: ``sum_r max_c |r and c| / N`` -- the share of points that carry their region's
  majority label (1 when no region mixes labels);
* under-segmentation error (Neubert & Protzel 2012, the "corrected" form):
  ``sum_g sum_{r meets g} min(|r and g|, |r minus g|) / N`` -- how much of each region leaks across a
  ground-truth segment, without the double counting of the original definition (0 is best);
* boundary recall: the share of ground-truth boundary points that lie on a region boundary, where a
  point is a boundary point of a labelling when one of its ``k`` nearest neighbours (within
  ``radius``, if given) carries another value; 1 is best (a region border runs wherever the truth does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

__all__ = [
    "RegionSizes",
    "boundary_recall",
    "region_sizes",
    "undersegmentation_error",
    "weighted_purity",
]


def weighted_purity(region: np.ndarray, labels: np.ndarray, *, ignore_index: int | None = None) -> float:
    """Share of (non-ignored) points whose label is the majority label of their region, in [0, 1].

    region : (N,) int region ids >= 0; labels : (N,) int ground truth.
    """
    counts, n = _contingency(region, labels, ignore_index)
    if n == 0:
        return float("nan")
    best = np.zeros(counts[0].max() + 1, np.int64)
    np.maximum.at(best, counts[0], counts[2])
    return float(best.sum() / n)


def undersegmentation_error(
    region: np.ndarray, labels: np.ndarray, *, ignore_index: int | None = None
) -> float:
    """Corrected under-segmentation error ``sum_(r, g) min(|r and g|, |r| - |r and g|) / N`` (0 is best).

    region : (N,) int region ids >= 0; labels : (N,) int ground truth.
    """
    (rows, _, overlap), n = _contingency(region, labels, ignore_index)
    if n == 0:
        return float("nan")
    size = np.bincount(rows, weights=overlap).astype(np.int64)
    return float(np.minimum(overlap, size[rows] - overlap).sum() / n)


def boundary_recall(
    xyz: np.ndarray,
    region: np.ndarray,
    labels: np.ndarray,
    *,
    k: int = 8,
    radius: float | None = None,
    ignore_index: int | None = None,
) -> float:
    """Share of ground-truth boundary points that are region boundary points, in [0, 1] (1 is best).

    xyz : (N, 3) float; region : (N,) int; labels : (N,) int. A point is a boundary point of a labelling
    when one of its ``k`` nearest neighbours (closer than ``radius`` metres, when given) has another
    value. Ignored points neither count as boundary points nor make their neighbours ones.
    NaN when the ground truth has no boundary.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    region, labels = _check_pair(region, labels)
    if xyz.shape != (region.shape[0], 3):
        raise ValueError(f"xyz must be ({region.shape[0]}, 3) like region, got {xyz.shape}")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if radius is not None and not radius > 0:
        raise ValueError(f"radius must be a positive distance in metres or None, got {radius!r}")
    keep = np.ones(region.shape[0], bool) if ignore_index is None else labels != ignore_index
    if keep.sum() < 2:
        return float("nan")
    xyz, region, labels = xyz[keep], region[keep], labels[keep]
    kk = min(int(k) + 1, xyz.shape[0])
    dist, idx = cKDTree(xyz).query(xyz, k=kk, workers=-1)
    dist, idx = dist[:, 1:], idx[:, 1:]
    near = np.ones_like(idx, bool) if radius is None else dist <= radius
    truth_edge = ((labels[idx] != labels[:, None]) & near).any(axis=1)
    region_edge = ((region[idx] != region[:, None]) & near).any(axis=1)
    if not truth_edge.any():
        return float("nan")
    return float((truth_edge & region_edge).sum() / truth_edge.sum())


@dataclass(frozen=True)
class RegionSizes:
    """Points per region: ``count`` regions, their ``min``, ``median``, ``mean``, ``max`` size, the 5th and
    95th percentiles, and ``singletons`` (regions of one point)."""

    count: int
    min: int
    p5: float
    median: float
    mean: float
    p95: float
    max: int
    singletons: int

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def region_sizes(region: np.ndarray) -> RegionSizes:
    """Size statistics of the regions present in ``region`` (N,) int >= 0 (absent ids are not counted)."""
    region = _check_ids(region, "region")
    sizes = np.bincount(region)
    sizes = sizes[sizes > 0]
    return RegionSizes(
        count=int(sizes.size),
        min=int(sizes.min()),
        p5=float(np.percentile(sizes, 5)),
        median=float(np.median(sizes)),
        mean=float(sizes.mean()),
        p95=float(np.percentile(sizes, 95)),
        max=int(sizes.max()),
        singletons=int((sizes == 1).sum()),
    )


def _check_ids(values: np.ndarray, name: str) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1 or values.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (N,) array, got shape {values.shape}")
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {values.dtype}")
    values = values.astype(np.int64, copy=False)
    if name == "region" and values.min() < 0:
        raise ValueError(f"region ids must be >= 0, got {int(values.min())}")
    return values


def _check_pair(region: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    region = _check_ids(region, "region")
    labels = _check_ids(labels, "labels")
    if region.shape != labels.shape:
        raise ValueError(f"region {region.shape} and labels {labels.shape} must have the same length")
    return region, labels


def _contingency(region, labels, ignore_index):
    """Nonzero cells (region, label, count) of the region x label table, and the number of points."""
    region, labels = _check_pair(region, labels)
    if ignore_index is not None:
        keep = labels != ignore_index
        region, labels = region[keep], labels[keep]
    if region.size == 0:
        return (np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64)), 0
    _, label_ids = np.unique(labels, return_inverse=True)
    width = int(label_ids.max()) + 1
    cells, counts = np.unique(region * width + label_ids.reshape(-1), return_counts=True)
    return (cells // width, cells % width, counts.astype(np.int64)), int(region.size)
