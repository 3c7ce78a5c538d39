"""Annotation hand-off: per-scan PLY / SemanticKITTI files out, annotators' labels back in.

Two runs stop after round 0's selection awaiting labels (oracle: human):

* synthetic rooms, ReDAL (region units), run in process; exported with the command the loop prints;
  we label every exported point with a planted class, import, and run again: the next round's labeled
  class distribution must count the planted labels, not the ground truth;
* the REAL SemanticKITTI samples (``../shared/real_samples``, skipped when absent), a run folder built
  directly (regions, label state, a RAND selection of whole scans), no training; annotators write the real
  raw labels into the exported ``.label`` files and the train ids into a PLY.
"""

from __future__ import annotations

import json
import math
import shlex
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from plyfile import PlyData, PlyElement

from redal_core import IGNORE_INDEX, annotate
from redal_core.config import RunConfig

PLANTED = 2  # every exported point is labeled with this class id by our "annotator"
INDOOR_FIELDS = [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "|u1"), ("green", "|u1"), ("blue", "|u1"),
                 ("region", "<i4"), ("selected", "|u1"), ("label", "<i4")]
KITTI_FIELDS = [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("intensity", "<f4"), ("region", "<i4"),
                ("selected", "|u1"), ("label", "<i4")]


def _vertex(path: Path) -> np.ndarray:
    """The vertex records of a PLY, copied out of plyfile's memory map (its unmapped reader is slow)."""
    return np.array(PlyData.read(str(path))["vertex"].data)


def _write_vertex(path: Path, vertex: np.ndarray) -> None:
    PlyData([PlyElement.describe(vertex, "vertex")], byte_order="<").write(str(path))


def _fields(vertex: np.ndarray) -> list[tuple[str, str]]:
    return [(name, vertex.dtype[name].str) for name in vertex.dtype.names]


# -- files, names, classes (no run) -----------------------------------------------------------------------
def test_scan_ply_round_trip_and_label_readers(tmp_path):
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(50, 3)).astype(np.float32)
    rgb = rng.integers(0, 256, size=(50, 3)).astype(np.uint8)
    region = rng.integers(0, 5, size=50)
    selected = region == 3
    path = annotate.write_scan_ply(tmp_path / "a.ply", xyz=xyz, rgb=rgb, region=region, selected=selected,
                                   comments=["hello"])
    ply = PlyData.read(str(path), mmap=False)
    assert ply.byte_order == "<" and not ply.text and ply.comments == ["hello"]
    vertex = ply["vertex"].data
    assert _fields(vertex) == INDOOR_FIELDS
    np.testing.assert_array_equal(np.stack([vertex["x"], vertex["y"], vertex["z"]], 1), xyz)
    np.testing.assert_array_equal(np.stack([vertex["red"], vertex["green"], vertex["blue"]], 1), rgb)
    np.testing.assert_array_equal(vertex["selected"], selected.astype(np.uint8))
    labels = annotate.read_ply_labels(path, num_points=50, region_ids=region)
    assert labels.dtype == np.int64 and (labels == annotate.UNLABELED).all()
    with pytest.raises(ValueError, match=r"a.ply: expected 49 points \(every point of the scan, in order\), got 50"):
        annotate.read_ply_labels(path, num_points=49)
    moved = region.copy()
    moved[7] += 1
    with pytest.raises(ValueError, match=r"a.ply: 1 point\(s\) carry the wrong region \(first: row 7"):
        annotate.read_ply_labels(path, num_points=50, region_ids=moved)

    # a tool re-saved it as ASCII, keeping x, y, z and a float label only: still read (no region to check)
    kept = np.empty(50, [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("label", "<f4")])
    kept["x"], kept["y"], kept["z"], kept["label"] = xyz[:, 0], xyz[:, 1], xyz[:, 2], np.arange(50) % 13
    PlyData([PlyElement.describe(kept, "vertex")], text=True).write(str(tmp_path / "ascii.ply"))
    labels = annotate.read_ply_labels(tmp_path / "ascii.ply", num_points=50, region_ids=region)
    np.testing.assert_array_equal(labels, np.arange(50) % 13)
    kept["label"][3] = 0.5
    PlyData([PlyElement.describe(kept, "vertex")], text=True).write(str(tmp_path / "ascii.ply"))
    with pytest.raises(ValueError, match="ascii.ply: property 'label' must hold integers only"):
        annotate.read_ply_labels(tmp_path / "ascii.ply", num_points=50)

    intensity = rng.random(50).astype(np.float32)
    path = annotate.write_scan_ply(tmp_path / "b.ply", xyz=xyz, intensity=intensity, region=region, selected=selected,
                                   label=np.arange(50))
    vertex = _vertex(path)
    assert _fields(vertex) == KITTI_FIELDS
    np.testing.assert_array_equal(vertex["intensity"], intensity)
    np.testing.assert_array_equal(annotate.read_ply_labels(path, num_points=50), np.arange(50))
    with pytest.raises(ValueError, match="exactly one of rgb"):
        annotate.write_scan_ply(tmp_path / "c.ply", xyz=xyz, rgb=rgb, intensity=intensity, region=region,
                                selected=selected)

    index = np.sort(rng.choice(50, 10, replace=False))
    pd.DataFrame({"point_index": index, "label": np.arange(10)}).to_csv(tmp_path / "a.csv", index=False)
    csv = annotate.read_csv_labels(tmp_path / "a.csv", num_points=50)
    np.testing.assert_array_equal(csv[index], np.arange(10))
    assert (np.delete(csv, index) == annotate.UNLABELED).all()
    pd.DataFrame({"point_index": index, "label": np.full(10, 0.5)}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="bad.csv: column 'label' must hold integers"):
        annotate.read_csv_labels(tmp_path / "bad.csv", num_points=50)
    pd.DataFrame({"index": index}).to_csv(tmp_path / "worse.csv", index=False)
    with pytest.raises(ValueError, match=r"worse.csv: missing column\(s\) \['point_index', 'label'\]"):
        annotate.read_csv_labels(tmp_path / "worse.csv", num_points=50)
    pd.DataFrame({"point_index": [3, 3], "label": [1, 1]}).to_csv(tmp_path / "twice.csv", index=False)
    with pytest.raises(ValueError, match="twice.csv: point_index 3 is listed 2 times"):
        annotate.read_csv_labels(tmp_path / "twice.csv", num_points=50)
    pd.DataFrame({"point_index": [50], "label": [1]}).to_csv(tmp_path / "far.csv", index=False)
    with pytest.raises(ValueError, match=r"far.csv: point_index 50 is outside the scan's points 0..49"):
        annotate.read_csv_labels(tmp_path / "far.csv", num_points=50)


def test_kitti_label_reader_maps_raw_ids_through_the_learning_map(tmp_path):
    from redal_core.data.semantic_kitti import load_label_config

    config = load_label_config()
    car, outlier, moving_car = 10, 1, 252  # train id 0; learning_map -> 0 (ignore); -> car
    raw = np.array([0, car, outlier, moving_car, car | (7 << 16), 0], "<u4")
    raw.tofile(tmp_path / "a.label")
    labels = annotate.read_kitti_labels(tmp_path / "a.label", num_points=6, lut=config.lut)
    assert labels.dtype == np.int64
    assert labels.tolist() == [annotate.UNLABELED, 0, IGNORE_INDEX, 0, 0, annotate.UNLABELED]
    with pytest.raises(ValueError, match=r"a.label: expected 5 labels \(20 bytes.*got 24 bytes"):
        annotate.read_kitti_labels(tmp_path / "a.label", num_points=5, lut=config.lut)
    np.array([0, 3, 3], "<u4").tofile(tmp_path / "b.label")  # 3 is no SemanticKITTI id
    with pytest.raises(ValueError, match=r"b.label: raw semantic id\(s\) \[3\] \(2 point\(s\)\) are not in"):
        annotate.read_kitti_labels(tmp_path / "b.label", num_points=3, lut=config.lut)


def test_scan_file_stems_are_safe_distinct_and_stable():
    assert annotate.scan_file_stems(["Area_1/office_3", "00/000000", ".hidden", "a b:c"]) == [
        "Area_1__office_3", "00__000000", "_hidden", "a_b_c"]
    assert annotate.scan_file_stems(["00/000001"]) == annotate.scan_file_stems(["00/000000", "00/000001"])[1:]
    with pytest.warns(UserWarning, match="give the same file name"):
        assert annotate.scan_file_stems(["a:b", "a?b", "c"]) == ["a_b-0", "a_b-1", "c"]
    assert annotate.kitti_paths("08/000123") == {"velodyne": "sequences/08/velodyne/000123.bin",
                                                 "labels": "sequences/08/labels/000123.label",
                                                 "selected": "sequences/08/selected/000123.npy"}
    with pytest.raises(ValueError, match="scan name 'Area_1/office_3/x' is not <sequence>/<scan>"):
        annotate.kitti_paths("Area_1/office_3/x")


def test_classes_json_of_both_families():
    from redal_core.data.s3dis import S3DIS_CLASSES
    from redal_core.data.semantic_kitti import load_label_config

    indoor = annotate.classes_table("synthetic-indoor", S3DIS_CLASSES)
    assert [c["name"] for c in indoor] == list(S3DIS_CLASSES) and [c["id"] for c in indoor] == list(range(13))
    assert indoor[0]["color"] == [0, 255, 0] and indoor[8] == {"id": 8, "name": "chair", "color": [255, 0, 0]}
    names = load_label_config().class_names
    kitti = annotate.classes_table("semantickitti", names)
    assert [c["name"] for c in kitti] == list(names) == [c["name"] for c in annotate.classes_table("synthetic-outdoor", names)]
    # semantic-kitti.yaml: car is raw id 10, color_map[10] = [245, 150, 100] in BGR
    assert kitti[0] == {"id": 0, "name": "car", "color": [100, 150, 245], "raw_id": 10}
    assert kitti[18]["name"] == "traffic-sign" and kitti[18]["raw_id"] == 81
    with pytest.raises(ValueError, match="class colours are for"):
        annotate.classes_table("s3dis", names)


# -- the synthetic-indoor run -----------------------------------------------------------------------------
def _config(tmp: Path, data: Path) -> RunConfig:
    return RunConfig.from_dict({
        "seed": 0,
        "results_dir": str(tmp / "results"),
        "dataset": {"name": "synthetic-indoor", "root": str(data),
                    "generate": {"scans": 7, "seed": 0, "points_per_room": 1500}, "knn": 8},
        "model": {"name": "minkunet", "width": 0.125, "backend": "torch"},
        "train": {"epochs_init": 1, "epochs_finetune": 1, "batch_size": 4, "device": "cpu"},
        "active": {"strategy": "ReDAL", "x_init": 20.0, "x_active": 5.0, "rounds": 1, "clusters": 5,
                   "oracle": "human"},
    })


def _printed_command(messages: list[str], command: str) -> list[str]:
    """The ``redal <command> ...`` quoted in backticks in the messages, as argv (without ``redal``)."""
    for message in messages:
        for part in message.split("`")[1::2]:
            if part.startswith(f"redal {command} "):
                return shlex.split(part)[1:]
    raise AssertionError(f"no `redal {command} ...` in {messages}")


@pytest.fixture(scope="module")
def awaiting(tmp_path_factory):
    """A human-oracle run stopped after round 0's selection, exported with the command the loop printed
    (default --out: <run>/export/round_00)."""
    from redal_core.active.loop import run
    from redal_core.cli import main
    from redal_core.results import run_status

    tmp = tmp_path_factory.mktemp("annotate")
    config = _config(tmp, tmp / "data")
    messages: list[str] = []
    run_dir = Path(run(config, progress=False, log=messages.append))
    assert run_status(run_dir)["status"] == "awaiting_labels"
    argv = _printed_command(messages, "export")
    assert argv == ["export", str(run_dir), "--round", "0"]
    assert main(argv) == 0
    exported = run_dir / "export" / "round_00"
    assert _printed_command(messages, "import") == ["import", str(run_dir), str(exported)]
    manifest = json.loads((exported / "manifest.json").read_text())
    return config, run_dir, exported, manifest


def _fill(folder: Path, label: int = PLANTED, *, everywhere: bool = False) -> None:
    """Label the selected points (``everywhere``: every point) of each PLY with ``label``."""
    for path in folder.glob("*.ply"):
        vertex = _vertex(path).copy()
        vertex["label"] = np.where(everywhere | (vertex["selected"] == 1), label, vertex["label"])
        _write_vertex(path, vertex)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _other_run(run_dir: Path, dst: Path, **changes) -> Path:
    """A copy of the run folder with params.yaml / state.json changed (another run id, another round)."""
    other = _copy(run_dir, dst)
    shutil.rmtree(other / "export", ignore_errors=True)
    params = yaml.safe_load((other / "params.yaml").read_text())
    params.update(changes.get("params", {}))
    (other / "params.yaml").write_text(yaml.safe_dump(params))
    if "last_round" in changes:
        state = json.loads((other / "state.json").read_text())
        state["last_round"] = changes["last_round"]
        (other / "state.json").write_text(json.dumps(state))
    return other


@pytest.mark.slow
@pytest.mark.xdist_group("annotate")  # one worker builds the module's run fixture
def test_export_writes_every_point_of_each_selected_scan(awaiting):
    from redal_core.active.run_data import RunRegions

    config, run_dir, exported, manifest = awaiting
    selection = pd.read_csv(run_dir / "selections" / "round_00.csv")
    assert (selection.region >= 0).all() and len(selection) > 0  # ReDAL: region units
    ctx = annotate.open_run(run_dir)
    loop_regions = RunRegions(config, ctx.dataset)  # the regions the loop selected from
    assert manifest["format_version"] == annotate.FORMAT_VERSION and manifest["round"] == 0
    assert manifest["run_id"] == config.run_id and manifest["run_dir"] == run_dir.name
    assert manifest["dataset"] == "synthetic-indoor" and manifest["layouts"] == ["ply"]
    assert manifest["selected_units"] == len(selection) and manifest["selected_points"] == selection.points.sum()
    state = np.load(run_dir / "checkpoints" / "label_state_00.npz")
    assert manifest["budget_points"] == math.ceil(config.active.x_active / 100 * int(state["region_sizes"].sum()))
    assert [s["index"] for s in manifest["scans"]] == sorted(selection.scan.unique())
    assert not (exported / "sequences").exists()
    names = sorted(p.name for p in exported.iterdir())
    assert names == sorted(["manifest.json", "classes.json", *(s["file"] for s in manifest["scans"])])
    for entry in manifest["scans"]:
        scan = ctx.dataset[entry["index"]]
        assert entry["name"] == ctx.dataset.scan_names[entry["index"]]
        assert entry["file"] == entry["name"].replace("/", "__") + ".ply"
        vertex = _vertex(exported / entry["file"])
        assert _fields(vertex) == INDOOR_FIELDS
        assert len(vertex) == scan.num_points == entry["total_points"]
        np.testing.assert_array_equal(vertex["x"], np.asarray(scan.xyz)[:, 0])
        np.testing.assert_array_equal(vertex["blue"], np.asarray(scan.rgb)[:, 2])
        np.testing.assert_array_equal(vertex["region"], loop_regions.region_ids(entry["index"]))
        assert (vertex["label"] == -1).all() and set(np.unique(vertex["selected"])) == {0, 1}
        units = selection[selection.scan == entry["index"]]
        assert vertex["selected"].sum() == units.points.sum() == entry["selected_points"]
        assert sorted(np.unique(vertex["region"][vertex["selected"] == 1]).tolist()) == sorted(units.region.tolist())
        assert entry["selected_regions"] == sorted(units.region.tolist()) and entry["units"] == units.region.tolist()
    classes = json.loads((exported / "classes.json").read_text())
    assert [c["name"] for c in classes] == ctx.dataset.class_names and classes[1]["color"] == [0, 0, 255]

    with pytest.raises(ValueError, match=r"already holds .* file\(s\) of an export .* --force"):
        annotate.export_round(run_dir, 0)
    with pytest.raises(FileNotFoundError, match="no selection for round 1"):
        annotate.export_round(run_dir, 1)


@pytest.mark.slow
@pytest.mark.xdist_group("annotate")
def test_import_rejects_mismatches_with_clear_errors(awaiting, tmp_path):
    config, run_dir, exported, manifest = awaiting
    run_dir = _copy(run_dir, tmp_path / "run")  # the fixture's run stays unlabeled for the other tests
    label_state = (run_dir / "label_state.npz").read_bytes()
    first = manifest["scans"][0]

    other = _other_run(run_dir, tmp_path / "other", params={"run_id": "another-run"})
    with pytest.raises(ValueError, match=rf"export/round_00: this export belongs to run {config.run_id}, round 0, "
                                         r"not to run another-run"):
        annotate.import_labels(other, exported)
    later = _other_run(run_dir, tmp_path / "later", last_round=1)
    with pytest.raises(ValueError, match=rf"this export belongs to run {config.run_id}, round 0, not to round 1 "
                                         rf"\(the round run {config.run_id} awaits"):
        annotate.import_labels(later, exported)

    short = _copy(exported, tmp_path / "short")
    _fill(short)
    vertex = _vertex(short / first["file"])[:-1]
    _write_vertex(short / first["file"], vertex)
    with pytest.raises(ValueError, match=rf"{first['file']}: expected {first['total_points']} points .* got "
                                         rf"{first['total_points'] - 1}"):
        annotate.import_labels(run_dir, short)

    moved = _copy(exported, tmp_path / "moved")
    _fill(moved)
    vertex = _vertex(moved / first["file"]).copy()
    vertex["region"][0] += 1
    _write_vertex(moved / first["file"], vertex)
    with pytest.raises(ValueError, match=rf"{first['file']}: 1 point\(s\) carry the wrong region"):
        annotate.import_labels(run_dir, moved)

    unfilled = _copy(exported, tmp_path / "unfilled")
    with pytest.raises(ValueError, match="still have label -1"):
        annotate.import_labels(run_dir, unfilled)

    wrong_class = _copy(exported, tmp_path / "wrong_class")
    _fill(wrong_class, label=99)
    with pytest.raises(ValueError, match="label 99 is not a class id 0..12"):
        annotate.import_labels(run_dir, wrong_class)

    clash = _copy(exported, tmp_path / "clash")
    _fill(clash)
    stem = Path(first["file"]).stem
    point = int(np.flatnonzero(_vertex(clash / first["file"])["selected"])[0])
    pd.DataFrame({"point_index": [point], "label": [PLANTED + 1]}).to_csv(clash / f"{stem}.csv", index=False)
    with pytest.raises(ValueError, match=rf"{stem}.csv and .*{first['file']} give 1 point\(s\) of scan .* different"):
        annotate.import_labels(run_dir, clash)

    edited = _copy(exported, tmp_path / "edited")
    _fill(edited)
    data = json.loads((edited / "manifest.json").read_text())
    data["format_version"] = 7
    (edited / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="manifest.json: format_version 7, this code reads 1"):
        annotate.import_labels(run_dir, edited)
    data["format_version"] = 1
    data["scans"][0]["file"] = "../../elsewhere.ply"
    (edited / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"scans\[0\].file must be a path inside the export folder"):
        annotate.import_labels(run_dir, edited)
    (edited / "manifest.json").unlink()
    with pytest.raises(FileNotFoundError, match="edited: no manifest.json"):
        annotate.import_labels(run_dir, edited)

    # nothing was written by the failed imports
    assert not (run_dir / "annotations").exists()
    assert (run_dir / "label_state.npz").read_bytes() == label_state

    simulated = _other_run(run_dir, tmp_path / "simulated_run")
    params = yaml.safe_load((simulated / "params.yaml").read_text())
    params["active"]["oracle"] = "simulated"
    (simulated / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ValueError, match="uses active.oracle: simulated"):
        annotate.import_labels(simulated, short)


@pytest.mark.slow
@pytest.mark.xdist_group("annotate")
def test_partial_imports_add_units(awaiting, tmp_path):
    from redal_core.active.pool import LabelState

    _, run_dir, exported, manifest = awaiting
    run_dir = _copy(run_dir, tmp_path / "run")
    first, rest = manifest["scans"][0], manifest["scans"][1:]
    assert rest, "the selection should span several scans"
    once = _copy(exported, tmp_path / "once")
    vertex = _vertex(once / first["file"]).copy()
    vertex["label"] = PLANTED  # every point: the unselected ones are ignored, with a warning
    _write_vertex(once / first["file"], vertex)
    with pytest.warns(UserWarning) as caught:
        report = annotate.import_labels(run_dir, once)
    text = [str(w.message) for w in caught]
    outside = first["total_points"] - first["selected_points"]
    assert any(f"{outside} labeled point(s) outside the units selected in round 0 are ignored" in t for t in text), text
    assert any("have no imported labels yet" in t for t in text), text
    assert not any("no label file" in t for t in text), text
    assert report.imported.tolist() == (report.scan == first["index"]).tolist()
    state = LabelState.load(run_dir / "label_state.npz")
    assert set(state.units_labeled_in(1)[0].tolist()) == {first["index"]}
    stored = np.load(run_dir / "annotations" / f"{first['index']}.npy")
    assert (stored == PLANTED).sum() == first["selected_points"] and (stored == IGNORE_INDEX).sum() == outside

    twice = _copy(exported, tmp_path / "twice")
    _fill(twice)
    (twice / first["file"]).unlink()  # the second delivery holds the other scans only
    with pytest.warns(UserWarning, match=r"no label file for 1 scan\(s\)"):
        report = annotate.import_labels(run_dir, twice)
    assert report.labeled.all() and report.imported.tolist() == (report.scan != first["index"]).tolist()
    state = LabelState.load(run_dir / "label_state.npz")
    scans, regions = state.units_labeled_in(1)
    selection = pd.read_csv(run_dir / "selections" / "round_00.csv")
    assert set(zip(scans.tolist(), regions.tolist(), strict=True)) == set(zip(selection.scan, selection.region, strict=True))


@pytest.mark.slow
@pytest.mark.xdist_group("annotate")
def test_cli_default_out_and_mismatched_folder(awaiting, tmp_path, capsys):
    from redal_core.cli import build_parser, main

    config, run_dir, exported, _ = awaiting
    fresh = _other_run(run_dir, tmp_path / "fresh")  # no export folder yet
    assert main(["export", str(fresh), "--round", "0"]) == 0
    out = capsys.readouterr().out
    assert (fresh / "export" / "round_00" / "manifest.json").is_file()
    assert f"`redal import {fresh} {fresh / 'export' / 'round_00'}`" in out
    assert main(["export", str(fresh), "--round", "0"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["export", str(fresh), "--round", "0", "--force", "--out", str(tmp_path / "elsewhere")]) == 0
    assert (tmp_path / "elsewhere" / "classes.json").is_file()

    other = _other_run(run_dir, tmp_path / "other", params={"run_id": "another-run"})
    assert main(["import", str(other), str(exported)]) == 2
    err = capsys.readouterr().err
    assert f"this export belongs to run {config.run_id}, round 0, not to run another-run" in err
    assert "region" not in err.split("not to run")[1]  # one line naming the run, no wall of region ids

    _fill(fresh / "export" / "round_00")
    assert main(["import", str(fresh), str(fresh / "export" / "round_00")]) == 0
    assert "unit(s) imported" in capsys.readouterr().out

    for command in ("export", "import"):
        with pytest.raises(SystemExit):
            build_parser().parse_args([command, "--help"])
        text = capsys.readouterr().out
        assert f"examples:\n  redal {command} results/runs/<run_id> " in text
    with pytest.raises(SystemExit):
        build_parser().parse_args(["export", "--help"])
    assert "(default: RUN_DIR/export/round_RR, RR the round in two digits)" in " ".join(capsys.readouterr().out.split())


@pytest.mark.slow
@pytest.mark.xdist_group("annotate")
def test_round_trip_trains_the_next_round_on_human_labels(awaiting, tmp_path):
    from redal_core.active.loop import run
    from redal_core.active.pool import LabelState
    from redal_core.results import run_status

    config, run_dir, exported, manifest = awaiting
    # resuming before any import names the commands that work as printed
    with pytest.raises(ValueError, match="none of the .* selected unit") as error:
        run(config, progress=False, log=None)
    assert _printed_command([str(error.value)], "export") == ["export", str(run_dir), "--round", "0"]
    assert _printed_command([str(error.value)], "import") == ["import", str(run_dir), str(exported)]

    labels = _copy(exported, tmp_path / "labels")
    _fill(labels)
    # one scan comes back as CSV (point_index, label of its selected points) instead of PLY
    first = manifest["scans"][0]
    vertex = _vertex(labels / first["file"])
    (labels / first["file"]).unlink()
    chosen = np.flatnonzero(vertex["selected"])[::-1]
    pd.DataFrame({"point_index": chosen, "label": np.full(chosen.size, PLANTED)}).to_csv(
        labels / first["file"].replace(".ply", ".csv"), index=False)

    report = annotate.import_labels(run_dir, labels)
    assert list(report.columns) == annotate.REPORT_COLUMNS
    assert report.points.sum() == manifest["selected_points"] == report.labeled_points.sum()
    assert report.imported.all() and report.labeled.all()
    assert set(report.sources[report.scan == first["index"]]) == {first["file"].replace(".ply", ".csv")}
    ctx = annotate.open_run(run_dir)
    for entry in manifest["scans"]:
        stored = np.load(run_dir / "annotations" / f"{entry['index']}.npy")
        assert stored.dtype == np.int64 and stored.shape == (ctx.dataset[entry["index"]].num_points,)
        assert (stored == PLANTED).sum() == entry["selected_points"]
        assert set(np.unique(stored)) <= {PLANTED, IGNORE_INDEX}
    state = LabelState.load(run_dir / "label_state.npz")
    scans, regions = state.units_labeled_in(1)
    selection = pd.read_csv(run_dir / "selections" / "round_00.csv")
    assert set(zip(scans.tolist(), regions.tolist(), strict=True)) == set(zip(selection.scan, selection.region, strict=True))

    before = pd.read_csv(run_dir / "class_distribution.csv")
    run(config, progress=False, log=None)
    assert run_status(run_dir)["status"] == "complete"
    after = pd.read_csv(run_dir / "class_distribution.csv")
    r0 = before[before["round"] == 0].set_index("class_id").labeled_points
    r1 = after[after["round"] == 1].set_index("class_id").labeled_points
    expected = r0.copy()
    expected[PLANTED] += int(manifest["selected_points"])
    pd.testing.assert_series_equal(r1, expected, check_names=False)
    # the run used the labels: importing round 0 again is refused
    with pytest.raises(ValueError, match="is not awaiting labels"):
        annotate.import_labels(run_dir, labels)


# -- the real SemanticKITTI samples -----------------------------------------------------------------------
def _kitti_run(tmp: Path, real_root: Path, run_id: str, *, cache: Path) -> Path:
    """A human-oracle RAND run over the real training scans, stopped after round 0's selection, built
    directly: params.yaml, the label state (scan 0 labeled; 40 regions of scan 1 labeled too, so its
    scan unit selects only the rest; the 3 smallest regions of scan 3 excluded, so they are never
    selected), a selection of two whole scans, state.json awaiting labels."""
    from redal_core.active.pool import EXCLUDED, LabelState
    from redal_core.data.datasets import build_dataset
    from redal_core.regions import scan_region_ids
    from redal_core.results import (
        SELECTION_COLUMNS,
        RunPaths,
        atomic_write_csv,
        atomic_write_yaml,
        write_state,
    )

    config = RunConfig.from_dict({
        "seed": 0, "run_id": run_id, "results_dir": str(tmp / "results"),
        "dataset": {"name": "semantickitti", "root": str(real_root), "cache_dir": str(cache), "knn": 8},
        "model": {"name": "minkunet", "width": 0.125, "backend": "torch"},
        "train": {"epochs_init": 1, "epochs_finetune": 1, "batch_size": 1, "device": "cpu"},
        "active": {"strategy": "RAND", "x_init": 25.0, "x_active": 30.0, "rounds": 1, "oracle": "human"},
    })
    paths = RunPaths(config.run_dir)
    dataset = build_dataset("semantickitti", real_root, "train", cache_dir=cache)
    regions = [np.asarray(scan_region_ids(dataset, i, config.dataset.vccs)) for i in range(len(dataset))]
    sizes = [np.bincount(r) for r in regions]
    offsets = np.r_[0, np.cumsum([s.size for s in sizes])]
    rounds = np.full(offsets[-1], -1)
    rounds[offsets[3] + np.argsort(sizes[3], kind="stable")[:3]] = EXCLUDED
    state = LabelState(region_sizes=np.concatenate(sizes), offsets=offsets, rounds=rounds)
    state.label([0], [-1], round=0)
    state.label(np.ones(40, np.int64), np.arange(40), round=0)
    chosen = [1, 3]
    points = [int(state.region_sizes(s)[state.open_regions(s)].sum()) for s in chosen]
    frame = pd.DataFrame({"scan": chosen, "scan_name": [dataset.scan_names[s] for s in chosen], "region": -1,
                          "score": 0.0, "adjusted_score": 0.0, "cluster": -1, "points": points},
                         columns=SELECTION_COLUMNS)
    atomic_write_yaml(paths.params, config.to_dict())
    atomic_write_csv(paths.selection(0), frame)
    state.save(paths.round_label_state(0))
    state.save(paths.label_state)
    write_state(paths.root, last_round=0, rounds=1, status="awaiting_labels")
    return paths.root


@pytest.fixture(scope="module")
def kitti(real_samples, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("annotate_kitti")
    run_dir = _kitti_run(tmp, real_samples, "kitti-human", cache=tmp / "cache")
    manifest = annotate.export_round(run_dir, 0)
    return real_samples, run_dir, run_dir / "export" / "round_00", manifest, tmp / "cache"


@pytest.mark.slow
@pytest.mark.xdist_group("annotate_kitti")
def test_real_semantickitti_export_files(kitti):
    real, run_dir, exported, manifest, _ = kitti
    selection = pd.read_csv(run_dir / "selections" / "round_00.csv")
    ctx = annotate.open_run(run_dir)
    assert manifest["layouts"] == ["ply", "semantickitti"] and manifest["dataset"] == "semantickitti"
    assert [s["name"] for s in manifest["scans"]] == selection.scan_name.tolist() == ["00/000001", "07/000964"]
    assert manifest["selected_points"] == selection.points.sum()
    for entry, row in zip(manifest["scans"], selection.itertuples(), strict=True):
        assert entry["file"] == entry["name"].replace("/", "__") + ".ply" and entry["units"] == [-1]
        n = ctx.dataset[entry["index"]].num_points
        vertex = _vertex(exported / entry["file"])
        assert _fields(vertex) == KITTI_FIELDS and len(vertex) == n == entry["total_points"]
        assert vertex["selected"].sum() == row.points == entry["selected_points"]
        source = np.fromfile(real / entry["velodyne"], "<f4").reshape(-1, 4)
        np.testing.assert_array_equal(vertex["intensity"], source[:, 3])
        # the SemanticKITTI layout: the source's bytes, zero labels, the selected mask
        sequence, _, stem = entry["name"].partition("/")
        assert entry["velodyne"] == f"sequences/{sequence}/velodyne/{stem}.bin"
        assert (exported / entry["velodyne"]).read_bytes() == (real / entry["velodyne"]).read_bytes()
        labels = np.fromfile(exported / entry["labels"], dtype=np.uint32)
        assert labels.shape == (n,) and (labels == 0).all()
        mask = np.load(exported / entry["selected"])
        assert mask.dtype == np.uint8 and mask.shape == (n,)
        np.testing.assert_array_equal(mask, vertex["selected"])
    # scan 1's 40 regions labeled in round 0 are not selected; scan 3 (07/000964) is, but for its 3
    # excluded regions
    first, second = manifest["scans"]
    assert first["selected_regions"] == list(range(40, first["total_regions"]))
    excluded = np.argsort(np.bincount(ctx.region_ids(3)), kind="stable")[:3]
    assert second["selected_regions"] == sorted(set(range(second["total_regions"])) - set(excluded.tolist()))
    vertex = _vertex(exported / second["file"])
    np.testing.assert_array_equal(vertex["selected"] == 0, np.isin(vertex["region"], excluded))
    classes = json.loads((exported / "classes.json").read_text())
    assert classes == annotate.classes_table("semantickitti", ctx.dataset.class_names)
    assert classes[0] == {"id": 0, "name": "car", "color": [100, 150, 245], "raw_id": 10}


@pytest.mark.slow
@pytest.mark.xdist_group("annotate_kitti")
def test_real_semantickitti_round_trip_through_label_files(kitti, tmp_path):
    from redal_core.active.pool import LabelState
    from redal_core.data.semantic_kitti import load_label_config

    real, run_dir, exported, manifest, _ = kitti
    run_dir = _copy(run_dir, tmp_path / "run")
    lut = load_label_config().lut
    labels = _copy(exported, tmp_path / "labels")
    first, second = manifest["scans"]
    # scan 1: the annotator writes the real raw labels (every point) into the .label file
    shutil.copyfile(real / first["labels"], labels / first["labels"])
    # scan 3: train ids into the PLY, selected points only, car everywhere
    vertex = _vertex(labels / second["file"]).copy()
    vertex["label"] = np.where(vertex["selected"] == 1, 0, -1)
    _write_vertex(labels / second["file"], vertex)

    with pytest.warns(UserWarning) as caught:
        report = annotate.import_labels(run_dir, labels)
    text = " | ".join(str(w.message) for w in caught)
    raw = np.fromfile(real / first["labels"], "<u4") & 0xFFFF
    mask = np.load(exported / first["selected"]).astype(bool)
    outside = int(((raw != 0) & ~mask).sum())
    assert outside > 0 and f"{outside} labeled point(s) outside the units selected in round 0" in text
    unlabeled = int(((raw == 0) & mask).sum())
    assert unlabeled > 0 and f"have {unlabeled} point(s) without a label" in text
    assert report.imported.all() and report.labeled.all()
    assert report.labeled_points.tolist() == [int(((raw != 0) & mask).sum()), second["selected_points"]]

    stored = np.load(run_dir / "annotations" / f"{first['index']}.npy")
    expected = np.where(mask & (raw != 0), lut[raw], IGNORE_INDEX)
    np.testing.assert_array_equal(stored, expected)
    assert (stored[mask & (raw != 0)] >= 0).any()
    stored = np.load(run_dir / "annotations" / f"{second['index']}.npy")
    assert (stored == 0).sum() == second["selected_points"] == (vertex["selected"] == 1).sum()
    state = LabelState.load(run_dir / "label_state.npz")
    assert state.is_labeled(first["index"]) and state.is_labeled(second["index"])
    assert set(state.units_labeled_in(1)[0].tolist()) == {first["index"], second["index"]}


@pytest.mark.slow
@pytest.mark.xdist_group("annotate_kitti")
def test_real_semantickitti_export_of_another_run_is_refused(kitti, tmp_path):
    real, run_dir, exported, _, cache = kitti
    other = _kitti_run(tmp_path, real, "kitti-other", cache=cache)
    labels = _copy(exported, tmp_path / "labels")
    with pytest.raises(ValueError, match=r"labels: this export belongs to run kitti-human, round 0, not to run "
                                         r"kitti-other"):
        annotate.import_labels(other, labels)
    mine = annotate.export_round(other, 0)
    assert mine["run_id"] == "kitti-other" and (other / "export" / "round_00" / "manifest.json").is_file()
    # the same run id and round, another selection: refused too
    frame = pd.read_csv(other / "selections" / "round_00.csv")
    frame.loc[0, "score"] = 1.0
    frame.to_csv(other / "selections" / "round_00.csv", index=False)
    params = yaml.safe_load((other / "params.yaml").read_text())
    params["run_id"] = "kitti-human"
    (other / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ValueError, match="this export was made from another selection"):
        annotate.import_labels(other, labels)
