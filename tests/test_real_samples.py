"""The six real SemanticKITTI scans in ../shared/real_samples (skipped when absent): counts, histograms, splits."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from redal_core import IGNORE_INDEX
from redal_core.data.datasets import build_dataset
from redal_core.data.semantic_kitti import read_scan

pytestmark = pytest.mark.real

EXPECTED_POINTS = {
    "00/000000": 124668,
    "00/000001": 124605,
    "00/000002": 124478,
    "07/000964": 120485,
    "08/000000": 123389,
}


def _paths(root, name):
    sequence, stem = name.split("/")
    folder = root / "sequences" / sequence
    return folder / "velodyne" / f"{stem}.bin", folder / "labels" / f"{stem}.label"


def _reference_histogram(label_path, yaml_path) -> tuple[np.ndarray, int]:
    """Per-class counts computed independently: a python dict lookup of every raw id through learning_map."""
    config = yaml.safe_load(yaml_path.read_text())
    learning_map = config["learning_map"]
    counts = np.zeros(19, np.int64)
    ignored = 0
    semantic, per_id = np.unique(np.fromfile(label_path, np.uint32) & 0xFFFF, return_counts=True)
    for raw, count in zip(semantic.tolist(), per_id.tolist(), strict=True):
        value = learning_map[raw]
        if value == 0:
            ignored += count
        else:
            counts[value - 1] += count
    return counts, ignored


@pytest.mark.parametrize("name", sorted(EXPECTED_POINTS))
def test_point_counts_histogram_and_nothing_lost(real_samples, name):
    bin_path, label_path = _paths(real_samples, name)
    scan = read_scan(bin_path, label_path)
    assert scan.name == name
    assert scan.num_points == EXPECTED_POINTS[name] == bin_path.stat().st_size // 16 == label_path.stat().st_size // 4
    raw = np.fromfile(bin_path, np.float32).reshape(-1, 4)
    np.testing.assert_array_equal(scan.xyz, raw[:, :3])
    np.testing.assert_array_equal(scan.intensity, raw[:, 3])
    expected, ignored = _reference_histogram(label_path, real_samples / "semantic-kitti.yaml")
    np.testing.assert_array_equal(scan.class_histogram(19), expected)
    assert int((scan.labels == IGNORE_INDEX).sum()) == ignored
    assert expected.sum() + ignored == scan.num_points


def test_dataset_splits_over_the_real_root(real_samples, tmp_path):
    train = build_dataset("semantickitti", real_samples, "train", cache_dir=tmp_path)
    val = build_dataset("semantickitti", real_samples, "val", cache_dir=tmp_path)
    both = build_dataset("semantickitti", real_samples, "all", cache_dir=tmp_path)
    assert train.scan_names == ["00/000000", "00/000001", "00/000002", "07/000964"]
    assert val.scan_names == ["08/000000"]
    assert both.scan_names == sorted(EXPECTED_POINTS)
    assert (train.num_classes, train.in_channels, train.has_color) == (19, 4, False)


def test_cached_scan_equals_the_direct_read(real_samples, tmp_path):
    val = build_dataset("semantickitti", real_samples, "val", cache_dir=tmp_path)
    first, again = val[0], val[0]
    direct = read_scan(*_paths(real_samples, "08/000000"))
    for scan in (first, again):
        assert scan.name == "08/000000"
        np.testing.assert_array_equal(scan.xyz, direct.xyz)
        np.testing.assert_array_equal(scan.intensity, direct.intensity)
        np.testing.assert_array_equal(scan.labels, direct.labels)
    assert isinstance(again.xyz, np.memmap)
