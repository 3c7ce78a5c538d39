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
    assert _entries(cache) == {"scan": 4, "region": 3, "cues": 3}  # regions and cues: the 3 training scans
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
    assert _entries(root / ".cache")["scan"] == 4


def _entries(cache):
    """Complete cache entries by kind: ``scan`` (parsed arrays), ``region`` (VCCS ids), ``cues``."""
    kinds = {"xyz.npy": "scan", "region.npy": "region", "structure.npy": "cues"}
    found = {}
    for marker in cache.glob("*/*/_complete"):
        for file, kind in kinds.items():
            if (marker.parent / file).is_file():
                found[kind] = found.get(kind, 0) + 1
    return found


def _has_split(dataset, root, split):
    try:
        build_dataset(dataset, root, split)
    except ValueError:
        return False
    return True


def _fake_outdoor_generator():
    """A stand-in for synthetic.write_synthetic_outdoor: tiny scans in sequences 00 (train) and 08 (val)."""

    def write_synthetic_outdoor(root, *, scans=12, seed=0, executor=None):
        assert executor is None  # --jobs 1: the writer runs in the calling process
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
    assert _entries(root / ".cache") == {"scan": 3, "region": 2, "cues": 2}


def test_prepare_warns_about_scans_left_by_an_earlier_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "redal_core.data.synthetic", _fake_outdoor_generator())
    root = tmp_path / "out"
    args = ["prepare", "--dataset", "synthetic-outdoor", "--root", str(root)]
    assert main([*args, "--scans", "4"]) == 0
    with pytest.warns(UserWarning, match=r"1 scan\(s\) under .* were not written by this run .*00/000002"):
        assert main([*args, "--scans", "3"]) == 0
    assert "train: 3 scans" in capsys.readouterr().out


# ------------------------------------------------------------------------------- sequences, frames and poses

#: A rigid velodyne -> camera transform (KITTI's axes: x_cam = -y, y_cam = -z, z_cam = x, and an offset).
_TR = np.array([[0, -1, 0, -0.01], [0, 0, -1, -0.05], [1, 0, 0, -0.3], [0, 0, 0, 1]], np.float64)


def _lidar_motion(frame: int) -> np.ndarray:
    """The planted LiDAR-to-world transform of a frame: 0.8 m forward per frame, turning 0.01 rad per frame."""
    c, s = np.cos(0.01 * frame), np.sin(0.01 * frame)
    out = np.eye(4)
    out[:2, :2] = ((c, -s), (s, c))
    out[:3, 3] = (0.8 * frame, 0.02 * frame, 0.0)
    return out


def _plant_poses(root, sequence: str, rows: int, *, calib: bool = True) -> None:
    folder = root / "sequences" / sequence
    inverse = np.linalg.inv(_TR)
    lines = [" ".join(f"{v:.12e}" for v in (_TR @ _lidar_motion(k) @ inverse)[:3].ravel()) for k in range(rows)]
    (folder / "poses.txt").write_text("\n".join(lines) + "\n")
    if calib:
        p = " ".join(["0"] * 12)
        tr = " ".join(f"{v:.12e}" for v in _TR[:3].ravel())
        (folder / "calib.txt").write_text(f"P0: {p}\nP1: {p}\nP2: {p}\nP3: {p}\nTr: {tr}\n")


def test_frames_and_neighbours(kitti_root, write_kitti_scan):
    for stem in ("000002", "000005", "000020"):
        write_kitti_scan(kitti_root, "00", stem, np.ones((3, 4), np.float32), np.full(3, 40, np.uint32))
    train = build_dataset("semantickitti", kitti_root, "train")
    assert train.scan_names == ["00/000000", "00/000001", "00/000002", "00/000005", "00/000020", "07/000003"]
    assert [train.frame(i) for i in range(len(train))] == [
        ("00", 0), ("00", 1), ("00", 2), ("00", 5), ("00", 20), ("07", 3)
    ]  # fmt: skip
    assert train.frame_neighbours(2).tolist() == [0, 1, 3]  # 12 before / 12 after: 00/000020 is 18 after
    assert train.frame_neighbours(3).tolist() == [0, 1, 2]  # 00/000020 is 15 after 00/000005
    assert train.frame_neighbours(4, before=15, after=0).tolist() == [3]
    assert train.frame_neighbours(1, before=1, after=1).tolist() == [0, 2]
    assert train.frame_neighbours(2, before=0, after=3).tolist() == [3]
    assert train.frame_neighbours(5).tolist() == [] and train.frame_neighbours(5).dtype == np.int64
    assert train.frame_neighbours(-1, before=0, after=0).tolist() == []
    with pytest.raises(ValueError, match=r"before must be an integer >= 0 \(frames\), got -1"):
        train.frame_neighbours(0, before=-1)


def test_scans_without_poses_have_none(kitti_root, real_samples, tmp_path):
    ds = build_dataset("semantickitti", kitti_root, "all")
    assert ds.has_poses is False
    with pytest.raises(ValueError, match=r"scan 07/000003 has no pose: sequence 07 has no .*sequences/07/poses\.txt"):
        ds.pose(2)
    real = build_dataset("semantickitti", real_samples, "all", cache_dir=tmp_path / "cache")
    assert real.has_poses is False and len(real) == 5
    assert real[0].num_points == 124_668 and real.frame(3) == ("07", 964)
    assert real.frame_neighbours(0).tolist() == [1, 2]


def test_planted_poses_give_lidar_to_world(kitti_root):
    _plant_poses(kitti_root, "00", rows=4)  # more rows than scans: fine
    _plant_poses(kitti_root, "07", rows=4)
    train = build_dataset("semantickitti", kitti_root, "train")
    assert train.has_poses is True
    for i, frame in ((0, 0), (1, 1), (2, 3)):
        pose = train.pose(i)
        assert pose.shape == (4, 4) and pose.dtype == np.float64
        np.testing.assert_allclose(pose, _lidar_motion(frame), atol=1e-9)
    np.testing.assert_allclose(train.pose(-1), _lidar_motion(3), atol=1e-9)
    train.pose(0)[0, 0] = 7.0  # a copy: the dataset's table is not changed
    np.testing.assert_allclose(train.pose(0), np.eye(4), atol=1e-12)
    val = build_dataset("semantickitti", kitti_root, "val")  # 08 has no poses
    assert val.has_poses is False
    with pytest.raises(ValueError, match=r"scan 08/000000 has no pose: sequence 08 has no .*sequences/08/poses\.txt"):
        val.pose(0)


def test_poses_without_calibration_are_absent(kitti_root):
    _plant_poses(kitti_root, "08", rows=1, calib=False)
    val = build_dataset("semantickitti", kitti_root, "val")
    assert val.has_poses is False
    with pytest.raises(ValueError, match=r"scan 08/000000 has no pose: sequence 08 has no .*sequences/08/calib\.txt"):
        val.pose(0)


def test_fewer_pose_rows_than_frames_is_an_error(kitti_root):
    _plant_poses(kitti_root, "00", rows=1)
    train = build_dataset("semantickitti", kitti_root, "train")
    match = r"00/poses\.txt: 1 pose rows, fewer than the frames of the sequence: scan 00/000001 needs row 2"
    with pytest.raises(ValueError, match=match):
        assert train.has_poses
    with pytest.raises(ValueError, match=match):
        train.pose(0)


def test_bad_pose_files_are_errors_naming_file_and_line(kitti_root):
    _plant_poses(kitti_root, "08", rows=1)
    poses = kitti_root / "sequences" / "08" / "poses.txt"
    poses.write_text(poses.read_text().replace("e+00\n", "e+00 7\n", 1))
    val = build_dataset("semantickitti", kitti_root, "val")
    with pytest.raises(ValueError, match=r"08/poses\.txt, line 1: expected 12 numbers, got 13"):
        assert val.has_poses
    _plant_poses(kitti_root, "08", rows=1)
    calib = kitti_root / "sequences" / "08" / "calib.txt"
    calib.write_text(calib.read_text().replace("Tr:", "Tx:"))
    with pytest.raises(ValueError, match=r"08/calib\.txt: no 'Tr:' line"):
        build_dataset("semantickitti", kitti_root, "val").pose(0)


def test_scans_whose_stem_is_not_a_frame_number(kitti_root, write_kitti_scan):
    write_kitti_scan(kitti_root, "08", "extra", np.ones((3, 4), np.float32), np.full(3, 40, np.uint32))
    _plant_poses(kitti_root, "08", rows=1)
    val = build_dataset("semantickitti", kitti_root, "val")
    assert val.scan_names == ["08/000000", "08/extra"]
    assert val.has_poses is False and val.frame_neighbours(0).tolist() == []
    np.testing.assert_allclose(val.pose(0), np.eye(4), atol=1e-12)
    with pytest.raises(ValueError, match=r"scan 08/extra's file stem is not a frame number"):
        val.pose(1)


def test_s3dis_rooms_are_not_frames(s3dis_root):
    ds = build_dataset("s3dis", s3dis_root, "val")
    assert ds.has_poses is False
    for call in (ds.pose, ds.frame, ds.frame_neighbours):
        with pytest.raises(ValueError, match=r"dataset 's3dis': its (layout records no sensor poses|scans are not frames)"):
            call(0)
    with pytest.raises(IndexError):
        ds.pose(5)
