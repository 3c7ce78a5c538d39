"""SemanticKITTI reader: planted scans, learning_map against a dict reference, one error test per bad input."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from redal_core import IGNORE_INDEX
from redal_core.data.semantic_kitti import (
    DEFAULT_LABEL_CONFIG,
    lidar_to_world,
    load_label_config,
    read_calib,
    read_poses,
    read_scan,
    read_sequence_poses,
    read_velodyne_to_camera,
)

YAML = yaml.safe_load(DEFAULT_LABEL_CONFIG.read_text())


def _reference_train_id(raw: int) -> int:
    value = YAML["learning_map"][raw & 0xFFFF]
    return IGNORE_INDEX if value == 0 else value - 1


def _points(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-50, 50, (n, 4)).astype(np.float32)


def test_packaged_yaml_is_the_official_label_config():
    assert len(YAML["learning_map"]) == 34 and YAML["learning_map"][252] == 1 and YAML["learning_map"][52] == 0


def test_class_names_follow_learning_map_inv():
    config = load_label_config()
    assert len(config.class_names) == 19
    assert config.class_names[0] == "car" and config.class_names[8] == "road" and config.class_names[18] == "traffic-sign"
    assert list(config.class_names) == [YAML["labels"][YAML["learning_map_inv"][v]] for v in range(1, 20)]


def test_planted_scan(tmp_path, write_kitti_scan):
    points = _points(6)
    raw = np.array([0, 10 | (7 << 16), 252, 40, 52, 81 | (3 << 16)], np.uint32)
    bin_path, label_path = write_kitti_scan(tmp_path, "08", "000042", points, raw)
    scan = read_scan(bin_path, label_path)
    assert scan.name == "08/000042"
    assert scan.rgb is None
    np.testing.assert_array_equal(scan.xyz, points[:, :3])
    np.testing.assert_array_equal(scan.intensity, points[:, 3])
    np.testing.assert_array_equal(scan.labels, [IGNORE_INDEX, 0, 0, 8, IGNORE_INDEX, 18])


@settings(max_examples=30, deadline=None)
@given(
    raw=st.lists(
        st.tuples(st.sampled_from(sorted(YAML["learning_map"])), st.integers(0, 0xFFFF)), min_size=1, max_size=60
    )
)
def test_labels_match_a_dict_lookup(tmp_path_factory, write_kitti_scan, raw):
    labels = np.array([semantic | (instance << 16) for semantic, instance in raw], np.uint32)
    root = tmp_path_factory.mktemp("kitti")
    bin_path, label_path = write_kitti_scan(root, "00", "000000", _points(len(labels), len(labels)), labels)
    scan = read_scan(bin_path, label_path)
    np.testing.assert_array_equal(scan.labels, [_reference_train_id(int(v)) for v in labels])


def test_without_label_file_every_point_is_ignored(tmp_path, write_kitti_scan):
    bin_path, _ = write_kitti_scan(tmp_path, "11", "000000", _points(5), None)
    scan = read_scan(bin_path)
    assert scan.num_points == 5 and (scan.labels == IGNORE_INDEX).all()


def test_point_count_mismatch_is_an_error(tmp_path, write_kitti_scan):
    bin_path, label_path = write_kitti_scan(tmp_path, "00", "000000", _points(5), np.full(4, 40, np.uint32))
    with pytest.raises(ValueError, match=r"000000\.label: point-count mismatch: the \.label has 4 labels but the \.bin has 5"):
        read_scan(bin_path, label_path)


def test_nan_or_inf_coordinates_are_an_error(tmp_path, write_kitti_scan):
    points = _points(5)
    points[3, 1] = np.inf
    bin_path, label_path = write_kitti_scan(tmp_path, "00", "000000", points, np.full(5, 40, np.uint32))
    with pytest.raises(ValueError, match=r"000000\.bin: 1 point\(s\) have NaN/inf coordinates \(first at row 3"):
        read_scan(bin_path, label_path)


def test_empty_scan_is_an_error(tmp_path, write_kitti_scan):
    bin_path, label_path = write_kitti_scan(tmp_path, "00", "000000", np.zeros((0, 4)), np.zeros(0, np.uint32))
    with pytest.raises(ValueError, match=r"000000\.bin: empty scan \(0 points\)"):
        read_scan(bin_path, label_path)


def test_raw_label_absent_from_learning_map_is_an_error(tmp_path, write_kitti_scan):
    raw = np.array([40, 40, 7 | (1 << 16), 40], np.uint32)
    bin_path, label_path = write_kitti_scan(tmp_path, "00", "000000", _points(4), raw)
    with pytest.raises(ValueError, match=r"raw label id\(s\) \[7\] \(1 points, first at row 2\) are absent from learning_map"):
        read_scan(bin_path, label_path)


def test_truncated_bin_is_an_error(tmp_path, write_kitti_scan):
    bin_path, label_path = write_kitti_scan(tmp_path, "00", "000000", _points(3), np.full(3, 40, np.uint32))
    bin_path.write_bytes(bin_path.read_bytes()[:-6])
    with pytest.raises(ValueError, match=r"000000\.bin: truncated \.bin: 42 bytes is not a multiple of 16"):
        read_scan(bin_path, label_path)


def test_truncated_label_is_an_error(tmp_path, write_kitti_scan):
    bin_path, label_path = write_kitti_scan(tmp_path, "00", "000000", _points(3), np.full(3, 40, np.uint32))
    label_path.write_bytes(label_path.read_bytes()[:-1])
    with pytest.raises(ValueError, match=r"000000\.label: truncated \.label: 11 bytes is not a multiple of 4"):
        read_scan(bin_path, label_path)


def test_label_config_missing_a_mapping_is_an_error(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump({"labels": {0: "unlabeled"}, "learning_map": {0: 0}}))
    with pytest.raises(ValueError, match=r"broken\.yaml: missing mapping 'learning_map_inv'"):
        load_label_config(path)


def test_label_config_with_out_of_range_value_is_an_error(tmp_path):
    config = dict(YAML)
    config["learning_map"] = {**YAML["learning_map"], 10: 25}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match=r"bad\.yaml: learning_map entry 10: 25 must map"):
        load_label_config(path)


# ------------------------------------------------------------------------------------ poses and calibration

#: KITTI odometry's Tr of sequences 00-02 (velodyne -> left camera), as its calib.txt prints it.
KITTI_TR = (
    "4.276802385584e-04 -9.999672484946e-01 -8.084491683471e-03 -1.198459927713e-02 -7.210626507497e-03 "
    "8.081198471645e-03 -9.999413164504e-01 -5.403984729748e-02 9.999738645903e-01 4.859485810390e-04 "
    "-7.206933692422e-03 -2.921968648686e-01"
)
P_LINE = " ".join(["7.188560000000e+02"] + ["0.000000000000e+00"] * 11)


def _calib_text(tr: str = KITTI_TR) -> str:
    return "".join(f"P{k}: {P_LINE}\n" for k in range(4)) + f"Tr: {tr}\n"


def _row(matrix: np.ndarray) -> str:
    return " ".join(f"{v:.12e}" for v in np.asarray(matrix)[:3].ravel())


def _motion(yaw: float, translation) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    out = np.eye(4)
    out[:2, :2] = ((c, -s), (s, c))
    out[:3, 3] = translation
    return out


def test_read_poses_planted(tmp_path):
    path = tmp_path / "poses.txt"
    path.write_text("1 0 0 0 0 1 0 0 0 0 1 0\n0 -1 0 1.5 1 0 0 -2 0 0 1 0.25\n\n")  # trailing blank line is fine
    poses = read_poses(path)
    assert poses.shape == (2, 4, 4) and poses.dtype == np.float64
    np.testing.assert_array_equal(poses[0], np.eye(4))
    np.testing.assert_array_equal(poses[1], [[0, -1, 0, 1.5], [1, 0, 0, -2], [0, 0, 1, 0.25], [0, 0, 0, 1]])


@pytest.mark.parametrize(
    "text, match",
    [
        ("1 0 0 0 0 1 0 0 0 0 1 0\n1 0 0 0 0 1 0 0 0 0 1\n", r"poses\.txt, line 2: expected 12 numbers, got 11"),
        ("1 0 0 0 0 1 0 0 0 0 1 0 7\n", r"poses\.txt, line 1: expected 12 numbers, got 13"),
        ("1 0 0 0 0 1 0 0 0 0 1 0\n\n1 0 0 0 0 1 0 0 0 0 1 0\n", r"poses\.txt, line 2: expected 12 numbers, got 0"),
        ("1 0 0 nan 0 1 0 0 0 0 1 0\n", r"poses\.txt, line 1: non-finite value 'nan'"),
        ("1 0 0 0 0 1 0 0 0 0 1 -inf\n", r"poses\.txt, line 1: non-finite value '-inf'"),
        ("1 0 0 0 0 1 0 0 0 0 1 x9\n", r"poses\.txt, line 1: 'x9' is not a number"),
        ("\n \n", r"poses\.txt: no pose rows"),
    ],
)
def test_bad_poses_file_is_an_error(tmp_path, text, match):
    path = tmp_path / "poses.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_poses(path)


def test_read_calib_planted(tmp_path):
    path = tmp_path / "calib.txt"
    path.write_text(_calib_text() + "\nR0_rect: 1 0 0 0 1 0 0 0 1\n")
    calib = read_calib(path)
    assert list(calib) == ["P0", "P1", "P2", "P3", "Tr", "R0_rect"]
    assert calib["P2"].shape == (12,) and calib["P2"][0] == 718.856 and calib["R0_rect"].shape == (9,)
    tr = read_velodyne_to_camera(path)
    assert tr.shape == (4, 4) and tr.dtype == np.float64
    np.testing.assert_array_equal(tr[:3].ravel(), [float(v) for v in KITTI_TR.split()])
    np.testing.assert_array_equal(tr[3], [0, 0, 0, 1])


@pytest.mark.parametrize(
    "text, match",
    [
        ("".join(f"P{k}: {P_LINE}\n" for k in range(4)), r"calib\.txt: no 'Tr:' line .*found P0, P1, P2, P3"),
        (f"P0: {P_LINE}\nTr: 1 0 0 0 0 1 0 0 0 0 1\n", r"calib\.txt, line 2 \(Tr\): expected 12 numbers, got 11"),
        (f"P0: {P_LINE} 1\nTr: {KITTI_TR}\n", r"calib\.txt, line 1 \(P0\): expected 12 numbers, got 13"),
        (f"Tr: {KITTI_TR.replace('-2.921968648686e-01', 'inf')}\n", r"calib\.txt, line 1 \(Tr\): non-finite value 'inf'"),
        (f"Tr: {KITTI_TR}\nTr: {KITTI_TR}\n", r"calib\.txt, line 2: key 'Tr' repeated \(first on line 1\)"),
        (f"Tr {KITTI_TR}\n", r"calib\.txt, line 1: expected 'KEY: numbers'"),
        ("Tr: 0 0 0 1 0 0 0 1 0 0 0 1\n", r"calib\.txt: Tr is not invertible"),
    ],
)
def test_bad_calib_file_is_an_error(tmp_path, text, match):
    path = tmp_path / "calib.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_velodyne_to_camera(path)


def test_world_transform_is_the_kitti_convention():
    # KITTI's axes: x_cam = -y_velo, y_cam = -z_velo, z_cam = x_velo (plus an offset): the camera moving 1 m
    # along its optical axis z is the LiDAR moving 1 m forward along its x, whatever the offset.
    tr = np.array([[0, -1, 0, -0.01], [0, 0, -1, -0.05], [1, 0, 0, -0.3], [0, 0, 0, 1]], np.float64)
    forward = np.eye(4)
    forward[2, 3] = 1.0
    world = lidar_to_world(np.stack([np.eye(4), forward]), tr)
    np.testing.assert_allclose(world[0], np.eye(4), atol=1e-15)
    np.testing.assert_allclose(world[1], _motion(0.0, (1.0, 0.0, 0.0)), atol=1e-15)
    # a planted LiDAR motion W, turned into the camera pose Tr W inv(Tr) as KITTI records it, comes back,
    # and a point seen by the LiDAR lands where W puts it
    tr = np.eye(4)
    tr[:3] = np.array([float(v) for v in KITTI_TR.split()]).reshape(3, 4)
    motion = _motion(0.3, (12.0, -3.0, 0.5))
    camera_pose = tr @ motion @ np.linalg.inv(tr)
    recovered = lidar_to_world(camera_pose[None], tr)[0]
    np.testing.assert_allclose(recovered, motion, atol=1e-9)
    point = np.array([5.0, 1.0, -1.0, 1.0])
    np.testing.assert_allclose(np.linalg.inv(tr) @ camera_pose @ (tr @ point), motion @ point, atol=1e-9)


def test_lidar_to_world_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"need poses \(F, 4, 4\) and tr \(4, 4\), got \(4, 4\) and \(4, 4\)"):
        lidar_to_world(np.eye(4), np.eye(4))


def test_read_sequence_poses(tmp_path):
    motions = [_motion(0.0, (0, 0, 0)), _motion(0.02, (0.9, 0.05, 0.0)), _motion(0.05, (1.8, 0.1, 0.01))]
    tr = np.eye(4)
    tr[:3] = np.array([float(v) for v in KITTI_TR.split()]).reshape(3, 4)
    (tmp_path / "calib.txt").write_text(_calib_text())
    with pytest.raises(ValueError, match=r"poses\.txt: no such file"):
        read_sequence_poses(tmp_path)
    (tmp_path / "poses.txt").write_text("".join(_row(tr @ m @ np.linalg.inv(tr)) + "\n" for m in motions))
    np.testing.assert_allclose(read_sequence_poses(tmp_path), np.stack(motions), atol=1e-9)
