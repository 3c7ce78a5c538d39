"""The files annotators' tools read and write: safe scan file stems, the SemanticKITTI layout's paths,
``classes.json``, the scan PLY writer and the readers of labels from a PLY, a CSV or a ``.label`` file."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from redal_core import IGNORE_INDEX
from redal_core.config import FAMILY
from redal_core.results import atomic_path

#: PLY / CSV label of a point that is not labeled (yet).
UNLABELED = -1
#: ``.label`` raw id of a point that is not labeled (SemanticKITTI's "unlabeled").
KITTI_UNLABELED = 0
_SAFE = re.compile(r"[^A-Za-z0-9._-]")
_KITTI_NAME = re.compile(r"^(?P<sequence>[A-Za-z0-9_]+)/(?P<stem>[A-Za-z0-9_]+)$")


def scan_file_stems(names: Sequence[str]) -> list[str]:
    """Safe, stable file stems for scan names, one per name, all distinct.

    ``/`` becomes ``__`` and any character outside ``A-Z a-z 0-9 . _ -`` becomes ``_`` (``Area_1/office_3``
    -> ``Area_1__office_3``, ``00/000000`` -> ``00__000000``); a leading dot becomes ``_``. A stem shared by
    several names (only possible for names that differ in replaced characters) gets ``-<position>`` appended
    to each of them, with a warning. Depends only on the names, not on which scans are exported.
    """
    stems = [_SAFE.sub("_", str(name).replace("/", "__")) or "_" for name in names]
    stems = ["_" + s[1:] if s.startswith(".") else s for s in stems]
    counts: dict[str, int] = {}
    for s in stems:
        counts[s] = counts.get(s, 0) + 1
    shared = {s for s, c in counts.items() if c > 1}
    if shared:
        warnings.warn(f"scan names {sorted(n for n, s in zip(names, stems, strict=True) if s in shared)[:6]} give "
                      "the same file name; their files get -<scan position> appended", stacklevel=2)
        stems = [f"{s}-{i}" if s in shared else s for i, s in enumerate(stems)]
    return stems


def kitti_paths(name: str) -> dict[str, str]:
    """Relative paths of a SemanticKITTI-layout scan named ``XX/NNNNNN``: ``velodyne`` (.bin), ``labels``
    (.label) and ``selected`` (.npy mask) under ``sequences/XX/``; ValueError for another name shape."""
    match = _KITTI_NAME.match(name)
    if match is None:
        raise ValueError(f"scan name {name!r} is not <sequence>/<scan> (letters, digits, _), as SemanticKITTI "
                         "names are (e.g. 00/000000)")
    base = f"sequences/{match['sequence']}"
    return {"velodyne": f"{base}/velodyne/{match['stem']}.bin", "labels": f"{base}/labels/{match['stem']}.label",
            "selected": f"{base}/selected/{match['stem']}.npy"}


def classes_table(dataset: str, class_names: Sequence[str]) -> list[dict[str, Any]]:
    """``classes.json``: ``[{"id": train id, "name", "color": [r, g, b]}]`` in train-id order, plus ``raw_id``
    (the SemanticKITTI id to write in ``.label`` files, ``learning_map_inv``) for the KITTI family.

    ValueError when the colour table's classes are not ``class_names`` (the dataset's classes).
    """
    from redal_core.data.class_colors import class_colors

    colors = class_colors(dataset)
    if list(colors) != list(class_names):
        raise ValueError(f"dataset {dataset!r}: class colours are for {list(colors)}, the dataset's classes are "
                         f"{list(class_names)}")
    table = [{"id": i, "name": name, "color": [int(c) for c in colors[name]]} for i, name in enumerate(class_names)]
    if FAMILY.get(dataset) == "semantickitti":
        import yaml

        from redal_core.data.semantic_kitti import DEFAULT_LABEL_CONFIG

        inverse = yaml.safe_load(DEFAULT_LABEL_CONFIG.read_text(encoding="utf-8"))["learning_map_inv"]
        for row in table:
            row["raw_id"] = int(inverse[row["id"] + 1])
    return table


def write_scan_ply(path: str | os.PathLike[str], *, xyz: np.ndarray, region: np.ndarray, selected: np.ndarray,
                   rgb: np.ndarray | None = None, intensity: np.ndarray | None = None,
                   label: np.ndarray | None = None, comments: Sequence[str] = ()) -> Path:
    """Write one scan's points as a binary little-endian PLY (atomically).

    xyz : (N, 3) float; exactly one of rgb : (N, 3) uint8 (properties red, green, blue) or intensity : (N,)
    float (property intensity, float32); region : (N,) int (int32); selected : (N,) bool (uint8 0/1);
    label : (N,) int (int32) or None (all ``UNLABELED``). Properties in that order.
    """
    from plyfile import PlyData, PlyElement

    xyz = np.asarray(xyz)
    n = xyz.shape[0]
    if xyz.shape != (n, 3):
        raise ValueError(f"{path}: xyz must be (N, 3), got {xyz.shape}")
    if (rgb is None) == (intensity is None):
        raise ValueError(f"{path}: give exactly one of rgb (colour) and intensity (remission)")
    for key, value in (("region", region), ("selected", selected), ("label", label), ("intensity", intensity)):
        if value is not None and np.shape(value) != (n,):
            raise ValueError(f"{path}: {key} must have shape ({n},), got {np.shape(value)}")
    if rgb is not None and np.shape(rgb) != (n, 3):
        raise ValueError(f"{path}: rgb must be ({n}, 3), got {np.shape(rgb)}")
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")] if rgb is not None else [("intensity", "<f4")]
    fields += [("region", "<i4"), ("selected", "u1"), ("label", "<i4")]
    vertex = np.empty(n, dtype=fields)
    vertex["x"], vertex["y"], vertex["z"] = (xyz[:, k].astype(np.float32) for k in range(3))
    if rgb is not None:
        vertex["red"], vertex["green"], vertex["blue"] = (np.asarray(rgb, np.uint8)[:, k] for k in range(3))
    else:
        vertex["intensity"] = np.asarray(intensity, np.float32)
    vertex["region"] = region
    vertex["selected"] = np.asarray(selected, bool)
    vertex["label"] = UNLABELED if label is None else label
    path = Path(path)
    with atomic_path(path) as tmp:
        PlyData([PlyElement.describe(vertex, "vertex")], text=False, byte_order="<",
                comments=list(comments)).write(str(tmp))
    return path


def _integers(values: np.ndarray, where: str) -> np.ndarray:
    """``values`` as int64: integer dtypes as they are, floats when every value is a whole number."""
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.integer):
        return values.astype(np.int64)
    if np.issubdtype(values.dtype, np.floating) and np.isfinite(values).all() and (values == np.round(values)).all():
        return values.astype(np.int64)
    raise ValueError(f"{where} must hold integers only (got dtype {values.dtype})")


def read_ply_labels(path: str | os.PathLike[str], *, num_points: int,
                    region_ids: np.ndarray | None = None) -> np.ndarray:
    """(N,) int64 ``label`` property of an exported scan PLY, values as written (``UNLABELED`` = not labeled).

    ValueError when the file is unreadable, has no ``label``, holds another number of points than
    ``num_points``, or its ``region`` property (when kept) differs from ``region_ids`` (N,) (points reordered).
    """
    from plyfile import PlyData

    path = Path(path)
    try:  # memory-mapped copy-on-write (plyfile reads binary files row by row without a map, ~100x slower);
        # the values are copied out below, so the map ends with this function and the file may be rewritten
        vertex = PlyData.read(str(path))["vertex"].data
    except Exception as error:  # plyfile raises several types for a damaged file
        raise ValueError(f"{path}: not a readable PLY file with a vertex element ({error})") from error
    names = vertex.dtype.names or ()
    if "label" not in names:
        raise ValueError(f"{path}: the vertex element has no 'label' property (has {', '.join(names)})")
    if len(vertex) != num_points:
        raise ValueError(f"{path}: expected {num_points} points (every point of the scan, in order), got {len(vertex)}")
    if region_ids is not None and "region" in names:
        got = _integers(vertex["region"], f"{path}: property 'region'")
        wrong = got != region_ids
        if wrong.any():
            first = int(np.flatnonzero(wrong)[0])
            raise ValueError(f"{path}: {int(wrong.sum())} point(s) carry the wrong region (first: row {first} has "
                             f"region {int(got[first])}, the scan's point {first} is in region "
                             f"{int(region_ids[first])}); keep the points in the exported order")
    return _integers(vertex["label"], f"{path}: property 'label'")


def read_csv_labels(path: str | os.PathLike[str], *, num_points: int) -> np.ndarray:
    """(N,) int64 labels from a CSV with columns ``point_index,label`` (one row per labeled point; the
    point's row in the scan); ``UNLABELED`` for points without a row. ValueError for a missing column,
    non-integers, an index outside 0..N-1 or listed twice."""
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a readable CSV file ({error})") from error
    missing = [c for c in ("point_index", "label") if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; a labels CSV has columns point_index,label")
    for column in ("point_index", "label"):
        if not pd.api.types.is_integer_dtype(table[column]):
            raise ValueError(f"{path}: column {column!r} must hold integers only (got dtype {table[column].dtype})")
    index = table["point_index"].to_numpy(np.int64)
    outside = (index < 0) | (index >= num_points)
    if outside.any():
        raise ValueError(f"{path}: point_index {int(index[outside][0])} is outside the scan's points 0..{num_points - 1} "
                         f"({int(outside.sum())} row(s))")
    unique, counts = np.unique(index, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"{path}: point_index {int(unique[counts > 1][0])} is listed {int(counts.max())} times; "
                         "one row per point")
    labels = np.full(num_points, UNLABELED, np.int64)
    labels[index] = table["label"].to_numpy(np.int64)
    return labels


def read_kitti_labels(path: str | os.PathLike[str], *, num_points: int, lut: np.ndarray) -> np.ndarray:
    """(N,) int64 train ids from a SemanticKITTI ``.label`` (uint32, semantic id in the low 16 bits):
    ``KITTI_UNLABELED`` (0) -> ``UNLABELED``, ids the learning_map sends to 0 -> IGNORE_INDEX, others through
    ``lut`` (65536,) (``LabelConfig.lut``: raw id -> train id, IGNORE_INDEX, or -1 for ids absent from the map).

    ValueError for a size that is not ``num_points`` uint32 or an id the learning_map does not list.
    """
    path = Path(path)
    size = path.stat().st_size
    if size != 4 * num_points:
        raise ValueError(f"{path}: expected {num_points} labels ({4 * num_points} bytes, uint32 per point of the scan), "
                         f"got {size} bytes")
    semantic = np.fromfile(path, dtype="<u4") & 0xFFFF
    labels = np.asarray(lut)[semantic].astype(np.int64)
    absent = (labels == -1) & (semantic != KITTI_UNLABELED)
    if absent.any():
        ids = np.unique(semantic[absent])
        raise ValueError(f"{path}: raw semantic id(s) {ids[:10].tolist()} ({int(absent.sum())} point(s)) are not in "
                         "the SemanticKITTI learning_map; write raw ids of classes.json's raw_id (or 0 = unlabeled)")
    labels[semantic == KITTI_UNLABELED] = UNLABELED
    return labels


def _check_train_ids(labels: np.ndarray, *, where: Path, num_classes: int, dataset: str) -> None:
    bad = (labels != UNLABELED) & (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= num_classes))
    if bad.any():
        raise ValueError(f"{where}: label {int(labels[bad][0])} is not a class id 0..{num_classes - 1} of {dataset} "
                         f"(classes.json), {UNLABELED} (not labeled) or {IGNORE_INDEX} (ignore); "
                         f"{int(bad.sum())} point(s)")
