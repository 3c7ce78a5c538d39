"""Training labels: ground truth where labeled (simulated oracle); with the human oracle, the dataset's
labels for the initial set only and the annotators' labels for every later unit, never ground truth."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from redal_core import IGNORE_INDEX
from redal_core.active.labels import TrainLabels
from redal_core.active.pool import LabelState
from redal_core.results import RunPaths


def _state() -> LabelState:
    # scan 0: regions 0 (initial set, round 0), 1 (labeled by annotators, round 1), 2 (unlabeled)
    return LabelState(region_sizes=np.array([2, 3, 1]), offsets=np.array([0, 3]), rounds=np.array([0, 1, -1]))


def test_human_labels_never_fall_back_to_ground_truth(tmp_path):
    paths = RunPaths(tmp_path / "runs" / "r")
    paths.annotations_dir.mkdir(parents=True)
    region = np.array([0, 0, 1, 1, 1, 2])
    scan = SimpleNamespace(labels=np.array([5, 5, 7, 7, 7, 9]))
    # the annotators labeled two of region 1's three points, one of them differently from the ground truth
    np.save(paths.annotation(0), np.array([IGNORE_INDEX, IGNORE_INDEX, 3, 7, IGNORE_INDEX, IGNORE_INDEX]))
    dataset = SimpleNamespace(scan_names=["s0"])
    human = TrainLabels(human=True, paths=paths, dataset=dataset, region_of=lambda i: region, label_state=_state())
    assert human(0, scan).tolist() == [5, 5, 3, 7, IGNORE_INDEX, IGNORE_INDEX]
    simulated = TrainLabels(human=False, paths=paths, dataset=dataset, region_of=lambda i: region,
                            label_state=_state())
    assert simulated(0, scan).tolist() == [5, 5, 7, 7, 7, IGNORE_INDEX]
    paths.annotation(0).unlink()  # nothing imported yet: only the initial set trains
    assert human(0, scan).tolist() == [5, 5, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]
