"""The built-in pure-PyTorch backend: sorted-key kernel maps and gather -> matmul -> scatter-add.

Always available, on CPU and CUDA; the reference every other backend is tested against. Its native offset
order is the canonical one, so weights are used as they are.
"""

from __future__ import annotations

import torch

from .backends import BACKENDS, Backend
from .gather_scatter import gather_matmul_scatter
from .tensor import SparseTensor


@BACKENDS.register("torch")
class TorchBackend(Backend):
    name = "torch"

    def native_order(self) -> bool:
        return True

    def _subm3(self, x: SparseTensor, weight: torch.Tensor) -> torch.Tensor:
        return gather_matmul_scatter(x.feats, weight, x.context.subm3_map(x.stride))

    def _down2(self, x: SparseTensor, weight: torch.Tensor) -> torch.Tensor:
        return gather_matmul_scatter(x.feats, weight, x.context.stride2_map(x.stride))

    def _up2(self, x: SparseTensor, weight: torch.Tensor) -> torch.Tensor:
        return gather_matmul_scatter(x.feats, weight, x.context.stride2_map(x.stride // 2).transposed())
