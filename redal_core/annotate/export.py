"""Export: a round's selection out to annotators' tools as whole scans (``redal export``).

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
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np

from redal_core import IGNORE_INDEX
from redal_core.config import FAMILY
from redal_core.results import RunPaths, atomic_path, atomic_write_json

from .formats import KITTI_UNLABELED, UNLABELED, classes_table, kitti_paths, scan_file_stems, write_scan_ply
from .manifest import CLASSES, FORMAT, FORMAT_VERSION, MANIFEST, _sha256
from .run_folder import _round_units, open_run


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
