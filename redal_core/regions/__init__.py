"""Region division (VCCS supervoxels) and region information (colour discontinuity, structure).

``from redal_core.regions.vccs import vccs, VCCS_PRESETS``; ``scan_regions`` for a dataset's scans (cached).

Import cost is numpy/scipy/numba only; nothing is compiled or computed at import time.
"""

from redal_core.regions.cached import cue_key, region_key, scan_cues, scan_region_ids, scan_regions
from redal_core.regions.features import color_discontinuity, region_features, surface_variation
from redal_core.regions.quality import (
    RegionSizes,
    boundary_recall,
    region_sizes,
    undersegmentation_error,
    weighted_purity,
)
from redal_core.regions.vccs import VCCS_PRESETS, default_min_region_voxels

# ``vccs`` stays the submodule (``redal_core.regions.vccs.vccs(...)``, as DESIGN.md's contract names it):
# exporting the function under the same name here would hide the module.

__all__ = [
    "VCCS_PRESETS",
    "RegionSizes",
    "boundary_recall",
    "color_discontinuity",
    "cue_key",
    "default_min_region_voxels",
    "region_features",
    "region_key",
    "region_sizes",
    "scan_cues",
    "scan_region_ids",
    "scan_regions",
    "surface_variation",
    "undersegmentation_error",
    "weighted_purity",
]
