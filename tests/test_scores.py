"""Per-point scores: planted answers, dense references, hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from redal_core.active import scores as S


def _softmax_rows(n: int, k: int, seed: int, scale: float = 3.0) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(scale=scale, size=(n, k))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _prob_matrix(min_k: int = 1):
    """hypothesis strategy: (n, k) float64 rows that sum to 1 (including exact zeros)."""

    @st.composite
    def build(draw):
        n = draw(st.integers(1, 12))
        k = draw(st.integers(min_k, 8))
        raw = draw(arrays(np.float64, (n, k), elements=st.floats(0, 1)))
        raw[:, 0] += 1e-3  # no all-zero row
        return raw / raw.sum(axis=1, keepdims=True)

    return build()


# ----------------------------------------------------------------------------- planted answers
def test_uniform_row_is_the_most_uncertain_by_every_score():
    k = 5
    probs = np.array(
        [
            np.full(k, 1 / k),  # uniform
            [0.6, 0.1, 0.1, 0.1, 0.1],
            [0.4, 0.35, 0.1, 0.1, 0.05],
            [1.0, 0.0, 0.0, 0.0, 0.0],  # one-hot
        ],
        dtype=np.float32,
    )
    ent, mar, conf = S.softmax_entropy(probs), S.margin(probs), S.confidence(probs)
    assert int(np.argmax(ent)) == 0 and ent[0] == pytest.approx(math.log(k), rel=1e-6)
    assert int(np.argmin(mar)) == 0 and mar[0] == pytest.approx(0.0, abs=1e-7)
    assert int(np.argmin(conf)) == 0 and conf[0] == pytest.approx(1 / k, rel=1e-6)
    # the one-hot row is the most certain by every score
    assert ent[3] == 0.0 and mar[3] == 1.0 and conf[3] == 1.0
    # hand-computed values for row 2
    assert mar[2] == pytest.approx(0.05, abs=1e-6)
    assert conf[2] == pytest.approx(0.4, abs=1e-6)
    expected = -sum(p * math.log(p) for p in (0.4, 0.35, 0.1, 0.1, 0.05))
    assert ent[2] == pytest.approx(expected, rel=1e-6)


def test_entropy_matches_scipy_reference():
    from scipy.stats import entropy

    probs = _softmax_rows(200, 13, seed=1)
    np.testing.assert_allclose(S.softmax_entropy(probs), entropy(probs.astype(np.float64), axis=1), rtol=1e-6)


def test_margin_and_confidence_match_sort_reference():
    probs = _softmax_rows(300, 7, seed=2)
    srt = np.sort(probs.astype(np.float64), axis=1)
    np.testing.assert_allclose(S.margin(probs), srt[:, -1] - srt[:, -2], atol=1e-12)
    np.testing.assert_allclose(S.confidence(probs), srt[:, -1], atol=1e-12)


def test_margin_of_tied_top_two_is_zero():
    probs = np.array([[0.45, 0.45, 0.1]])
    assert S.margin(probs)[0] == 0.0


def test_mc_entropy_is_entropy_of_the_mean_not_mean_of_entropies():
    # two confident passes that disagree: each pass has entropy 0, their mean is (0.5, 0.5)
    mc = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    assert S.mc_entropy(mc)[0] == pytest.approx(math.log(2))
    # identical passes: the same as the plain softmax entropy
    probs = _softmax_rows(50, 4, seed=3)
    np.testing.assert_allclose(S.mc_entropy(np.stack([probs] * S.MC_PASSES)), S.softmax_entropy(probs), rtol=1e-6)


def test_mc_entropy_dense_reference():
    mc = np.stack([_softmax_rows(40, 6, seed=s) for s in range(S.MC_PASSES)])
    mean = mc.astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(S.mc_entropy(mc), -(mean * np.log(mean)).sum(axis=1), rtol=1e-6)


def test_segment_entropy_planted():
    # segment 0: all class 2 -> 0; segment 1: half 0, half 1 -> log 2; segment 2: empty -> NaN;
    # segment 3: classes 0,1,2,3 once each -> log 4
    pred = np.array([2, 2, 2, 0, 1, 0, 1, 0, 1, 2, 3])
    seg = np.array([0, 0, 0, 1, 1, 1, 1, 3, 3, 3, 3])
    out = S.segment_entropy(pred, seg, num_classes=4)
    assert out.shape == (4,)
    assert out[0] == 0.0
    assert out[1] == pytest.approx(math.log(2))
    assert np.isnan(out[2])
    assert out[3] == pytest.approx(math.log(4))


def test_segment_entropy_dense_reference():
    rng = np.random.default_rng(4)
    pred = rng.integers(0, 5, size=500)
    seg = rng.integers(0, 20, size=500)
    out = S.segment_entropy(pred, seg, 5, n_segments=22)
    for s in range(22):
        members = pred[seg == s]
        if members.size == 0:
            assert np.isnan(out[s])
            continue
        p = np.bincount(members, minlength=5) / members.size
        p = p[p > 0]
        assert out[s] == pytest.approx(-(p * np.log(p)).sum())


def test_reduce_mean_dense_reference_and_empty_group_is_nan():
    rng = np.random.default_rng(5)
    values = rng.random(400).astype(np.float32)
    groups = rng.integers(0, 30, size=400)
    groups[groups == 7] = 8  # group 7 is empty
    out = S.reduce_mean(values, groups, 31)
    for g in range(31):
        members = values[groups == g]
        if members.size == 0:
            assert np.isnan(out[g])
        else:
            assert out[g] == pytest.approx(members.astype(np.float64).mean(), rel=1e-12)
    assert out.dtype == np.float64


def test_combine_is_eq4_and_paper_defaults():
    h, c, s = np.array([1.0, 0.5]), np.array([2.0, 4.0]), np.array([10.0, 0.0])
    np.testing.assert_allclose(S.combine(h, c, s, 1.0, 0.1, 0.05), [1.0 + 0.2 + 0.5, 0.5 + 0.4 + 0.0])
    assert S.DEFAULT_WEIGHTS == {"s3dis": (1.0, 0.1, 0.05), "semantickitti": (1.0, 0.0, 0.05)}
    # SemanticKITTI has no colour: None is fine with beta = 0, not otherwise
    np.testing.assert_allclose(S.combine(h, None, s, *S.DEFAULT_WEIGHTS["semantickitti"]), [1.5, 0.5])
    with pytest.raises(ValueError, match="color is None"):
        S.combine(h, None, s, 1.0, 0.1, 0.05)
    with pytest.raises(ValueError, match="structure must have the shape"):
        S.combine(h, c, s[:1])


def test_mc_settings_from_the_paper():
    assert S.MC_DROPOUT_RATE == 0.3 and S.MC_PASSES == 10


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.array([[2.0, -1.0]]), "outside"),  # logits
        (np.array([[0.2, 0.2]]), "sums to"),
        (np.array([[np.nan, 1.0]]), "outside"),
        (np.array([0.5, 0.5]), r"\(n_points, n_classes\)"),
        (np.array([[1, 0]]), "floating point"),
    ],
)
def test_probability_validation_names_the_problem(bad, match):
    with pytest.raises(ValueError, match=match):
        S.softmax_entropy(bad)


def test_margin_needs_two_classes_and_segment_entropy_checks_classes():
    with pytest.raises(ValueError, match="at least 2 classes"):
        S.margin(np.ones((3, 1)))
    with pytest.raises(ValueError, match="pred holds class 4"):
        S.segment_entropy(np.array([0, 4]), np.array([0, 0]), num_classes=4)
    with pytest.raises(ValueError, match="n_groups=2 is smaller"):
        S.reduce_mean(np.ones(3), np.array([0, 1, 4]), 2)
    with pytest.raises(ValueError, match="mc_probs"):
        S.mc_entropy(np.ones((3, 2)))


# ----------------------------------------------------------------------------- properties
@settings(max_examples=60, deadline=None)
@given(_prob_matrix())
def test_entropy_bounds(probs):
    ent = S.softmax_entropy(probs)
    k = probs.shape[1]
    assert (ent >= -1e-12).all() and (ent <= math.log(k) + 1e-9).all()


@settings(max_examples=60, deadline=None)
@given(_prob_matrix(min_k=2))
def test_margin_and_confidence_bounds(probs):
    k = probs.shape[1]
    mar, conf = S.margin(probs), S.confidence(probs)
    assert (mar >= 0).all() and (mar <= 1 + 1e-12).all()
    assert (conf >= 1 / k - 1e-12).all() and (conf <= 1 + 1e-12).all()
    # margin never exceeds confidence: top1 - top2 <= top1
    assert (mar <= conf + 1e-12).all()


@settings(max_examples=40, deadline=None)
@given(_prob_matrix(), st.integers(0, 2**16))
def test_scores_are_row_permutation_equivariant(probs, seed):
    perm = np.random.default_rng(seed).permutation(probs.shape[0])
    np.testing.assert_allclose(S.softmax_entropy(probs[perm]), S.softmax_entropy(probs)[perm])
    np.testing.assert_allclose(S.confidence(probs[perm]), S.confidence(probs)[perm])
