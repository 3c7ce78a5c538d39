"""SemanticKITTI reader: planted scans, learning_map against a dict reference, one error test per bad input."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from redal_core import IGNORE_INDEX
from redal_core.data.semantic_kitti import DEFAULT_LABEL_CONFIG, load_label_config, read_scan

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
