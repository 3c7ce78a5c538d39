"""Region ids and region-information features of a dataset's scans, computed once and cached.

``scan_regions(dataset, i, preset)`` runs VCCS with one of ``VCCS_PRESETS`` and the k-NN features on
scan ``i`` and stores the three arrays in ``dataset.cache`` under a key made of the scan's source
content (``dataset.source_key(i)``) and every parameter, so a changed file or parameter gives a new entry.
"""

from __future__ import annotations

import warnings
from typing import Any, Protocol

import numpy as np

from redal_core.data.cache import ScanCache, content_key
from redal_core.regions.features import region_features
from redal_core.regions.vccs import VCCS_PRESETS, default_min_region_voxels, vccs

__all__ = ["REGIONS_VERSION", "scan_regions"]

#: Bumped whenever the region or feature code changes its output, so old cache entries are not reused.
REGIONS_VERSION = 1


class _Dataset(Protocol):
    has_color: bool
    cache: ScanCache

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> Any: ...

    def source_key(self, i: int) -> str: ...


def scan_regions(dataset: _Dataset, i: int, preset: str, k: int = 50) -> dict[str, np.ndarray]:
    """Cached region division and per-point features of scan ``i``.

    dataset : an object with ``has_color``, ``cache`` (ScanCache), ``source_key(i)`` and ``dataset[i]``
    (a Scan with ``xyz`` (N, 3) and ``rgb`` (N, 3) uint8 | None); preset : a key of ``VCCS_PRESETS``;
    k : neighbours of the features.
    Returns ``region`` (N,) int64 ids 0..R-1, ``color`` (N,) float32 (zeros when the dataset has no
    colour) and ``structure`` (N,) float32, as read-only memory maps.
    """
    if preset not in VCCS_PRESETS:
        raise ValueError(f"unknown VCCS preset {preset!r}; valid presets: {', '.join(VCCS_PRESETS)}")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if isinstance(i, bool) or not isinstance(i, int | np.integer) or not 0 <= i < len(dataset):
        raise ValueError(f"scan index {i!r} out of range for a dataset of {len(dataset)} scans")
    params = dict(VCCS_PRESETS[preset])
    params["min_region_voxels"] = default_min_region_voxels(params["voxel_size"], params["seed_size"])
    use_color = bool(dataset.has_color)
    if not use_color and params["color_weight"] > 0:
        warnings.warn(
            f"VCCS preset {preset!r} weighs colour ({params['color_weight']}) but the dataset has none:"
            " using color_weight=0",
            stacklevel=2,
        )
        params["color_weight"] = 0.0
    key = content_key(
        dataset.source_key(int(i)),
        {"what": "regions", "version": REGIONS_VERSION, "preset": preset, "vccs": params, "k": int(k),
         "color": use_color},
    )

    def compute() -> dict[str, np.ndarray]:
        scan = dataset[int(i)]
        rgb = scan.rgb if use_color else None
        if use_color and rgb is None:
            raise ValueError(f"dataset says it has colour but scan {i} ({getattr(scan, 'name', '?')}) has rgb None")
        region = vccs(scan.xyz, rgb, **params)
        color, structure = region_features(scan.xyz, rgb, k=int(k))
        return {"region": region.astype(np.int64), "color": color, "structure": structure}

    return dataset.cache.get(key, compute)
