"""Selection rules of the field's other strategies, beside the paper's (registered in ``strategies``).

* ``annotator_order`` — Annotator (Xie et al., NeurIPS 2023; ``BIT-DA/Annotator``
  ``annotator/active/sampler.py`` ``VCDSelect``): every scan gives its best voxel (highest voxel confusion
  degree) before any scan gives its second; the official rule takes ``SELECT_NUM = 1`` voxel per scan and
  round, the kit fills the round's point budget tier by tier (all first voxels by VCD, then all second
  voxels, ...), which is that rule whenever the budget covers one voxel per scan.
* ``lidal_walk`` — LiDAL (Hu et al., ECCV 2022; ``hzykent/LiDAL`` ``score/sv_level/LiDAL.py``, "AL
  Strategy"): regions in descending inter-frame divergence; a candidate within ``LIDAL_DEDUP_M`` metres
  (region centres, world coordinates) of a region already taken this round replaces it when its
  inter-frame entropy is higher and is skipped otherwise; a region that would overflow the budget ends
  the round (LiDAL stops there; the kit's other strategies let the last unit overshoot).
"""

from __future__ import annotations

import numpy as np

__all__ = ["LIDAL_DEDUP_M", "annotator_order", "lidal_walk"]

#: LiDAL's ``sv_dis_thresh``: regions whose centres are closer are redundant (metres).
LIDAL_DEDUP_M = 5.0


def annotator_order(scan: np.ndarray, vcd: np.ndarray) -> np.ndarray:
    """Candidate positions best first under Annotator's per-scan rule.

    scan : (C,) int scan of each candidate; vcd : (C,) float voxel confusion degree
    returns (C,) int64: ordered by the candidate's rank within its scan (0 = the scan's highest VCD), then
    by descending VCD, ties in input order.
    """
    scan = np.asarray(scan, np.int64)
    vcd = np.asarray(vcd, np.float64)
    within = np.lexsort((-vcd, scan))  # by scan, then descending VCD (lexsort is stable)
    rank = np.empty(scan.size, np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(scan[within])) + 1]
    lengths = np.diff(np.r_[starts, scan.size])
    rank[within] = np.arange(scan.size) - np.repeat(starts, lengths)
    return np.lexsort((-vcd, rank)).astype(np.int64)


def lidal_walk(
    divergence: np.ndarray,
    entropy: np.ndarray,
    centers: np.ndarray,
    points: np.ndarray,
    budget_points: int,
    dedup_m: float = LIDAL_DEDUP_M,
    *,
    pseudo: bool = False,
) -> tuple[np.ndarray, bool]:
    """LiDAL's greedy selection; returns ``(taken (k,) int64 positions in the order taken, exhausted)``.

    divergence, entropy : (C,) float region means of the inter-frame divergence and entropy
    centers : (C, 3) float region centres in world coordinates (different sequences far apart)
    points  : (C,) int points per region; budget_points : the round's budget
    pseudo  : LiDAL's pseudo-label choice ("SL Strategy") instead: ascending divergence, regions with no
              inter-frame evidence (divergence 0) skipped, the LOWER entropy kept among close regions
    exhausted : True when the candidates ran out before the budget was reached (no region overflowed).
    """
    divergence = np.asarray(divergence, np.float64)
    entropy = np.asarray(entropy, np.float64)
    if pseudo:
        order = np.argsort(divergence, kind="stable")
        order = order[divergence[order] > 0]
        entropy = -entropy  # "replace when higher" on -E keeps the lower entropy
    else:
        order = np.argsort(-divergence, kind="stable")
    centers = np.asarray(centers, np.float64)
    taken = np.empty(order.size, np.int64)  # candidate positions, in the order taken (swaps keep the slot)
    n = 0
    used = 0
    for c in order.tolist():
        if n:
            close = np.flatnonzero(np.linalg.norm(centers[taken[:n]] - centers[c], axis=1) <= dedup_m)
            if close.size:
                slot = int(close[0])  # the earliest taken of the close ones
                if entropy[c] > entropy[taken[slot]]:
                    used += int(points[c]) - int(points[taken[slot]])
                    taken[slot] = c
                continue
        if used + int(points[c]) > budget_points:
            return taken[:n].copy(), False
        taken[n] = c
        n += 1
        used += int(points[c])
    return taken[:n].copy(), used < budget_points
