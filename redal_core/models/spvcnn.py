"""SPVCNN (SPVNAS): the MinkUNet voxel branch plus a point branch at full resolution.

Points enter through the scatter-mean voxelization of their features (equal to ``batch.feats``), and
voxel features return to points by trilinear devoxelization (``sparse.points``) after the stem, the
encoder and the decoder's 2nd and 4th stages, each time added to a point transform (Linear -> BN -> ReLU)
of the previous point features. Dropout p = 0.3 before the 1st and 3rd decoder stages is what MC dropout
samples (``enable_mc_dropout``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from .base import MODELS, SegmentationNet
from .blocks import UNetTrunk
from .sparse import Backend, devoxelize, point_map, voxelize

if TYPE_CHECKING:
    from ..data.voxelize import SparseBatch

DROPOUT_P = 0.3


def _point_transform(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(c_in, c_out), nn.BatchNorm1d(c_out), nn.ReLU())


@MODELS.register("spvcnn")
class SPVCNN(SegmentationNet):
    has_dropout = True

    def __init__(
        self, *, in_channels: int, num_classes: int, width: float = 1.0, backend: str | Backend = "auto"
    ) -> None:
        super().__init__(in_channels=in_channels, num_classes=num_classes, width=width, backend=backend)
        cs = self.channels
        self.trunk = UNetTrunk(in_channels=in_channels, channels=cs)
        self.point_transforms = nn.ModuleList(
            [_point_transform(cs[0], cs[4]), _point_transform(cs[4], cs[6]), _point_transform(cs[6], cs[8])]
        )
        self.dropout = nn.Dropout(DROPOUT_P)
        self.classifier = nn.Linear(self.feature_dim, num_classes)

    def forward(self, batch: SparseBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """-> logits (P, num_classes), point features (P, feature_dim)."""
        x = self._input(batch)
        t = self.trunk
        pts, rows = batch.point_coords, batch.inverse
        fine = point_map(x, pts, rows)
        x0 = t.stem(voxelize(x, batch.point_feats, fine))
        z0 = devoxelize(x0, fine)
        x1 = t.stages[0](voxelize(x0, z0, fine))
        x2 = t.stages[1](x1)
        x3 = t.stages[2](x2)
        x4 = t.stages[3](x3)

        deep = point_map(x4, pts, rows)
        z1 = devoxelize(x4, deep) + self.point_transforms[0](z0)
        y = voxelize(x4, z1, deep)
        y = t.up(0, y.with_feats(self.dropout(y.feats)), x3)
        y2 = t.up(1, y, x2)

        mid = point_map(y2, pts, rows)
        z2 = devoxelize(y2, mid) + self.point_transforms[1](z1)
        y = voxelize(y2, z2, mid)
        y = t.up(2, y.with_feats(self.dropout(y.feats)), x1)
        y4 = t.up(3, y, x0)

        z3 = devoxelize(y4, fine) + self.point_transforms[2](z2)
        return self.classifier(z3), z3
