"""Kernel maps in the canonical offset order, built with sorted keys in plain torch.

Canonical offset order (shared by every backend; weights are stored in it):
- submanifold k3: offset index ``((dx + 1) * 3 + (dy + 1)) * 3 + (dz + 1)`` for ``d in {-1, 0, 1}^3`` times the
  stride, i.e. the flattened ``(kx, ky, kz)`` layout of ``F.conv3d`` weights, cross-correlation convention
  ``out[c] = sum_d W[d] in[c + d * s]``;
- strided k2 s2 and transposed k2 s2: offset index ``(dx * 2 + dy) * 2 + dz`` for ``d in {0, 1}^3``, the
  child ``parent + d * s`` of a parent voxel at stride ``2 s`` (the ``F.conv3d(stride=2)`` /
  ``F.conv_transpose3d(stride=2)`` weight layout).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from .coords import Level

SUBM3_OFFSETS: tuple[tuple[int, int, int], ...] = tuple(itertools.product((-1, 0, 1), repeat=3))
STRIDE2_OFFSETS: tuple[tuple[int, int, int], ...] = tuple(itertools.product((0, 1), repeat=3))


@dataclass(frozen=True)
class KernelMap:
    """Input/output row pairs grouped by kernel offset.

    in_rows, out_rows : (M,) int64; pairs of offset k are ``[bounds[k], bounds[k + 1])``.
    center : offset index whose map is the identity (submanifold centre; not stored in the pairs), or None.
    n_in, n_out : row counts of the input and output tensors.
    """

    in_rows: torch.Tensor
    out_rows: torch.Tensor
    bounds: tuple[int, ...]
    center: int | None
    n_in: int
    n_out: int

    @property
    def volume(self) -> int:
        return len(self.bounds) - 1

    def transposed(self) -> KernelMap:
        """The same pairs read backwards (input and output swapped)."""
        return KernelMap(self.out_rows, self.in_rows, self.bounds, self.center, self.n_out, self.n_in)


def subm3_map(level: Level) -> KernelMap:
    """Submanifold 3x3x3 map at ``level.stride``; offsets d and -d are read off one search."""
    s = level.stride
    n = level.coords.shape[0]
    keys = level.keys
    rows = torch.arange(n, device=keys.device) if level.order is None else level.order
    pairs: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    center = SUBM3_OFFSETS.index((0, 0, 0))
    for k, offset in enumerate(SUBM3_OFFSETS):
        if k >= center:
            break
        query = keys + level.packing.delta(tuple(v * s for v in offset))  # sorted, like keys
        pos = torch.searchsorted(keys, query).clamp_(max=max(n - 1, 0))
        found = keys[pos] == query
        out_rows = rows[found]
        in_rows = rows[pos[found]]
        pairs[k] = (in_rows, out_rows)
        pairs[len(SUBM3_OFFSETS) - 1 - k] = (out_rows, in_rows)  # the mirrored offset -d
    ordered = [pairs[k] for k in range(len(SUBM3_OFFSETS)) if k != center]
    counts = [p[0].numel() for p in ordered]
    counts.insert(center, 0)
    bounds = tuple(int(b) for b in torch.tensor([0, *counts]).cumsum(0).tolist())
    empty = torch.empty(0, dtype=torch.int64, device=keys.device)
    in_rows = torch.cat([p[0] for p in ordered]) if ordered else empty
    out_rows = torch.cat([p[1] for p in ordered]) if ordered else empty
    return KernelMap(in_rows, out_rows, bounds, center, n, n)


def stride2_map(fine: Level, coarse: Level, parent_row: torch.Tensor) -> KernelMap:
    """Strided 2x2x2 map from ``fine`` (stride s) to ``coarse`` (stride 2s); parent_row : (N_fine,) int64."""
    s = fine.stride
    coords = fine.coords.to(torch.int64)
    child = torch.div(coords[:, 1:] - coarse.coords.to(torch.int64)[parent_row, 1:], s, rounding_mode="floor")
    offset = (child[:, 0] * 2 + child[:, 1]) * 2 + child[:, 2]
    offset_sorted, order = torch.sort(offset, stable=True)
    counts = torch.bincount(offset_sorted, minlength=len(STRIDE2_OFFSETS))
    bounds = tuple(int(b) for b in torch.cat([counts.new_zeros(1), counts.cumsum(0)]).tolist())
    return KernelMap(order, parent_row[order], bounds, None, coords.shape[0], coarse.coords.shape[0])
