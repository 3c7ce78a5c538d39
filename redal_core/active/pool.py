"""Label state of an active-learning run: which region of which scan is labeled, in which round.

Units are global ``(scan, region)`` pairs (``region = -1`` means the whole scan), never positions in
a shrinking pool. Internally one flat int64 array holds, for every region of every training scan,
the round in which it was labeled (-1 = unlabeled), with per-scan offsets; SemanticKITTI's ~19k
scans x hundreds of regions stay a few tens of MB.

Round 0 is the initial set: ``x_init`` % of the training SCANS, drawn with the run's generator,
fully labeled. Each later round labels the units a strategy selected; a unit is labeled once.

A region can be EXCLUDED (round value ``EXCLUDED`` = -2): never selected and never labeled, not even in the
initial scans, but counted in the pool's points (the budget's denominator). The official ReDAL pipeline
does this to supervoxels under 100 points (``regions.min_points``).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from redal_core import IGNORE_INDEX

_FORMAT_VERSION = 1
#: Round value of an excluded region (never labeled); -1 is unlabeled, >= 0 the round it was labeled in.
EXCLUDED = -2


class LabelState:
    """Round in which each region of each training scan was labeled (-1 = unlabeled, -2 = excluded).

    Build with ``LabelState.initial`` (a run's start) or ``LabelState.load``; the constructor takes
    the raw arrays: ``region_sizes`` (n_regions_total,) int64 points per region, ``offsets``
    (n_scans + 1,) int64 start of each scan's regions, ``rounds`` (n_regions_total,) int64.
    """

    def __init__(self, *, region_sizes: np.ndarray, offsets: np.ndarray, rounds: np.ndarray) -> None:
        sizes = np.asarray(region_sizes)
        offsets = np.asarray(offsets)
        rounds = np.asarray(rounds)
        if sizes.ndim != 1 or not np.issubdtype(sizes.dtype, np.integer) or (sizes < 0).any():
            raise ValueError(f"region_sizes must be a 1-D non-negative int array, got {sizes.dtype} {sizes.shape}")
        if (
            offsets.ndim != 1
            or offsets.size < 2
            or not np.issubdtype(offsets.dtype, np.integer)
            or offsets[0] != 0
            or offsets[-1] != sizes.size
            or (np.diff(offsets) < 1).any()
        ):
            raise ValueError(
                "offsets must start at 0, end at len(region_sizes) and grow by >= 1 region per scan "
                f"(got {offsets.size} offsets for {sizes.size} regions)"
            )
        if rounds.shape != sizes.shape or not np.issubdtype(rounds.dtype, np.integer) or (rounds < EXCLUDED).any():
            raise ValueError(f"rounds must be an int array of shape {sizes.shape} with values >= {EXCLUDED}")
        scan_points = np.add.reduceat(sizes, offsets[:-1])
        if (scan_points == 0).any():
            raise ValueError(f"scan {int(np.flatnonzero(scan_points == 0)[0])} has no points")
        self._sizes = sizes.astype(np.int64)
        self._offsets = offsets.astype(np.int64)
        self._rounds = rounds.astype(np.int64)

    # ---------------------------------------------------------------- construction
    @classmethod
    def initial(
        cls,
        region_sizes: Sequence[np.ndarray],
        x_init_pct: float,
        rng: np.random.Generator | int,
        *,
        min_points: int = 0,
    ) -> LabelState:
        """``x_init_pct`` % of the scans, drawn with ``rng``, fully labeled in round 0.

        region_sizes : one (R_s,) int array of points per region for every training scan s
        x_init_pct   : percentage of SCANS; n = max(1, round(pct / 100 * S)), which must be < S
        rng          : Generator or int seed
        min_points   : regions with fewer points are excluded (never labeled); 0 excludes none
        """
        if len(region_sizes) == 0:
            raise ValueError("region_sizes is empty: there are no training scans")
        arrays = []
        for s, arr in enumerate(region_sizes):
            a = np.asarray(arr)
            if a.ndim != 1 or a.size == 0 or not np.issubdtype(a.dtype, np.integer):
                raise ValueError(f"region_sizes[{s}] must be a non-empty 1-D int array, got {a.dtype} {a.shape}")
            arrays.append(a.astype(np.int64))
        n_scans = len(arrays)
        if not (isinstance(x_init_pct, (int, float)) and 0 < x_init_pct < 100):
            raise ValueError(f"x_init={x_init_pct!r} % must be in (0, 100): it must leave scans both labeled and unlabeled")
        n_init = max(1, int(round(x_init_pct / 100.0 * n_scans)))
        if n_init >= n_scans:
            raise ValueError(
                f"x_init={x_init_pct} % of {n_scans} scans labels {n_init} scans, i.e. all of them; "
                "nothing would be left to select"
            )
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        chosen = np.sort(gen.choice(n_scans, size=n_init, replace=False))
        counts = np.array([a.size for a in arrays], dtype=np.int64)
        offsets = np.r_[0, np.cumsum(counts)].astype(np.int64)
        sizes = np.concatenate(arrays)
        rounds = np.where(sizes < min_points, EXCLUDED, -1).astype(np.int64)
        state = cls(region_sizes=sizes, offsets=offsets, rounds=rounds)
        state.label(chosen, np.full(n_init, -1, dtype=np.int64), round=0)
        return state

    # ---------------------------------------------------------------- queries
    @property
    def num_scans(self) -> int:
        return int(self._offsets.size - 1)

    def num_regions(self, scan: int) -> int:
        self._check_scan(scan)
        return int(self._offsets[scan + 1] - self._offsets[scan])

    def region_sizes(self, scan: int) -> np.ndarray:
        """(R_s,) int64 points per region of ``scan`` (a copy)."""
        self._check_scan(scan)
        return self._sizes[self._offsets[scan] : self._offsets[scan + 1]].copy()

    @property
    def total_points(self) -> int:
        return int(self._sizes.sum())

    @property
    def labeled_points(self) -> int:
        return int(self._sizes[self._rounds >= 0].sum())

    @property
    def labeled_pct(self) -> float:
        """Labeled points as a percentage of all training points."""
        return 100.0 * self.labeled_points / self.total_points

    @property
    def last_round(self) -> int:
        """The highest round any unit was labeled in (0 after ``initial``)."""
        return int(self._rounds.max())

    @property
    def round_of(self) -> list[np.ndarray]:
        """Per scan, (R_s,) int64 round each region was labeled in, -1 = unlabeled (copies)."""
        return [r.copy() for r in np.split(self._rounds, self._offsets[1:-1])]

    def region_rounds(self, scan: int) -> np.ndarray:
        """(R_s,) int64 round each region of ``scan`` was labeled in (-1 unlabeled, -2 excluded; a copy)."""
        self._check_scan(scan)
        return self._rounds[self._offsets[scan] : self._offsets[scan + 1]].copy()

    def labeled_regions(self, scan: int) -> np.ndarray:
        """(R_s,) bool regions of ``scan`` that are labeled."""
        self._check_scan(scan)
        return self._rounds[self._offsets[scan] : self._offsets[scan + 1]] >= 0

    def excluded_regions(self, scan: int) -> np.ndarray:
        """(R_s,) bool regions of ``scan`` that are excluded (never labeled)."""
        self._check_scan(scan)
        return self._rounds[self._offsets[scan] : self._offsets[scan + 1]] == EXCLUDED

    def open_regions(self, scan: int) -> np.ndarray:
        """(R_s,) bool regions of ``scan`` that can still be labeled (neither labeled nor excluded)."""
        self._check_scan(scan)
        return self._rounds[self._offsets[scan] : self._offsets[scan + 1]] == -1

    @property
    def excluded_points(self) -> int:
        return int(self._sizes[self._rounds == EXCLUDED].sum())

    def is_labeled(self, scan: int, region: int = -1) -> bool:
        """Whether region ``region`` of ``scan`` is labeled; ``region=-1``: whether the whole scan is
        (every region that is not excluded)."""
        self._check_scan(scan)
        if region == -1:
            return not bool(self.open_regions(scan).any())
        self._check_region(scan, region)
        return bool(self._rounds[self._offsets[scan] + region] >= 0)

    def point_mask(self, scan: int, region_ids: np.ndarray) -> np.ndarray:
        """(N,) bool: points of ``scan`` whose region is labeled.

        region_ids : (N,) int region of every point of the scan (the ids the state was built from)
        """
        self._check_scan(scan)
        region_ids = np.asarray(region_ids)
        n_regions = self.num_regions(scan)
        if region_ids.ndim != 1 or not np.issubdtype(region_ids.dtype, np.integer):
            raise ValueError(f"scan {scan}: region_ids must be a 1-D int array, got {region_ids.dtype} {region_ids.shape}")
        expected = int(self.region_sizes(scan).sum())
        if region_ids.size != expected:
            raise ValueError(f"scan {scan}: region_ids has {region_ids.size} points, the label state has {expected}")
        if region_ids.size and (region_ids.min() < 0 or region_ids.max() >= n_regions):
            raise ValueError(f"scan {scan}: region_ids must be in 0..{n_regions - 1}, got {int(region_ids.min())}..{int(region_ids.max())}")
        return self.labeled_regions(scan)[region_ids]

    def closed_mask(self, scan: int, region_ids: np.ndarray) -> np.ndarray:
        """(N,) bool: points of ``scan`` that a selection cannot add (labeled or excluded)."""
        labeled = self.point_mask(scan, region_ids)
        return labeled | self.excluded_regions(scan)[np.asarray(region_ids)]

    def training_labels(self, scan: int, region_ids: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """(N,) int64 ``labels`` where the point's region is labeled, ``IGNORE_INDEX`` elsewhere.

        region_ids : (N,) int region of every point; labels : (N,) int ground truth (or annotations)
        """
        labels = np.asarray(labels)
        if labels.shape != np.shape(region_ids) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"scan {scan}: labels must be an int array of the region_ids' shape {np.shape(region_ids)}, "
                f"got {labels.dtype} {labels.shape}"
            )
        return np.where(self.point_mask(scan, region_ids), labels.astype(np.int64), IGNORE_INDEX)

    def budget_points(self, x_active_pct: float) -> int:
        """Per-round point budget: ceil(x_active / 100 * total_points)."""
        if not (isinstance(x_active_pct, (int, float)) and 0 < x_active_pct <= 100):
            raise ValueError(f"x_active={x_active_pct!r} % must be in (0, 100]")
        return int(math.ceil(x_active_pct / 100.0 * self.total_points))

    def units_labeled_in(self, round: int) -> tuple[np.ndarray, np.ndarray]:
        """(scans, regions) int64 arrays of the regions labeled in ``round``."""
        flat = np.flatnonzero(self._rounds == round)
        scans = np.searchsorted(self._offsets, flat, side="right") - 1
        return scans.astype(np.int64), (flat - self._offsets[scans]).astype(np.int64)

    def points_labeled_in(self, round: int) -> int:
        return int(self._sizes[self._rounds == round].sum())

    # ---------------------------------------------------------------- mutation
    def label(self, scans: np.ndarray | Sequence[int], regions: np.ndarray | Sequence[int], round: int) -> int:
        """Mark units as labeled in ``round``; returns the number of newly labeled points.

        scans, regions : (n_units,) int; ``region = -1`` labels every still-unlabeled region of the
        scan (excluded regions stay excluded). Raises ValueError (and changes nothing) if a unit is
        already labeled (a whole scan: if all its regions are), excluded, out of range, or listed twice.
        """
        scans = np.asarray(scans)
        regions = np.asarray(regions)
        if scans.shape != regions.shape or scans.ndim != 1:
            raise ValueError(f"scans and regions must be 1-D of equal length, got {scans.shape} and {regions.shape}")
        if scans.size and not (np.issubdtype(scans.dtype, np.integer) and np.issubdtype(regions.dtype, np.integer)):
            raise ValueError(f"scans and regions must be integer arrays, got {scans.dtype} and {regions.dtype}")
        if not isinstance(round, (int, np.integer)) or round < 0:
            raise ValueError(f"round must be an int >= 0, got {round!r}")
        scans = scans.astype(np.int64)
        regions = regions.astype(np.int64)
        if scans.size and (scans.min() < 0 or scans.max() >= self.num_scans):
            bad = scans[(scans < 0) | (scans >= self.num_scans)][0]
            raise ValueError(f"scan {int(bad)} is out of range 0..{self.num_scans - 1}")
        n_regions = self._offsets[scans + 1] - self._offsets[scans]
        bad = (regions < -1) | (regions >= n_regions)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"unit (scan {scans[i]}, region {regions[i]}) is out of range: scan {scans[i]} has regions 0..{n_regions[i] - 1}")
        whole = regions == -1
        flat_parts = [self._offsets[scans[~whole]] + regions[~whole]]
        for s in scans[whole]:
            lo, hi = self._offsets[s], self._offsets[s + 1]
            free = np.flatnonzero(self._rounds[lo:hi] == -1)
            if free.size == 0:
                raise ValueError(f"unit (scan {s}, region -1) is already labeled: every region of scan {s} is")
            flat_parts.append(lo + free)
        flat = np.concatenate(flat_parts) if flat_parts else np.zeros(0, np.int64)
        uniq, counts = np.unique(flat, return_counts=True)
        if (counts > 1).any():
            f = int(uniq[counts > 1][0])
            s = int(np.searchsorted(self._offsets, f, side="right") - 1)
            raise ValueError(f"unit (scan {s}, region {f - self._offsets[s]}) is listed twice in one label() call")
        excluded = self._rounds[flat] == EXCLUDED
        if excluded.any():
            f = int(flat[excluded][0])
            s = int(np.searchsorted(self._offsets, f, side="right") - 1)
            raise ValueError(
                f"unit (scan {s}, region {f - self._offsets[s]}) is excluded (fewer points than regions.min_points); "
                "it is never labeled"
            )
        done = self._rounds[flat] >= 0
        if done.any():
            f = int(flat[done][0])
            s = int(np.searchsorted(self._offsets, f, side="right") - 1)
            raise ValueError(
                f"unit (scan {s}, region {f - self._offsets[s]}) is already labeled (round {self._rounds[f]}); "
                "a unit is never labeled twice"
            )
        self._rounds[flat] = int(round)
        return int(self._sizes[flat].sum())

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write an .npz atomically (temporary file in the same folder, then ``os.replace``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(
                    fh,
                    format_version=np.int64(_FORMAT_VERSION),
                    region_sizes=self._sizes,
                    offsets=self._offsets,
                    rounds=self._rounds,
                )
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> LabelState:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"label state {path} does not exist")
        with np.load(path, allow_pickle=False) as data:
            missing = {"format_version", "region_sizes", "offsets", "rounds"} - set(data.files)
            if missing:
                raise ValueError(f"{path}: not a label state, missing keys {sorted(missing)}")
            version = int(data["format_version"])
            if version != _FORMAT_VERSION:
                raise ValueError(f"{path}: label state format_version {version}, this code reads {_FORMAT_VERSION}")
            try:
                return cls(region_sizes=data["region_sizes"], offsets=data["offsets"], rounds=data["rounds"])
            except ValueError as error:
                raise ValueError(f"{path}: {error}") from None

    def copy(self) -> LabelState:
        return LabelState(region_sizes=self._sizes.copy(), offsets=self._offsets.copy(), rounds=self._rounds.copy())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelState):
            return NotImplemented
        return (
            np.array_equal(self._sizes, other._sizes)
            and np.array_equal(self._offsets, other._offsets)
            and np.array_equal(self._rounds, other._rounds)
        )

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        return (
            f"LabelState(scans={self.num_scans}, regions={self._sizes.size}, "
            f"labeled={self.labeled_points}/{self.total_points} points ({self.labeled_pct:.2f} %), round={self.last_round})"
        )

    # ---------------------------------------------------------------- private
    def _check_scan(self, scan: int) -> None:
        if not isinstance(scan, (int, np.integer)) or not 0 <= scan < self.num_scans:
            raise ValueError(f"scan {scan!r} is out of range 0..{self.num_scans - 1}")

    def _check_region(self, scan: int, region: int) -> None:
        n = int(self._offsets[scan + 1] - self._offsets[scan])
        if not isinstance(region, (int, np.integer)) or not 0 <= region < n:
            raise ValueError(f"region {region!r} of scan {scan} is out of range 0..{n - 1} (or -1 for the whole scan)")
