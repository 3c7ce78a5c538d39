"""Reader for the SemanticKITTI layout: ``sequences/XX/velodyne/NNNNNN.bin`` + ``labels/NNNNNN.label``.

``.bin`` holds float32 rows ``(x, y, z, remission)``; ``.label`` one uint32 per point whose low 16 bits
are the semantic id (the high 16 the instance id). Semantic ids go through the dataset's
``learning_map`` (shipped with the package as ``semantic-kitti.yaml``, the SemanticKITTI API's label
config) to 0..19; 0 (unlabeled, outlier, other-structure, other-object) becomes ``IGNORE_INDEX`` and
v in 1..19 becomes train id v - 1, so there are 19 classes named after ``learning_map_inv`` / ``labels``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from redal_core import IGNORE_INDEX
from redal_core.data.scan import Scan, check_finite

#: Sequences of each split (the official ones; 11-21 are the unlabeled test sequences).
SEMANTIC_KITTI_SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("00", "01", "02", "03", "04", "05", "06", "07", "09", "10"),
    "val": ("08",),
}

#: The label config shipped with the package.
DEFAULT_LABEL_CONFIG = Path(__file__).with_name("semantic-kitti.yaml")

_NUM_CLASSES = 19
_ABSENT = -1  # lookup value of raw ids that learning_map does not list (distinct from IGNORE_INDEX)


@dataclass(frozen=True, eq=False)
class LabelConfig:
    """A parsed ``semantic-kitti.yaml``.

    class_names : the 19 train classes, train id = position
    lut         : (65536,) int64 raw semantic id -> train id 0..18, ``IGNORE_INDEX`` or -1 (not in learning_map)
    source      : the file it was read from
    """

    class_names: tuple[str, ...]
    lut: np.ndarray
    source: str


def load_label_config(path: str | os.PathLike[str] | None = None) -> LabelConfig:
    """Parse a SemanticKITTI label yaml (default: the packaged ``semantic-kitti.yaml``)."""
    return _load_label_config(str(Path(path) if path is not None else DEFAULT_LABEL_CONFIG))


@lru_cache(maxsize=4)
def _load_label_config(source: str) -> LabelConfig:
    with open(source, encoding="utf-8") as handle:
        config = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for key in ("labels", "learning_map", "learning_map_inv"):
        if not isinstance(config, dict) or not isinstance(config.get(key), dict):
            raise ValueError(f"{source}: missing mapping {key!r} (needs labels, learning_map, learning_map_inv)")
    lut = np.full(1 << 16, _ABSENT, np.int64)
    for raw, value in config["learning_map"].items():
        if not (isinstance(raw, int) and 0 <= raw < 1 << 16 and isinstance(value, int) and 0 <= value <= _NUM_CLASSES):
            raise ValueError(
                f"{source}: learning_map entry {raw!r}: {value!r} must map a raw id in 0..65535 to 0..{_NUM_CLASSES}"
            )
        lut[raw] = IGNORE_INDEX if value == 0 else value - 1
    names = []
    for value in range(1, _NUM_CLASSES + 1):
        raw = config["learning_map_inv"].get(value)
        if raw not in config["labels"]:
            raise ValueError(f"{source}: learning_map_inv[{value}] = {raw!r} has no entry in labels")
        names.append(str(config["labels"][raw]))
    lut.setflags(write=False)
    return LabelConfig(class_names=tuple(names), lut=lut, source=source)


def read_scan(
    bin_path: str | os.PathLike[str],
    label_path: str | os.PathLike[str] | None = None,
    *,
    config: LabelConfig | None = None,
    name: str | None = None,
) -> Scan:
    """Read one SemanticKITTI scan.

    Returns xyz (N, 3) float32, rgb None, intensity (N,) float32 remission, labels (N,) int64 train ids
    0..18 or ``IGNORE_INDEX`` (all ``IGNORE_INDEX`` without ``label_path``), name ``"XX/NNNNNN"`` (the
    sequence folder and file stem) unless given.
    """
    bin_path = Path(bin_path)
    config = config if config is not None else load_label_config()
    size = bin_path.stat().st_size
    if size % 16:
        raise ValueError(
            f"{bin_path}: truncated .bin: {size} bytes is not a multiple of 16 (4 float32 x, y, z, remission per point)"
        )
    if size == 0:
        raise ValueError(f"{bin_path}: empty scan (0 points)")
    points = np.fromfile(bin_path, dtype="<f4").reshape(-1, 4)
    check_finite(points, str(bin_path))
    n = len(points)
    if label_path is None:
        labels = np.full(n, IGNORE_INDEX, np.int64)
    else:
        labels = _read_labels(Path(label_path), n, config)
    if name is None:
        name = f"{bin_path.parent.parent.name}/{bin_path.stem}" if bin_path.parent.name == "velodyne" else bin_path.stem
    return Scan(
        xyz=np.ascontiguousarray(points[:, :3]),
        rgb=None,
        intensity=np.ascontiguousarray(points[:, 3]),
        labels=labels,
        name=name,
    )


def _read_labels(label_path: Path, n: int, config: LabelConfig) -> np.ndarray:
    size = label_path.stat().st_size
    if size % 4:
        raise ValueError(f"{label_path}: truncated .label: {size} bytes is not a multiple of 4 (uint32 per point)")
    if size // 4 != n:
        raise ValueError(
            f"{label_path}: point-count mismatch: the .label has {size // 4} labels but the .bin has {n} points"
        )
    semantic = np.fromfile(label_path, dtype="<u4") & 0xFFFF
    labels = config.lut[semantic]
    absent = labels == _ABSENT
    if absent.any():
        ids = np.unique(semantic[absent])
        raise ValueError(
            f"{label_path}: raw label id(s) {ids[:10].tolist()} ({int(absent.sum())} points, first at row "
            f"{int(np.flatnonzero(absent)[0])}) are absent from learning_map in {config.source}"
        )
    return labels
