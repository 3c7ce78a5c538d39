"""LabelState: initial set, labeling rules, masks, budget, persistence, and multi-round properties."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redal_core import IGNORE_INDEX
from redal_core.active.pool import LabelState


def _sizes(n_scans: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(1, 50, size=int(rng.integers(1, 8))) for _ in range(n_scans)]


def test_initial_labels_x_init_percent_of_scans_fully_in_round_0():
    sizes = _sizes(40)
    state = LabelState.initial(sizes, 10.0, np.random.default_rng(0))
    full = [s for s in range(40) if state.is_labeled(s)]
    assert len(full) == 4
    # nothing else is labeled, and the initial scans are labeled entirely in round 0
    for s in range(40):
        expected = 0 if s in full else -1
        assert (state.round_of[s] == expected).all()
    assert state.labeled_points == sum(int(sizes[s].sum()) for s in full)
    assert state.total_points == sum(int(a.sum()) for a in sizes)
    assert state.labeled_pct == pytest.approx(100 * state.labeled_points / state.total_points)
    assert state.last_round == 0
    # same seed, same scans; another seed, (here) other scans
    assert LabelState.initial(sizes, 10.0, np.random.default_rng(0)) == state
    assert LabelState.initial(sizes, 10.0, 0) == LabelState.initial(sizes, 10.0, 0)
    assert LabelState.initial(sizes, 10.0, np.random.default_rng(1)) != state


def test_initial_rounds_and_at_least_one_scan():
    assert sum(LabelState.initial(_sizes(10), 1.0, 0).is_labeled(s) for s in range(10)) == 1
    assert sum(LabelState.initial(_sizes(200), 2.6, 0).is_labeled(s) for s in range(200)) == 5  # round(5.2)


@pytest.mark.parametrize("pct", [0, -1, 100, 150, float("nan")])
def test_initial_rejects_percentages_that_label_nothing_or_everything(pct):
    with pytest.raises(ValueError, match="x_init"):
        LabelState.initial(_sizes(10), pct, 0)


def test_initial_rejects_all_scans_and_bad_sizes():
    with pytest.raises(ValueError, match="all of them"):
        LabelState.initial(_sizes(2), 80.0, 0)
    with pytest.raises(ValueError, match=r"region_sizes\[1\]"):
        LabelState.initial([np.array([3]), np.array([], dtype=np.int64)], 10.0, 0)
    with pytest.raises(ValueError, match="no training scans"):
        LabelState.initial([], 10.0, 0)


def _unlabeled_state(sizes):
    counts = np.array([a.size for a in sizes])
    return LabelState(
        region_sizes=np.concatenate(sizes), offsets=np.r_[0, np.cumsum(counts)], rounds=np.full(counts.sum(), -1)
    )


def test_label_regions_and_whole_scans():
    sizes = [np.array([5, 3, 2]), np.array([10, 1]), np.array([4])]
    state = _unlabeled_state(sizes)
    assert state.label([0, 1], [1, 0], round=1) == 13
    assert state.is_labeled(0, 1) and not state.is_labeled(0, 0) and not state.is_labeled(0)
    # a whole scan that is partly labeled: its remaining regions get labeled
    assert state.label([0], [-1], round=2) == 7
    assert state.round_of[0].tolist() == [2, 1, 2]
    assert state.is_labeled(0)
    assert state.points_labeled_in(2) == 7
    scans, regions = state.units_labeled_in(1)
    assert scans.tolist() == [0, 1] and regions.tolist() == [1, 0]
    assert state.labeled_points == 20 and state.total_points == 25


def test_label_refuses_relabeling_duplicates_and_out_of_range_and_changes_nothing():
    state = _unlabeled_state([np.array([5, 3, 2]), np.array([10, 1])])
    state.label([0], [0], round=1)
    before = state.copy()
    with pytest.raises(ValueError, match=r"unit \(scan 0, region 0\) is already labeled \(round 1\)"):
        state.label([1, 0], [1, 0], round=2)
    with pytest.raises(ValueError, match="listed twice"):
        state.label([1, 1], [1, 1], round=2)
    with pytest.raises(ValueError, match="listed twice"):
        state.label([1, 1], [0, -1], round=2)  # region 0 and the whole scan overlap
    with pytest.raises(ValueError, match=r"scan 1 has regions 0..1"):
        state.label([1], [2], round=2)
    with pytest.raises(ValueError, match="scan 5 is out of range"):
        state.label([5], [0], round=2)
    with pytest.raises(ValueError, match="round must be"):
        state.label([1], [0], round=-1)
    assert state == before
    state.label([0], [-1], round=2)
    with pytest.raises(ValueError, match=r"\(scan 0, region -1\) is already labeled"):
        state.label([0], [-1], round=3)


def test_point_mask_follows_the_labeled_regions():
    state = _unlabeled_state([np.array([2, 3]), np.array([1])])
    region_ids = np.array([1, 0, 1, 1, 0])
    assert not state.point_mask(0, region_ids).any()
    state.label([0], [1], round=1)
    assert state.point_mask(0, region_ids).tolist() == [True, False, True, True, False]
    assert state.labeled_regions(0).tolist() == [False, True]
    labels = np.array([3, 4, 5, 6, 7])
    assert state.training_labels(0, region_ids, labels).tolist() == [3, IGNORE_INDEX, 5, 6, IGNORE_INDEX]
    with pytest.raises(ValueError, match="labels must be an int array"):
        state.training_labels(0, region_ids, labels[:2])
    with pytest.raises(ValueError, match="region_ids has 4 points, the label state has 5"):
        state.point_mask(0, region_ids[:4])
    with pytest.raises(ValueError, match=r"must be in 0..1"):
        state.point_mask(0, np.array([0, 1, 2, 1, 0]))


def test_budget_is_ceil_of_percentage_of_all_points():
    state = _unlabeled_state([np.array([333]), np.array([334])])
    assert state.budget_points(1.0) == math.ceil(6.67)
    assert state.budget_points(100) == 667
    with pytest.raises(ValueError, match="x_active"):
        state.budget_points(0)


def test_save_load_roundtrip_is_atomic(tmp_path):
    state = LabelState.initial(_sizes(30), 10.0, 3)
    state.label([s for s in range(30) if not state.is_labeled(s)][:2], [0, 0], round=1)
    path = state.save(tmp_path / "sub" / "label_state.npz")
    assert LabelState.load(path) == state
    assert os.listdir(path.parent) == ["label_state.npz"]  # no temporary left behind
    np.savez(tmp_path / "other.npz", rounds=np.zeros(3))
    with pytest.raises(ValueError, match=r"other.npz: not a label state, missing keys"):
        LabelState.load(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError):
        LabelState.load(tmp_path / "missing.npz")


def test_constructor_validates_raw_arrays():
    with pytest.raises(ValueError, match="offsets must start at 0"):
        LabelState(region_sizes=np.array([1, 2]), offsets=np.array([0, 1]), rounds=np.array([-1, -1]))
    with pytest.raises(ValueError, match="scan 1 has no points"):
        LabelState(region_sizes=np.array([1, 0]), offsets=np.array([0, 1, 2]), rounds=np.array([-1, -1]))


# ------------------------------------------------------------------------------------ properties
def _simulate(sizes, x_init, x_active, rounds, seed):
    """A loop with random region choices under the budget rule; returns the per-round states."""
    rng = np.random.default_rng(seed)
    state = LabelState.initial(sizes, x_init, rng)
    history = [state.copy()]
    budget = state.budget_points(x_active)
    for r in range(1, rounds + 1):
        flat_sizes = np.concatenate(sizes)
        scans = np.concatenate([np.full(a.size, s) for s, a in enumerate(sizes)])
        regions = np.concatenate([np.arange(a.size) for a in sizes])
        free = np.flatnonzero(np.concatenate(state.round_of) < 0)
        order = rng.permutation(free)
        cum = np.cumsum(flat_sizes[order])
        k = int(np.searchsorted(cum, budget)) + 1 if cum.size and cum[-1] >= budget else order.size
        chosen = order[:k]
        added = state.label(scans[chosen], regions[chosen], round=r) if chosen.size else 0
        assert added == int(flat_sizes[chosen].sum())
        if chosen.size and cum[-1] >= budget:
            assert added >= budget and added - flat_sizes[chosen[-1]] < budget
        history.append(state.copy())
    return history


@settings(max_examples=40, deadline=None)
@given(st.integers(3, 25), st.integers(0, 10_000), st.floats(1.0, 60.0), st.floats(0.5, 30.0))
def test_labeled_set_only_grows_and_no_unit_is_labeled_twice(n_scans, seed, x_init, x_active):
    sizes = _sizes(n_scans, seed)
    try:
        history = _simulate(sizes, x_init, x_active, rounds=4, seed=seed)
    except ValueError as error:  # x_init leaving no scan unlabeled
        assert "all of them" in str(error)
        return
    for before, after in zip(history, history[1:], strict=False):
        b, a = np.concatenate(before.round_of), np.concatenate(after.round_of)
        # once labeled, a region keeps its round for ever; the labeled set only grows
        assert (a[b >= 0] == b[b >= 0]).all()
        assert after.labeled_points >= before.labeled_points
    # determinism for a given seed
    again = _simulate(sizes, x_init, x_active, rounds=4, seed=seed)
    assert all(x == y for x, y in zip(history, again, strict=True))
