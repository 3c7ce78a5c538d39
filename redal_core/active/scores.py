"""Per-point uncertainty scores and their reduction to regions / scans (pure numpy).

Every function takes arrays and returns arrays; accumulation is float64 whatever the input dtype.
Entropies are in nats (natural log), with ``0 * log 0 = 0``, except ``official_entropy`` (and the
``official`` scale of ``entropy`` / ``mc_entropy_scaled``): the official code's mean over classes in bits.

Direction of each score (what an active learner queries first):

- ``softmax_entropy``: HIGH entropy is informative (ENT, ReDAL's H term, Eq. 1 / Eq. 7).
- ``margin``: SMALL margin (top-1 minus top-2) is informative. The supplementary's Eq. 5 text says
  "select ... with the largest score", but margin sampling (Settles 2009; Wang & Shang 2014, the
  paper's own reference [28]) queries the smallest margin; we use the standard direction, so the
  MAR strategy ranks by ``-margin``.
- ``confidence``: LOW top-1 probability is informative (CONF ranks by ``-confidence``, Eq. 6).
- ``mc_entropy``: entropy of the mean of T MC-dropout softmax passes (MCDR; p = 0.3, T = 10).
- ``segment_entropy``: entropy of the histogram of predicted labels inside a segment (SEGENT,
  after Lin et al. 2020): a segment whose points get mixed predicted labels is uncertain.
"""

from __future__ import annotations

import numpy as np

from redal_core.config import SCORING

#: (alpha, beta, gamma) of Eq. 4 per dataset, from the supplementary A.2.
DEFAULT_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "s3dis": (1.0, 0.1, 0.05),
    "semantickitti": (1.0, 0.0, 0.05),
}
#: MC-dropout baseline settings from the supplementary B (dropout rate, number of passes).
MC_DROPOUT_RATE: float = 0.3
MC_PASSES: int = 10

#: Scales of the entropy and of the colour / structure cues (``active.scoring``): the official code's, or
#: Eq. 1-3 as printed in the paper (one tuple for the kit: ``config.SCORING``).
SCORINGS: tuple[str, ...] = SCORING
#: The epsilon inside the official code's ``log2(p + 1e-12)``.
OFFICIAL_LOG_EPS: float = 1e-12

#: Tolerance on ``sum(row) == 1`` for softmax rows (float16/float32 softmax outputs drift a little).
PROB_SUM_ATOL: float = 1e-3


def softmax_entropy(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy of each softmax row.

    probs : (n_points, n_classes) float, rows in [0, 1] summing to 1
    returns (n_points,) float64, in [0, log(n_classes)]; a uniform row attains the maximum.
    """
    return _entropy_rows(_check_probs(probs, "probs"))


def official_entropy(probs: np.ndarray) -> np.ndarray:
    """The official ReDAL code's per-point entropy: the MEAN over classes of ``-p log2(p + 1e-12)``.

    probs : (n_points, n_classes) float, rows in [0, 1] summing to 1
    returns (n_points,) float64 in [0, log2(K) / K] (``active_selection/ReDAL.py``,
    ``softmax_uncertainty.py``): ``softmax_entropy / (K ln 2)`` up to the 1e-12 inside the log. Eq. 4's
    weights (1, 0.1, 0.05) / (1, 0, 0.05) were tuned on this scale.

    Clipped at 0: a certain row (a probability of exactly 1) gives ``-log2(1 + 1e-12) / K``, about
    -1.1e-13 for K = 13, the 1e-12's rounding, which Algorithm 1 (it needs scores >= 0) would refuse.
    """
    p = _check_probs(probs, "probs")
    return np.maximum(-(p * np.log2(p + OFFICIAL_LOG_EPS)).mean(axis=1), 0.0)


def entropy(probs: np.ndarray, scoring: str = "paper") -> np.ndarray:
    """Per-point entropy on a scale: ``paper`` (``softmax_entropy``, nats) or ``official``
    (``official_entropy``). probs : (n_points, n_classes); returns (n_points,) float64."""
    if scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {', '.join(SCORINGS)}, got {scoring!r}")
    return official_entropy(probs) if scoring == "official" else softmax_entropy(probs)


def margin(probs: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability of each row (SMALL = informative; see the module docstring).

    probs : (n_points, n_classes) float, n_classes >= 2
    returns (n_points,) float64 in [0, 1]; a uniform row has margin 0.
    """
    p = _check_probs(probs, "probs")
    if p.shape[1] < 2:
        raise ValueError(f"margin needs at least 2 classes, got probs of shape {p.shape}")
    top2 = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def confidence(probs: np.ndarray) -> np.ndarray:
    """Top-1 probability of each row (LOW = informative; CONF queries the least confident).

    probs : (n_points, n_classes) float
    returns (n_points,) float64 in [1/n_classes, 1].
    """
    return _check_probs(probs, "probs").max(axis=1)


def mc_entropy(mc_probs: np.ndarray) -> np.ndarray:
    """Entropy of the mean softmax over T Monte-Carlo dropout passes (MCDR).

    mc_probs : (T, n_points, n_classes) float, each (n_points, n_classes) slice a softmax output
    returns (n_points,) float64
    """
    if not isinstance(mc_probs, np.ndarray) or mc_probs.ndim != 3 or mc_probs.shape[0] == 0:
        raise ValueError(f"mc_probs must be a (T, n_points, n_classes) array with T >= 1, got {_describe(mc_probs)}")
    t, n, k = mc_probs.shape
    _check_probs(mc_probs.reshape(t * n, k), "mc_probs")
    mean = mc_probs.mean(axis=0, dtype=np.float64)
    return _entropy_rows(mean)


def mc_entropy_scaled(mc_probs: np.ndarray, scoring: str = "paper") -> np.ndarray:
    """``mc_entropy`` on a scale (``official``: the official code's ``active_selection/mc_dropout.py``,
    the mean over classes of ``-pbar log2(pbar + 1e-12)`` of the mean softmax). Returns (n_points,)."""
    if scoring == "paper":
        return mc_entropy(mc_probs)
    if not isinstance(mc_probs, np.ndarray) or mc_probs.ndim != 3 or mc_probs.shape[0] == 0:
        raise ValueError(f"mc_probs must be a (T, n_points, n_classes) array with T >= 1, got {_describe(mc_probs)}")
    return entropy(mc_probs.mean(axis=0, dtype=np.float64), scoring)


def bald(mc_probs: np.ndarray) -> np.ndarray:
    """BALD (Houlsby et al. 2011; baal's ``BALD``): mutual information between the prediction and the
    MC-dropout weights, ``H[mean_t p_t] - mean_t H[p_t]``, in nats (``0 log 0 = 0``, no epsilon).

    mc_probs : (T, n_points, n_classes) float softmax of T dropout passes
    returns (n_points,) float64 >= 0 (up to rounding): 0 when every pass agrees, ln 2 for two one-hot
    passes that disagree on two classes.
    """
    if not isinstance(mc_probs, np.ndarray) or mc_probs.ndim != 3 or mc_probs.shape[0] == 0:
        raise ValueError(f"mc_probs must be a (T, n_points, n_classes) array with T >= 1, got {_describe(mc_probs)}")
    t, n, k = mc_probs.shape
    flat = _check_probs(mc_probs.reshape(t * n, k), "mc_probs")
    expected_entropy = _entropy_rows(flat).reshape(t, n).mean(axis=0)
    return _entropy_rows(mc_probs.mean(axis=0, dtype=np.float64)) - expected_entropy


def voxel_confusion_degree(pred: np.ndarray, voxels: np.ndarray, num_classes: int,
                           n_voxels: int | None = None) -> np.ndarray:
    """Annotator's voxel confusion degree (Xie et al., NeurIPS 2023; ``BIT-DA/Annotator``
    ``annotator/active/sampler.py`` ``VCDSelect``): the entropy in BITS of the histogram of the predicted
    (argmax) classes of the points inside each voxel, i.e. ``segment_entropy / ln 2``.

    pred : (n_points,) int predicted class; voxels : (n_points,) int voxel id in [0, n_voxels)
    returns (n_voxels,) float64: 0 for a voxel predicted as one class, 1 for two classes half and half,
    log2(c) for c classes evenly; NaN for a voxel without points. A per-voxel measure of the class
    disagreement of hard predictions, not a per-point uncertainty.
    """
    return segment_entropy(pred, voxels, num_classes, n_voxels) / np.log(2.0) + 0.0  # no -0.0


def interframe_scores(
    probs: np.ndarray,
    matched: list[tuple[np.ndarray, np.ndarray]],
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray]:
    """LiDAL's inter-frame divergence and entropy of one frame's points (Hu et al., ECCV 2022;
    ``hzykent/LiDAL`` ``score/sv_level/LiDAL.py`` ``worker_func``).

    probs   : (n_points, K) float softmax of this frame's points
    matched : per neighbour frame, ``(rows, q)``: rows (M,) int points of this frame that have a match in
              that frame, q (M, K) the matched points' softmax there
    Returns ``(divergence, entropy)`` (n_points,) float64:
    divergence = the mean over the matched frames of ``KL(p + eps || q + eps)`` (natural log, this frame's
    prediction first), 0 for a point matched nowhere; entropy = ``H`` (nats) of the mean of this frame's
    prediction and its matches (the point itself included).
    """
    p = _check_probs(probs, "probs")
    n, k = p.shape
    div = np.zeros(n)
    total = p.copy()
    count = np.zeros(n, np.int64)
    for rows, q in matched:
        rows = np.asarray(rows, np.int64)
        q = np.asarray(q, np.float64)
        if q.shape != (rows.size, k):
            raise ValueError(f"matched probabilities must be ({rows.size}, {k}), got {q.shape}")
        a = p[rows] + eps
        b = q + eps
        np.add.at(div, rows, (a * np.log(a / b)).sum(axis=1))
        np.add.at(total, rows, q)
        np.add.at(count, rows, 1)
    divergence = np.where(count > 0, div / np.maximum(count, 1), 0.0)
    mean = total / (1 + count)[:, None]
    return divergence, _entropy_rows(mean / mean.sum(axis=1, keepdims=True))


def segment_entropy(pred: np.ndarray, segments: np.ndarray, num_classes: int, n_segments: int | None = None) -> np.ndarray:
    """Entropy of the distribution of predicted labels inside each segment (Lin et al.).

    pred       : (n_points,) int, predicted class in [0, num_classes)
    segments   : (n_points,) int, segment id in [0, n_segments)
    n_segments : number of segments (default ``segments.max() + 1``)
    returns (n_segments,) float64; a segment predicted as one class has entropy 0, one whose points
    are spread evenly over c classes has log(c). A segment with no points is NaN (nothing to measure).
    """
    pred = _check_int_vector(pred, "pred")
    segments = _check_int_vector(segments, "segments")
    if pred.shape != segments.shape:
        raise ValueError(f"pred and segments must have the same shape, got {pred.shape} and {segments.shape}")
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    n_segments = _check_groups(segments, n_segments, "segments")
    if pred.size and (pred.min() < 0 or pred.max() >= num_classes):
        bad = pred[(pred < 0) | (pred >= num_classes)][0]
        raise ValueError(f"pred holds class {int(bad)}, allowed 0..{num_classes - 1}")
    hist = np.bincount(segments * num_classes + pred, minlength=n_segments * num_classes)
    hist = hist.reshape(n_segments, num_classes).astype(np.float64)
    sizes = hist.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        dist = hist / sizes[:, None]
    out = _entropy_rows(np.nan_to_num(dist, nan=0.0))
    out[sizes == 0] = np.nan
    return out


def reduce_mean(values: np.ndarray, groups: np.ndarray, n_groups: int | None = None) -> np.ndarray:
    """Mean of ``values`` per group (bincount; float64 accumulation).

    values   : (n_points,) float
    groups   : (n_points,) int, group id in [0, n_groups)
    n_groups : number of groups (default ``groups.max() + 1``)
    returns (n_groups,) float64. An EMPTY group is NaN, not 0: a mean over no points does not exist,
    and a 0 would pass for "least informative" where it means "nothing to label". Callers drop
    empty groups (``UnitTable.candidates`` keeps only units with points).
    """
    if not isinstance(values, np.ndarray) or values.ndim != 1:
        raise ValueError(f"values must be a 1-D array, got {_describe(values)}")
    groups = _check_int_vector(groups, "groups")
    if values.shape != groups.shape:
        raise ValueError(f"values and groups must have the same shape, got {values.shape} and {groups.shape}")
    n_groups = _check_groups(groups, n_groups, "groups")
    sums = np.bincount(groups, weights=values.astype(np.float64, copy=False), minlength=n_groups)
    counts = np.bincount(groups, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


def combine(
    entropy: np.ndarray,
    color: np.ndarray | None,
    structure: np.ndarray | None,
    alpha: float = 1.0,
    beta: float = 0.1,
    gamma: float = 0.05,
) -> np.ndarray:
    """Region information score of Eq. 4: ``phi = alpha * H + beta * C + gamma * S``.

    entropy, color, structure : (n_units,) float (region means of Eq. 1-3); ``color`` / ``structure``
    may be None when their weight is 0 (SemanticKITTI has no colour: beta = 0).
    returns (n_units,) float64. Defaults are S3DIS's; ``DEFAULT_WEIGHTS`` has both datasets'.
    """
    h = np.asarray(entropy, dtype=np.float64)
    if h.ndim != 1:
        raise ValueError(f"entropy must be a 1-D array, got shape {h.shape}")
    out = alpha * h
    for name, term, weight in (("color", color, beta), ("structure", structure, gamma)):
        if not np.isfinite(weight):
            raise ValueError(f"weight of {name} must be finite, got {weight!r}")
        if term is None:
            if weight != 0:
                raise ValueError(f"{name} is None but its weight is {weight!r}; pass the array or a weight of 0")
            continue
        arr = np.asarray(term, dtype=np.float64)
        if arr.shape != h.shape:
            raise ValueError(f"{name} must have the shape of entropy {h.shape}, got {arr.shape}")
        out = out + weight * arr
    return out


def _entropy_rows(p: np.ndarray) -> np.ndarray:
    """(n, k) float64 rows of probabilities -> (n,) entropy; 0 log 0 = 0."""
    logp = np.log(np.where(p > 0, p, 1.0))
    return -(p * logp).sum(axis=1)


def _check_probs(probs: np.ndarray, name: str) -> np.ndarray:
    """Validate a (n, k) probability matrix; return it as float64."""
    if not isinstance(probs, np.ndarray) or probs.ndim != 2 or probs.shape[1] == 0:
        raise ValueError(f"{name} must be a (n_points, n_classes) array, got {_describe(probs)}")
    if not np.issubdtype(probs.dtype, np.floating):
        raise ValueError(f"{name} must be floating point (softmax output), got dtype {probs.dtype}")
    p = probs.astype(np.float64, copy=False)
    if p.size == 0:
        return p
    bad = ~((p >= 0) & (p <= 1)).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} row {row} has values outside [0, 1] (or NaN): {p[row][:8].tolist()}")
    sums = p.sum(axis=1)
    off = np.abs(sums - 1.0) > PROB_SUM_ATOL
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"{name} row {row} sums to {sums[row]:.6f}; softmax rows must sum to 1 (+/- {PROB_SUM_ATOL}). "
            "Pass probabilities, not logits."
        )
    return p


def _check_int_vector(a: np.ndarray, name: str) -> np.ndarray:
    if not isinstance(a, np.ndarray) or a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D integer array, got {_describe(a)}")
    return a.astype(np.int64, copy=False)


def _check_groups(groups: np.ndarray, n_groups: int | None, name: str) -> int:
    if groups.size and groups.min() < 0:
        raise ValueError(f"{name} holds negative id {int(groups.min())}; ids must be >= 0")
    top = int(groups.max()) + 1 if groups.size else 0
    if n_groups is None:
        return top
    if not isinstance(n_groups, (int, np.integer)) or n_groups < top:
        raise ValueError(f"n_{name}={n_groups!r} is smaller than the largest {name} id + 1 ({top})")
    return int(n_groups)


def _describe(a: object) -> str:
    if isinstance(a, np.ndarray):
        return f"{a.dtype} array of shape {a.shape}"
    return type(a).__name__
