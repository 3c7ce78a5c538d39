"""Training labels of a round, and the human labels a paused run (``active.oracle: human``) resumes with.

``TrainLabels(i, scan)`` gives scan i's training labels, kept only where the label state says labeled
(IGNORE_INDEX elsewhere): the ground truth (simulated oracle), or with ``active.oracle: human`` the
dataset's labels for the initial set and the annotators' labels (``annotations/<scan>.npy`` from
``redal import``) for every later unit; plus LiDAL's pseudo-labels where given (``active.pseudo``). ``apply_human_labels`` reads the label state ``redal import`` left behind after a
round's selection and checks that it extends the run's own.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from redal_core import IGNORE_INDEX
from redal_core.results import RunPaths, read_state, write_state

__all__ = ["TrainLabels", "apply_human_labels", "labeled_class_counts"]


class TrainLabels:
    """Training labels of scan i: ground truth (or human annotations) where the label state says labeled.

    region_of : ``region_of(i) -> (N,) int64`` region ids of scan i (the run's cached VCCS regions).
    """

    def __init__(self, *, human: bool, paths: RunPaths, dataset: Any, region_of: Any, label_state: Any,
                 pseudo: dict[int, Any] | None = None) -> None:
        self.human = human
        self.paths = paths
        self.dataset = dataset
        self.region_of = region_of
        self.label_state = label_state
        self.pseudo = pseudo or {}  # scan -> .npy of pseudo-labels (active.pseudo), used where not labeled

    def __call__(self, i: int, scan: Any) -> np.ndarray:
        labels = np.asarray(scan.labels, np.int64)
        region_ids = self.region_of(i)
        if self.human:
            # the initial set (round 0) comes with the dataset's labels; every later unit is labeled by the
            # annotators alone: a point they left unlabeled stays unlabeled (no ground truth leaks in)
            annotation = np.full(labels.shape, IGNORE_INDEX, np.int64)
            if self.paths.annotation(i).exists():
                annotation = np.load(self.paths.annotation(i))
                if annotation.shape != labels.shape:
                    raise ValueError(
                        f"{self.paths.annotation(i)}: {annotation.shape[0]} labels for scan {i} "
                        f"({self.dataset.scan_names[i]}) of {labels.shape[0]} points"
                    )
            initial = self.label_state.region_rounds(i)[region_ids] == 0
            labels = np.where(initial, labels, annotation.astype(np.int64))
        labels = self.label_state.training_labels(i, region_ids, labels)
        if i in self.pseudo:
            pseudo = np.load(self.pseudo[i])
            labels = np.where(labels == IGNORE_INDEX, pseudo, labels)
        return labels


def apply_human_labels(paths: RunPaths, round_: int, label_state: Any, rank: int) -> Any:
    """The label state after round ``round_``'s human labels (oracle: human), as ``redal import`` left it
    in ``label_state.npz``; ValueError while none of the selected units is labeled yet."""
    import pandas as pd

    from redal_core.active.pool import LabelState

    imported = LabelState.load(paths.label_state)
    before = np.concatenate(label_state.round_of)
    after = np.concatenate(imported.round_of) if imported.num_scans == label_state.num_scans else None
    open_before = before == -1  # unlabeled then; labeled and excluded regions must be as they were
    if after is None or after.shape != before.shape or not (
        np.array_equal(after[~open_before], before[~open_before]) and set(np.unique(after[open_before])) <= {-1, round_ + 1}
    ):
        raise ValueError(f"{paths.label_state} does not extend the label state saved after round {round_} "
                         f"({paths.round_label_state(round_)}); was it written by another run?")
    selection = pd.read_csv(paths.selection(round_))
    scans, _ = imported.units_labeled_in(round_ + 1)
    if scans.size == 0:
        raise ValueError(
            f"run {paths.root.name} is awaiting labels for round {round_}: none of the {len(selection)} selected "
            f"unit(s) is labeled yet; export them with `redal export {paths.root} --round {round_}` (writes "
            f"{paths.export(round_)}) and import the annotators' labels with `redal import {paths.root} "
            f"{paths.export(round_)}`"
        )
    missing = [(int(s), int(r)) for s, r in zip(selection["scan"], selection["region"], strict=True)
               if not imported.is_labeled(int(s), int(r))]
    if missing:
        warnings.warn(
            f"run {paths.root.name}: {len(missing)} of the {len(selection)} unit(s) selected after round {round_} "
            f"were not imported (first: scan {missing[0][0]}, region {missing[0][1]}); they stay unlabeled",
            stacklevel=3,
        )
    if rank == 0:
        imported.save(paths.round_label_state(round_))
        state = read_state(paths.root)
        write_state(paths.root, last_round=round_, rounds=state["rounds"], status="incomplete")
    return imported


def labeled_class_counts(dataset: Any, labeled_scans: list[int], label_fn: Any) -> np.ndarray:
    """(K,) int64 labeled training points per class over ``labeled_scans`` (``label_fn`` as TrainLabels)."""
    from redal_core.metrics import class_counts

    counts = np.zeros(dataset.num_classes, np.int64)
    for i in labeled_scans:
        counts += class_counts(label_fn(i, dataset[i]), dataset.num_classes)
    return counts
