"""Class colours of the two dataset families, shared by every view of the kit (3D plots, annotators' files).

* SemanticKITTI: the dataset's own ``color_map`` (``semantic-kitti.yaml``, stored BGR there, RGB here) of
  each train class's raw id (``learning_map_inv``), so exported scans look as in the SemanticKITTI tools;
* S3DIS: the conventional colours of the 13 classes used by the S3DIS visualisations (ceiling green,
  floor blue, wall cyan, ...).
"""

from __future__ import annotations

from functools import lru_cache

import yaml

from redal_core.config import FAMILY
from redal_core.data.s3dis import S3DIS_CLASSES
from redal_core.data.semantic_kitti import DEFAULT_LABEL_CONFIG, load_label_config

__all__ = ["S3DIS_COLORS", "class_colors", "kitti_colors"]

#: RGB per S3DIS class, in ``S3DIS_CLASSES`` order.
S3DIS_COLORS: dict[str, tuple[int, int, int]] = {
    "ceiling": (0, 255, 0),
    "floor": (0, 0, 255),
    "wall": (0, 255, 255),
    "beam": (255, 255, 0),
    "column": (255, 0, 255),
    "window": (100, 100, 255),
    "door": (200, 200, 100),
    "table": (170, 120, 200),
    "chair": (255, 0, 0),
    "sofa": (200, 100, 100),
    "bookcase": (10, 200, 100),
    "board": (200, 200, 200),
    "clutter": (50, 50, 50),
}
assert tuple(S3DIS_COLORS) == tuple(S3DIS_CLASSES)


@lru_cache(maxsize=1)
def kitti_colors() -> dict[str, tuple[int, int, int]]:
    """RGB per SemanticKITTI train class (19, train-id order), from the packaged label config."""
    config = yaml.safe_load(DEFAULT_LABEL_CONFIG.read_text(encoding="utf-8"))
    names = load_label_config().class_names
    out = {}
    for train_id, name in enumerate(names):
        raw = config["learning_map_inv"][train_id + 1]
        b, g, r = config["color_map"][raw]
        out[name] = (int(r), int(g), int(b))
    return out


def class_colors(dataset: str) -> dict[str, tuple[int, int, int]]:
    """``class name -> (r, g, b)`` in train-id order for a dataset name or family (``s3dis``,
    ``semantickitti``, ``synthetic-indoor``, ``synthetic-outdoor``)."""
    family = FAMILY.get(dataset, dataset)
    if family == "s3dis":
        return dict(S3DIS_COLORS)
    if family == "semantickitti":
        return kitti_colors()
    raise ValueError(f"no class colours for dataset {dataset!r}; valid: {', '.join(sorted(FAMILY))}")
