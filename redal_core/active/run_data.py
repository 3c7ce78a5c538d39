"""A run's data: its training and validation datasets (generating synthetic data once) and its regions.

``run_datasets(config)`` opens the config's train and val splits; a synthetic root that is absent is
generated first (atomically, rank 0 only under torchrun) and must then hold what ``dataset.generate``
describes. ``RunRegions`` hands out each training scan's cached VCCS regions and colour / structure cues.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from redal_core.active.seeding import PHASE_INIT, seed_torch
from redal_core.config import SYNTHETIC, RunConfig
from redal_core.data.generate import check_generated, ensure_generated, generate_params
from redal_core.engine import barrier

__all__ = ["WARM_BAR_DELAY_S", "RunRegions", "build_run_model", "config_generate_params", "run_datasets"]

#: The region pass's bar shows once the pass has run this long (a pass over cached entries is faster).
WARM_BAR_DELAY_S = 1.0


def config_generate_params(config: RunConfig) -> dict[str, Any]:
    """The generator parameters of a synthetic dataset config (what its root's marker must record)."""
    d = config.dataset
    g = d.generate
    if d.name == "synthetic-indoor":
        return generate_params(d.name, scans=g.scans, seed=g.seed, points_per_room=g.points_per_room)
    return generate_params(d.name, scans=g.scans, seed=g.seed, beams=g.beams, azimuth_steps=g.azimuth_steps,
                           frames_per_drive=g.frames_per_drive)


def run_datasets(config: RunConfig, *, rank: int = 0, distributed: bool = False) -> tuple[Any, Any]:
    """(train, val) datasets of ``config``; FileNotFoundError for a real dataset whose root is absent."""
    from redal_core.data.datasets import build_dataset

    d = config.dataset
    root = Path(d.root)
    if d.name in SYNTHETIC:
        if rank == 0:
            ensure_generated(root, config_generate_params(config))
        barrier(distributed)
    elif not root.is_dir():
        raise FileNotFoundError(f"dataset.root {root} does not exist ({d.name} needs its original files there)")
    train_ds = build_dataset(d.name, root, "train", cache_dir=d.cache_dir)
    val_ds = build_dataset(d.name, root, "val", cache_dir=d.cache_dir)
    if d.name in SYNTHETIC:
        check_generated(root, config_generate_params(config), len(train_ds) + len(val_ds))
    return train_ds, val_ds


class RunRegions:
    """Per-scan regions of a run's training set and their colour / structure cues (both cached on disk by
    the regions module; the cues on the run's ``active.scoring`` scale)."""

    def __init__(self, config: RunConfig, dataset: Any) -> None:
        self.dataset = dataset
        self.preset = config.dataset.vccs
        self.k = config.dataset.knn
        self.scoring = config.active.scoring
        self.division = config.regions.division
        self.cell = config.regions.grid_size

    def region_ids(self, i: int) -> np.ndarray:
        """(N,) int64 region id of every point of scan i (VCCS, or grid cells: ``regions.division``)."""
        from redal_core.regions import scan_region_ids

        return np.asarray(scan_region_ids(self.dataset, i, self.preset, division=self.division, cell=self.cell))

    def cues(self, i: int) -> dict[str, np.ndarray]:
        """``color`` (N,) float32 and ``structure`` (N,) float32 of scan i."""
        from redal_core.regions import scan_cues

        return scan_cues(self.dataset, i, self.k, self.scoring)

    def warm(self, indices: list[int], *, cues: bool, progress: bool = False,
             tick: Callable[[], None] | None = None) -> None:
        """Compute (or check cached) the regions, and with ``cues`` the cues, of ``indices``.

        progress : a bar over the scans (``tqdm.auto``, stderr) that appears only once the pass has taken
        ``WARM_BAR_DELAY_S`` seconds, i.e. when entries are being computed (a cached pass ends before);
        tick : called after every scan (the run's heartbeat)."""
        from tqdm.auto import tqdm

        what = "regions + cues" if cues else "regions"
        for i in tqdm(indices, desc=what, unit="scan", disable=not progress, delay=WARM_BAR_DELAY_S, leave=True):
            self.region_ids(i)
            if cues:
                self.cues(i)
            if tick is not None:
                tick()

    def sizes(self, i: int) -> np.ndarray:
        """(R,) int64 points per region of scan i."""
        return np.bincount(self.region_ids(i))


def build_run_model(config: RunConfig, dataset: Any, device: Any):
    """The run's network on ``device``, its weights drawn from the run's (seed, round 0, init) generator."""
    from redal_core.models import build_model

    seed_torch(config.seed, 0, PHASE_INIT)
    model = build_model(config.model.name, in_channels=dataset.in_channels, num_classes=dataset.num_classes,
                        width=config.model.width, backend=config.model.backend)
    return model.to(device)
