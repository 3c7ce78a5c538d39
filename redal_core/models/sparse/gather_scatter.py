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


def _forward(source: torch.Tensor, weight: torch.Tensor, kmap: KernelMap) -> torch.Tensor:
    c_out = weight.shape[2]
    out = source @ weight[kmap.center] if kmap.center is not None else source.new_zeros((kmap.n_out, c_out))
    largest = max(b - a for a, b in zip(kmap.bounds[:-1], kmap.bounds[1:], strict=True))
    if largest == 0:
        return out
    gathered = source.new_empty((largest, source.shape[1]))
    products = source.new_empty((largest, c_out))
    for k in range(kmap.volume):
        a, b = kmap.bounds[k], kmap.bounds[k + 1]
        if b > a:
            torch.index_select(source, 0, kmap.in_rows[a:b], out=gathered[: b - a])
            torch.mm(gathered[: b - a], weight[k], out=products[: b - a])
            out.index_add_(0, kmap.out_rows[a:b], products[: b - a])  # measured faster than index_copy_
    return out


class _GatherMatmulScatter(torch.autograd.Function):
    @staticmethod
    def forward(ctx, feats: torch.Tensor, weight: torch.Tensor, kmap: KernelMap) -> torch.Tensor:
        ctx.save_for_backward(feats, weight)
        ctx.kmap = kmap
        return _forward(feats.contiguous(), weight, kmap)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        """One pass over the offsets: the gathered output-gradient rows serve both the weight gradient
        (x_k^T g_k) and the input gradient (g_k W_k^T scattered to the input rows)."""
        feats, weight = ctx.saved_tensors
        kmap: KernelMap = ctx.kmap
        need_feats, need_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_out = grad_out.contiguous()
        c_in, c_out = weight.shape[1], weight.shape[2]
        grad_weight = torch.zeros_like(weight) if need_weight else None
        grad_feats = None
        if kmap.center is not None:
            if need_feats:
                grad_feats = grad_out @ weight[kmap.center].t()
            if need_weight:
                torch.mm(feats.t(), grad_out, out=grad_weight[kmap.center])
        elif need_feats:
            grad_feats = grad_out.new_zeros((kmap.n_in, c_in))
        largest = max(b - a for a, b in zip(kmap.bounds[:-1], kmap.bounds[1:], strict=True))
        if largest == 0 or not (need_feats or need_weight):
            return grad_feats, grad_weight, None
        g = grad_out.new_empty((largest, c_out))
        x = feats.new_empty((largest, c_in)) if need_weight else None
        t = grad_out.new_empty((largest, c_in)) if need_feats else None
        for k in range(kmap.volume):
            a, b = kmap.bounds[k], kmap.bounds[k + 1]
            if b == a:
                continue
            n = b - a
            torch.index_select(grad_out, 0, kmap.out_rows[a:b], out=g[:n])
            if need_weight:
                torch.index_select(feats, 0, kmap.in_rows[a:b], out=x[:n])
                torch.mm(x[:n].t(), g[:n], out=grad_weight[k])
            if need_feats:
                torch.mm(g[:n], weight[k].t(), out=t[:n])
                grad_feats.index_add_(0, kmap.in_rows[a:b], t[:n])
        return grad_feats, grad_weight, None
