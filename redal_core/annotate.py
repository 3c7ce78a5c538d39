"""Annotation hand-off: a round's selection out to annotators' tools as whole scans, their labels back in.

``export_round(run_dir, round_, out_dir=None)`` writes, for the units selected after round R
(``selections/round_RR.csv``), into ``out_dir`` (default ``<run>/export/round_RR``)::

    <scan file>.ply                     one per scan with selected units, EVERY point of the scan in its
                                        order (binary little endian): x, y, z float32; red, green, blue uint8
                                        (datasets with colour) or intensity float32 (remission); region int32;
                                        selected uint8 (1 = a point of a unit selected in round R); label int32
                                        (-1 = not labeled; annotators write train ids of classes.json)
    sequences/XX/velodyne/NNNNNN.bin    SemanticKITTI family only (semantickitti, synthetic-outdoor): float32
                                        x, y, z, remission per point, the scan's points in order
    sequences/XX/labels/NNNNNN.label    uint32 per point, 0 (unlabeled) everywhere; annotators write raw
                                        SemanticKITTI semantic ids (``raw_id`` in classes.json)
    sequences/XX/selected/NNNNNN.npy    (N,) uint8, 1 = selected (the PLY's ``selected``), for KITTI tools' users
    classes.json                        [{"id": train id, "name", "color": [r, g, b]} (+ "raw_id" for KITTI)]
    manifest.json                       written last: format_version, run_id, run_dir, round, dataset,
                                        budget_points, totals and one entry per scan (index, name, file,
                                        units, selected_regions, selected_points, total_points, ...)

A scan-level unit (region -1, e.g. RAND) selects the regions of its scan that were unlabeled before the
selection. Scan file names come from the scan names (``scan_file_stems``: ``Area_1/office_3`` ->
``Area_1__office_3``), so they do not depend on what else was selected.

``import_labels(run_dir, labels_dir)`` reads ``manifest.json`` first (run, round, selection checked against
the run, which must be awaiting labels for that round), then per scan every source present: the PLY's
``label`` (train ids, -1 = not labeled, IGNORE_INDEX = labeled "ignore"), a ``<scan file stem>.csv`` with
``point_index,label`` rows (same ids) and, for the KITTI family, the ``.label`` file (raw ids through the
packaged learning_map; 0 = not labeled, ids the map sends to 0 = IGNORE_INDEX). Only points of units selected
in that round are kept (labels elsewhere are ignored, with a warning naming the count); a unit counts as
labeled when any of its points has a label. Labels merge into ``annotations/<scan_index>.npy`` (int64 per
point, IGNORE_INDEX elsewhere) and the units are marked labeled (round R+1) in ``label_state.npz``; a second
import adds units. Nothing is written unless every file is valid.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from redal_core import IGNORE_INDEX
from redal_core.config import FAMILY, RunConfig
from redal_core.results import RunPaths, atomic_path, atomic_write_json, read_state

__all__ = [
    "FORMAT_VERSION", "UNLABELED", "RunContext", "open_run", "scan_file_stems", "classes_table", "kitti_paths",
    "write_scan_ply", "read_ply_labels", "read_csv_labels", "read_kitti_labels", "export_round", "read_manifest",
    "import_labels", "cli_export", "cli_import",
]

FORMAT = "redal-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CLASSES = "classes.json"
#: PLY / CSV label of a point that is not labeled (yet).
UNLABELED = -1
#: ``.label`` raw id of a point that is not labeled (SemanticKITTI's "unlabeled").
KITTI_UNLABELED = 0
_SAFE = re.compile(r"[^A-Za-z0-9._-]")
_KITTI_NAME = re.compile(r"^(?P<sequence>[A-Za-z0-9_]+)/(?P<stem>[A-Za-z0-9_]+)$")
_MANIFEST_KEYS = ("format", "format_version", "run_id", "run_dir", "round", "dataset", "selection_sha256", "scans")
REPORT_COLUMNS = ["scan", "scan_name", "region", "points", "labeled_points", "imported", "sources", "labeled"]
_SCAN_KEYS = ("index", "name", "file", "units", "selected_regions", "selected_points", "total_points")


# -- a run folder -----------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class RunContext:
    """A run folder opened for reading: its config, training dataset and per-scan regions."""

    paths: RunPaths
    config: RunConfig
    dataset: Any  # the training split, as the loop builds it

    def regions(self, scan_index: int) -> dict[str, np.ndarray]:
        """``scan_regions`` of a training scan: ``region`` (N,) int64, ``color``, ``structure`` (N,) float32
        (the cues on the run's ``active.scoring`` scale)."""
        from redal_core.regions import scan_regions

        return scan_regions(self.dataset, scan_index, self.config.dataset.vccs, self.config.dataset.knn,
                            self.config.active.scoring)

    def region_ids(self, scan_index: int) -> np.ndarray:
        """(N,) int64 region id of every point of a training scan (the run's cached VCCS regions)."""
        from redal_core.regions import scan_region_ids

        return np.asarray(scan_region_ids(self.dataset, scan_index, self.config.dataset.vccs), np.int64)

    def selection(self, round_: int) -> pd.DataFrame:
        """The units selected after round ``round_`` (``selections/round_RR.csv``)."""
        path = self.paths.selection(round_)
        if not path.is_file():
            have = sorted(p.stem for p in self.paths.selections_dir.glob("round_*.csv"))
            raise FileNotFoundError(
                f"run {self.paths.root}: no selection for round {round_} ({path}); selections present: "
                f"{', '.join(have) or 'none'}"
            )
        table = pd.read_csv(path)
        missing = [c for c in ("scan", "region", "points") if c not in table.columns]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; a selection has columns scan, region, points")
        return table

    def round_regions(self, round_: int) -> list[np.ndarray]:
        """Per training scan, (R_s,) int64 round each region was labeled in (-1 = unlabeled), as saved
        right after round ``round_`` (``checkpoints/label_state_RR.npz``)."""
        from redal_core.active.pool import LabelState

        return LabelState.load(self.paths.round_label_state(round_)).round_of

    def unit_points(self, scan: int, region: int, round_: int, region_ids: np.ndarray,
                    round_of: list[np.ndarray]) -> np.ndarray:
        """(n,) int64 sorted point indices of a unit selected after ``round_``: the region's points, or for
        a whole-scan unit (region -1) the points of regions unlabeled before that selection (excluded
        regions, round value -2, are never labeled and not part of it)."""
        if region >= 0:
            return np.flatnonzero(region_ids == region).astype(np.int64)
        rounds = round_of[scan][region_ids]
        return np.flatnonzero((rounds == -1) | (rounds == round_ + 1)).astype(np.int64)


def open_run(run_dir: str | os.PathLike[str]) -> RunContext:
    """Open ``results/runs/<run_id>`` (its params.yaml) and the training split of its dataset.

    Relative dataset paths resolve against the current directory, as they did for the run.
    """
    from redal_core.data.datasets import build_dataset

    paths = RunPaths(Path(run_dir))
    if not paths.params.is_file():
        raise FileNotFoundError(f"{paths.root} is not a run folder: {paths.params.name} is missing")
    config = RunConfig.from_yaml(paths.params)
    root = Path(config.dataset.root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"run {paths.root.name}: dataset.root {root} does not exist (relative to {Path.cwd()}); run this from "
            "the folder the run was started in"
        )
    dataset = build_dataset(config.dataset.name, root, "train", cache_dir=config.dataset.cache_dir)
    return RunContext(paths=paths, config=config, dataset=dataset)


@dataclass(frozen=True, kw_only=True)
class ScanUnits:
    """The units of one scan selected after a round.

    region_ids : (N,) int64 region of every point; units : (region, (n,) int64 sorted point indices) in
    selection order (region -1 = the whole scan's regions unlabeled before the selection).
    """

    index: int
    name: str
    region_ids: np.ndarray
    units: list[tuple[int, np.ndarray]]

    @property
    def num_points(self) -> int:
        return int(self.region_ids.size)

    @property
    def selected(self) -> np.ndarray:
        """(N,) bool: points of the selected units."""
        mask = np.zeros(self.num_points, bool)
        for _, index in self.units:
            mask[index] = True
        return mask


def _round_units(ctx: RunContext, round_: int, selection: pd.DataFrame) -> list[ScanUnits]:
    """The selection of round ``round_`` grouped per scan (ascending index); ValueError when a unit's points
    differ from what the selection recorded (the regions or the data changed since)."""
    round_of = ctx.round_regions(round_)
    out = []
    for scan_index, group in selection.groupby("scan", sort=True):
        scan_index = int(scan_index)
        if not 0 <= scan_index < len(round_of):
            raise ValueError(f"{ctx.paths.selection(round_)}: scan {scan_index} is not a training scan of the run "
                             f"(0..{len(round_of) - 1})")
        region_ids = ctx.region_ids(scan_index)
        units = []
        for region, points in zip(group["region"], group["points"], strict=True):
            region = int(region)
            index = ctx.unit_points(scan_index, region, round_, region_ids, round_of)
            if index.size != int(points):
                raise ValueError(
                    f"run {ctx.paths.root.name}: scan {scan_index} region {region} has {index.size} points now, the "
                    f"selection of round {round_} recorded {int(points)}; the regions or the data changed"
                )
            units.append((region, index))
        out.append(ScanUnits(index=scan_index, name=ctx.dataset.scan_names[scan_index], region_ids=region_ids,
                             units=units))
    return out


# -- names, classes, files --------------------------------------------------------------------------------
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


# -- reading annotators' files ----------------------------------------------------------------------------
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


# -- export -----------------------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_round(run_dir: str | os.PathLike[str], round_: int, out_dir: str | os.PathLike[str] | None = None, *,
                 overwrite: bool = False) -> dict[str, Any]:
    """Write the scans holding units selected after round ``round_`` for annotators (see the module
    docstring); returns the manifest as written to ``<out>/manifest.json``.

    out_dir : default ``<run>/export/round_RR``. overwrite : replace the files of an earlier export there
    (annotators' labels in them are lost); otherwise an existing file raises ValueError and nothing is written.
    """
    from redal_core.active.pool import LabelState
    from redal_core.data.class_colors import class_colors

    if isinstance(round_, bool) or not isinstance(round_, (int, np.integer)) or round_ < 0:
        raise ValueError(f"--round must be an integer >= 0, got {round_!r}")
    round_ = int(round_)
    ctx = open_run(run_dir)
    dataset = ctx.dataset
    name = ctx.config.dataset.name
    class_colors(name)  # a dataset without colours fails before anything is written
    out = ctx.paths.export(round_) if out_dir is None else Path(out_dir)
    selection = ctx.selection(round_)
    state = LabelState.load(ctx.paths.round_label_state(round_))
    scans = _round_units(ctx, round_, selection)
    kitti = FAMILY[name] == "semantickitti"
    stems = scan_file_stems(dataset.scan_names)

    entries = []
    for units in scans:
        entry: dict[str, Any] = {
            "index": units.index, "name": units.name, "file": f"{stems[units.index]}.ply",
            "units": [region for region, _ in units.units],
            "selected_regions": sorted({int(r) for _, index in units.units for r in np.unique(units.region_ids[index])}),
            "selected_points": int(units.selected.sum()), "total_points": units.num_points,
            "total_regions": int(state.num_regions(units.index)),
        }
        if kitti:
            entry.update(kitti_paths(units.name))
        entries.append(entry)
    targets = [out / MANIFEST, out / CLASSES] + [out / e["file"] for e in entries]
    targets += [out / e[k] for e in entries for k in ("velodyne", "labels", "selected") if k in e]
    existing = [p for p in targets if p.exists()]
    if existing and not overwrite:
        raise ValueError(f"{out} already holds {len(existing)} file(s) of an export (first: {existing[0]}); "
                         "annotators' labels in them would be lost: import them, move the folder away, or pass "
                         "--force (overwrite=True) to write over them")

    for units, entry in zip(scans, entries, strict=True):
        scan = dataset[units.index]
        if scan.num_points != units.num_points:
            raise ValueError(f"scan {units.index} ({units.name}) has {scan.num_points} points, its regions "
                             f"{units.num_points}; the data changed since the run")
        selected = units.selected
        xyz = np.asarray(scan.xyz, np.float32)
        rgb = np.asarray(scan.rgb, np.uint8) if dataset.has_color and scan.rgb is not None else None
        intensity = None
        if rgb is None:
            intensity = (np.zeros(units.num_points, np.float32) if scan.intensity is None
                         else np.asarray(scan.intensity, np.float32))
        write_scan_ply(out / entry["file"], xyz=xyz, rgb=rgb, intensity=intensity, region=units.region_ids,
                       selected=selected, comments=[
                           f"redal-kit export: run {ctx.config.run_id}, round {round_}, scan {units.index} {units.name}",
                           f"label: train id of classes.json, {UNLABELED} = not labeled; fill the points with selected = 1",
                       ])
        if kitti:
            points = np.concatenate([xyz, intensity[:, None]], axis=1).astype("<f4")
            with atomic_path(out / entry["velodyne"]) as tmp:
                points.tofile(tmp)
            with atomic_path(out / entry["labels"]) as tmp:
                np.full(units.num_points, KITTI_UNLABELED, "<u4").tofile(tmp)
            with atomic_path(out / entry["selected"]) as tmp:
                np.save(tmp, selected.astype(np.uint8))
    atomic_write_json(out / CLASSES, classes_table(name, dataset.class_names))

    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "run_id": ctx.config.run_id,
        "run_dir": ctx.paths.root.name,
        "round": round_,
        "dataset": name,
        "num_classes": dataset.num_classes,
        "classes": CLASSES,
        "layouts": ["ply", "semantickitti"] if kitti else ["ply"],
        "budget_points": state.budget_points(ctx.config.active.x_active),
        "pool_points": state.total_points,
        "selection": f"selections/{ctx.paths.selection(round_).name}",
        "selection_sha256": _sha256(ctx.paths.selection(round_)),
        "selected_units": int(len(selection)),
        "selected_points": int(sum(e["selected_points"] for e in entries)),
        "total_regions": int(sum(e["total_regions"] for e in entries)),
        "total_points": int(sum(e["total_points"] for e in entries)),
        "fields": {
            "ply": "every point of the scan in order: x, y, z float32; red, green, blue uint8 (colour) or intensity "
                   "float32 (remission); region int32; selected uint8 (1 = in a unit selected in this round); "
                   f"label int32: train id of classes.json, {UNLABELED} = not labeled, {IGNORE_INDEX} = ignore",
            "csv": "optional <ply stem>.csv with columns point_index,label (train ids) instead of filling the PLY",
            "semantickitti": "sequences/XX/velodyne/NNNNNN.bin float32 x, y, z, remission; sequences/XX/labels/"
                             "NNNNNN.label uint32 raw SemanticKITTI semantic id (classes.json raw_id), 0 = not "
                             "labeled; sequences/XX/selected/NNNNNN.npy (N,) uint8, 1 = selected",
            "import": "only points with selected = 1 are read; a unit counts as labeled when any of its points has "
                      "a label; `redal import <run> <this folder>`",
        },
        "scans": entries,
    }
    atomic_write_json(out / MANIFEST, manifest)  # last: a folder with a manifest is a complete export
    return manifest


# -- import -----------------------------------------------------------------------------------------------
def read_manifest(labels_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``<labels_dir>/manifest.json`` as written by ``export_round``; ValueError naming the file and key when
    it is missing, not JSON, of another format (version) or lacks a key."""
    path = Path(labels_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{labels_dir}: no {MANIFEST}; import the folder `redal export` wrote (its "
                                f"{MANIFEST} says which run and round the labels belong to)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ValueError(f"{path}: format {got!r} is not {FORMAT!r}; not a manifest written by `redal export`")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {manifest.get('format_version')!r}, this code reads "
                         f"{FORMAT_VERSION}")
    missing = [k for k in _MANIFEST_KEYS if k not in manifest]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing}")
    if not isinstance(manifest["run_id"], str):
        raise ValueError(f"{path}: run_id must be a string, got {manifest['run_id']!r}")
    if isinstance(manifest["round"], bool) or not isinstance(manifest["round"], int) or manifest["round"] < 0:
        raise ValueError(f"{path}: round must be an integer >= 0, got {manifest['round']!r}")
    if not isinstance(manifest["scans"], list):
        raise ValueError(f"{path}: scans must be a list, got {type(manifest['scans']).__name__}")
    seen: set[int] = set()
    for i, entry in enumerate(manifest["scans"]):
        gone = [k for k in _SCAN_KEYS if not isinstance(entry, dict) or k not in entry]
        if gone:
            raise ValueError(f"{path}: scans[{i}] lacks key(s) {gone}")
        index = entry["index"]
        if isinstance(index, bool) or not isinstance(index, int) or index in seen:
            raise ValueError(f"{path}: scans[{i}].index must be a scan index listed once, got {index!r}")
        seen.add(index)
        for key in ("file", "velodyne", "labels", "selected"):
            value = entry.get(key)
            if key in entry and not (isinstance(value, str) and value and not Path(value).is_absolute()
                                     and ".." not in Path(value).parts):
                raise ValueError(f"{path}: scans[{i}].{key} must be a path inside the export folder, got {value!r}")
    return manifest


def _listed_files(manifest: dict[str, Any]) -> set[str]:
    files = {MANIFEST, CLASSES}
    for entry in manifest["scans"]:
        files |= {entry["file"], f"{Path(entry['file']).stem}.csv"}
        files |= {entry[k] for k in ("velodyne", "labels", "selected") if k in entry}
    return files


def import_labels(run_dir: str | os.PathLike[str], labels_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """Read annotators' labels from an export folder into the run (see the module docstring).

    Returns one row per unit selected in the export's round (``REPORT_COLUMNS``): scan, scan_name, region,
    points, labeled_points (by this import), imported (bool: this import labels the unit), sources (the
    files its labels came from, ``;``-joined), labeled (bool: labeled in the run now, by this or an earlier
    import). Raises ValueError naming the file, the key or the value and what is allowed for any mismatch;
    nothing is written unless every file is valid. Warns about labels outside the selected units (ignored), imported units with unlabeled points,
    selected units still without labels, and files in the folder the manifest does not list (ignored).
    """
    from redal_core.active.pool import LabelState
    from redal_core.data.semantic_kitti import load_label_config

    ctx = open_run(run_dir)
    if ctx.config.active.oracle != "human":
        raise ValueError(
            f"run {ctx.paths.root.name} uses active.oracle: {ctx.config.active.oracle}; its selections are labeled "
            "from ground truth. Human labels are read only by runs with active.oracle: human"
        )
    labels_dir = Path(labels_dir)
    if not labels_dir.is_dir():
        raise FileNotFoundError(f"labels folder {labels_dir} does not exist")
    manifest = read_manifest(labels_dir)
    run_id, round_ = ctx.config.run_id, manifest["round"]
    if manifest["run_id"] != run_id:
        raise ValueError(f"{labels_dir}: this export belongs to run {manifest['run_id']}, round {round_}, not to "
                         f"run {run_id} ({ctx.paths.root})")
    state_json = read_state(ctx.paths.root)
    if state_json is None or state_json["status"] != "awaiting_labels":
        status = "no round complete" if state_json is None else (
            f"status {state_json['status']}, last round {state_json['last_round']}")
        raise ValueError(f"{labels_dir}: run {run_id} is not awaiting labels ({status}); labels are imported "
                         "between the selection of a round and the next `redal run`")
    awaited = int(state_json["last_round"])
    if round_ != awaited:
        raise ValueError(f"{labels_dir}: this export belongs to run {run_id}, round {round_}, not to round "
                         f"{awaited} (the round run {run_id} awaits labels for; export it with `redal export "
                         f"{ctx.paths.root} --round {awaited}`)")
    selection_path = ctx.paths.selection(round_)
    if selection_path.is_file() and manifest["selection_sha256"] != _sha256(selection_path):
        raise ValueError(f"{labels_dir}: this export was made from another selection than {selection_path} "
                         f"(selection_sha256 differs); it belongs to another run named {run_id}, or the selection "
                         "was recomputed. Export the round again")
    selection = ctx.selection(round_)
    scans = _round_units(ctx, round_, selection)
    listed = {int(e["index"]): e for e in manifest["scans"]}
    if sorted(listed) != [u.index for u in scans]:
        raise ValueError(f"{labels_dir / MANIFEST}: lists scans {sorted(listed)}, the selection of round {round_} "
                         f"({selection_path}) has units in scans {[u.index for u in scans]}")
    extra = sorted(
        str(p.relative_to(labels_dir)) for p in [*labels_dir.iterdir(), *labels_dir.glob("sequences/*/*/*")]
        if p.is_file() and p.suffix.lower() in (".ply", ".csv", ".label", ".bin", ".npy")
        and str(p.relative_to(labels_dir)).replace(os.sep, "/") not in _listed_files(manifest)
    )
    if extra:
        warnings.warn(f"{labels_dir}: {len(extra)} file(s) not listed in {MANIFEST} are ignored: "
                      f"{', '.join(extra[:5])}{' ...' if len(extra) > 5 else ''}", stacklevel=2)

    name, num_classes = ctx.config.dataset.name, ctx.dataset.num_classes
    lut = load_label_config().lut
    per_scan: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}  # scan -> (point indices, labels)
    to_label: list[tuple[int, int]] = []
    report, outside, partial, no_files = [], {}, [], []
    for units in scans:
        entry = listed[units.index]
        if entry["name"] != units.name or int(entry["total_points"]) != units.num_points:
            raise ValueError(f"{labels_dir / MANIFEST}: scan {units.index} is {entry['name']!r} with "
                             f"{entry['total_points']} points there, {units.name!r} with {units.num_points} in run "
                             f"{run_id}")
        combined = np.full(units.num_points, UNLABELED, np.int64)
        origin = np.full(units.num_points, -1, np.int64)  # which source labeled each point
        sources: list[Path] = []
        candidates = [("ply", labels_dir / entry["file"]), ("csv", labels_dir / f"{Path(entry['file']).stem}.csv")]
        if "labels" in entry:
            candidates.append(("kitti", labels_dir / entry["labels"]))
        for kind, path in candidates:
            if not path.is_file():
                continue
            if kind == "ply":
                labels = read_ply_labels(path, num_points=units.num_points, region_ids=units.region_ids)
            elif kind == "csv":
                labels = read_csv_labels(path, num_points=units.num_points)
            else:
                labels = read_kitti_labels(path, num_points=units.num_points, lut=lut)
            if kind != "kitti":
                _check_train_ids(labels, where=path, num_classes=num_classes, dataset=name)
            has = labels != UNLABELED
            clash = has & (combined != UNLABELED) & (combined != labels)
            if clash.any():
                first = int(np.flatnonzero(clash)[0])
                raise ValueError(f"{path} and {sources[origin[first]]} give {int(clash.sum())} point(s) of scan "
                                 f"{units.name} different labels (first: point {first}, train id {int(labels[first])} "
                                 f"vs {int(combined[first])}); fill one file per scan, or the same labels")
            combined[has] = labels[has]
            origin[has & (origin < 0)] = len(sources)
            sources.append(path)
        if not sources:
            no_files.append(units.name)
        selected = units.selected
        ignored = int(((combined != UNLABELED) & ~selected).sum())
        if ignored:
            outside[units.name] = ignored
        for region, index in units.units:
            labels = combined[index]
            has = labels != UNLABELED
            imported = bool(has.any())
            if imported:
                per_scan.setdefault(units.index, ([], []))
                per_scan[units.index][0].append(index[has])
                per_scan[units.index][1].append(labels[has])
                to_label.append((units.index, region))
                if not has.all():
                    partial.append((units.name, region, int((~has).sum()), int(index.size)))
            used = [str(sources[o].relative_to(labels_dir)) for o in np.unique(origin[index][has])]
            report.append({"scan": units.index, "scan_name": units.name, "region": region, "points": int(index.size),
                           "labeled_points": int(has.sum()), "imported": imported, "sources": ";".join(used)})
    if not to_label:
        raise ValueError(f"{labels_dir}: no labels for the selected points: every point of the {len(selection)} unit(s) "
                         f"selected in round {round_} still have label {UNLABELED} (PLY/CSV) or {KITTI_UNLABELED} "
                         "(.label); fill the points with selected = 1 (train ids of classes.json, or raw "
                         "SemanticKITTI ids in .label files)")
    if no_files:
        warnings.warn(f"{labels_dir}: no label file for {len(no_files)} scan(s) ({', '.join(no_files[:5])}"
                      f"{' ...' if len(no_files) > 5 else ''}); their units stay unlabeled", stacklevel=2)
    if outside:
        warnings.warn(f"{labels_dir}: {sum(outside.values())} labeled point(s) outside the units selected in round "
                      f"{round_} are ignored ({', '.join(f'{k}: {v}' for k, v in list(outside.items())[:5])}); only "
                      "points with selected = 1 are read", stacklevel=2)
    if partial:
        warnings.warn(f"{labels_dir}: {len(partial)} imported unit(s) have {sum(p[2] for p in partial)} point(s) "
                      f"without a label (first: scan {partial[0][0]} region {partial[0][1]}, {partial[0][2]} of "
                      f"{partial[0][3]}); they are stored as not annotated ({IGNORE_INDEX})", stacklevel=2)

    # every file is valid: write annotations, then the label state
    for scan_index, (indices, labels) in per_scan.items():
        target = ctx.paths.annotation(scan_index)
        n = next(u.num_points for u in scans if u.index == scan_index)
        merged = np.load(target) if target.exists() else np.full(n, IGNORE_INDEX, np.int64)
        if merged.shape != (n,):
            raise ValueError(f"{target}: holds {merged.shape[0]} labels, scan {scan_index} has {n} points")
        merged[np.concatenate(indices)] = np.concatenate(labels)
        with atomic_path(target) as tmp:
            np.save(tmp, merged.astype(np.int64))
    state = LabelState.load(ctx.paths.label_state)
    todo = [(s, r) for s, r in to_label if not state.is_labeled(s, r)]
    if todo:
        scans_, regions = (np.array(v, np.int64) for v in zip(*todo, strict=True))
        state.label(scans_, regions, round=round_ + 1)
    missing = [(int(s), int(r)) for s, r in zip(selection["scan"], selection["region"], strict=True)
               if not state.is_labeled(int(s), int(r))]
    if missing:
        warnings.warn(
            f"run {ctx.paths.root.name}: {len(missing)} of {len(selection)} unit(s) selected in round {round_} "
            f"have no imported labels yet (scan, region: {', '.join(f'{s}, {r}' for s, r in missing[:5])}"
            f"{' ...' if len(missing) > 5 else ''}); import them before the next `redal run`",
            stacklevel=2,
        )
    state.save(ctx.paths.label_state)
    frame = pd.DataFrame(report, columns=REPORT_COLUMNS[:-1])
    frame["labeled"] = [state.is_labeled(int(s), int(r)) for s, r in zip(frame["scan"], frame["region"], strict=True)]
    return frame


# -- the commands -----------------------------------------------------------------------------------------
def cli_export(args: argparse.Namespace) -> int:
    """``redal export RUN_DIR --round R [--out DIR] [--force]``."""
    out = args.out if args.out is not None else RunPaths(Path(args.run_dir)).export(args.round_)
    manifest = export_round(args.run_dir, args.round_, out, overwrite=args.force)
    kitti = "semantickitti" in manifest["layouts"]
    print(f"redal export: round {args.round_}: {manifest['selected_units']} unit(s), {manifest['selected_points']} "
          f"selected of {manifest['total_points']} points in {len(manifest['scans'])} scan(s) written to {out} "
          f"(one PLY per scan{', the SemanticKITTI layout under sequences/' if kitti else ''}, {CLASSES}, "
          f"{MANIFEST}). Fill the 'label' of the points with selected = 1 (train ids of {CLASSES}"
          f"{'; or raw SemanticKITTI ids in the .label files' if kitti else ''}), then "
          f"`redal import {args.run_dir} {out}`")
    return 0


def cli_import(args: argparse.Namespace) -> int:
    """``redal import RUN_DIR LABELS_DIR``."""
    report = import_labels(args.run_dir, args.labels_dir)
    imported = report[report["imported"]]
    print(f"redal import: {len(imported)} unit(s) imported ({int(imported['labeled_points'].sum())} labeled points) "
          f"into {Path(args.run_dir) / 'annotations'}; {int(report['labeled'].sum())} of the {len(report)} selected "
          f"unit(s) are labeled now; run `redal run {Path(args.run_dir) / 'params.yaml'}` to train on them")
    return 0
