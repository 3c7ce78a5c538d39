"""Point <-> voxel operations of SPVCNN in plain torch (identical for every backend).

Points carry continuous coordinates in finest-voxel units, ``point_coords (P, 4) float [batch, x, y, z]``,
and ``point_rows (P,) int64``: the row of each point's stride-1 voxel. The voxel of stride ``s`` with
coordinate ``c`` covers ``[c, c + s)`` per axis; its centre is ``c + s / 2``.

- ``voxelize``: scatter-mean of point features into the voxels containing them.
- ``devoxelize``: trilinear interpolation between the centres of the 8 voxels around each point; absent
  voxels get weight 0 and the rest are renormalised. The point's own voxel is always one of the 8 and
  always has weight >= 1/8, so the normalisation never divides by zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .kernel_map import STRIDE2_OFFSETS
from .tensor import SparseTensor


@dataclass(frozen=True)
class PointMap:
    """How the points of a batch sit in the voxels of one stride.

    rows : (P,) int64 own voxel; counts : (N,) float points per voxel;
    corner_rows : (8, P) int64 the interpolation corners (0 where absent); corner_weights : (8, P) float.
    """

    rows: torch.Tensor
    counts: torch.Tensor
    corner_rows: torch.Tensor
    corner_weights: torch.Tensor


def point_map(x: SparseTensor, point_coords: torch.Tensor, point_rows: torch.Tensor) -> PointMap:
    """The (cached) PointMap of ``x``'s stride for these points."""
    key = ("points", x.stride, point_coords.data_ptr(), point_rows.data_ptr())
    return x.context.cached(key, lambda: _build_point_map(x, point_coords, point_rows))


def _build_point_map(x: SparseTensor, point_coords: torch.Tensor, point_rows: torch.Tensor) -> PointMap:
    context, s = x.context, x.stride
    level = context.level(s)
    rows = point_rows
    stride = 1
    while stride < s:
        rows = context.parent_rows(stride)[rows]
        stride *= 2
    own = level.coords.to(torch.int64)[rows]  # (P, 4)
    local = (point_coords[:, 1:].double() - own[:, 1:].double()) / s  # in [0, 1) up to rounding
    local = local.clamp(0.0, 1.0)
    below = local < 0.5
    base = own[:, 1:] - below.to(torch.int64) * s  # lower corner of the 2x2x2 cell of centres
    frac = local - 0.5 + below.double()  # position between base centre (0) and base + s centre (1)
    corner_rows, corner_weights = [], []
    for offset in STRIDE2_OFFSETS:
        d = torch.tensor(offset, dtype=torch.int64, device=own.device)
        corner = torch.cat([own[:, :1], base + d * s], dim=1)
        weight = torch.prod(torch.where(d.bool(), frac, 1.0 - frac), dim=1)
        found = level.lookup(corner)
        corner_rows.append(found.clamp(min=0))
        corner_weights.append(torch.where(found >= 0, weight, torch.zeros_like(weight)))
    weights = torch.stack(corner_weights)
    weights = weights / weights.sum(dim=0, keepdim=True)
    counts = torch.bincount(rows, minlength=level.coords.shape[0]).to(point_coords.dtype)
    return PointMap(rows, counts, torch.stack(corner_rows), weights.to(point_coords.dtype))


def voxelize(x: SparseTensor, point_feats: torch.Tensor, pmap: PointMap) -> SparseTensor:
    """Scatter-mean of point features into ``x``'s voxels. point_feats : (P, C) -> tensor with C channels."""
    summed = point_feats.new_zeros((pmap.counts.shape[0], point_feats.shape[1])).index_add(0, pmap.rows, point_feats)
    return x.with_feats(summed / pmap.counts.to(point_feats.dtype)[:, None])


def devoxelize(x: SparseTensor, pmap: PointMap) -> torch.Tensor:
    """Trilinear interpolation of ``x``'s voxel features at the points. -> (P, C)."""
    return _Devoxelize.apply(x.feats, pmap.corner_rows, pmap.corner_weights.to(x.feats.dtype))


class _Devoxelize(torch.autograd.Function):
    """sum_j w_j * feats[rows_j] without materialising the (8, P, C) gathered tensor."""

    @staticmethod
    def forward(ctx, feats, corner_rows, corner_weights):
        ctx.save_for_backward(corner_rows, corner_weights)
        ctx.n_voxels = feats.shape[0]
        out = feats.index_select(0, corner_rows[0]) * corner_weights[0][:, None]
        for j in range(1, corner_rows.shape[0]):
            out.addcmul_(feats.index_select(0, corner_rows[j]), corner_weights[j][:, None])
        return out

    @staticmethod
    def backward(ctx, grad_out):
        corner_rows, corner_weights = ctx.saved_tensors
        grad = grad_out.new_zeros((ctx.n_voxels, grad_out.shape[1]))
        for j in range(corner_rows.shape[0]):
            grad.index_add_(0, corner_rows[j], grad_out * corner_weights[j][:, None])
        return grad, None, None
