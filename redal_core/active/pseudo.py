"""LiDAL's optional pseudo-labels (``active.pseudo_labels``, LiDAL only, off by default).

After a round's selection, LiDAL also picks regions whose predictions agree most across frames ("SL
Strategy" of ``hzykent/LiDAL`` ``score/sv_level/LiDAL.py``): among the candidates neither selected now nor
pseudo-labeled in the previous round (an alternating schedule), ascending inter-frame divergence, regions
without inter-frame evidence skipped, the lower entropy kept among regions within 5 m, the same point
budget as the round's. Their points get the round's model's argmax labels (no confidence threshold, as in
LiDAL) for the NEXT round's training only; they never enter the label state or the budget accounting.

Files: ``pseudo/round_RR.csv`` (scan, region, points) and ``pseudo/round_RR/<scan>.npy`` (int64 per point,
IGNORE_INDEX outside the pseudo-labeled regions), written atomically before the round's ``state.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from redal_core import IGNORE_INDEX
from redal_core.active.peers import lidal_walk
from redal_core.results import RunPaths, atomic_save_with, atomic_write_csv

__all__ = ["choose_pseudo", "predicted_classes", "pseudo_labels_of", "write_pseudo"]


def _folder(paths: RunPaths, round_: int) -> Path:
    return paths.root / "pseudo" / f"round_{round_:02d}"


def _table(paths: RunPaths, round_: int) -> Path:
    return paths.root / "pseudo" / f"round_{round_:02d}.csv"


def choose_pseudo(table: Any, selected: set[tuple[int, int]], previous: set[tuple[int, int]],
                  budget_points: int) -> list[tuple[int, int]]:
    """(scan, region) pairs to pseudo-label after this round (see the module docstring).

    table : the round's UnitTable (with ``lidal_div``, ``lidal_ent``, ``centers``); selected : this round's
    selection; previous : the pairs pseudo-labeled after the previous round.
    """
    pairs = list(zip(table.scan.tolist(), table.region.tolist(), strict=True))
    free = np.array([table.points[j] > 0 and not table.labeled[j] and p not in selected and p not in previous
                     for j, p in enumerate(pairs)], dtype=bool)
    rows = np.flatnonzero(free)
    taken, _ = lidal_walk(table.stats["lidal_div"][rows], table.stats["lidal_ent"][rows], table.centers[rows],
                          table.points[rows], budget_points, pseudo=True)
    return [pairs[int(rows[t])] for t in taken]


def write_pseudo(paths: RunPaths, round_: int, pairs: list[tuple[int, int]], argmax_of: Any, region_of: Any) -> None:
    """Write round ``round_``'s pseudo-labels: ``argmax_of(scan) -> (N,) int`` predictions of the round's
    model, ``region_of(scan) -> (N,) int`` region ids."""
    import pandas as pd

    folder = _folder(paths, round_)
    by_scan: dict[int, list[int]] = {}
    for scan, region in pairs:
        by_scan.setdefault(int(scan), []).append(int(region))
    counts = []
    for scan, regions in sorted(by_scan.items()):
        ids = np.asarray(region_of(scan))
        inside = np.isin(ids, regions)
        labels = np.where(inside, np.asarray(argmax_of(scan), np.int64), IGNORE_INDEX)
        atomic_save_with(folder / f"{scan}.npy", lambda p, labels=labels: np.save(p, labels))
        counts += [(scan, r, int((ids == r).sum())) for r in regions]
    atomic_write_csv(_table(paths, round_), pd.DataFrame(counts, columns=["scan", "region", "points"]))


def pseudo_labels_of(paths: RunPaths, round_: int) -> tuple[set[tuple[int, int]], dict[int, Path]]:
    """The pairs pseudo-labeled after round ``round_`` and the per-scan label files (empty when none)."""
    import pandas as pd

    table = _table(paths, round_)
    if round_ < 0 or not table.exists():
        return set(), {}
    frame = pd.read_csv(table)
    pairs = set(zip(frame["scan"].astype(int).tolist(), frame["region"].astype(int).tolist(), strict=True))
    files = {int(s): _folder(paths, round_) / f"{int(s)}.npy" for s in sorted(set(frame["scan"]))}
    return pairs, files


def predicted_classes(model: Any, dataset: Any, scan: int, config: Any, device: Any) -> np.ndarray:
    """(N,) int64 the model's predicted class of every point of ``scan``."""
    from redal_core.engine import ScanSamples, predict

    samples = ScanSamples(dataset, [scan], with_labels=False)
    pred = next(predict(model, samples, voxel_size=config.dataset.voxel_size, device=device, batch_size=1))
    return pred.probs.argmax(axis=1).astype(np.int64)
