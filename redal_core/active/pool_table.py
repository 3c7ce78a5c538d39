"""A round's unit table over the pool: predict each scan, reduce it at once to its unit rows.

Only the scans that can still give a unit are predicted (every scan for core-set, whose distances start
from the labeled scans' features); the model runs only when the strategy needs more than the cached
colour / structure cues. Under torchrun each rank predicts its share and the rows are gathered in scan order.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from redal_core.active.seeding import PHASE_PREDICT, seed_torch

__all__ = ["INTERFRAME_NEEDS", "pool_unit_table"]

#: Needs that take the neighbouring frames' predictions (LiDAL).
INTERFRAME_NEEDS = frozenset({"lidal_div", "lidal_ent", "centers"})


def pool_unit_table(config, strategy, model, dataset, pool, regions, label_state, r, device, rank, size, *,
                    progress=False, workers=0):
    """Round r's unit table over the pool (gathered over ranks) and the seconds spent predicting and scoring.

    Scans are predicted one batch at a time and each is reduced at once to its unit rows, so nothing per
    point is kept for the whole pool. Returns ``(UnitTable, predict_s, score_s)``. ``progress``: a bar over
    this rank's scans (``tqdm.auto``, stderr, rank 0 only).
    """
    from tqdm.auto import tqdm

    from redal_core.active.units import UnitTable, scan_unit_rows
    from redal_core.engine import ScanSamples, predict, shard

    if strategy.unit == "scan" and "features" in strategy.needs:
        todo = list(pool)  # core-set distances are measured from the labeled scans' features too
    else:
        todo = [s for s in pool if label_state.open_regions(s).any()]  # scans with a unit left to label
    mine = shard(todo, rank, size)
    needs = set(strategy.needs)
    interframe = bool(needs & INTERFRAME_NEEDS)
    need_model = bool(needs - {"color", "structure"})
    mc_passes = config.active.mc_passes if needs & {"mc_entropy", "bald"} else 0
    seed_torch(config.seed, r, PHASE_PREDICT)
    predict_kw = {"voxel_size": config.dataset.voxel_size, "device": device, "batch_size": config.train.batch_size}
    pool_kw = {**predict_kw, "workers": workers}  # one frame at a time (LiDAL) is not worth a loader
    if interframe:  # every frame within reach is predicted once, in frame order (active.interframe)
        from redal_core.active.interframe import FrameEvidence

        frames = FrameEvidence(dataset, lambda i: next(predict(model, ScanSamples(dataset, [i], with_labels=False),
                                                               **predict_kw)).probs)
    predictions = (
        predict(model, ScanSamples(dataset, mine, with_labels=False), mc_passes=mc_passes, **pool_kw)
        if need_model and not interframe else iter(())
    )
    predict_s = score_s = 0.0
    rows = []
    bar = tqdm(mine, desc=f"round {r} {'predict' if need_model else 'score'}", unit="scan",
               disable=not progress or rank != 0, leave=True)
    for s in bar:
        t0 = time.perf_counter()
        pred = next(predictions) if need_model and not interframe else None
        evidence = frames.scan(s) if interframe else None
        predict_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        region_ids = regions.region_ids(s)
        cues = regions.cues(s) if needs & {"color", "structure"} else {}
        probs = evidence[0] if interframe else (None if pred is None else pred.probs)
        rows.append(scan_unit_rows(
            s, unit=strategy.unit, region_ids=region_ids, labeled_mask=label_state.closed_mask(s, region_ids),
            needs=needs, probs=probs,
            features=None if pred is None else pred.features, mc_probs=None if pred is None else pred.mc_probs,
            color=np.asarray(cues["color"]) if "color" in needs else None,
            structure=np.asarray(cues["structure"]) if "structure" in needs else None,
            num_classes=dataset.num_classes, scoring=config.active.scoring,
            interframe=evidence[1] if interframe else None, world_xyz=evidence[2] if interframe else None,
        ))
        score_s += time.perf_counter() - t0
    if size > 1:
        import torch.distributed as dist

        gathered: list[Any] = [None] * size
        dist.all_gather_object(gathered, rows)
        rows = sorted((row for part in gathered for row in part), key=lambda t: int(t.scan[0]))
    return UnitTable.concat(rows), predict_s, score_s
