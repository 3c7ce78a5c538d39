"""MinkUNet (MinkowskiNet as in SPVNAS / ReDAL): a residual sparse U-Net, outputs read back at every point."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from .base import MODELS, SegmentationNet
from .blocks import UNetTrunk
from .sparse import Backend

if TYPE_CHECKING:
    from ..data.voxelize import SparseBatch


@MODELS.register("minkunet")
class MinkUNet(SegmentationNet):
    """Stem 32; encoder 32, 64, 128, 256 (strided k2 s2 + 2 residual blocks each); decoder 256, 128, 96, 96
    (transposed k2 s2, skip concatenation, 2 residual blocks); linear classifier. Channels times ``width``.
    No dropout (``has_dropout = False``): MC dropout is not available for this backbone, as in the paper.
    """

    has_dropout = False

    def __init__(
        self, *, in_channels: int, num_classes: int, width: float = 1.0, backend: str | Backend = "auto"
    ) -> None:
        super().__init__(in_channels=in_channels, num_classes=num_classes, width=width, backend=backend)
        self.trunk = UNetTrunk(in_channels=in_channels, channels=self.channels)
        self.classifier = nn.Linear(self.feature_dim, num_classes)

    def forward(self, batch: SparseBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """-> logits (P, num_classes), features (P, feature_dim), one row per point of the batch."""
        x = self._input(batch)
        t = self.trunk
        x0 = t.stem(x)
        x1 = t.stages[0](x0)
        x2 = t.stages[1](x1)
        x3 = t.stages[2](x2)
        x4 = t.stages[3](x3)
        y = t.up(0, x4, x3)
        y = t.up(1, y, x2)
        y = t.up(2, y, x1)
        y = t.up(3, y, x0)
        features = y.feats.index_select(0, batch.inverse)
        return self.classifier(features), features
