"""torchsparse >= 2.0 backend (CUDA; not on PyPI). Written against the documented 2.x API and untested here.

``torchsparse.nn.functional.conv3d(input, weight, kernel_size, bias=None, stride=1, ..., transposed=False)``
takes weights of shape ``(K, C_in, C_out)``. A native ``torchsparse.SparseTensor`` is built per call from
the adapter's coordinates (2.0 orders them ``[x, y, z, batch]``, 2.1 ``[batch, x, y, z]``) and shares one
coordinate / kernel-map cache per forward pass, stored in the adapter's context, so a transposed convolution
returns to the coordinates recorded for the finer stride (the adapter's own, in the adapter's order). The
output of a strided convolution is mapped onto the adapter's coarse level by coordinate lookup.
"""

from __future__ import annotations

import torch

from .backends import BACKENDS, INSTALL_HINTS, Backend, BackendUnavailable
from .tensor import SparseTensor


@BACKENDS.register("torchsparse")
class TorchsparseBackend(Backend):
    name = "torchsparse"

    def __init__(self) -> None:
        super().__init__()
        try:
            import torchsparse
            import torchsparse.nn.functional as F  # noqa: N812
        except ImportError as error:
            raise BackendUnavailable(
                f"sparse backend 'torchsparse' is not installed: {INSTALL_HINTS['torchsparse']}"
            ) from error
        version = tuple(int(p) for p in torchsparse.__version__.split(".")[:2] if p.isdigit())
        if version < (2, 0):
            raise BackendUnavailable(f"torchsparse {torchsparse.__version__} is too old: the adapter needs >= 2.0")
        self._ts = torchsparse
        self._conv3d = F.conv3d
        self._batch_last = version < (2, 1)

    def _native(self, x: SparseTensor, stride: int, feats: torch.Tensor):
        coords = x.context.level(stride).coords
        if self._batch_last:
            coords = torch.cat([coords[:, 1:], coords[:, :1]], dim=1)
        st = self._ts.SparseTensor(
            feats=feats, coords=coords.contiguous(), stride=stride if self._batch_last else (stride,) * 3
        )
        shared = x.context.cached(("torchsparse", "caches"), lambda: _caches_of(st))
        _attach_caches(st, shared)
        return st

    def _rows(self, x: SparseTensor, stride: int, native_coords: torch.Tensor) -> torch.Tensor:
        coords = native_coords.to(torch.int64)
        if self._batch_last:
            coords = torch.cat([coords[:, 3:], coords[:, :3]], dim=1)
        rows = x.context.level(stride).lookup(coords)
        if rows.numel() != x.context.level(stride).coords.shape[0] or bool((rows < 0).any()):
            raise RuntimeError(f"torchsparse's coordinates at stride {stride} differ from the adapter's")
        return rows

    def _conv(self, native, weight: torch.Tensor, **kwargs):
        if not self._batch_last:  # 2.1 builds the backward kernel maps only when told it is training
            kwargs["training"] = torch.is_grad_enabled()
        return self._conv3d(native, weight, **kwargs)

    def _subm3(self, x: SparseTensor, weight: torch.Tensor) -> torch.Tensor:
        out = self._conv(self._native(x, x.stride, x.feats), weight, kernel_size=3, stride=1)
        return out.feats.index_select(0, torch.argsort(self._rows(x, x.stride, out.coords)))

    def _down2(self, x: SparseTensor, weight: torch.Tensor) -> torch.Tensor:
        out = self._conv(self._native(x, x.stride, x.feats), weight, kernel_size=2, stride=2)
        return out.feats.index_select(0, torch.argsort(self._rows(x, 2 * x.stride, out.coords)))

    def _up2(self, x: SparseTensor, weight: torch.Tensor) -> torch.Tensor:
        fine = x.stride // 2
        n_fine = x.context.level(fine).coords.shape[0]
        self._native(x, fine, x.feats.new_zeros((n_fine, 1)))  # records the finer coordinates, in our order
        out = self._conv(self._native(x, x.stride, x.feats), weight, kernel_size=2, stride=2, transposed=True)
        return out.feats.index_select(0, torch.argsort(self._rows(x, fine, out.coords)))


def _caches_of(st) -> object:
    """The coordinate / kernel-map cache object of a native tensor (2.1: ``_caches``; 2.0: cmaps + kmaps)."""
    if hasattr(st, "_caches"):
        return st._caches
    return (st.cmaps, st.kmaps)


def _attach_caches(st, shared) -> None:
    """Share the per-forward caches and record ``st``'s coordinates for its stride (first come, kept)."""
    if hasattr(st, "_caches"):  # 2.1: cmaps[stride] = (coords, spatial_range)
        st._caches = shared
        st._caches.cmaps.setdefault(st.stride, (st.coords, getattr(st, "spatial_range", None)))
    else:  # 2.0: cmaps[stride] = coords
        st.cmaps, st.kmaps = shared
        st.cmaps.setdefault(st.stride, st.coords)
