"""The Scan record every reader returns and every later stage consumes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from redal_core import IGNORE_INDEX


@dataclass(frozen=True, eq=False)
class Scan:
    """One labelled point cloud.

    xyz       : (N, 3) float32 coordinates in metres
    rgb       : (N, 3) uint8 colours, or None (LiDAR)
    intensity : (N,) float32 remission, or None (RGB-D / S3DIS)
    labels    : (N,) int64 train ids, ``IGNORE_INDEX`` where unlabeled
    name      : a stable identifier, e.g. ``Area_1/office_3`` or ``08/000000``
    """

    xyz: np.ndarray
    rgb: np.ndarray | None
    intensity: np.ndarray | None
    labels: np.ndarray
    name: str

    def __post_init__(self) -> None:
        xyz = self.xyz
        if not (isinstance(xyz, np.ndarray) and xyz.ndim == 2 and xyz.shape[1] == 3 and xyz.dtype == np.float32):
            raise ValueError(f"scan {self.name!r}: xyz must be a float32 (N, 3) array, got {_describe(xyz)}")
        n = xyz.shape[0]
        if n == 0:
            raise ValueError(f"scan {self.name!r} is empty (0 points)")
        if self.rgb is not None and not (
            isinstance(self.rgb, np.ndarray) and self.rgb.shape == (n, 3) and self.rgb.dtype == np.uint8
        ):
            raise ValueError(f"scan {self.name!r}: rgb must be a uint8 ({n}, 3) array, got {_describe(self.rgb)}")
        if self.intensity is not None and not (
            isinstance(self.intensity, np.ndarray)
            and self.intensity.shape == (n,)
            and self.intensity.dtype == np.float32
        ):
            raise ValueError(
                f"scan {self.name!r}: intensity must be a float32 ({n},) array, got {_describe(self.intensity)}"
            )
        if not (isinstance(self.labels, np.ndarray) and self.labels.shape == (n,) and self.labels.dtype == np.int64):
            raise ValueError(f"scan {self.name!r}: labels must be an int64 ({n},) array, got {_describe(self.labels)}")

    @property
    def num_points(self) -> int:
        return int(self.xyz.shape[0])

    @property
    def labeled_mask(self) -> np.ndarray:
        """(N,) bool: points whose label is not ``IGNORE_INDEX``."""
        return self.labels != IGNORE_INDEX

    def class_histogram(self, num_classes: int) -> np.ndarray:
        """(num_classes,) int64 point count per train id (ignored points are not counted)."""
        return np.bincount(self.labels[self.labeled_mask], minlength=num_classes)[:num_classes]


def check_finite(xyz: np.ndarray, source: str) -> None:
    """Raise ValueError naming ``source`` and the first bad row if any coordinate is NaN or inf."""
    bad = ~np.isfinite(xyz).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"{source}: {rows.size} point(s) have NaN/inf coordinates (first at row {rows[0]}: {xyz[rows[0]].tolist()})"
        )


def _describe(a: object) -> str:
    if isinstance(a, np.ndarray):
        return f"{a.dtype} array of shape {a.shape}"
    return type(a).__name__
