"""Annotation hand-off: PLY I/O, and a round trip through a tiny human-oracle run.

The run: synthetic rooms, 1 selection round, oracle human. It stops after round 0's selection awaiting
labels; we export the selection, label every exported point with a planted class, import, and run again:
the next round's labeled class distribution must count the planted labels, not the ground truth.
"""

from __future__ import annotations

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


def test_ply_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(50, 3)).astype(np.float32)
    rgb = rng.integers(0, 256, size=(50, 3)).astype(np.uint8)
    index = np.sort(rng.choice(1000, 50, replace=False))
    path = annotate.write_ply(tmp_path / "3_7.ply", xyz=xyz, rgb=rgb, region=np.full(50, 7), point_index=index)
    vertex = PlyData.read(str(path), mmap=False)["vertex"].data
    assert vertex.dtype.names == ("x", "y", "z", "red", "green", "blue", "region", "label", "point_index")
    np.testing.assert_array_equal(np.stack([vertex["x"], vertex["y"], vertex["z"]], 1), xyz)
    np.testing.assert_array_equal(np.stack([vertex["red"], vertex["green"], vertex["blue"]], 1), rgb)
    read = annotate._read_labels(path)
    assert (read["label"] == -1).all() and (read["region"] == 7).all()
    np.testing.assert_array_equal(read["point_index"], index)
    pd.DataFrame({"point_index": index, "label": np.arange(50)}).to_csv(tmp_path / "3_7.csv", index=False)
    np.testing.assert_array_equal(annotate._read_labels(tmp_path / "3_7.csv")["label"], np.arange(50))
    pd.DataFrame({"point_index": index, "label": np.full(50, 0.5)}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="bad.csv: column 'label' must hold integers"):
        annotate._read_labels(tmp_path / "bad.csv")
    pd.DataFrame({"index": index}).to_csv(tmp_path / "worse.csv", index=False)
    with pytest.raises(ValueError, match=r"worse.csv: missing column\(s\) \['point_index', 'label'\]"):
        annotate._read_labels(tmp_path / "worse.csv")


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


@pytest.fixture(scope="module")
def awaiting(tmp_path_factory):
    """A human-oracle run stopped after round 0's selection, and its export of round 0."""
    from redal_core.active.loop import run
    from redal_core.results import run_status

    tmp = tmp_path_factory.mktemp("annotate")
    config = _config(tmp, tmp / "data")
    run_dir = run(config, progress=False, log=None)
    assert run_status(run_dir)["status"] == "awaiting_labels"
    exported = tmp / "export"
    manifest = annotate.export_round(run_dir, 0, exported)
    return config, Path(run_dir), exported, manifest


def _fill(folder: Path, label: int = PLANTED) -> None:
    for path in folder.glob("*.ply"):
        ply = PlyData.read(str(path), mmap=False)
        vertex = ply["vertex"].data.copy()
        vertex["label"] = label
        PlyData([PlyElement.describe(vertex, "vertex")]).write(str(path))


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.mark.slow
@pytest.mark.xdist_group("annotate")  # one worker builds the module's run fixture
def test_export_writes_each_selected_unit(awaiting):
    config, run_dir, exported, manifest = awaiting
    selection = pd.read_csv(run_dir / "selections" / "round_00.csv")
    assert len(manifest) == len(selection) > 0
    assert list(manifest.columns) == annotate.MANIFEST_COLUMNS
    joined = manifest.merge(selection, on=["scan", "region"], suffixes=("", "_selected"), validate="one_to_one")
    assert len(joined) == len(selection) and (joined.points == joined.points_selected).all()
    on_disk = pd.read_csv(exported / "manifest.csv")
    pd.testing.assert_frame_equal(on_disk, manifest)
    ctx = annotate.open_run(run_dir)
    for row in manifest.itertuples():
        vertex = PlyData.read(str(exported / row.file), mmap=False)["vertex"].data
        assert len(vertex) == row.points
        assert (vertex["region"] == row.region).all() and (vertex["label"] == -1).all()
        scan = ctx.dataset[row.scan]
        np.testing.assert_allclose(vertex["x"], np.asarray(scan.xyz)[vertex["point_index"], 0])
        np.testing.assert_array_equal(vertex["red"], np.asarray(scan.rgb)[vertex["point_index"], 0])
        assert row.scan_name == ctx.dataset.scan_names[row.scan]


@pytest.mark.slow
@pytest.mark.xdist_group("annotate")
def test_import_rejects_mismatches_with_clear_errors(awaiting, tmp_path):
    config, run_dir, exported, manifest = awaiting
    first = manifest.iloc[0]

    short = _copy(exported, tmp_path / "short")
    _fill(short)
    path = short / first.file
    vertex = PlyData.read(str(path), mmap=False)["vertex"].data[:-1]
    PlyData([PlyElement.describe(vertex, "vertex")]).write(str(path))
    with pytest.raises(ValueError, match=rf"{first.file}: expected {first.points} points .* got {first.points - 1}"):
        annotate.import_labels(run_dir, short)

    moved = _copy(exported, tmp_path / "moved")
    _fill(moved)
    vertex = PlyData.read(str(moved / first.file), mmap=False)["vertex"].data.copy()
    vertex["region"][0] += 1
    PlyData([PlyElement.describe(vertex, "vertex")]).write(str(moved / first.file))
    with pytest.raises(ValueError, match=rf"{first.file}: 1 point\(s\) carry the wrong region"):
        annotate.import_labels(run_dir, moved)

    unfilled = _copy(exported, tmp_path / "unfilled")
    with pytest.raises(ValueError, match="still have label -1"):
        annotate.import_labels(run_dir, unfilled)

    wrong_class = _copy(exported, tmp_path / "wrong_class")
    _fill(wrong_class, label=99)
    with pytest.raises(ValueError, match="label 99 is not a class id 0..12"):
        annotate.import_labels(run_dir, wrong_class)

    stranger = _copy(exported, tmp_path / "stranger")
    _fill(stranger)
    selection = pd.read_csv(run_dir / "selections" / "round_00.csv")
    taken = set(zip(selection.scan, selection.region, strict=True))
    region = next(r for r in range(10_000) if (int(first.scan), r) not in taken)
    name = f"{first.scan}_{region}.csv"
    pd.DataFrame({"point_index": [0], "label": [1]}).to_csv(stranger / name, index=False)
    manifest_rows = pd.concat([manifest, pd.DataFrame([{**first.to_dict(), "file": name, "region": region}])])
    manifest_rows.to_csv(stranger / "manifest.csv", index=False)
    with pytest.raises(ValueError, match=rf"{name}: scan {first.scan} region {region} was not selected in round 0"):
        annotate.import_labels(run_dir, stranger)

    # nothing was written by the failed imports
    assert not (run_dir / "annotations").exists()

    simulated = _copy(run_dir, tmp_path / "simulated_run")
    params = yaml.safe_load((simulated / "params.yaml").read_text())
    params["active"]["oracle"] = "simulated"
    (simulated / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ValueError, match="uses active.oracle: simulated"):
        annotate.import_labels(simulated, short)


@pytest.mark.slow
@pytest.mark.xdist_group("annotate")
def test_round_trip_trains_the_next_round_on_human_labels(awaiting, tmp_path):
    from redal_core.active.loop import run
    from redal_core.active.pool import LabelState
    from redal_core.results import run_status

    config, run_dir, exported, manifest = awaiting
    labels = _copy(exported, tmp_path / "labels")
    _fill(labels)
    # one unit comes back as CSV (point_index, label) instead of PLY
    first = manifest.iloc[0]
    vertex = PlyData.read(str(labels / first.file), mmap=False)["vertex"].data
    (labels / first.file).unlink()
    pd.DataFrame({"point_index": vertex["point_index"][::-1], "label": np.full(len(vertex), PLANTED)}).to_csv(
        labels / first.file.replace(".ply", ".csv"), index=False)

    report = annotate.import_labels(run_dir, labels)
    assert report.points.sum() == manifest.points.sum() == report.labeled_points.sum()
    ctx = annotate.open_run(run_dir)
    for scan_index, rows in manifest.groupby("scan"):
        stored = np.load(run_dir / "annotations" / f"{scan_index}.npy")
        assert stored.dtype == np.int64 and stored.shape == (ctx.dataset[int(scan_index)].num_points,)
        assert (stored == PLANTED).sum() == rows.points.sum()
        assert set(np.unique(stored)) <= {PLANTED, IGNORE_INDEX}
    state = LabelState.load(run_dir / "label_state.npz")
    scans, regions = state.units_labeled_in(1)
    assert set(zip(scans.tolist(), regions.tolist(), strict=True)) == set(zip(manifest.scan, manifest.region, strict=True))

    before = pd.read_csv(run_dir / "class_distribution.csv")
    run(config, progress=False, log=None)
    assert run_status(run_dir)["status"] == "complete"
    after = pd.read_csv(run_dir / "class_distribution.csv")
    r0 = before[before["round"] == 0].set_index("class_id").labeled_points
    r1 = after[after["round"] == 1].set_index("class_id").labeled_points
    expected = r0.copy()
    expected[PLANTED] += int(manifest.points.sum())
    pd.testing.assert_series_equal(r1, expected, check_names=False)
