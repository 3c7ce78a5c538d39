"""Sparse quantization, inverse maps and batch collation (the data layer's only torch touchpoint).

Models consume a ``SparseBatch``: voxel coordinates with a batch column, voxel features (mean over the
voxel's points), and for every point its continuous coordinate in voxel units and the row of its voxel,
so that per-voxel outputs are read back at every original point (evaluation on ALL points).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported lazily so that numpy-only users never pay for it
    import torch


@dataclass(frozen=True)
class Voxels:
    """Result of ``voxelize``.

    coords  : (V, 3) int32 voxel indices, ``floor(xyz / voxel_size)`` shifted so the minimum is 0
    indices : (V,) int64 one representative point per voxel (the first in input order)
    inverse : (N,) int64 the voxel row of every point (``coords[inverse]`` is each point's voxel)
    counts  : (V,) int64 points per voxel
    origin  : (3,) float64 the corner ``floor(min(xyz) / voxel_size) * voxel_size`` used for the shift
    voxel_size : float
    """

    coords: np.ndarray
    indices: np.ndarray
    inverse: np.ndarray
    counts: np.ndarray
    origin: np.ndarray
    voxel_size: float


def voxelize(xyz: np.ndarray, voxel_size: float = 0.05) -> Voxels:
    """Quantize points to a voxel grid.

    xyz : (N, 3) float coordinates in metres; voxel_size : edge length in metres (> 0).
    Voxels are ordered lexicographically by (x, y, z), so the result does not depend on point order
    except through ``indices`` (the first point of each voxel).
    """
    xyz = np.asarray(xyz)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or xyz.shape[0] == 0:
        raise ValueError(f"xyz must be a non-empty (N, 3) array, got shape {xyz.shape}")
    if not np.isfinite(voxel_size) or voxel_size <= 0:
        raise ValueError(f"voxel_size must be a positive number of metres, got {voxel_size!r}")
    grid = np.floor(xyz.astype(np.float64) / voxel_size).astype(np.int64)
    low = grid.min(axis=0)
    grid -= low
    span = grid.max(axis=0) + 1
    if np.prod(span.astype(np.float64)) >= 2.0**62:
        raise ValueError(f"point cloud spans {span.tolist()} voxels of {voxel_size} m: too large to index")
    flat = (grid[:, 0] * span[1] + grid[:, 1]) * span[2] + grid[:, 2]
    _, indices, inverse, counts = np.unique(flat, return_index=True, return_inverse=True, return_counts=True)
    return Voxels(
        coords=grid[indices].astype(np.int32),
        indices=indices.astype(np.int64),
        inverse=inverse.reshape(-1).astype(np.int64),
        counts=counts.astype(np.int64),
        origin=low.astype(np.float64) * voxel_size,
        voxel_size=float(voxel_size),
    )


def input_features(xyz: np.ndarray, rgb: np.ndarray | None, intensity: np.ndarray | None) -> np.ndarray:
    """(N, C) float32 network input per point.

    With colour (S3DIS): C = 6 = rgb / 255 and xyz centred on the scan's mean.
    Without colour (SemanticKITTI): C = 4 = xyz and remission.
    """
    xyz = np.asarray(xyz, dtype=np.float32)
    if rgb is not None:
        return np.concatenate([np.asarray(rgb, np.float32) / 255.0, xyz - xyz.mean(axis=0)], axis=1)
    if intensity is not None:
        return np.concatenate([xyz, np.asarray(intensity, np.float32)[:, None]], axis=1)
    raise ValueError("a scan needs rgb or intensity to build network input features")


@dataclass
class SparseBatch:
    """A batch of point clouds ready for a sparse network.

    coords        : (V, 4) int32 [batch, x, y, z] voxel coordinates (stride 1)
    feats         : (V, C) float32 mean input feature of each voxel's points
    point_coords  : (P, 4) float32 [batch, x, y, z] each point's coordinate in voxel units (same origin)
    point_feats   : (P, C) float32 input feature of each point
    inverse       : (P,) int64 row in ``coords`` of each point's voxel
    labels        : (P,) int64 per-point labels (IGNORE_INDEX where unlabeled), or None
    point_counts  : points per sample, in batch order (to split per-point outputs back per scan)
    """

    coords: torch.Tensor
    feats: torch.Tensor
    point_coords: torch.Tensor
    point_feats: torch.Tensor
    inverse: torch.Tensor
    labels: torch.Tensor | None
    point_counts: list[int]

    @property
    def batch_size(self) -> int:
        return len(self.point_counts)

    def to(self, device: torch.device | str) -> SparseBatch:
        move = {
            name: getattr(self, name).to(device, non_blocking=True)
            for name in ("coords", "feats", "point_coords", "point_feats", "inverse")
        }
        labels = None if self.labels is None else self.labels.to(device, non_blocking=True)
        return SparseBatch(labels=labels, point_counts=list(self.point_counts), **move)

    def pin_memory(self) -> SparseBatch:
        """A copy in page-locked memory (the DataLoader's ``pin_memory`` calls it), for non-blocking copies."""
        pinned = {name: getattr(self, name).pin_memory()
                  for name in ("coords", "feats", "point_coords", "point_feats", "inverse")}
        labels = None if self.labels is None else self.labels.pin_memory()
        return SparseBatch(labels=labels, point_counts=list(self.point_counts), **pinned)

    def split(self, per_point: torch.Tensor) -> list[torch.Tensor]:
        """Split a (P, ...) per-point tensor into one tensor per sample."""
        return list(per_point.split(self.point_counts))


def collate(
    samples: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]], voxel_size: float = 0.05
) -> SparseBatch:
    """Build a ``SparseBatch`` from ``(xyz (N,3), feats (N,C), labels (N,) | None)`` samples.

    Every sample is voxelized on its own grid; voxel features are the mean of their points' features.
    """
    import torch

    if not samples:
        raise ValueError("collate needs at least one sample")
    with_labels = samples[0][2] is not None
    for b, (xyz, point_feat, label) in enumerate(samples):
        n = len(xyz)
        if np.ndim(point_feat) != 2 or len(point_feat) != n:
            raise ValueError(f"collate sample {b}: feats must be ({n}, C) like its xyz, got shape {np.shape(point_feat)}")
        if (label is not None) != with_labels:
            raise ValueError(f"collate sample {b}: labels must be given for every sample or for none")
        if label is not None and np.shape(label) != (n,):
            raise ValueError(f"collate sample {b}: labels must have shape ({n},), got {np.shape(label)}")
    coords, feats, point_coords, point_feats, inverse, labels, counts = [], [], [], [], [], [], []
    offset = 0
    for b, (xyz, point_feat, label) in enumerate(samples):
        vox = voxelize(xyz, voxel_size)
        n_vox = vox.coords.shape[0]
        feat = np.stack(
            [np.bincount(vox.inverse, weights=column, minlength=n_vox) for column in np.asarray(point_feat).T], axis=1
        ) / vox.counts[:, None]
        coords.append(np.concatenate([np.full((n_vox, 1), b, np.int32), vox.coords], axis=1))
        feats.append(feat.astype(np.float32))
        # xyz / size - low, the same float64 quotient voxelize floors, so floor(rel) == coords[inverse]
        rel = np.asarray(xyz, np.float64) / voxel_size - np.round(vox.origin / voxel_size)
        point_coords.append(np.concatenate([np.full((len(xyz), 1), b, np.float64), rel], axis=1).astype(np.float32))
        point_feats.append(np.asarray(point_feat, np.float32))
        inverse.append(vox.inverse + offset)
        if with_labels:
            labels.append(np.asarray(label, np.int64))
        counts.append(len(xyz))
        offset += n_vox
    return SparseBatch(
        coords=torch.from_numpy(np.concatenate(coords)),
        feats=torch.from_numpy(np.concatenate(feats)),
        point_coords=torch.from_numpy(np.concatenate(point_coords)),
        point_feats=torch.from_numpy(np.concatenate(point_feats)),
        inverse=torch.from_numpy(np.concatenate(inverse)),
        labels=torch.from_numpy(np.concatenate(labels)) if with_labels else None,
        point_counts=counts,
    )
