"""Integer voxel coordinates: packing into sortable int64 keys, per-stride levels and lookups.

Coordinates are ``(N, 4)`` integer rows ``[batch, x, y, z]`` in units of the finest voxel; a tensor at
stride ``s`` has every spatial coordinate a multiple of ``s`` (the convention of MinkowskiEngine and
torchsparse). Lookups pack a row into one int64 key (lexicographic order is preserved), sort the keys once
per level and answer queries with ``torch.searchsorted``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: Keys must stay below 2**62 so that adding an offset never overflows int64.
_KEY_LIMIT = 2**62


@dataclass(frozen=True)
class Packing:
    """Affine map ``[b, x, y, z] -> key`` valid for rows with ``lo <= row < lo + span`` per column.

    lo, span : length-4 tuples of python ints. Within range the map is linear, so
    ``key(c + d) == key(c) + delta(d)``.
    """

    lo: tuple[int, int, int, int]
    span: tuple[int, int, int, int]

    @staticmethod
    def covering(coords: torch.Tensor, pad: int) -> Packing:
        """A packing for ``coords`` (N, 4) and every spatial offset of magnitude <= ``pad``."""
        low = coords.min(dim=0).values.tolist()
        high = coords.max(dim=0).values.tolist()
        lo = (int(low[0]), *(int(v) - pad for v in low[1:]))
        span = (int(high[0]) - int(low[0]) + 1, *(int(h) - int(v) + 2 * pad + 1 for h, v in zip(high[1:], low[1:], strict=True)))
        volume = 1
        for extent in span:
            volume *= extent
        if volume >= _KEY_LIMIT:
            raise ValueError(
                f"sparse coordinates span {list(span)} cells (batch, x, y, z): too large to index with int64 keys; "
                "use a coarser voxel size or crop the scan"
            )
        return Packing(lo=lo, span=span)  # type: ignore[arg-type]

    def pack(self, coords: torch.Tensor) -> torch.Tensor:
        """(N, 4) integer -> (N,) int64 keys."""
        c = coords.to(torch.int64)
        key = c[:, 0] - self.lo[0]
        for axis in (1, 2, 3):
            key = key * self.span[axis] + (c[:, axis] - self.lo[axis])
        return key

    def delta(self, offset: tuple[int, int, int]) -> int:
        """Key difference of a spatial offset ``(dx, dy, dz)``."""
        dx, dy, dz = offset
        return (dx * self.span[2] + dy) * self.span[3] + dz


@dataclass(frozen=True)
class Level:
    """The voxels of one stride: coordinates and a sorted key index for lookups.

    coords : (N, 4) int32; keys : (N,) int64 sorted; order : (N,) int64 with ``keys = pack(coords)[order]``
    (None when coords are already in key order).
    """

    stride: int
    coords: torch.Tensor
    packing: Packing
    keys: torch.Tensor
    order: torch.Tensor | None

    @staticmethod
    def from_coords(coords: torch.Tensor, stride: int) -> Level:
        packing = Packing.covering(coords, pad=2 * stride)
        keys = packing.pack(coords)
        if keys.numel() > 1 and bool((keys[1:] < keys[:-1]).any()):
            keys, order = torch.sort(keys)
        else:
            order = None
        if keys.numel() > 1 and bool((keys[1:] == keys[:-1]).any()):
            dup = int(torch.nonzero(keys[1:] == keys[:-1])[0, 0])
            row = dup if order is None else int(order[dup])
            raise ValueError(
                f"sparse coordinates contain duplicate rows, e.g. row {row} = {coords[row].tolist()}; "
                "every (batch, x, y, z) must appear once (voxelize first)"
            )
        return Level(stride=stride, coords=coords, packing=packing, keys=keys, order=order)

    def lookup_keys(self, query: torch.Tensor) -> torch.Tensor:
        """Rows of the voxels with the given keys (same packing), -1 where absent. query : (Q,) int64."""
        if self.keys.numel() == 0:
            return torch.full_like(query, -1)
        pos = torch.searchsorted(self.keys, query)
        pos.clamp_(max=self.keys.numel() - 1)
        found = self.keys[pos] == query
        rows = pos if self.order is None else self.order[pos]
        return torch.where(found, rows, torch.full_like(rows, -1))

    def lookup(self, coords: torch.Tensor) -> torch.Tensor:
        """Rows of the voxels at ``coords`` (Q, 4), -1 where absent or out of this level's range."""
        lo = torch.tensor(self.packing.lo, dtype=torch.int64, device=coords.device)
        span = torch.tensor(self.packing.span, dtype=torch.int64, device=coords.device)
        c = coords.to(torch.int64)
        inside = ((c >= lo) & (c < lo + span)).all(dim=1)
        rows = self.lookup_keys(self.packing.pack(torch.where(inside[:, None], c, lo)))
        return torch.where(inside, rows, torch.full_like(rows, -1))


def downsample(coords: torch.Tensor, stride: int) -> torch.Tensor:
    """Spatial coordinates floored to multiples of ``stride`` (batch column kept). (N, 4) -> (N, 4) int64."""
    c = coords.to(torch.int64)
    spatial = torch.div(c[:, 1:], stride, rounding_mode="floor") * stride
    return torch.cat([c[:, :1], spatial], dim=1)


def coarsen(fine: Level) -> tuple[Level, torch.Tensor]:
    """The level at twice ``fine``'s stride and, for every fine row, the row of its parent voxel.

    Coarse voxels come out in lexicographic (key) order, so their level needs no extra sort.
    """
    stride = fine.stride * 2
    parents = downsample(fine.coords, stride)
    packing = Packing.covering(parents, pad=2 * stride)
    keys, parent_row = torch.unique(packing.pack(parents), sorted=True, return_inverse=True)
    coords = torch.empty((keys.numel(), 4), dtype=torch.int64, device=parents.device)
    coords.index_copy_(0, parent_row, parents)
    level = Level(stride=stride, coords=coords.to(torch.int32), packing=packing, keys=keys, order=None)
    return level, parent_row
