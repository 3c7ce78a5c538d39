"""Diversity: Algorithm 1 against a literal reference, the original code's ordering bug, k-means, k-center."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redal_core.active.diversity import (
    DEFAULT_CLUSTERS,
    DEFAULT_DECAY,
    cluster_regions,
    kcenter_greedy,
    penalize_similar,
    region_features,
)


def algorithm1_reference(scores, clusters, decay):
    """Algorithm 1 written literally: sort by score (stable, descending), loop, un-sort."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    weights = {}
    adjusted = [0.0] * len(scores)
    for i in order:
        w = weights.get(clusters[i], 1.0)
        adjusted[i] = scores[i] * w
        weights[clusters[i]] = w * decay
    return np.array(adjusted)


def original_code_variant(scores, clusters_of_sorted, decay):
    """The original implementation's mistake: clusters come from features SORTED by score, but the
    decay is applied walking the scores in their UNSORTED order."""
    weights = {}
    adjusted = np.empty(len(scores))
    for i in range(len(scores)):
        c = clusters_of_sorted[i]
        w = weights.get(c, 1.0)
        adjusted[i] = scores[i] * w
        weights[c] = w * decay
    return adjusted


_units = st.integers(1, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(0, 10, allow_nan=False), min_size=n, max_size=n),
        st.lists(st.integers(0, 5), min_size=n, max_size=n),
    )
)


def test_hand_computed_example():
    # visiting order: 0.9 (c0), 0.8 (c0), 0.7 (c1), 0.6 (c0), 0.5 (c1)
    scores = np.array([0.6, 0.9, 0.5, 0.8, 0.7])
    clusters = np.array([0, 0, 1, 0, 1])
    out = penalize_similar(scores, clusters, decay=0.5)
    np.testing.assert_allclose(out, [0.6 * 0.25, 0.9, 0.5 * 0.5, 0.8 * 0.5, 0.7])


def test_the_original_ordering_bug_gives_a_different_answer():
    # unsorted input; the best region (index 2, score 0.9) shares cluster 0 with index 0 (0.5)
    scores = np.array([0.5, 0.8, 0.9, 0.1])
    clusters = np.array([0, 1, 0, 2])
    right = penalize_similar(scores, clusters, decay=0.5)
    # correct: 0.9 keeps its score, 0.5 (second of cluster 0) is halved; the others are alone
    np.testing.assert_allclose(right, [0.25, 0.8, 0.9, 0.1])
    order = np.argsort(-scores, kind="stable")
    buggy = original_code_variant(scores, clusters[order], decay=0.5)
    assert not np.allclose(buggy, right)
    # the bug penalizes the best region (index 2) instead of its weaker cluster mate, so it ranks differently
    assert buggy[2] < scores[2]
    assert list(np.argsort(-buggy, kind="stable")) != list(np.argsort(-right, kind="stable"))


@settings(max_examples=80, deadline=None)
@given(_units, st.sampled_from([0.5, 0.9, 0.95, 1.0]))
def test_matches_literal_algorithm1(units, decay):
    scores, clusters = np.array(units[0]), np.array(units[1])
    np.testing.assert_allclose(penalize_similar(scores, clusters, decay), algorithm1_reference(units[0], units[1], decay), rtol=1e-12)


@settings(max_examples=80, deadline=None)
@given(_units, st.integers(0, 2**16))
def test_permuting_the_input_permutes_the_output(units, seed):
    scores = np.array(units[0])
    # distinct scores: with ties, the stable tie-break by input index legitimately depends on order
    scores = scores + np.arange(scores.size) * 1e-6
    clusters = np.array(units[1])
    perm = np.random.default_rng(seed).permutation(scores.size)
    np.testing.assert_allclose(
        penalize_similar(scores[perm], clusters[perm]), penalize_similar(scores, clusters)[perm], rtol=1e-12
    )


@settings(max_examples=60, deadline=None)
@given(_units)
def test_penalties_only_lower_and_the_best_of_each_cluster_is_untouched(units):
    scores, clusters = np.array(units[0]), np.array(units[1])
    out = penalize_similar(scores, clusters, DEFAULT_DECAY)
    assert (out <= scores + 1e-15).all()
    for c in np.unique(clusters):
        members = np.flatnonzero(clusters == c)
        best = members[np.argmax(scores[members])]  # argmax takes the first index on ties
        assert out[best] == scores[best]


def test_validation():
    with pytest.raises(ValueError, match="must be >= 0 for Algorithm 1"):
        penalize_similar(np.array([0.5, -0.1]), np.array([0, 0]))
    with pytest.raises(ValueError, match="decay must be in"):
        penalize_similar(np.array([0.5]), np.array([0]), decay=0.0)
    with pytest.raises(ValueError, match="clusters must be an integer array"):
        penalize_similar(np.array([0.5, 0.4]), np.array([0]))
    with pytest.raises(ValueError, match="NaN"):
        penalize_similar(np.array([np.nan]), np.array([0]))
    assert penalize_similar(np.zeros(0), np.zeros(0, dtype=np.int64)).shape == (0,)


def test_region_features_dense_reference():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(300, 8)).astype(np.float32)
    ids = rng.integers(0, 12, size=300)
    ids[ids == 5] = 6
    out = region_features(feats, ids, 13)
    assert out.shape == (13, 8) and out.dtype == np.float32
    for r in range(13):
        if (ids == r).any():
            np.testing.assert_allclose(out[r], feats[ids == r].astype(np.float64).mean(axis=0), rtol=1e-5, atol=1e-6)
        else:
            assert np.isnan(out[r]).all()
    with pytest.raises(ValueError, match="region_ids has 3 entries"):
        region_features(feats, ids[:3])


def test_kmeans_recovers_planted_blobs_and_is_seeded():
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0], [50, 0], [0, 50]], dtype=np.float32)
    truth = np.repeat(np.arange(3), 30)
    feats = centres[truth] + rng.normal(scale=0.5, size=(90, 2)).astype(np.float32)
    labels = cluster_regions(feats, 3, np.random.default_rng(7))
    # same partition as the truth (up to renaming)
    for c in range(3):
        assert np.unique(labels[truth == c]).size == 1
    assert np.unique(labels).size == 3
    np.testing.assert_array_equal(labels, cluster_regions(feats, 3, np.random.default_rng(7)))
    # an int seed is accepted and deterministic too, and finds the same partition
    seeded = cluster_regions(feats, 3, 123)
    np.testing.assert_array_equal(seeded, cluster_regions(feats, 3, 123))
    assert all(np.unique(seeded[truth == c]).size == 1 for c in range(3))


def test_kmeans_with_fewer_units_than_clusters_and_validation():
    feats = np.random.default_rng(2).normal(size=(4, 3))
    labels = cluster_regions(feats, DEFAULT_CLUSTERS["semantickitti"], 0)
    assert labels.shape == (4,) and labels.max() < 4
    assert cluster_regions(feats[:1], 5, 0).tolist() == [0]
    assert cluster_regions(np.zeros((0, 3)), 5, 0).shape == (0,)
    with pytest.raises(ValueError, match="not finite"):
        cluster_regions(np.array([[0.0, np.nan], [1.0, 1.0]]), 2, 0)
    with pytest.raises(ValueError, match="n_clusters"):
        cluster_regions(feats, 0, 0)
    assert DEFAULT_CLUSTERS == {"s3dis": 400, "semantickitti": 150}


def test_kcenter_picks_the_farthest_unit_each_time():
    # points on a line; 0 is labeled; the farthest is 10, then the midpoint 5 side, ...
    x = np.array([[0.0], [1.0], [10.0], [4.0], [6.0], [9.0]])
    labeled = np.array([True, False, False, False, False, False])
    order = kcenter_greedy(x, labeled, 0, n_select=3)
    assert order.tolist()[0] == 2
    # after {0, 10}: distances 1:1, 4:4, 6:4, 9:1 -> first max index 3 (4.0)
    assert order.tolist()[1] == 3
    # after {0, 10, 4}: 1:1, 6:2, 9:1 -> 6.0 (index 4)
    assert order.tolist()[2] == 4
    assert 0 not in kcenter_greedy(x, labeled, 0, n_select=10).tolist()
    assert kcenter_greedy(x, labeled, 0, n_select=10).size == 5


def test_kcenter_point_budget_and_random_start():
    x = np.random.default_rng(3).normal(size=(50, 4))
    points = np.random.default_rng(4).integers(1, 100, size=50)
    labeled = np.zeros(50, dtype=bool)
    order = kcenter_greedy(x, labeled, np.random.default_rng(5), points=points, budget_points=400)
    total = points[order].sum()
    assert total >= 400 and total - points[order[-1]] < 400
    assert np.unique(order).size == order.size
    again = kcenter_greedy(x, labeled, np.random.default_rng(5), points=points, budget_points=400)
    np.testing.assert_array_equal(order, again)
    with pytest.raises(ValueError, match="exactly one of"):
        kcenter_greedy(x, labeled, 0)
    with pytest.raises(ValueError, match="labeled must be a bool"):
        kcenter_greedy(x, labeled[:3], 0, n_select=1)
