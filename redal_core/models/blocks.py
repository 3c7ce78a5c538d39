"""Layers and blocks written once against the sparse adapter (``redal_core.models.sparse``).

Weights are ordinary Parameters of these modules -- a convolution's ``kernel`` has shape
``(K, C_in, C_out)`` in the adapter's canonical offset order -- so a state_dict is the same whatever backend
runs the model. Blocks follow SPVNAS's MinkUNet / SPVCNN (torchsparse ``BasicConvolutionBlock``,
``BasicDeconvolutionBlock``, ``ResidualBlock``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .sparse import SparseTensor


def scaled(channels: int, width: float) -> int:
    """Channel count under a width multiplier: ``max(1, round(channels * width))``."""
    return max(1, int(round(channels * width)))


class SparseConv3d(nn.Module):
    """Sparse 3D convolution without bias.

    kernel_size=3, stride=1: submanifold (output on the input's voxels);
    kernel_size=1, stride=1: pointwise (a matmul on features, backend-independent);
    kernel_size=2, stride=2: strided (output at twice the stride), or with ``transposed=True`` the transposed
    convolution back onto the finer level's own voxels.
    kernel : (K, C_in, C_out) Parameter, K = kernel_size ** 3.
    """

    def __init__(
        self, *, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, transposed: bool = False
    ) -> None:
        super().__init__()
        allowed = {(3, 1, False), (1, 1, False), (2, 2, False), (2, 2, True)}
        if (kernel_size, stride, transposed) not in allowed:
            raise ValueError(
                f"unsupported sparse convolution kernel_size={kernel_size}, stride={stride}, transposed={transposed}; "
                "allowed: submanifold k3 s1, pointwise k1 s1, strided k2 s2, transposed k2 s2"
            )
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"channel counts must be >= 1, got in={in_channels}, out={out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.transposed = kernel_size, stride, transposed
        volume = kernel_size**3
        self.kernel = nn.Parameter(torch.empty(volume, in_channels, out_channels))
        bound = 1.0 / math.sqrt((out_channels if transposed else in_channels) * volume)
        nn.init.uniform_(self.kernel, -bound, bound)

    def forward(self, x: SparseTensor) -> SparseTensor:
        if x.feats.shape[1] != self.in_channels:
            raise ValueError(f"{self} expects {self.in_channels} input channels, got {x.feats.shape[1]}")
        if self.kernel_size == 1:
            return x.with_feats(x.feats @ self.kernel[0])
        if self.kernel_size == 3:
            return x.backend.subm3(x, self.kernel)
        if self.transposed:
            return x.backend.up2(x, self.kernel)
        return x.backend.down2(x, self.kernel)

    def extra_repr(self) -> str:
        kind = "transposed, " if self.transposed else ""
        return f"{self.in_channels}, {self.out_channels}, {kind}kernel_size={self.kernel_size}, stride={self.stride}"


class SparseBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d over the features of a sparse tensor (statistics over all voxels of the batch)."""

    def forward(self, x: SparseTensor) -> SparseTensor:  # type: ignore[override]
        return x.with_feats(super().forward(x.feats))


class SparseReLU(nn.ReLU):
    def forward(self, x: SparseTensor) -> SparseTensor:  # type: ignore[override]
        return x.with_feats(super().forward(x.feats))


class ConvBlock(nn.Sequential):
    """Conv -> BN -> ReLU (kernel_size/stride as in ``SparseConv3d``)."""

    def __init__(self, *, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(
            SparseConv3d(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size, stride=stride),
            SparseBatchNorm(out_channels),
            SparseReLU(),
        )


class DeconvBlock(nn.Sequential):
    """Transposed conv k2 s2 -> BN -> ReLU."""

    def __init__(self, *, in_channels: int, out_channels: int) -> None:
        super().__init__(
            SparseConv3d(
                in_channels=in_channels, out_channels=out_channels, kernel_size=2, stride=2, transposed=True
            ),
            SparseBatchNorm(out_channels),
            SparseReLU(),
        )


class ResidualBlock(nn.Module):
    """relu(BN(conv3(relu(BN(conv3(x))))) + shortcut(x)); shortcut = identity, or pointwise conv + BN when the
    channel count changes."""

    def __init__(self, *, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            SparseConv3d(in_channels=in_channels, out_channels=out_channels),
            SparseBatchNorm(out_channels),
            SparseReLU(),
            SparseConv3d(in_channels=out_channels, out_channels=out_channels),
            SparseBatchNorm(out_channels),
        )
        if in_channels == out_channels:
            self.downsample: nn.Module = nn.Identity()
        else:
            self.downsample = nn.Sequential(
                SparseConv3d(in_channels=in_channels, out_channels=out_channels, kernel_size=1),
                SparseBatchNorm(out_channels),
            )
        self.relu = nn.ReLU()

    def forward(self, x: SparseTensor) -> SparseTensor:
        return x.with_feats(self.relu(self.net(x).feats + self.downsample(x).feats))


def cat(a: SparseTensor, b: SparseTensor) -> SparseTensor:
    """Channel concatenation of two tensors on the same voxels (same context and stride)."""
    if a.context is not b.context or a.stride != b.stride:
        raise ValueError(f"cannot concatenate sparse tensors at strides {a.stride} and {b.stride} / other inputs")
    return a.with_feats(torch.cat([a.feats, b.feats], dim=1))


# SPVNAS channel plan: stem, encoder x4, decoder x4.
BASE_CHANNELS = (32, 32, 64, 128, 256, 256, 128, 96, 96)


class UNetTrunk(nn.Module):
    """The voxel branch shared by MinkUNet and SPVCNN: stem, four strided stages, four decoder stages.

    ``channels`` : 9 ints (stem, encoder 1-4, decoder 1-4). Decoder stage i upsamples, concatenates the
    encoder output of the same stride, then applies two residual blocks.
    """

    def __init__(self, *, in_channels: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        cs = channels
        self.stem = nn.Sequential(
            ConvBlock(in_channels=in_channels, out_channels=cs[0]),
            ConvBlock(in_channels=cs[0], out_channels=cs[0]),
        )
        self.stages = nn.ModuleList(
            nn.Sequential(
                ConvBlock(in_channels=cs[i], out_channels=cs[i], kernel_size=2, stride=2),
                ResidualBlock(in_channels=cs[i], out_channels=cs[i + 1]),
                ResidualBlock(in_channels=cs[i + 1], out_channels=cs[i + 1]),
            )
            for i in range(4)
        )
        skips = (cs[3], cs[2], cs[1], cs[0])
        self.ups = nn.ModuleList()
        for i in range(4):
            c_in, c_out = cs[4 + i], cs[5 + i]
            self.ups.append(
                nn.ModuleList(
                    [
                        DeconvBlock(in_channels=c_in, out_channels=c_out),
                        nn.Sequential(
                            ResidualBlock(in_channels=c_out + skips[i], out_channels=c_out),
                            ResidualBlock(in_channels=c_out, out_channels=c_out),
                        ),
                    ]
                )
            )

    def up(self, i: int, y: SparseTensor, skip: SparseTensor) -> SparseTensor:
        deconv, blocks = self.ups[i]
        return blocks(cat(deconv(y), skip))
