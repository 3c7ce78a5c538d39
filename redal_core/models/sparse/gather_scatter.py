"""Gather -> matmul -> scatter-add over a kernel map, with a hand-written backward (plain torch).

Only the features, the weight and the kernel map are saved for backward, never the gathered rows, so memory
stays at O(N * C) per layer however many neighbours the kernel map has.
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
    c_out = weight.shape[1] if transpose else weight.shape[2]
    if kmap.center is not None:
        w = weight[kmap.center]
        out = source @ (w.t() if transpose else w)
    else:
        out = source.new_zeros((n_dst, c_out))
    if src_rows.numel() == 0:
        return out
    gathered = source.index_select(0, src_rows)
    products = source.new_empty((src_rows.numel(), c_out))
    for k in range(kmap.volume):
        a, b = kmap.bounds[k], kmap.bounds[k + 1]
        if b > a:
            w = weight[k]
            torch.mm(gathered[a:b], w.t() if transpose else w, out=products[a:b])
    out.index_add_(0, dst_rows, products)
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
            if kmap.in_rows.numel():
                x = feats.index_select(0, kmap.in_rows)
                g = grad_out.index_select(0, kmap.out_rows)
                for k in range(kmap.volume):
                    a, b = kmap.bounds[k], kmap.bounds[k + 1]
                    if b > a:
                        torch.mm(x[a:b].t(), g[a:b], out=grad_weight[k])
        return grad_feats, grad_weight, None
