"""Gather -> matmul -> scatter-add over a kernel map, with a hand-written backward (plain torch).

Offsets are processed one at a time through two reused buffers sized for the largest offset (the gathered
rows stay cache-resident, which measured faster on CPU than one gather of all pairs). Only the features, the
weight and the kernel map are saved for backward, never gathered rows, so memory stays O(N * C) per layer.
"""

from __future__ import annotations

import torch

from .kernel_map import KernelMap


def gather_matmul_scatter(feats: torch.Tensor, weight: torch.Tensor, kmap: KernelMap) -> torch.Tensor:
    """out[o] = sum over pairs (i, o) of offset k of feats[i] @ weight[k].

    feats : (n_in, C_in); weight : (K, C_in, C_out) in the kernel map's offset order -> (n_out, C_out).
    """
    return _GatherMatmulScatter.apply(feats, weight, kmap)


def _apply(source: torch.Tensor, weight: torch.Tensor, kmap: KernelMap, *, transpose: bool) -> torch.Tensor:
    """Forward (transpose=False) or input-gradient (transpose=True, weights transposed, pairs reversed) pass."""
    src_rows, dst_rows, n_dst = (
        (kmap.out_rows, kmap.in_rows, kmap.n_in) if transpose else (kmap.in_rows, kmap.out_rows, kmap.n_out)
    )
    dst_once = kmap.in_once if transpose else kmap.out_once  # each destination row written exactly once
    c_out = weight.shape[1] if transpose else weight.shape[2]
    if kmap.center is not None:
        w = weight[kmap.center]
        out = source @ (w.t() if transpose else w)
    elif dst_once:
        out = source.new_empty((n_dst, c_out))
    else:
        out = source.new_zeros((n_dst, c_out))
    largest = max(b - a for a, b in zip(kmap.bounds[:-1], kmap.bounds[1:], strict=True))
    if largest == 0:
        return out
    gathered = source.new_empty((largest, source.shape[1]))
    products = source.new_empty((largest, c_out))
    for k in range(kmap.volume):
        a, b = kmap.bounds[k], kmap.bounds[k + 1]
        if b > a:
            w = weight[k]
            torch.index_select(source, 0, src_rows[a:b], out=gathered[: b - a])
            torch.mm(gathered[: b - a], w.t() if transpose else w, out=products[: b - a])
            if dst_once and kmap.center is None:
                out.index_copy_(0, dst_rows[a:b], products[: b - a])
            else:
                out.index_add_(0, dst_rows[a:b], products[: b - a])
    return out


class _GatherMatmulScatter(torch.autograd.Function):
    @staticmethod
    def forward(ctx, feats: torch.Tensor, weight: torch.Tensor, kmap: KernelMap) -> torch.Tensor:
        ctx.save_for_backward(feats, weight)
        ctx.kmap = kmap
        return _apply(feats.contiguous(), weight, kmap, transpose=False)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        feats, weight = ctx.saved_tensors
        kmap: KernelMap = ctx.kmap
        grad_out = grad_out.contiguous()
        grad_feats = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_feats = _apply(grad_out, weight, kmap, transpose=True)
        if ctx.needs_input_grad[1]:
            grad_weight = torch.zeros_like(weight)
            if kmap.center is not None:
                torch.mm(feats.t(), grad_out, out=grad_weight[kmap.center])
            largest = max(b - a for a, b in zip(kmap.bounds[:-1], kmap.bounds[1:], strict=True))
            x = feats.new_empty((largest, feats.shape[1]))
            g = grad_out.new_empty((largest, grad_out.shape[1]))
            for k in range(kmap.volume):
                a, b = kmap.bounds[k], kmap.bounds[k + 1]
                if b > a:
                    torch.index_select(feats, 0, kmap.in_rows[a:b], out=x[: b - a])
                    torch.index_select(grad_out, 0, kmap.out_rows[a:b], out=g[: b - a])
                    torch.mm(x[: b - a].t(), g[: b - a], out=grad_weight[k])
        return grad_feats, grad_weight, None
