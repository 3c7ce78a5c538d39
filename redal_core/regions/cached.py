"""Region ids and region-information cues of a dataset's scans, computed once and cached.

Two cache entries per scan, each keyed on the scan's source content (``dataset.source_key(i)``) and every
parameter that shapes it, so a changed file or parameter gives a new entry and a switch never reads a
stale one:

* ``scan_region_ids(dataset, i, preset, division=...)``: VCCS with one of ``VCCS_PRESETS``, or a grid of
  cubic cells (``regions.grid``, Annotator's units);
* ``scan_cues(dataset, i, k, scoring)``: colour discontinuity and surface variation from one k-NN query,
  on the ``paper`` scale (Eq. 2-3 as printed) or the ``official`` code's (colour over the point and its
  k - 1 nearest others, averaged over channels, clipped at 0.1; structure clipped at 0.1 on
  SemanticKITTI only). ``scan_regions`` returns both.
"""

from __future__ import annotations

import warnings
from typing import Any, Protocol

import numpy as np

from redal_core.config import FAMILY, SCORING
from redal_core.data.cache import ScanCache, content_key
from redal_core.regions.features import OFFICIAL_STRUCTURE_CLIP, region_features
from redal_core.regions.grid import ANNOTATOR_CELL, grid_regions
from redal_core.regions.vccs import VCCS_PRESETS, default_min_region_voxels, vccs

__all__ = ["CUES_VERSION", "DIVISIONS", "REGIONS_VERSION", "SCORINGS", "cue_key", "cue_options", "region_key",
           "scan_cues", "scan_region_ids", "scan_regions", "vccs_arguments"]

#: Bumped whenever the region code changes its output, so old cache entries are not reused.
REGIONS_VERSION = 2
#: Bumped whenever the cue code changes its output.
CUES_VERSION = 2  # 2: the exact grid k-NN (neighbours of equidistant points may differ from cKDTree's)
#: Scales of the cues (``active.scoring``; one tuple for the kit: ``config.SCORING``).
SCORINGS = SCORING
#: Region divisions (``regions.division``).
DIVISIONS = ("vccs", "grid")


class _Dataset(Protocol):
    name: str
    has_color: bool
    cache: ScanCache

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> Any: ...

    def source_key(self, i: int) -> str: ...


def cue_options(scoring: str, dataset_name: str | None) -> dict[str, Any]:
    """Keyword arguments of ``region_features`` for a scale and a dataset (by name or family; the
    official scale depends on it)."""
    if scoring not in SCORINGS:
        raise ValueError(f"unknown scoring {scoring!r}; valid: {', '.join(SCORINGS)}")
    if scoring == "paper":
        return {"scale": "paper", "structure_clip": None}
    family = FAMILY.get(dataset_name, dataset_name)
    if family not in OFFICIAL_STRUCTURE_CLIP:
        raise ValueError(f"no official cue scale for dataset {dataset_name!r}; valid: {', '.join(FAMILY)}")
    return {"scale": "official", "structure_clip": OFFICIAL_STRUCTURE_CLIP[family]}


def _check_index(dataset: _Dataset, i: int) -> int:
    if isinstance(i, bool) or not isinstance(i, int | np.integer) or not 0 <= i < len(dataset):
        raise ValueError(f"scan index {i!r} out of range for a dataset of {len(dataset)} scans")
    return int(i)


class _OneRead:
    """Reads scan i at most once, when a cache entry has to be computed."""

    def __init__(self, dataset: _Dataset, i: int) -> None:
        self.dataset, self.i, self._scan = dataset, i, None

    def __call__(self) -> Any:
        if self._scan is None:
            self._scan = self.dataset[self.i]
        return self._scan


def vccs_arguments(preset: str, *, has_color: bool) -> tuple[dict[str, Any], bool]:
    """(the ``vccs`` keyword arguments of ``preset`` for scans with or without colour, whether the preset's
    colour weight was dropped: a colour-weighted preset on colourless scans runs at ``color_weight=0``)."""
    if preset not in VCCS_PRESETS:
        raise ValueError(f"unknown VCCS preset {preset!r}; valid presets: {', '.join(VCCS_PRESETS)}")
    params = dict(VCCS_PRESETS[preset])
    params["min_region_voxels"] = default_min_region_voxels(params["voxel_size"], params["seed_size"])
    dropped = not has_color and params["color_weight"] > 0
    if dropped:
        params["color_weight"] = 0.0
    return params, dropped


def _region_params(dataset: _Dataset, preset: str) -> tuple[dict[str, Any], bool, bool]:
    """(vccs keyword arguments, uses colour, colour weight dropped) of ``preset`` on ``dataset``."""
    use_color = bool(dataset.has_color)
    params, dropped = vccs_arguments(preset, has_color=use_color)
    return params, use_color, dropped


def _check_division(division: str) -> None:
    if division not in DIVISIONS:
        raise ValueError(f"unknown region division {division!r}; valid: {', '.join(DIVISIONS)}")


def region_key(dataset: _Dataset, i: int, preset: str, *, division: str = "vccs", cell: float = ANNOTATOR_CELL) -> str:
    """Cache key of scan ``i``'s region ids (what ``scan_region_ids`` reads or writes with these arguments)."""
    _check_division(division)
    params, use_color, _ = _region_params(dataset, preset)
    i = _check_index(dataset, i)
    if division == "grid":
        return content_key(dataset.source_key(i), {"what": "regions", "version": REGIONS_VERSION, "division": "grid",
                                                   "cell": float(cell)})
    return content_key(dataset.source_key(i), {"what": "regions", "version": REGIONS_VERSION, "preset": preset,
                                               "vccs": params, "color": use_color})


def scan_region_ids(dataset: _Dataset, i: int, preset: str, *, division: str = "vccs", cell: float = ANNOTATOR_CELL,
                    _read: _OneRead | None = None) -> np.ndarray:
    """(N,) int64 region ids 0..R-1 of scan ``i`` (cached, read-only): VCCS with preset ``preset``
    (``division="vccs"``) or cubic cells of ``cell`` metres (``division="grid"``; the preset is unused)."""
    _check_division(division)
    params, _, dropped = _region_params(dataset, preset)
    i = _check_index(dataset, i)
    read = _read or _OneRead(dataset, i)
    key = region_key(dataset, i, preset, division=division, cell=cell)
    if division == "grid":
        return dataset.cache.get(key, lambda: {"region": grid_regions(read().xyz, cell)})["region"]
    if dropped:
        warnings.warn(
            f"VCCS preset {preset!r} weighs colour ({VCCS_PRESETS[preset]['color_weight']}) but the dataset has"
            " none: using color_weight=0",
            stacklevel=3,
        )

    def compute() -> dict[str, np.ndarray]:
        scan = read()
        return {"region": vccs(scan.xyz, _colors(dataset, scan, i), **params).astype(np.int64)}

    return dataset.cache.get(key, compute)["region"]


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    return int(k)


def cue_key(dataset: _Dataset, i: int, k: int = 50, scoring: str = "paper") -> str:
    """Cache key of scan ``i``'s cues from ``k`` neighbours on the ``scoring`` scale (what ``scan_cues`` reads
    or writes)."""
    k = _check_k(k)
    i = _check_index(dataset, i)
    options = cue_options(scoring, getattr(dataset, "name", None))
    return content_key(dataset.source_key(i), {"what": "cues", "version": CUES_VERSION, "k": k,
                                               "color": bool(dataset.has_color), **options})


def scan_cues(dataset: _Dataset, i: int, k: int = 50, scoring: str = "paper", *,
              _read: _OneRead | None = None) -> dict[str, np.ndarray]:
    """``color`` (N,) float32 (zeros when the dataset has no colour) and ``structure`` (N,) float32 of
    scan ``i``, on the ``scoring`` scale, from the k nearest neighbours (cached, read-only)."""
    k = _check_k(k)
    i = _check_index(dataset, i)
    options = cue_options(scoring, getattr(dataset, "name", None))
    key = cue_key(dataset, i, k, scoring)

    read = _read or _OneRead(dataset, i)

    def compute() -> dict[str, np.ndarray]:
        scan = read()
        color, structure = region_features(scan.xyz, _colors(dataset, scan, i), k=k, **options)
        return {"color": color, "structure": structure}

    return dataset.cache.get(key, compute)


def scan_regions(dataset: _Dataset, i: int, preset: str, k: int = 50, scoring: str = "paper", *,
                 division: str = "vccs", cell: float = ANNOTATOR_CELL) -> dict[str, np.ndarray]:
    """Cached region division and per-point cues of scan ``i``.

    dataset : an object with ``name``, ``has_color``, ``cache`` (ScanCache), ``source_key(i)`` and
    ``dataset[i]`` (a Scan with ``xyz`` (N, 3) and ``rgb`` (N, 3) uint8 | None); preset : a key of
    ``VCCS_PRESETS``; k : neighbours of the cues; scoring : their scale (``paper`` | ``official``);
    division / cell : VCCS or a grid of cubic cells (``scan_region_ids``).
    Returns ``region`` (N,) int64 ids 0..R-1, ``color`` (N,) float32 and ``structure`` (N,) float32, as
    read-only memory maps.
    """
    read = _OneRead(dataset, _check_index(dataset, i))
    region = scan_region_ids(dataset, i, preset, division=division, cell=cell, _read=read)
    return {"region": region, **scan_cues(dataset, i, k, scoring, _read=read)}


def _colors(dataset: _Dataset, scan: Any, i: int) -> np.ndarray | None:
    if not dataset.has_color:
        return None
    if scan.rgb is None:
        raise ValueError(f"dataset says it has colour but scan {i} ({getattr(scan, 'name', '?')}) has rgb None")
    return scan.rgb
