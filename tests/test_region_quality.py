"""Region quality against ground truth: planted values, a brute-force reference, properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redal_core.regions.quality import (
    boundary_recall,
    region_sizes,
    undersegmentation_error,
    weighted_purity,
)


def _reference(region: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Purity and corrected under-segmentation error by loops over regions and labels."""
    n = len(region)
    purity, use = 0, 0
    for r in np.unique(region):
        inside = labels[region == r]
        purity += max((inside == c).sum() for c in np.unique(inside))
        for g in np.unique(inside):
            overlap = (inside == g).sum()
            use += min(overlap, len(inside) - overlap)
    return purity / n, use / n


def test_planted_values():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    perfect = np.array([3, 3, 5, 5, 7, 7, 9, 9])  # over-segmented but never mixed
    assert weighted_purity(perfect, labels) == 1.0
    assert undersegmentation_error(perfect, labels) == 0.0
    one = np.zeros(8, np.int64)  # everything in one region
    assert weighted_purity(one, labels) == 0.5
    assert undersegmentation_error(one, labels) == 1.0  # each half leaks the other half
    leak = np.array([0, 0, 0, 1, 1, 1, 1, 1])  # one point of class 0 in the class-1 region
    assert weighted_purity(leak, labels) == 7 / 8
    # region 1 meets class 0 (1 point in, 4 out: min 1) and class 1 (4 in, 1 out: min 1)
    assert undersegmentation_error(leak, labels) == 2 / 8


def test_ignore_index_leaves_points_out():
    labels = np.array([0, 0, -100, -100, 1, 1])
    region = np.array([0, 0, 1, 1, 1, 1])
    assert weighted_purity(region, labels, ignore_index=-100) == 1.0
    assert weighted_purity(region, labels) == 4 / 6
    assert np.isnan(weighted_purity(region, np.full(6, -100), ignore_index=-100))


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 6), st.integers(-3, 4)), min_size=1, max_size=80),
)
def test_property_matches_reference_and_bounds(data):
    region = np.array([r for r, _ in data])
    labels = np.array([g for _, g in data])
    purity, use = _reference(region, labels)
    assert weighted_purity(region, labels) == pytest.approx(purity)
    assert undersegmentation_error(region, labels) == pytest.approx(use)
    assert 0 < purity <= 1 and 0 <= use <= 1
    # splitting every region into singletons is perfectly pure and never leaks
    singletons = np.arange(len(region))
    assert weighted_purity(singletons, labels) == 1.0
    assert undersegmentation_error(singletons, labels) == 0.0


def test_boundary_recall_planted():
    # two labels meeting at x = 0 on a grid
    grid = np.stack(np.meshgrid(np.arange(-10, 10), np.arange(10), [0], indexing="ij"), -1).reshape(-1, 3) * 0.1
    labels = (grid[:, 0] >= 0).astype(np.int64)
    assert boundary_recall(grid, labels * 4 + 1, labels, k=8) == 1.0  # a border exactly on the truth
    assert boundary_recall(grid, np.zeros(len(grid), np.int64), labels, k=8) == 0.0  # no border at all
    far = (grid[:, 0] >= 0.55).astype(np.int64)  # a border 5-6 cells away from the truth
    assert boundary_recall(grid, far, labels, k=8) == 0.0
    near = (grid[:, 0] >= 0.1).astype(np.int64)  # one cell off: within the 8-neighbourhood of the truth
    assert boundary_recall(grid, near, labels, k=8) > 0.4
    assert np.isnan(boundary_recall(grid, labels, np.zeros(len(grid), np.int64)))  # truth without boundary
    with pytest.raises(ValueError, match="radius"):
        boundary_recall(grid, labels, labels, radius=0.0)
    with pytest.raises(ValueError, match=r"xyz must be \(200, 3\)"):
        boundary_recall(grid[:10], labels, labels)


def test_region_sizes_and_errors():
    stats = region_sizes(np.array([0, 0, 0, 2, 2, 5]))
    assert (stats.count, stats.min, stats.max, stats.singletons) == (3, 1, 3, 1)
    assert stats.median == 2.0 and stats.mean == 2.0
    assert stats.to_dict()["count"] == 3
    with pytest.raises(ValueError, match="region ids must be >= 0"):
        weighted_purity(np.array([-1, 0]), np.array([0, 0]))
    with pytest.raises(ValueError, match="same length"):
        undersegmentation_error(np.array([0, 0]), np.array([0]))
    with pytest.raises(ValueError, match="integers"):
        region_sizes(np.array([0.5]))
