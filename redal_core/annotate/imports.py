"""Import: annotators' labels back into the run (``redal import``).

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
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from redal_core import IGNORE_INDEX
from redal_core.results import atomic_path, read_state

from .formats import (
    KITTI_UNLABELED,
    UNLABELED,
    _check_train_ids,
    read_csv_labels,
    read_kitti_labels,
    read_ply_labels,
)
from .manifest import MANIFEST, _listed_files, _sha256, read_manifest
from .run_folder import _round_units, open_run

REPORT_COLUMNS = ["scan", "scan_name", "region", "points", "labeled_points", "imported", "sources", "labeled"]


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


def cli_import(args: argparse.Namespace) -> int:
    """``redal import RUN_DIR LABELS_DIR``."""
    report = import_labels(args.run_dir, args.labels_dir)
    imported = report[report["imported"]]
    print(f"redal import: {len(imported)} unit(s) imported ({int(imported['labeled_points'].sum())} labeled points) "
          f"into {Path(args.run_dir) / 'annotations'}; {int(report['labeled'].sum())} of the {len(report)} selected "
          f"unit(s) are labeled now; run `redal run {Path(args.run_dir) / 'params.yaml'}` to train on them")
    return 0
