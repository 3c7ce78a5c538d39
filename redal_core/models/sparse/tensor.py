"""The sparse tensor of the adapter: integer coordinates, features, stride, and a shared context.

Every tensor derived from one input (by convolutions, norms, concatenation) shares one ``SparseContext``:
the coordinate levels of each stride, the kernel maps and the backend-specific caches. Kernel maps are built
once per (backend, kind, stride) and reused by every layer of a forward pass, as torchsparse and
MinkowskiEngine do; a transposed convolution therefore maps back exactly onto the encoder's coordinates.

This module knows backends only as the opaque object a tensor carries (``backends`` imports this module,
never the other way round): a backend is whatever the model passes in, and it is handed back unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import torch

from .coords import Level, coarsen
from .kernel_map import KernelMap, stride2_map, subm3_map

#: A sparse backend (``backends.Backend``); typed loosely here so that this module does not import it.
Backend = Any


class SparseContext:
    """Coordinate levels and caches shared by the tensors of one forward pass."""

    def __init__(self, *, coords: torch.Tensor, backend: Backend) -> None:
        self.backend = backend
        self._levels: dict[int, Level] = {1: Level.from_coords(coords, 1)}
        self._parents: dict[int, torch.Tensor] = {}
        self._cache: dict[Hashable, Any] = {}

    def level(self, stride: int) -> Level:
        """The voxels at ``stride`` (a power of two), built by repeated downsampling of stride 1."""
        if stride < 1 or stride & (stride - 1):
            raise ValueError(f"stride must be a power of two >= 1, got {stride}")
        while stride not in self._levels:
            finest_missing = min(s for s in (2**i for i in range(1, 64)) if s not in self._levels)
            coarse, parent_row = coarsen(self._levels[finest_missing // 2])
            self._levels[finest_missing] = coarse
            self._parents[finest_missing // 2] = parent_row
        return self._levels[stride]

    def parent_rows(self, stride: int) -> torch.Tensor:
        """(N_stride,) int64: for every voxel at ``stride``, its row at ``2 * stride``."""
        self.level(2 * stride)
        return self._parents[stride]

    def cached(self, key: Hashable, build: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def subm3_map(self, stride: int) -> KernelMap:
        return self.cached(("kmap", "subm3", stride), lambda: subm3_map(self.level(stride)))

    def stride2_map(self, stride: int) -> KernelMap:
        """Map from ``stride`` down to ``2 * stride`` (read transposed for the up-convolution)."""
        return self.cached(
            ("kmap", "down2", stride),
            lambda: stride2_map(self.level(stride), self.level(2 * stride), self.parent_rows(stride)),
        )


class SparseTensor:
    """coords : (N, 4) int32 ``[batch, x, y, z]`` in finest-voxel units, multiples of ``stride``;
    feats : (N, C) float; stride : int (power of two).

    Build one from network input with ``SparseTensor.from_input``; layers derive new tensors with
    ``with_feats`` (same voxels) or ``at_stride`` (the voxels of another stride of the same input).
    """

    __slots__ = ("feats", "stride", "context")

    def __init__(self, *, feats: torch.Tensor, stride: int, context: SparseContext) -> None:
        level = context.level(stride)
        if feats.ndim != 2 or feats.shape[0] != level.coords.shape[0]:
            raise ValueError(
                f"feats must have shape ({level.coords.shape[0]}, C) for the {level.coords.shape[0]} voxels at "
                f"stride {stride}, got {tuple(feats.shape)}"
            )
        self.feats = feats
        self.stride = stride
        self.context = context

    @classmethod
    def from_input(cls, *, coords: torch.Tensor, feats: torch.Tensor, backend: Backend) -> SparseTensor:
        """A stride-1 tensor with a fresh context. coords : (N, 4) integer; feats : (N, C) float."""
        if not isinstance(coords, torch.Tensor) or coords.ndim != 2 or coords.shape[1] != 4:
            raise ValueError(f"coords must be an (N, 4) integer tensor [batch, x, y, z], got {_describe(coords)}")
        if coords.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"coords must be int32 or int64, got dtype {coords.dtype}")
        if coords.shape[0] == 0:
            raise ValueError("coords is empty: a sparse tensor needs at least one voxel")
        if not isinstance(feats, torch.Tensor) or not feats.is_floating_point():
            raise ValueError(f"feats must be a floating-point (N, C) tensor, got {_describe(feats)}")
        if feats.device != coords.device:
            raise ValueError(f"coords are on {coords.device} but feats on {feats.device}")
        context = SparseContext(coords=coords.to(torch.int32), backend=backend)
        return cls(feats=feats, stride=1, context=context)

    @property
    def coords(self) -> torch.Tensor:
        return self.context.level(self.stride).coords

    @property
    def backend(self) -> Backend:
        return self.context.backend

    def with_feats(self, feats: torch.Tensor) -> SparseTensor:
        return SparseTensor(feats=feats, stride=self.stride, context=self.context)

    def at_stride(self, stride: int, feats: torch.Tensor) -> SparseTensor:
        return SparseTensor(feats=feats, stride=stride, context=self.context)

    def __repr__(self) -> str:
        return f"SparseTensor(n={self.feats.shape[0]}, channels={self.feats.shape[1]}, stride={self.stride})"


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return type(value).__name__
