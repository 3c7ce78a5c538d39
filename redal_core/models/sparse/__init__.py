"""Sparse-tensor adapter: one model definition, several sparse-convolution backends.

- ``SparseTensor`` (coords (N, 4) int32 [batch, x, y, z], feats (N, C), stride) with a context that caches
  coordinate levels and kernel maps for one forward pass;
- backends registered in ``BACKENDS``: ``torch`` (built in, the reference), ``spconv``, ``minkowski``,
  ``torchsparse``; ``get_backend("auto")`` picks one;
- SPVCNN's point <-> voxel operations (``points.voxelize`` / ``points.devoxelize``) in plain torch.

Importing this package imports no optional library; a backend imports its library when instantiated.
"""

from . import backend_minkowski, backend_spconv, backend_torch, backend_torchsparse  # registers the backends
from .backends import (
    BACKENDS,
    INSTALL_HINTS,
    Backend,
    BackendUnavailable,
    available_backends,
    backend_status,
    get_backend,
    probe_backend,
)
from .kernel_map import STRIDE2_OFFSETS, SUBM3_OFFSETS, KernelMap
from .points import PointMap, devoxelize, point_map, voxelize
from .tensor import SparseContext, SparseTensor

__all__ = [
    "BACKENDS",
    "INSTALL_HINTS",
    "STRIDE2_OFFSETS",
    "SUBM3_OFFSETS",
    "Backend",
    "BackendUnavailable",
    "KernelMap",
    "PointMap",
    "SparseContext",
    "SparseTensor",
    "available_backends",
    "backend_status",
    "backend_minkowski",
    "backend_spconv",
    "backend_torch",
    "backend_torchsparse",
    "devoxelize",
    "get_backend",
    "point_map",
    "probe_backend",
    "voxelize",
]
