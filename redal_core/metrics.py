"""Segmentation metrics: confusion matrix, per-class IoU, mIoU, labeled-class distribution (per mille).

Conventions:
- The confusion matrix has ground truth in ROWS and prediction in COLUMNS: ``conf[t, p]`` counts
  points of true class t predicted as p. Points whose target is ``ignore_index`` are not counted.
- IoU of class c = TP / (TP + FP + FN). A class with NO ground-truth point in the evaluated split is
  MISSING: its IoU is NaN (not 1, and not 0 even if it was predicted somewhere; those false positives
  still lower the IoU of the true classes of the points concerned, as their false negatives).
- mIoU averages the IoU over the classes present in the ground truth only (``np.nanmean``).
"""

from __future__ import annotations

import numpy as np

from redal_core import IGNORE_INDEX


def confusion_matrix(
    pred: np.ndarray, target: np.ndarray, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> np.ndarray:
    """(K, K) int64 counts, rows = target, columns = prediction.

    pred   : (n_points,) int predicted class in [0, K) (any value where target is ignored)
    target : (n_points,) int ground truth in [0, K) or ``ignore_index``
    """
    if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    pred = np.asarray(pred)
    target = np.asarray(target)
    if pred.shape != target.shape or pred.ndim != 1:
        raise ValueError(f"pred and target must be 1-D arrays of equal length, got shapes {pred.shape} and {target.shape}")
    for name, arr in (("pred", pred), ("target", target)):
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name} must hold integer class ids, got dtype {arr.dtype}")
    valid = target != ignore_index
    t = target[valid].astype(np.int64)
    p = pred[valid].astype(np.int64)
    if t.size and (t.min() < 0 or t.max() >= num_classes):
        bad = int(t[(t < 0) | (t >= num_classes)][0])
        raise ValueError(f"target holds class {bad}; allowed 0..{num_classes - 1} or ignore_index {ignore_index}")
    if p.size and (p.min() < 0 or p.max() >= num_classes):
        bad = int(p[(p < 0) | (p >= num_classes)][0])
        raise ValueError(f"pred holds class {bad} at a labeled point; allowed 0..{num_classes - 1}")
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_iou(conf: np.ndarray) -> np.ndarray:
    """(K,) float64 IoU per class; NaN for a class absent from the ground truth (row sum 0).

    conf : (K, K) int confusion matrix (rows = target)
    """
    conf = _check_conf(conf)
    tp = np.diag(conf).astype(np.float64)
    gt = conf.sum(axis=1).astype(np.float64)
    predicted = conf.sum(axis=0).astype(np.float64)
    union = gt + predicted - tp
    iou = np.full(conf.shape[0], np.nan)
    present = gt > 0
    iou[present] = tp[present] / union[present]
    return iou


def mean_iou(conf: np.ndarray) -> float:
    """Mean IoU over the classes present in the ground truth (absent classes are NaN and skipped).

    Raises ValueError when no class is present (nothing was evaluated).
    """
    iou = per_class_iou(conf)
    if np.isnan(iou).all():
        raise ValueError("the confusion matrix has no ground-truth points; mIoU is undefined")
    return float(np.nanmean(iou))


def overall_accuracy(conf: np.ndarray) -> float:
    """Fraction of evaluated points predicted correctly."""
    conf = _check_conf(conf)
    total = conf.sum()
    if total == 0:
        raise ValueError("the confusion matrix has no ground-truth points; accuracy is undefined")
    return float(np.trace(conf) / total)


def class_counts(labels: np.ndarray, num_classes: int, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """(K,) int64 points per class; ``ignore_index`` points are not counted.

    labels : (n_points,) int in [0, K) or ``ignore_index``
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(f"labels must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    kept = labels[labels != ignore_index].astype(np.int64)
    if kept.size and (kept.min() < 0 or kept.max() >= num_classes):
        bad = int(kept[(kept < 0) | (kept >= num_classes)][0])
        raise ValueError(f"labels hold class {bad}; allowed 0..{num_classes - 1} or ignore_index {ignore_index}")
    return np.bincount(kept, minlength=num_classes)


def permille(counts: np.ndarray) -> np.ndarray:
    """(K,) float64 ``1000 * counts / counts.sum()``; all NaN when there are no points at all."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total == 0:
        return np.full(counts.shape, np.nan)
    return 1000.0 * counts / total


def labeled_class_distribution(
    labels_of_labeled_points: np.ndarray, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> np.ndarray:
    """(K,) float64 share of each class among the labeled points, in per mille (paper Tables 2 / 8).

    labels_of_labeled_points : (n_points,) int ground truth of the labeled points; ``ignore_index``
    entries (points whose class is mapped to ignore) are excluded from the total, as in the paper's
    19-class tables. Sum over classes is 1000 (NaN everywhere when there is no labeled point).
    For a whole pool, sum ``class_counts`` over scans and call ``permille``.
    """
    return permille(class_counts(labels_of_labeled_points, num_classes, ignore_index))


class ConfusionAccumulator:
    """Sums per-scan confusion matrices so evaluation never holds a split's points at once."""

    def __init__(self, *, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, pred: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Add one scan's points; returns that scan's own (K, K) matrix."""
        conf = confusion_matrix(pred, target, self.num_classes, self.ignore_index)
        self.matrix += conf
        return conf

    def add(self, conf: np.ndarray) -> None:
        """Add a (K, K) matrix computed elsewhere (e.g. by another worker)."""
        conf = _check_conf(conf)
        if conf.shape != self.matrix.shape:
            raise ValueError(f"confusion matrix of shape {conf.shape} does not match ({self.num_classes}, {self.num_classes})")
        self.matrix += conf

    def per_class_iou(self) -> np.ndarray:
        return per_class_iou(self.matrix)

    def mean_iou(self) -> float:
        return mean_iou(self.matrix)


def _check_conf(conf: np.ndarray) -> np.ndarray:
    conf = np.asarray(conf)
    if conf.ndim != 2 or conf.shape[0] != conf.shape[1] or conf.shape[0] == 0:
        raise ValueError(f"confusion matrix must be square (K, K) with K >= 1, got shape {conf.shape}")
    if not np.issubdtype(conf.dtype, np.integer) or (conf < 0).any():
        raise ValueError(f"confusion matrix must hold non-negative integer counts, got dtype {conf.dtype}")
    return conf
