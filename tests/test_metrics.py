"""Metrics: confusion matrix, IoU with missing classes as NaN, mIoU over present classes, per mille."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redal_core import IGNORE_INDEX
from redal_core.metrics import (
    ConfusionAccumulator,
    class_counts,
    confusion_matrix,
    labeled_class_distribution,
    mean_iou,
    overall_accuracy,
    per_class_iou,
    permille,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"
KITTI = SHARED / "real_samples" / "semantickitti"


def test_confusion_matrix_planted():
    target = np.array([0, 0, 1, 1, 2, IGNORE_INDEX, 2])
    pred = np.array([0, 1, 1, 1, 0, 5, 2])  # the ignored point's prediction (5) is never looked at
    conf = confusion_matrix(pred, target, 3)
    np.testing.assert_array_equal(conf, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    assert conf.dtype == np.int64


def test_iou_planted_and_absent_class_is_nan():
    # 4 classes; class 3 never appears in the ground truth but is predicted once
    target = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    pred = np.array([0, 0, 1, 1, 1, 2, 2, 3])
    conf = confusion_matrix(pred, target, 4)
    iou = per_class_iou(conf)
    # class 0: TP 2, FN 1, FP 0 -> 2/3; class 1: TP 2, FP 1 -> 2/3; class 2: TP 2, FN 1 -> 2/3
    np.testing.assert_allclose(iou[:3], [2 / 3, 2 / 3, 2 / 3])
    assert np.isnan(iou[3])  # MISSING, not 1 and not 0
    assert mean_iou(conf) == pytest.approx(2 / 3)  # averaged over the 3 present classes
    assert overall_accuracy(conf) == pytest.approx(6 / 8)


def test_perfect_prediction_and_nothing_evaluated():
    labels = np.array([0, 1, 1, 2])
    conf = confusion_matrix(labels, labels, 5)
    iou = per_class_iou(conf)
    np.testing.assert_allclose(iou[:3], 1.0)
    assert np.isnan(iou[3:]).all()
    assert mean_iou(conf) == 1.0
    empty = confusion_matrix(np.zeros(2, np.int64), np.full(2, IGNORE_INDEX), 3)
    assert empty.sum() == 0
    with pytest.raises(ValueError, match="mIoU is undefined"):
        mean_iou(empty)


def test_dense_reference_iou():
    rng = np.random.default_rng(0)
    target = rng.integers(0, 6, size=2000)
    pred = np.where(rng.random(2000) < 0.7, target, rng.integers(0, 6, size=2000))
    iou = per_class_iou(confusion_matrix(pred, target, 6))
    for c in range(6):
        inter = np.sum((pred == c) & (target == c))
        union = np.sum((pred == c) | (target == c))
        assert iou[c] == pytest.approx(inter / union)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(-1, 4)), min_size=1, max_size=80), st.integers(1, 5))
def test_accumulating_chunks_equals_one_matrix(pairs, n_chunks):
    pred = np.array([p for p, _ in pairs])
    target = np.array([IGNORE_INDEX if t < 0 else t for _, t in pairs])
    acc = ConfusionAccumulator(num_classes=5)
    for chunk_p, chunk_t in zip(np.array_split(pred, n_chunks), np.array_split(target, n_chunks), strict=True):
        acc.update(chunk_p, chunk_t)
    whole = confusion_matrix(pred, target, 5)
    np.testing.assert_array_equal(acc.matrix, whole)
    assert whole.sum() == int((target != IGNORE_INDEX).sum())
    iou = acc.per_class_iou()
    present = np.bincount(target[target != IGNORE_INDEX], minlength=5) > 0
    assert (np.isnan(iou) == ~present).all()
    assert ((iou[present] >= 0) & (iou[present] <= 1)).all()


def test_accumulator_add_and_validation():
    acc = ConfusionAccumulator(num_classes=2)
    acc.add(np.array([[1, 0], [0, 1]]))
    assert acc.mean_iou() == 1.0
    with pytest.raises(ValueError, match="does not match"):
        acc.add(np.zeros((3, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="target holds class 3"):
        confusion_matrix(np.array([0]), np.array([3]), 3)
    with pytest.raises(ValueError, match="pred holds class -1 at a labeled point"):
        confusion_matrix(np.array([-1]), np.array([0]), 3)
    with pytest.raises(ValueError, match="equal length"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 3)
    with pytest.raises(ValueError, match="square"):
        per_class_iou(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="integer"):
        confusion_matrix(np.array([0.5]), np.array([0]), 3)


def test_labeled_class_distribution_per_mille():
    labels = np.array([0] * 6 + [1] * 3 + [3] + [IGNORE_INDEX] * 5)
    dist = labeled_class_distribution(labels, 4)
    np.testing.assert_allclose(dist, [600.0, 300.0, 0.0, 100.0])
    np.testing.assert_array_equal(class_counts(labels, 4), [6, 3, 0, 1])
    assert np.isnan(permille(np.zeros(3))).all()
    with pytest.raises(ValueError, match="labels hold class 7"):
        class_counts(np.array([7]), 4)


@pytest.mark.real
@pytest.mark.skipif(not KITTI.is_dir(), reason=f"real SemanticKITTI samples not found at {KITTI}")
def test_real_semantickitti_scan_distribution_and_missing_classes():
    import yaml

    learning_map = yaml.safe_load((KITTI / "semantic-kitti.yaml").read_text())["learning_map"]
    lut = np.zeros(max(learning_map) + 1, dtype=np.int64)
    for raw, train in learning_map.items():
        lut[raw] = train
    raw = np.fromfile(KITTI / "sequences" / "00" / "labels" / "000000.label", dtype=np.uint32) & 0xFFFF
    mapped = lut[raw]
    labels = np.where(mapped == 0, IGNORE_INDEX, mapped - 1)  # 19 trained classes, 0 -> ignore
    dist = labeled_class_distribution(labels, 19)
    assert dist.sum() == pytest.approx(1000.0)
    counts = class_counts(labels, 19)
    conf = confusion_matrix(labels.clip(min=0), labels, 19)
    iou = per_class_iou(conf)
    # classes with points are perfect; classes this scan lacks are missing (NaN), not 1
    assert (iou[counts > 0] == 1.0).all()
    assert (counts == 0).any() and np.isnan(iou[counts == 0]).all()
    assert mean_iou(conf) == 1.0
