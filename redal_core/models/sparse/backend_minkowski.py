"""MinkowskiEngine 0.5.4 backend (optional; builds from source, see ``INSTALL_HINTS['minkowski']``).

Each stride of the adapter's coordinates is registered once in one ME ``CoordinateManager`` per forward
(the stride-1 map by ``insert_and_map``, coarser maps by ``CoordinateManager.stride``), so the transposed
convolution lands on the encoder's coordinates. ME keeps rows in its own order; features are permuted into
it and back by coordinate lookup. ME's kernel layout is already ``(K, C_in, C_out)``; its offset order is
measured by the calibration probe. Written against the 0.5.4 API; untested where ME is not installed.
"""

from __future__ import annotations

import torch

from .backends import BACKENDS, INSTALL_HINTS, Backend, BackendUnavailable
from .tensor import SparseTensor


def _import_minkowski():
    """Import MinkowskiEngine; on Python >= 3.10 it needs ``collections.Sequence``, removed from the stdlib
    (restored as the ``collections.abc`` alias only when MinkowskiEngine is actually installed)."""
    import collections
    import collections.abc
    import importlib.util

    if importlib.util.find_spec("MinkowskiEngine") is None:
        raise ImportError("MinkowskiEngine is not installed")
    if not hasattr(collections, "Sequence"):
        collections.Sequence = collections.abc.Sequence  # type: ignore[attr-defined]
    import MinkowskiEngine as ME  # noqa: N817
    from MinkowskiEngine.MinkowskiConvolution import (
        MinkowskiConvolutionFunction,
        MinkowskiConvolutionTransposeFunction,
    )
    from MinkowskiEngine.MinkowskiKernelGenerator import KernelGenerator
    from MinkowskiEngineBackend._C import ConvolutionMode

    return ME, MinkowskiConvolutionFunction, MinkowskiConvolutionTransposeFunction, KernelGenerator, ConvolutionMode


@BACKENDS.register("minkowski")
class MinkowskiBackend(Backend):
    name = "minkowski"

    def __init__(self) -> None:
        super().__init__()
        try:
            self._me, self._conv_fn, self._deconv_fn, kernel_generator, modes = _import_minkowski()
        except ImportError as error:
            raise BackendUnavailable(
                f"sparse backend 'minkowski' is not installed: {INSTALL_HINTS['minkowski']}"
            ) from error
        self._mode = modes.DEFAULT
        self._kernels = {
            "subm3": kernel_generator(kernel_size=3, stride=1, dilation=1, dimension=3),
            "down2": kernel_generator(kernel_size=2, stride=2, dilation=1, dimension=3),
            "up2": kernel_generator(kernel_size=2, stride=2, dilation=1, is_transpose=True, dimension=3),
        }

    def _manager(self, x: SparseTensor):
        def build():
            device = x.context.level(1).coords.device
            map_type = self._me.CoordinateMapType.CPU if device.type == "cpu" else self._me.CoordinateMapType.CUDA
            # ME's CPU kernels size their per-thread work by num_threads; it must match the OpenMP pool torch
            # runs with, else the weight gradients come out wrong (measured: 1.5e-3 relative error at 1 vs 2)
            return self._me.CoordinateManager(D=3, coordinate_map_type=map_type, num_threads=torch.get_num_threads())

        return x.context.cached(("minkowski", "manager"), build)

    def _key(self, x: SparseTensor, stride: int):
        """(ME map key, me_rows: our row of each ME row, our_to_me: ME row of each of our rows) at ``stride``."""

        def build():
            manager = self._manager(x)
            level = x.context.level(stride)
            if stride == 1:
                key, (unique_map, _) = manager.insert_and_map(level.coords.contiguous(), [1, 1, 1])
                me_rows = unique_map.to(torch.int64)
            else:
                key = manager.stride(self._key(x, stride // 2)[0], [2, 2, 2])
                me_rows = level.lookup(manager.get_coordinates(key).to(level.coords.device))
            if me_rows.numel() != level.coords.shape[0] or bool((me_rows < 0).any()):
                raise RuntimeError(f"MinkowskiEngine's coordinates at stride {stride} differ from the adapter's")
            return key, me_rows, torch.argsort(me_rows)

        return x.context.cached(("minkowski", "key", stride), build)

    def _subm3(self, x: SparseTensor, weight: torch.Tensor) -> torch.Tensor:
        key, me_rows, our_to_me = self._key(x, x.stride)
        out = self._conv_fn.apply(
            x.feats.index_select(0, me_rows).contiguous(), weight, self._kernels["subm3"], self._mode, key, key, self._manager(x)
        )
        return out.index_select(0, our_to_me)

    def _down2(self, x: SparseTensor, weight: torch.Tensor) -> torch.Tensor:
        key, me_rows, _ = self._key(x, x.stride)
        out_key, _, out_to_me = self._key(x, 2 * x.stride)
        out = self._conv_fn.apply(
            x.feats.index_select(0, me_rows).contiguous(), weight, self._kernels["down2"], self._mode, key, out_key,
            self._manager(x),
        )
        return out.index_select(0, out_to_me)

    def _up2(self, x: SparseTensor, weight: torch.Tensor) -> torch.Tensor:
        key, me_rows, _ = self._key(x, x.stride)
        out_key, _, out_to_me = self._key(x, x.stride // 2)
        out = self._deconv_fn.apply(
            x.feats.index_select(0, me_rows).contiguous(), weight, self._kernels["up2"], self._mode, key, out_key,
            self._manager(x),
        )
        return out.index_select(0, out_to_me)
