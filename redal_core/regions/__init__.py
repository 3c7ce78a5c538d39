"""Region division (VCCS supervoxels) and region information (colour discontinuity, structure).

Import cost is numpy/scipy/numba only; nothing is compiled or computed at import time.
"""

from redal_core.regions.cached import scan_regions
from redal_core.regions.features import color_discontinuity, region_features, surface_variation
from redal_core.regions.quality import (
    RegionSizes,
    boundary_recall,
    region_sizes,
    undersegmentation_error,
    weighted_purity,
)
from redal_core.regions.vccs import VCCS_PRESETS, default_min_region_voxels, vccs

__all__ = [
    "VCCS_PRESETS",
    "RegionSizes",
    "boundary_recall",
    "color_discontinuity",
    "default_min_region_voxels",
    "region_features",
    "region_sizes",
    "scan_regions",
    "surface_variation",
    "undersegmentation_error",
    "vccs",
    "weighted_purity",
]
