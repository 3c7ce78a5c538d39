"""A run folder opened for reading (``open_run`` -> ``RunContext``: config, training split, regions,
selections) and the units of a round's selection grouped per scan (``ScanUnits``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from redal_core.config import RunConfig
from redal_core.results import RunPaths


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """A run folder opened for reading: its config, training dataset and per-scan regions."""

    paths: RunPaths
    config: RunConfig
    dataset: Any  # the training split, as the loop builds it

    def regions(self, scan_index: int) -> dict[str, np.ndarray]:
        """``scan_regions`` of a training scan: ``region`` (N,) int64, ``color``, ``structure`` (N,) float32
        (the cues on the run's ``active.scoring`` scale)."""
        from redal_core.regions import scan_regions

        return scan_regions(self.dataset, scan_index, self.config.dataset.vccs, self.config.dataset.knn,
                            self.config.active.scoring)

    def region_ids(self, scan_index: int) -> np.ndarray:
        """(N,) int64 region id of every point of a training scan (the run's cached VCCS regions)."""
        from redal_core.regions import scan_region_ids

        return np.asarray(scan_region_ids(self.dataset, scan_index, self.config.dataset.vccs), np.int64)

    def selection(self, round_: int) -> pd.DataFrame:
        """The units selected after round ``round_`` (``selections/round_RR.csv``)."""
        path = self.paths.selection(round_)
        if not path.is_file():
            have = sorted(p.stem for p in self.paths.selections_dir.glob("round_*.csv"))
            raise FileNotFoundError(
                f"run {self.paths.root}: no selection for round {round_} ({path}); selections present: "
                f"{', '.join(have) or 'none'}"
            )
        table = pd.read_csv(path)
        missing = [c for c in ("scan", "region", "points") if c not in table.columns]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; a selection has columns scan, region, points")
        return table

    def round_regions(self, round_: int) -> list[np.ndarray]:
        """Per training scan, (R_s,) int64 round each region was labeled in (-1 = unlabeled), as saved
        right after round ``round_`` (``checkpoints/label_state_RR.npz``)."""
        from redal_core.active.pool import LabelState

        return LabelState.load(self.paths.round_label_state(round_)).round_of

    def unit_points(self, scan: int, region: int, round_: int, region_ids: np.ndarray,
                    round_of: list[np.ndarray]) -> np.ndarray:
        """(n,) int64 sorted point indices of a unit selected after ``round_``: the region's points, or for
        a whole-scan unit (region -1) the points of regions unlabeled before that selection (excluded
        regions, round value -2, are never labeled and not part of it)."""
        if region >= 0:
            return np.flatnonzero(region_ids == region).astype(np.int64)
        rounds = round_of[scan][region_ids]
        return np.flatnonzero((rounds == -1) | (rounds == round_ + 1)).astype(np.int64)


def open_run(run_dir: str | os.PathLike[str]) -> RunContext:
    """Open ``results/runs/<run_id>`` (its params.yaml) and the training split of its dataset.

    Relative dataset paths resolve against the current directory, as they did for the run.
    """
    from redal_core.data.datasets import build_dataset

    paths = RunPaths(Path(run_dir))
    if not paths.params.is_file():
        raise FileNotFoundError(f"{paths.root} is not a run folder: {paths.params.name} is missing")
    config = RunConfig.from_yaml(paths.params)
    root = Path(config.dataset.root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"run {paths.root.name}: dataset.root {root} does not exist (relative to {Path.cwd()}); run this from "
            "the folder the run was started in"
        )
    dataset = build_dataset(config.dataset.name, root, "train", cache_dir=config.dataset.cache_dir)
    return RunContext(paths=paths, config=config, dataset=dataset)


@dataclass(frozen=True, kw_only=True)
class ScanUnits:
    """The units of one scan selected after a round.

    region_ids : (N,) int64 region of every point; units : (region, (n,) int64 sorted point indices) in
    selection order (region -1 = the whole scan's regions unlabeled before the selection).
    """

    index: int
    name: str
    region_ids: np.ndarray
    units: list[tuple[int, np.ndarray]]

    @property
    def num_points(self) -> int:
        return int(self.region_ids.size)

    @property
    def selected(self) -> np.ndarray:
        """(N,) bool: points of the selected units."""
        mask = np.zeros(self.num_points, bool)
        for _, index in self.units:
            mask[index] = True
        return mask


def _round_units(ctx: RunContext, round_: int, selection: pd.DataFrame) -> list[ScanUnits]:
    """The selection of round ``round_`` grouped per scan (ascending index); ValueError when a unit's points
    differ from what the selection recorded (the regions or the data changed since)."""
    round_of = ctx.round_regions(round_)
    out = []
    for scan_index, group in selection.groupby("scan", sort=True):
        scan_index = int(scan_index)
        if not 0 <= scan_index < len(round_of):
            raise ValueError(f"{ctx.paths.selection(round_)}: scan {scan_index} is not a training scan of the run "
                             f"(0..{len(round_of) - 1})")
        region_ids = ctx.region_ids(scan_index)
        units = []
        for region, points in zip(group["region"], group["points"], strict=True):
            region = int(region)
            index = ctx.unit_points(scan_index, region, round_, region_ids, round_of)
            if index.size != int(points):
                raise ValueError(
                    f"run {ctx.paths.root.name}: scan {scan_index} region {region} has {index.size} points now, the "
                    f"selection of round {round_} recorded {int(points)}; the regions or the data changed"
                )
            units.append((region, index))
        out.append(ScanUnits(index=scan_index, name=ctx.dataset.scan_names[scan_index], region_ids=region_ids,
                             units=units))
    return out
