"""spconv 2.x backend (PyPI ``spconv`` on CPU, ``spconv-cu12x`` on CUDA), Native gather-GEMM-scatter algorithm.

spconv builds its own index pairs (``get_indice_pairs``) from our coordinates divided by the stride; its
strided convolution emits output voxels in its own order, which is mapped onto the adapter's coarse level
by a coordinate lookup (and back for the transposed convolution, which reuses the strided pairs the way
``SparseInverseConv3d`` does). Weights are re-laid out at call time from ``(K, C_in, C_out)`` to spconv's
``(C_out, K, C_in)`` (KRSC) layout, never stored that way.

Arithmetic on CPU: spconv 2.3.8's ``SpconvOps.scatter_add_cpu`` races when torch runs more than one thread
(measured here: 2 to 9 of 300 calls with unique indices returned wrong sums, errors up to ~5 at 2 threads, none
at 1 thread), which makes its CPU convolution silently non-deterministic. By default (``cpu_arithmetic="torch"``)
the backend therefore converts spconv's index pairs into a ``KernelMap`` and runs the adapter's gather -> matmul ->
scatter-add on CPU; ``cpu_arithmetic="spconv"`` runs spconv's own CPU kernels (for benchmarks, or with
``torch.set_num_threads(1)``). On CUDA spconv's own kernels are always used.
"""

from __future__ import annotations

import contextlib
import functools

import torch

from .backends import BACKENDS, INSTALL_HINTS, Backend, BackendUnavailable
from .gather_scatter import gather_matmul_scatter
from .kernel_map import KernelMap
from .tensor import SparseTensor

#: Origin granularity: coordinates are shifted by a multiple of this so that flooring is unchanged
#: at every stride up to it.
_ORIGIN_STEP = 1024


@BACKENDS.register("spconv")
class SpconvBackend(Backend):
    name = "spconv"

    def __init__(self, *, cpu_arithmetic: str = "torch") -> None:
        super().__init__()
        if cpu_arithmetic not in ("torch", "spconv"):
            raise ValueError(f"cpu_arithmetic must be 'torch' or 'spconv', got {cpu_arithmetic!r}")
        self.cpu_arithmetic = cpu_arithmetic
        try:
            from spconv.core import ConvAlgo
            from spconv.pytorch import ops
        except ImportError as error:  # pragma: no cover - exercised only where spconv is absent
            raise BackendUnavailable(f"sparse backend 'spconv' is not installed: {INSTALL_HINTS['spconv']}") from error
        self._ops = ops
        self._algo = ConvAlgo.Native  # chosen explicitly: the only algorithm spconv implements on CPU

    # -- index pairs ------------------------------------------------------------------------------------
    def _grid(self, x: SparseTensor, stride: int) -> tuple[torch.Tensor, list[int], int]:
        """spconv indices (N, 4) int32 [b, x, y, z] in units of ``stride``, spatial shape, batch size."""

        origin = self._origin(x)
        coords = x.context.level(stride).coords
        grid = torch.cat([coords[:, :1], torch.div(coords[:, 1:] - origin, stride, rounding_mode="floor")], dim=1)
        grid = grid.to(torch.int32).contiguous()
        # even extent, so that the stride-2 output size floor((n - 2) / 2) + 1 keeps the last voxel
        shape = [int(v) + 2 - int(v) % 2 for v in grid[:, 1:].max(dim=0).values.tolist()]
        return grid, shape, int(coords[:, 0].max()) + 1

    @staticmethod
    def _origin(x: SparseTensor) -> torch.Tensor:
        """(3,) int64 grid origin: the finest coordinates' minimum floored to a multiple of _ORIGIN_STEP."""

        def build():
            low = x.context.level(1).coords[:, 1:].to(torch.int64).min(dim=0).values
            return torch.div(low, _ORIGIN_STEP, rounding_mode="floor") * _ORIGIN_STEP

        return x.context.cached(("spconv", "origin"), build)

    def _subm_pairs(self, x: SparseTensor):
        def build():
            grid, shape, batch = self._grid(x, x.stride)
            _, pairs, counts = self._ops.get_indice_pairs(
                grid, batch, shape, self._algo, [3] * 3, [1] * 3, [1] * 3, [1] * 3, [0] * 3, subm=True
            )
            return pairs, counts

        return x.context.cached(("spconv", "subm3", x.stride), build)

    def _down_pairs(self, x: SparseTensor, stride: int):
        """Pairs from ``stride`` to ``2 * stride`` and ``rows`` (our coarse row of each spconv output row)."""

        def build():
            grid, shape, batch = self._grid(x, stride)
            out_grid, pairs, counts = self._ops.get_indice_pairs(
                grid, batch, shape, self._algo, [2] * 3, [2] * 3, [0] * 3, [1] * 3, [0] * 3, subm=False
            )
            coarse = x.context.level(2 * stride)
            origin = self._origin(x)
            out = out_grid.to(torch.int64)
            coords = torch.cat([out[:, :1], out[:, 1:] * (2 * stride) + origin], dim=1)
            rows = coarse.lookup(coords)
            if rows.numel() != coarse.coords.shape[0] or bool((rows < 0).any()):
                raise RuntimeError(
                    f"spconv's stride-2 output at stride {2 * stride} does not match the adapter's voxels "
                    f"({out_grid.shape[0]} vs {coarse.coords.shape[0]})"
                )
            return pairs, counts, rows

        return x.context.cached(("spconv", "down2", stride), build)

    def __reduce__(self):
        return (functools.partial(SpconvBackend, cpu_arithmetic=self.cpu_arithmetic), ())

    def _own_arithmetic(self, x: SparseTensor) -> bool:
        return x.feats.device.type != "cpu" or self.cpu_arithmetic == "spconv"

    def _kernel_map(self, x: SparseTensor, kind: str, stride: int) -> KernelMap:
        """spconv's pairs as an adapter KernelMap (rows in the adapter's order)."""

        def build():
            if kind == "subm3":
                pairs, counts = self._subm_pairs(x)
                n = x.context.level(stride).coords.shape[0]
                counts = counts.tolist()
                # spconv's CPU builder stores each mirrored pair list but counts it only once (for k < centre)
                sizes = [0 if k == 13 else max(counts[k], counts[26 - k]) for k in range(27)]
                in_rows = torch.cat([pairs[0, k, : sizes[k]] for k in range(27)]).to(torch.int64)
                out_rows = torch.cat([pairs[1, k, : sizes[k]] for k in range(27)]).to(torch.int64)
                return KernelMap(in_rows, out_rows, _bounds(sizes), 13, n, n)
            pairs, counts, rows = self._down_pairs(x, stride)
            sizes = counts.tolist()
            in_rows = torch.cat([pairs[0, k, : sizes[k]] for k in range(8)]).to(torch.int64)
            out_rows = rows[torch.cat([pairs[1, k, : sizes[k]] for k in range(8)]).to(torch.int64)]
            n_fine = x.context.level(stride).coords.shape[0]
            return KernelMap(in_rows, out_rows, _bounds(sizes), None, n_fine, rows.numel())

        return x.context.cached(("spconv", "kmap", kind, stride), build)

    # -- convolutions ---------------------------------------------------------------------------------
    def _subm3(self, x: SparseTensor, weight: torch.Tensor) -> torch.Tensor:
        if not self._own_arithmetic(x):
            return gather_matmul_scatter(x.feats, weight, self._kernel_map(x, "subm3", x.stride))
        pairs, counts = self._subm_pairs(x)
        filters = weight.permute(2, 0, 1).contiguous()
        return _SpconvConv.apply(x.feats, filters, pairs, counts, x.feats.shape[0], False, True, self)

    def _down2(self, x: SparseTensor, weight: torch.Tensor) -> torch.Tensor:
        if not self._own_arithmetic(x):
            return gather_matmul_scatter(x.feats, weight, self._kernel_map(x, "down2", x.stride))
        pairs, counts, rows = self._down_pairs(x, x.stride)
        filters = weight.permute(2, 0, 1).contiguous()
        out = _SpconvConv.apply(x.feats, filters, pairs, counts, rows.numel(), False, False, self)
        return out.index_select(0, torch.argsort(rows))

    def _up2(self, x: SparseTensor, weight: torch.Tensor) -> torch.Tensor:
        fine = x.stride // 2
        if not self._own_arithmetic(x):
            return gather_matmul_scatter(x.feats, weight, self._kernel_map(x, "down2", fine).transposed())
        pairs, counts, rows = self._down_pairs(x, fine)
        filters = weight.permute(2, 0, 1).contiguous()
        n_fine = x.context.level(fine).coords.shape[0]
        return _SpconvConv.apply(x.feats.index_select(0, rows), filters, pairs, counts, n_fine, True, False, self)


def _bounds(sizes: list[int]) -> tuple[int, ...]:
    bounds = [0]
    for size in sizes:
        bounds.append(bounds[-1] + int(size))
    return tuple(bounds)


@contextlib.contextmanager
def _no_cuda_stream(ops, device: torch.device):
    """Work around spconv 2.3.8 on CPU: ``indice_conv_backward`` calls ``get_current_stream()`` (that is,
    ``torch.cuda.current_stream()``) unconditionally, which fails without CUDA. For CPU tensors the stream is
    never used, so it is replaced by 0 for the duration of the call only."""
    if device.type != "cpu":
        yield
        return
    original = ops.get_current_stream
    ops.get_current_stream = lambda: 0
    try:
        yield
    finally:
        ops.get_current_stream = original


class _SpconvConv(torch.autograd.Function):
    """spconv's indice_conv / indice_conv_backward with the CPU backward work-around."""

    @staticmethod
    def forward(ctx, feats, filters, pairs, counts, n_out, inverse, subm, backend):
        feats = feats.contiguous()
        ctx.save_for_backward(feats, filters, pairs, counts)
        ctx.flags = (inverse, subm, backend)
        return backend._ops.indice_conv(
            feats, filters, pairs, counts, n_out, inverse, subm, algo=backend._algo
        )

    @staticmethod
    def backward(ctx, grad_out):
        feats, filters, pairs, counts = ctx.saved_tensors
        inverse, subm, backend = ctx.flags
        with _no_cuda_stream(backend._ops, feats.device):
            grad_feats, grad_filters = backend._ops.indice_conv_backward(
                feats, filters, grad_out.contiguous(), pairs, counts, inverse, subm, algo=backend._algo
            )
        return grad_feats, grad_filters, None, None, None, None, None, None
