"""Annotation hand-off: selected regions out to human annotators as PLY files, their labels back in.

``export_round(run_dir, round_, out_dir)`` writes every unit selected after round R (``selections/
round_RR.csv``) as ``<out>/<scan_index>_<region>.ply`` (``<scan_index>_scan.ply`` for a whole-scan unit)
with vertex properties ``x, y, z`` (float32), ``red, green, blue`` (uchar), ``region`` (int32), ``label``
(int32, -1 for the annotator to fill) and ``point_index`` (int32, the point's row in the scan), plus
``manifest.csv`` (file, scan, scan_name, region, points, round).

``import_labels(run_dir, labels_dir)`` reads those files back (PLY with a filled ``label`` property, or
CSV with ``point_index,label`` columns and the same stem), checks each against the run (the unit was
selected, its point count, regions and point indices match; every label is a class id or IGNORE_INDEX),
merges the labels into ``annotations/<scan_index>.npy`` (int64 per point, IGNORE_INDEX elsewhere) and
marks the units labeled (round R+1) in ``label_state.npz``. The next ``redal run`` (oracle: human) then
trains on the human labels.
"""

from __future__ import annotations

import argparse
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from redal_core import IGNORE_INDEX
from redal_core.config import RunConfig
from redal_core.results import RunPaths, atomic_path, atomic_write_csv, read_state

MANIFEST_COLUMNS = ["file", "scan", "scan_name", "region", "points", "round"]
_NAME = re.compile(r"^(?P<scan>\d+)_(?P<region>\d+|scan)$")
_UNFILLED = -1


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """A run folder opened for reading: its config, training dataset and per-scan regions."""

    paths: RunPaths
    config: RunConfig
    dataset: Any  # the training split, as the loop builds it

    def regions(self, scan_index: int) -> dict[str, np.ndarray]:
        """``scan_regions`` of a training scan: ``region`` (N,) int64, ``color``, ``structure`` (N,) float32."""
        from redal_core.regions import scan_regions

        return scan_regions(self.dataset, scan_index, self.config.dataset.vccs, self.config.dataset.knn)

    def selection(self, round_: int) -> pd.DataFrame:
        """The units selected after round ``round_`` (``selections/round_RR.csv``)."""
        path = self.paths.selection(round_)
        if not path.is_file():
            have = sorted(p.stem for p in self.paths.selections_dir.glob("round_*.csv"))
            raise FileNotFoundError(
                f"run {self.paths.root}: no selection for round {round_} ({path}); selections present: "
                f"{', '.join(have) or 'none'}"
            )
        return pd.read_csv(path)

    def round_regions(self, round_: int) -> list[np.ndarray]:
        """Per training scan, (R_s,) int64 round each region was labeled in (-1 = unlabeled), as saved
        right after round ``round_`` (``checkpoints/label_state_RR.npz``)."""
        from redal_core.active.pool import LabelState

        return LabelState.load(self.paths.round_label_state(round_)).round_of

    def unit_points(self, scan: int, region: int, round_: int, region_ids: np.ndarray,
                    round_of: list[np.ndarray]) -> np.ndarray:
        """(n,) int64 sorted point indices of a unit selected after ``round_``: the region's points, or for
        a whole-scan unit (region -1) the points of regions unlabeled before that selection."""
        if region >= 0:
            return np.flatnonzero(region_ids == region).astype(np.int64)
        rounds = round_of[scan][region_ids]
        return np.flatnonzero((rounds < 0) | (rounds == round_ + 1)).astype(np.int64)


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


def _stem(scan: int, region: int) -> str:
    return f"{scan}_{'scan' if region < 0 else region}"


def _rgb(scan: Any) -> np.ndarray:
    if scan.rgb is not None:
        return np.asarray(scan.rgb, np.uint8)
    if scan.intensity is not None:  # LiDAR: remission as grey
        grey = np.clip(np.asarray(scan.intensity, np.float64), 0.0, 1.0) * 255.0
        return np.repeat(grey.round().astype(np.uint8)[:, None], 3, axis=1)
    return np.zeros((scan.num_points, 3), np.uint8)


def write_ply(path: str | os.PathLike[str], *, xyz: np.ndarray, rgb: np.ndarray, region: np.ndarray,
              point_index: np.ndarray, label: np.ndarray | None = None) -> Path:
    """Write one unit's points as a binary PLY.

    xyz : (n, 3) float; rgb : (n, 3) uint8; region, point_index : (n,) int; label : (n,) int or None (-1s).
    """
    from plyfile import PlyData, PlyElement

    n = xyz.shape[0]
    vertex = np.empty(n, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"), ("green", "u1"),
                                ("blue", "u1"), ("region", "i4"), ("label", "i4"), ("point_index", "i4")])
    vertex["x"], vertex["y"], vertex["z"] = (np.asarray(xyz, np.float32)[:, k] for k in range(3))
    vertex["red"], vertex["green"], vertex["blue"] = (np.asarray(rgb, np.uint8)[:, k] for k in range(3))
    vertex["region"] = region
    vertex["label"] = _UNFILLED if label is None else label
    vertex["point_index"] = point_index
    path = Path(path)
    with atomic_path(path) as tmp:
        PlyData([PlyElement.describe(vertex, "vertex")], text=False).write(str(tmp))
    return path


def export_round(run_dir: str | os.PathLike[str], round_: int, out_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """Write the units selected after round ``round_`` as PLY files plus ``manifest.csv``; returns the manifest."""
    if not isinstance(round_, int) or round_ < 0:
        raise ValueError(f"--round must be an integer >= 0, got {round_!r}")
    ctx = open_run(run_dir)
    selection = ctx.selection(round_)
    round_of = ctx.round_regions(round_)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for scan_index, group in selection.groupby("scan", sort=True):
        scan_index = int(scan_index)
        scan = ctx.dataset[scan_index]
        region_ids = np.asarray(ctx.regions(scan_index)["region"], np.int64)
        rgb = _rgb(scan)
        for _, unit in group.iterrows():
            region = int(unit["region"])
            index = ctx.unit_points(scan_index, region, round_, region_ids, round_of)
            if index.size != int(unit["points"]):
                raise ValueError(
                    f"run {ctx.paths.root.name}: scan {scan_index} region {region} has {index.size} points now, the "
                    f"selection of round {round_} recorded {int(unit['points'])}; the regions or the data changed"
                )
            name = f"{_stem(scan_index, region)}.ply"
            write_ply(out / name, xyz=np.asarray(scan.xyz)[index], rgb=rgb[index], region=region_ids[index],
                      point_index=index)
            rows.append({"file": name, "scan": scan_index, "scan_name": ctx.dataset.scan_names[scan_index],
                         "region": region, "points": int(index.size), "round": round_})
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    atomic_write_csv(out / "manifest.csv", manifest)
    return manifest


def _read_labels(path: Path) -> dict[str, np.ndarray]:
    """``label`` and (when present) ``point_index`` / ``region`` columns of a PLY or CSV labels file."""
    if path.suffix.lower() == ".ply":
        from plyfile import PlyData

        try:
            ply = PlyData.read(str(path), mmap=False)  # no mapping: the file may be rewritten
            vertex = ply["vertex"].data
        except Exception as error:  # plyfile raises several types for a damaged file
            raise ValueError(f"{path}: not a readable PLY file with a vertex element ({error})") from error
        names = vertex.dtype.names or ()
        if "label" not in names:
            raise ValueError(f"{path}: the vertex element has no 'label' property (has {', '.join(names)})")
        return {key: np.asarray(vertex[key]) for key in ("label", "point_index", "region") if key in names}
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
    return {"label": table["label"].to_numpy(), "point_index": table["point_index"].to_numpy()}


def _labels_round(ctx: RunContext, labels_dir: Path) -> dict[str, int]:
    """File stem -> round: from the labels folder's manifest.csv, else the round the run awaits labels for."""
    manifest = labels_dir / "manifest.csv"
    if manifest.is_file():
        table = pd.read_csv(manifest)
        missing = [c for c in ("file", "round") if c not in table.columns]
        if missing:
            raise ValueError(f"{manifest}: missing column(s) {missing}; expected {', '.join(MANIFEST_COLUMNS)}")
        return {Path(f).stem: int(r) for f, r in zip(table["file"], table["round"], strict=True)}
    state = read_state(ctx.paths.root)
    if state is None or state["status"] != "awaiting_labels":
        raise ValueError(
            f"{labels_dir}: no manifest.csv to say which round the labels belong to, and run "
            f"{ctx.paths.root.name} is not awaiting labels; keep the manifest.csv written by `redal export`"
        )
    return {"*": int(state["last_round"])}


def import_labels(run_dir: str | os.PathLike[str], labels_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """Read annotators' labels into the run; returns one row per file (file, scan, region, round, points,
    labeled_points). Raises ValueError naming the file and expected vs got for any mismatch; nothing is
    written unless every file is valid."""
    from redal_core.active.pool import LabelState

    ctx = open_run(run_dir)
    if ctx.config.active.oracle != "human":
        raise ValueError(
            f"run {ctx.paths.root.name} uses active.oracle: {ctx.config.active.oracle}; its selections are labeled "
            "from ground truth. Human labels are read only by runs with active.oracle: human"
        )
    labels_dir = Path(labels_dir)
    if not labels_dir.is_dir():
        raise FileNotFoundError(f"labels folder {labels_dir} does not exist")
    files = sorted(p for p in labels_dir.iterdir()
                   if p.suffix.lower() in (".ply", ".csv") and p.name != "manifest.csv")
    if not files:
        raise ValueError(f"{labels_dir}: no .ply or .csv label files (named <scan>_<region>.ply|csv as exported)")
    stems = [p.stem for p in files]
    duplicated = sorted({s for s in stems if stems.count(s) > 1})
    if duplicated:
        raise ValueError(f"{labels_dir}: both a PLY and a CSV for {', '.join(duplicated)}; keep one per unit")
    rounds = _labels_round(ctx, labels_dir)
    num_classes = ctx.dataset.num_classes
    per_scan: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    units: dict[int, list[tuple[int, int]]] = {}
    report = []
    cache: dict[int, Any] = {}
    round_of: dict[int, list[np.ndarray]] = {}
    for path in files:
        match = _NAME.match(path.stem)
        if match is None:
            raise ValueError(f"{path}: the file name must be <scan_index>_<region>.ply|csv as exported, "
                             f"e.g. 3_17.ply or 3_scan.csv")
        scan_index = int(match["scan"])
        region = -1 if match["region"] == "scan" else int(match["region"])
        if path.stem not in rounds and "*" not in rounds:
            raise ValueError(f"{path}: not listed in {labels_dir / 'manifest.csv'}")
        round_ = rounds.get(path.stem, rounds.get("*"))
        selection = ctx.selection(round_)
        chosen = selection[(selection["scan"] == scan_index) & (selection["region"] == region)]
        if chosen.empty:
            listed = ", ".join(_stem(int(s), int(r)) for s, r in zip(selection["scan"], selection["region"], strict=True))
            raise ValueError(f"{path}: scan {scan_index} region {region} was not selected in round {round_} "
                             f"(selected: {listed})")
        if scan_index not in cache:
            cache[scan_index] = np.asarray(ctx.regions(scan_index)["region"], np.int64)
        region_ids = cache[scan_index]
        if round_ not in round_of:
            round_of[round_] = ctx.round_regions(round_)
        expected = ctx.unit_points(scan_index, region, round_, region_ids, round_of[round_])
        data = _read_labels(path)
        label = np.asarray(data["label"]).astype(np.int64)
        if label.size != expected.size:
            raise ValueError(f"{path}: expected {expected.size} points (scan {scan_index} region {region}, round "
                             f"{round_}), got {label.size}")
        index = expected
        if "point_index" in data:
            index = np.asarray(data["point_index"]).astype(np.int64)
            if not np.array_equal(np.sort(index), expected):
                outside = np.setdiff1d(index, expected)
                raise ValueError(f"{path}: point_index does not match scan {scan_index} region {region} of round "
                                 f"{round_}: {outside.size} index(es) outside the unit (e.g. {outside[:5].tolist()}), "
                                 f"{np.unique(index).size} distinct of {expected.size} expected")
        if "region" in data:
            got = np.asarray(data["region"]).astype(np.int64)
            wrong = got != region_ids[index]
            if wrong.any():
                first = int(np.flatnonzero(wrong)[0])
                raise ValueError(f"{path}: {int(wrong.sum())} point(s) carry the wrong region: expected region "
                                 f"{int(region_ids[index][first])} (scan {scan_index}), got {int(got[first])}")
        unfilled = label == _UNFILLED
        if unfilled.any():
            raise ValueError(f"{path}: {int(unfilled.sum())} of {label.size} points still have label -1 (unfilled); "
                             f"give every point a class id 0..{num_classes - 1} or {IGNORE_INDEX} (ignore)")
        bad = (label != IGNORE_INDEX) & ((label < 0) | (label >= num_classes))
        if bad.any():
            raise ValueError(f"{path}: label {int(label[bad][0])} is not a class id 0..{num_classes - 1} of "
                             f"{ctx.config.dataset.name} (or {IGNORE_INDEX} for ignore); {int(bad.sum())} point(s)")
        per_scan.setdefault(scan_index, []).append((index, label))
        units.setdefault(round_, []).append((scan_index, region))
        report.append({"file": path.name, "scan": scan_index, "region": region, "round": round_,
                       "points": int(expected.size), "labeled_points": int((label != IGNORE_INDEX).sum())})

    # every file is valid: write annotations, then the label state
    for scan_index, parts in per_scan.items():
        target = ctx.paths.annotation(scan_index)
        n = ctx.dataset[scan_index].num_points
        merged = np.load(target) if target.exists() else np.full(n, IGNORE_INDEX, np.int64)
        if merged.shape != (n,):
            raise ValueError(f"{target}: holds {merged.shape[0]} labels, scan {scan_index} has {n} points")
        for index, label in parts:
            merged[index] = label
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            np.save(tmp, merged.astype(np.int64))
    state = LabelState.load(ctx.paths.label_state)
    for round_, pairs in units.items():
        todo = [(s, r) for s, r in pairs if not state.is_labeled(s, r)]
        if todo:
            scans, regions = (np.array(v, np.int64) for v in zip(*todo, strict=True))
            state.label(scans, regions, round=round_ + 1)
        selection = ctx.selection(round_)
        missing = [(int(s), int(r)) for s, r in zip(selection["scan"], selection["region"], strict=True)
                   if not state.is_labeled(int(s), int(r))]
        if missing:
            warnings.warn(
                f"run {ctx.paths.root.name}: {len(missing)} of {len(selection)} unit(s) selected in round {round_} "
                f"have no imported labels yet ({', '.join(_stem(s, r) for s, r in missing[:8])}"
                f"{' ...' if len(missing) > 8 else ''}); import them before the next `redal run`",
                stacklevel=2,
            )
    state.save(ctx.paths.label_state)
    return pd.DataFrame(report)


def cli_export(args: argparse.Namespace) -> int:
    """``redal export RUN_DIR --round R --out DIR``."""
    manifest = export_round(args.run_dir, args.round_, args.out)
    print(f"redal export: {len(manifest)} unit(s), {int(manifest['points'].sum())} points of round {args.round_} "
          f"written to {args.out} (PLY + manifest.csv); fill each vertex's 'label', then `redal import "
          f"{args.run_dir} {args.out}`")
    return 0


def cli_import(args: argparse.Namespace) -> int:
    """``redal import RUN_DIR LABELS_DIR``."""
    report = import_labels(args.run_dir, args.labels_dir)
    print(f"redal import: {len(report)} file(s), {int(report['labeled_points'].sum())} labeled points written to "
          f"{Path(args.run_dir) / 'annotations'}; run `redal run {Path(args.run_dir) / 'params.yaml'}` to train on them")
    return 0
