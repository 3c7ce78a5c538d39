"""Dataset objects over tiny roots in both layouts, the per-scan cache behind ``ds[i]``, and ``redal prepare``."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from redal_core import IGNORE_INDEX
from redal_core.cli import main
from redal_core.data import datasets as datasets_module
from redal_core.data.datasets import DATASETS, build_dataset
from redal_core.data.s3dis import S3DIS_CLASSES, read_room
from redal_core.data.semantic_kitti import read_scan


def _room(write_annotation, root, area, room, seed, n=20):
    rng = np.random.default_rng(seed)
    for k, cls in enumerate(("floor", "wall", "chair")):
        xyz = np.round(rng.uniform(0, 4, (n, 3)), 3)
        write_annotation(root / f"Area_{area}" / room, f"{cls}_{k + 1}.txt", xyz, rng.integers(0, 256, (n, 3)))


@pytest.fixture
def s3dis_root(tmp_path, write_annotation):
    root = tmp_path / "s3dis"
    _room(write_annotation, root, 1, "office_2", 1)
    _room(write_annotation, root, 1, "conferenceRoom_1", 2)
    _room(write_annotation, root, 5, "hallway_6", 3)
    _room(write_annotation, root, 6, "WC_1", 4)
    return root


@pytest.fixture
def kitti_root(tmp_path, write_kitti_scan):
    root = tmp_path / "kitti"
    rng = np.random.default_rng(0)
    for sequence, stem in (("00", "000001"), ("00", "000000"), ("07", "000003"), ("08", "000000")):
        points = rng.uniform(-20, 20, (30, 4)).astype(np.float32)
        write_kitti_scan(root, sequence, stem, points, rng.choice([0, 10, 40, 44, 70, 252], 30).astype(np.uint32))
    return root


def test_registry_names():
    assert DATASETS.names() == ["s3dis", "synthetic-indoor", "semantickitti", "synthetic-outdoor"]


def test_s3dis_splits_and_attributes(s3dis_root):
    train = build_dataset("s3dis", s3dis_root, "train")
    assert train.scan_names == ["Area_1/conferenceRoom_1", "Area_1/office_2", "Area_6/WC_1"]
    assert build_dataset("s3dis", s3dis_root, "val").scan_names == ["Area_5/hallway_6"]
    assert len(build_dataset("s3dis", s3dis_root, "all")) == 4
    assert (train.name, train.split, train.num_classes, train.in_channels, train.has_color) == (
        "s3dis", "train", 13, 6, True
    )  # fmt: skip
    assert train.class_names == list(S3DIS_CLASSES)
    assert train.cache.root == s3dis_root / ".cache"


def test_synthetic_indoor_reads_the_s3dis_layout(s3dis_root, tmp_path):
    ds = build_dataset("synthetic-indoor", s3dis_root, "val", cache_dir=tmp_path / "c")
    assert ds.name == "synthetic-indoor" and ds.scan_names == ["Area_5/hallway_6"]
    np.testing.assert_array_equal(ds[0].labels, read_room(s3dis_root / "Area_5" / "hallway_6").labels)


def test_items_equal_the_reader_and_are_memory_mapped(s3dis_root):
    ds = build_dataset("s3dis", s3dis_root, "train")
    for i, name in enumerate(ds.scan_names):
        scan, direct = ds[i], read_room(s3dis_root / name)
        assert scan.name == name
        assert isinstance(scan.xyz, np.memmap) and not scan.xyz.flags.writeable
        for field in ("xyz", "rgb", "labels"):
            np.testing.assert_array_equal(getattr(scan, field), getattr(direct, field))
        assert scan.intensity is None
    assert ds[-1].name == ds.scan_names[-1]
    assert [scan.name for scan in ds] == ds.scan_names


def test_each_scan_is_parsed_once(s3dis_root, monkeypatch):
    calls = []
    original = datasets_module.read_room

    def counting(room_dir):
        calls.append(room_dir)
        return original(room_dir)

    monkeypatch.setattr(datasets_module, "read_room", counting)
    ds = build_dataset("s3dis", s3dis_root, "val")
    ds[0], ds[0]
    build_dataset("s3dis", s3dis_root, "all")[2]  # Area_5 again, through another dataset object
    assert len(calls) == 1


def test_edited_source_gives_a_new_key_and_fresh_content(s3dis_root, write_annotation):
    ds = build_dataset("s3dis", s3dis_root, "val")
    key, before = ds.source_key(0), ds[0].num_points
    write_annotation(s3dis_root / "Area_5" / "hallway_6", "door_1.txt", np.zeros((4, 3)), np.zeros((4, 3), int))
    fresh = build_dataset("s3dis", s3dis_root, "val")
    assert fresh.source_key(0) != key
    assert fresh[0].num_points == before + 4
    assert int((fresh[0].labels == S3DIS_CLASSES.index("door")).sum()) == 4


def test_source_key_depends_on_content_not_location(s3dis_root, tmp_path, write_annotation):
    copy = tmp_path / "copy"
    for name in ("Area_5/hallway_6",):
        for path in sorted((s3dis_root / name / "Annotations").iterdir()):
            write_annotation(copy / name, path.name, raw=path.read_bytes())
    assert build_dataset("s3dis", copy, "val").source_key(0) == build_dataset("s3dis", s3dis_root, "val").source_key(0)


def test_semantickitti_splits_and_items(kitti_root, tmp_path):
    train = build_dataset("semantickitti", kitti_root, "train", cache_dir=tmp_path / "c")
    assert train.scan_names == ["00/000000", "00/000001", "07/000003"]
    assert build_dataset("semantickitti", kitti_root, "val").scan_names == ["08/000000"]
    assert build_dataset("synthetic-outdoor", kitti_root, "all").scan_names == [
        "00/000000", "00/000001", "07/000003", "08/000000"
    ]  # fmt: skip
    assert (train.num_classes, train.in_channels, train.has_color) == (19, 4, False)
    sequence = kitti_root / "sequences" / "07"
    direct = read_scan(sequence / "velodyne" / "000003.bin", sequence / "labels" / "000003.label")
    scan = train[2]
    assert scan.rgb is None and scan.name == "07/000003"
    np.testing.assert_array_equal(scan.labels, direct.labels)
    np.testing.assert_array_equal(scan.intensity, direct.intensity)


def test_scan_without_labels_file_warns_and_is_unlabeled(kitti_root, write_kitti_scan):
    write_kitti_scan(kitti_root, "08", "000005", np.ones((7, 4), np.float32), None)
    with pytest.warns(UserWarning, match=r"1 scan\(s\) have no labels file .*000005\.label"):
        val = build_dataset("semantickitti", kitti_root, "val")
    assert (val[1].labels == IGNORE_INDEX).all() and val[1].num_points == 7


def test_missing_split_directory_is_an_error(kitti_root):
    for path in sorted((kitti_root / "sequences" / "08").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    with pytest.raises(ValueError, match=r"split 'val' needs sequences/\{08\}/velodyne under .*none exists"):
        build_dataset("semantickitti", kitti_root, "val")


def test_missing_s3dis_area_is_an_error(s3dis_root):
    shutil.rmtree(s3dis_root / "Area_5")
    with pytest.raises(ValueError, match=r"split 'val' needs Area_5 under .*none exists \(found: Area_1, Area_6\)"):
        build_dataset("s3dis", s3dis_root, "val")


def test_unknown_split_is_an_error(kitti_root):
    with pytest.raises(ValueError, match=r"unknown split 'test'.*valid splits: train, val, all"):
        build_dataset("semantickitti", kitti_root, "test")


def test_unknown_dataset_name_lists_valid_names(kitti_root):
    with pytest.raises(KeyError, match=r"unknown dataset 'kitti'.*Valid names: s3dis, synthetic-indoor, semantickitti"):
        build_dataset("kitti", kitti_root, "train")


def test_index_out_of_range(kitti_root):
    ds = build_dataset("semantickitti", kitti_root, "val")
    with pytest.raises(IndexError, match=r"scan index 1 out of range for 1 scans"):
        ds[1]


def test_prepare_indexes_and_caches_an_existing_root(kitti_root, tmp_path, capsys):
    cache = tmp_path / "cache"
    assert main(["prepare", "--dataset", "semantickitti", "--root", str(kitti_root), "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "train: 3 scans, 90 points" in out and "val: 1 scans, 30 points" in out
    assert "car " in out and f"cached 4 scans in {cache}" in out
    assert len(list(cache.glob("*/*/_complete"))) == 4
    assert not (kitti_root / ".cache").exists()


def test_prepare_rejects_scans_for_a_real_dataset(kitti_root, capsys):
    assert main(["prepare", "--dataset", "semantickitti", "--root", str(kitti_root), "--scans", "3"]) == 2
    assert "--scans applies to synthetic datasets only" in capsys.readouterr().err


@pytest.mark.skipif(
    importlib.util.find_spec("redal_core.data.synthetic") is None, reason="redal_core.data.synthetic not written yet"
)
@pytest.mark.parametrize("dataset", ["synthetic-indoor", "synthetic-outdoor"])
def test_prepare_generates_and_caches_a_synthetic_set(tmp_path, capsys, dataset):
    root = tmp_path / dataset
    assert main(["prepare", "--dataset", dataset, "--root", str(root), "--scans", "4", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert f"generated 4 {dataset} scans" in out
    total = sum(len(build_dataset(dataset, root, split)) for split in ("train", "val") if _has_split(dataset, root, split))
    assert total == 4
    assert len(list((root / ".cache").glob("*/*/_complete"))) == 4


def _has_split(dataset, root, split):
    try:
        build_dataset(dataset, root, split)
    except ValueError:
        return False
    return True


def _fake_outdoor_generator():
    """A stand-in for synthetic.write_synthetic_outdoor: tiny scans in sequences 00 (train) and 08 (val)."""

    def write_synthetic_outdoor(root, *, scans=12, seed=0):
        rng = np.random.default_rng(seed)
        written = []
        for i in range(scans):
            sequence, frame = ("08", 0) if i == 0 else ("00", i - 1)
            velodyne = Path(root) / "sequences" / sequence / "velodyne"
            (velodyne.parent / "labels").mkdir(parents=True, exist_ok=True)
            velodyne.mkdir(exist_ok=True)
            rng.normal(size=(10, 4)).astype("<f4").tofile(velodyne / f"{frame:06d}.bin")
            np.full(10, 40, "<u4").tofile(velodyne.parent / "labels" / f"{frame:06d}.label")
            written.append(velodyne / f"{frame:06d}.bin")
        return written

    return types.SimpleNamespace(write_synthetic_outdoor=write_synthetic_outdoor)


def test_prepare_generates_then_caches_every_split(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "redal_core.data.synthetic", _fake_outdoor_generator())
    root = tmp_path / "out"
    args = ["prepare", "--dataset", "synthetic-outdoor", "--root", str(root), "--seed", "1"]
    assert main([*args, "--scans", "3"]) == 0
    out = capsys.readouterr().out
    assert "generated 3 synthetic-outdoor scans" in out
    assert "train: 2 scans, 20 points, 20 labeled" in out and "val: 1 scans, 10 points, 10 labeled" in out
    assert "road 20 (100.0%)" in out
    assert len(list((root / ".cache").glob("*/*/_complete"))) == 3


def test_prepare_warns_about_scans_left_by_an_earlier_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "redal_core.data.synthetic", _fake_outdoor_generator())
    root = tmp_path / "out"
    args = ["prepare", "--dataset", "synthetic-outdoor", "--root", str(root)]
    assert main([*args, "--scans", "4"]) == 0
    with pytest.warns(UserWarning, match=r"1 scan\(s\) under .* were not written by this run .*00/000002"):
        assert main([*args, "--scans", "3"]) == 0
    assert "train: 3 scans" in capsys.readouterr().out
