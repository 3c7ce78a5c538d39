"""LiDAL's inter-frame evidence: the same place seen from the neighbouring frames of a sequence.

Each training scan's points are registered to their sequence's world frame with the scan's pose
(``dataset.pose(i)``: ``inv(Tr) @ pose @ Tr`` from ``poses.txt`` / ``calib.txt``); every point is matched to
its nearest point in each of the scan's neighbour frames (``dataset.frame_neighbours``: 12 before and 12
after, as LiDAL's ``nei_num = 24``; fewer at a sequence's ends, where LiDAL reflects the window) when that
point lies within ``LIDAL_MATCH_M``; ``scores.interframe_scores`` turns the matches' predictions into the
divergence and entropy. Predictions are made once per frame and kept only while a scan within reach needs
them, so memory is bounded by the window, not the pool. Sequences are placed ``SEQUENCE_OFFSET_M`` apart
(LiDAL's 1000 m) so regions of different sequences are never within the dedup distance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from redal_core.active import scores as S

__all__ = ["LIDAL_MATCH_M", "LIDAL_WINDOW", "SEQUENCE_OFFSET_M", "FrameEvidence"]

#: LiDAL's ``dis_thresh``: a point and its nearest neighbour in another frame match within this distance (m).
LIDAL_MATCH_M = 0.1
#: Frames before and after a scan that count as its neighbours (LiDAL: 12 + 12).
LIDAL_WINDOW = 12
#: Distance between the world frames of two sequences (LiDAL adds 1000 m per sequence index).
SEQUENCE_OFFSET_M = 1000.0


class FrameEvidence:
    """Per-scan inter-frame divergence / entropy and world coordinates, predicting each frame once.

    dataset : a SemanticKITTI-layout dataset with poses (``has_poses``); predict : ``predict(i) ->
    (N_i, K) float32`` softmax of scan i (the round's model, deterministic pass).
    """

    def __init__(self, dataset: Any, predict: Callable[[int], np.ndarray], *, window: int = LIDAL_WINDOW,
                 match_m: float = LIDAL_MATCH_M) -> None:
        if not dataset.has_poses:
            raise ValueError(f"LiDAL needs sensor poses, but dataset {dataset.name!r} at {dataset.root} has none "
                             "(poses.txt and calib.txt in every sequence folder)")
        self.dataset = dataset
        self.predict = predict
        self.window = window
        self.match_m = match_m
        sequences = sorted({dataset.frame(i)[0] for i in range(len(dataset))})
        self._offset = {seq: SEQUENCE_OFFSET_M * k for k, seq in enumerate(sequences)}
        self._frames: dict[int, tuple[np.ndarray, np.ndarray, cKDTree]] = {}

    def world_xyz(self, i: int) -> np.ndarray:
        """(N, 3) float64 scan i's points in its sequence's world frame (sequences offset apart)."""
        xyz = np.asarray(self.dataset[i].xyz, np.float64)
        pose = self.dataset.pose(i)
        return xyz @ pose[:3, :3].T + pose[:3, 3] + self._offset[self.dataset.frame(i)[0]]

    def _frame(self, i: int) -> tuple[np.ndarray, np.ndarray, cKDTree]:
        if i not in self._frames:
            world = self.world_xyz(i)
            self._frames[i] = (np.asarray(self.predict(i), np.float32), world, cKDTree(world))
        return self._frames[i]

    def scan(self, i: int) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], np.ndarray]:
        """``(probs (N, K), (divergence (N,), entropy (N,)), world_xyz (N, 3))`` of scan i.

        Frames outside the reach of scans with a higher index than i are forgotten afterwards (call in
        increasing i for bounded memory).
        """
        neighbours = self.dataset.frame_neighbours(i, before=self.window, after=self.window)
        probs, world, _ = self._frame(i)
        matched = []
        for j in neighbours.tolist():
            q, _, tree = self._frame(j)
            distance, index = tree.query(world, k=1, distance_upper_bound=self.match_m)
            rows = np.flatnonzero(np.isfinite(distance))
            matched.append((rows, q[index[rows]]))
        evidence = S.interframe_scores(probs, matched)
        keep = set(neighbours.tolist()) | {i}
        low = min(keep)
        for j in [j for j in self._frames if j < low]:
            del self._frames[j]
        return probs, evidence, world
