"""What MinkUNet and SPVCNN share: width handling, backend choice, input checks, the MODELS registry."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..registry import Registry
from .blocks import BASE_CHANNELS, scaled
from .sparse import Backend, SparseTensor, get_backend

if TYPE_CHECKING:
    from ..data.voxelize import SparseBatch

MODELS: Registry[type[SegmentationNet]] = Registry("model")


class SegmentationNet(nn.Module):
    """Base of the per-point segmentation networks.

    ``forward(batch: SparseBatch) -> (logits (P, num_classes), features (P, feature_dim))`` per point.
    The backend is a plain attribute (not a module or buffer): it never enters the state_dict, and
    ``set_backend`` swaps it on a trained model.
    """

    has_dropout: bool = False

    def __init__(self, *, in_channels: int, num_classes: int, width: float = 1.0, backend: str | Backend = "auto"):
        super().__init__()
        for key, value in (("in_channels", in_channels), ("num_classes", num_classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive int, got {value!r}")
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not math.isfinite(width) or width <= 0:
            raise ValueError(f"width must be a positive finite number, got {width!r}")
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.width = float(width)
        self.channels = tuple(scaled(c, self.width) for c in BASE_CHANNELS)
        self.feature_dim = self.channels[-1]
        self.backend = get_backend(backend)

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def set_backend(self, backend: str | Backend) -> SegmentationNet:
        """Run this model (same weights) on another backend; returns self."""
        self.backend = get_backend(backend)
        return self

    def _input(self, batch: SparseBatch) -> SparseTensor:
        for name in ("coords", "feats", "point_coords", "point_feats", "inverse"):
            if not isinstance(getattr(batch, name, None), torch.Tensor):
                raise ValueError(f"batch.{name} must be a torch tensor (a redal_core.data.voxelize.SparseBatch)")
        if batch.feats.shape[1] != self.in_channels or batch.point_feats.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} was built for in_channels={self.in_channels}, but the batch has "
                f"{batch.feats.shape[1]} voxel / {batch.point_feats.shape[1]} point feature channels"
            )
        if batch.inverse.shape[0] != batch.point_coords.shape[0]:
            raise ValueError(
                f"batch.inverse has {batch.inverse.shape[0]} rows but batch.point_coords {batch.point_coords.shape[0]}"
            )
        return SparseTensor.from_input(coords=batch.coords, feats=batch.feats, backend=self.backend)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, num_classes={self.num_classes}, width={self.width}, "
            f"backend={self.backend.name!r}"
        )
