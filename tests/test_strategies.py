"""Unit tables and strategies: registry, planted rankings, the budget rule, determinism, Eq. 4 + diversity."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redal_core.active import scores as S
from redal_core.active.pool import LabelState
from redal_core.active.strategies import (
    STRATEGIES,
    Selection,
    StrategyParams,
    _take_ranked,
    get_strategy,
    take_budget,
    top_by_score,
)
from redal_core.active.units import UnitTable, scan_unit_rows

SHARED = Path(__file__).resolve().parents[2] / "shared"
KITTI = SHARED / "real_samples" / "semantickitti"

SCAN_NAMES = ["RAND", "MAR", "CONF", "ENT", "CSET", "SEGENT", "MCDR"]
REGION_NAMES = ["RAND+Region", "ENT+Region", "ENT+Region+Div", "ENT+Region+Color/Structure", "ReDAL"]


def _table(n: int, *, unit: str, seed: int = 0, labeled_frac: float = 0.2, features: bool = True) -> UnitTable:
    rng = np.random.default_rng(seed)
    labeled = rng.random(n) < labeled_frac
    points = rng.integers(1, 500, size=n)
    points[labeled] = 0
    return UnitTable(
        scan=np.arange(n, dtype=np.int64) // (1 if unit == "scan" else 5),
        region=np.full(n, -1, dtype=np.int64) if unit == "scan" else np.arange(n, dtype=np.int64) % 5,
        points=points.astype(np.int64),
        labeled=labeled,
        stats={
            key: rng.random(n)
            for key in ("entropy", "margin", "confidence", "mc_entropy", "segent", "color", "structure")
        },
        features=rng.normal(size=(n, 6)).astype(np.float32) if features else None,
    )


# ------------------------------------------------------------------------------------ registry
def test_registry_has_exactly_the_papers_names():
    # the paper's twelve, in the paper's order, then the field's other strategies (tests/test_peers.py)
    assert STRATEGIES.names() == SCAN_NAMES + REGION_NAMES + ["BALD", "BALD+Region", "Annotator", "LiDAL"]
    for name in SCAN_NAMES:
        assert get_strategy(name).unit == "scan"
    for name in REGION_NAMES:
        assert get_strategy(name).unit == "region"
    assert get_strategy("redal").name == "ReDAL"  # case-insensitive
    assert [n for n in SCAN_NAMES + REGION_NAMES if get_strategy(n).requires_dropout] == ["MCDR"]
    assert get_strategy("ReDAL").needs == {"entropy", "color", "structure", "features"}
    assert get_strategy("ENT").needs == {"entropy"}
    assert get_strategy("MCDR").needs == {"mc_entropy"}
    assert get_strategy("CSET").needs == {"features"}
    assert get_strategy("RAND").needs == set()


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(KeyError) as info:
        get_strategy("ReDALL")
    message = str(info.value)
    assert "ReDALL" in message and "Did you mean 'ReDAL'" in message
    for name in SCAN_NAMES + REGION_NAMES:
        assert name in message


def test_params_defaults_and_validation():
    assert StrategyParams() == StrategyParams(alpha=1.0, beta=0.1, gamma=0.05, clusters=400, decay=0.95)
    kitti = StrategyParams.for_dataset("semantickitti")
    assert (kitti.alpha, kitti.beta, kitti.gamma, kitti.clusters) == (1.0, 0.0, 0.05, 150)
    assert StrategyParams.for_dataset("synthetic-indoor") == StrategyParams()
    with pytest.raises(ValueError, match="decay"):
        StrategyParams(decay=1.5)
    with pytest.raises(ValueError, match="clusters"):
        StrategyParams(clusters=0)
    with pytest.raises(ValueError, match="beta"):
        StrategyParams(beta=-1.0)
    with pytest.raises(ValueError, match="no paper defaults for dataset 'scannet'"):
        StrategyParams.for_dataset("scannet")
    with pytest.raises(TypeError):
        StrategyParams(1.0)  # keyword-only


# ------------------------------------------------------------------------------------ planted rankings
def _scan_table(**stats) -> UnitTable:
    n = len(next(iter(stats.values())))
    return UnitTable(
        scan=np.arange(n, dtype=np.int64),
        region=np.full(n, -1, dtype=np.int64),
        points=np.full(n, 10, dtype=np.int64),
        labeled=np.zeros(n, dtype=bool),
        stats={k: np.asarray(v, dtype=np.float64) for k, v in stats.items()},
    )


@pytest.mark.parametrize(
    ("name", "key", "values", "first"),
    [
        ("ENT", "entropy", [0.1, 0.9, 0.5], 1),  # highest entropy
        ("MAR", "margin", [0.1, 0.9, 0.5], 0),  # SMALLEST margin
        ("CONF", "confidence", [0.7, 0.3, 0.5], 1),  # LEAST confident
        ("SEGENT", "segent", [0.2, 0.1, 1.1], 2),
        ("MCDR", "mc_entropy", [0.2, 0.4, 0.3], 1),
    ],
)
def test_each_score_puts_its_most_informative_scan_first(name, key, values, first):
    sel = get_strategy(name).select(_scan_table(**{key: values}), budget_points=30, rng=0)
    assert sel.scan[0] == first
    assert sel.scan.tolist() == list(np.argsort(-np.array(values) if name in ("ENT", "SEGENT", "MCDR") else np.array(values), kind="stable"))


def test_select_uses_scores_computed_from_probabilities():
    # three one-region scans: uniform (most uncertain), peaked, one-hot
    k = 4
    probs = [np.full((6, k), 1 / k), np.tile([0.7, 0.1, 0.1, 0.1], (6, 1)), np.tile([1.0, 0, 0, 0], (6, 1))]
    needs = {"entropy", "margin", "confidence"}
    table = UnitTable.concat(
        [
            scan_unit_rows(s, unit="scan", region_ids=np.zeros(6, np.int64), labeled_mask=np.zeros(6, bool), probs=p, needs=needs)
            for s, p in enumerate(probs)
        ]
    )
    for name in ("ENT", "MAR", "CONF"):
        assert get_strategy(name).select(table, budget_points=18, rng=0).scan.tolist() == [0, 1, 2]


def test_cset_picks_the_scan_farthest_from_the_labeled_ones():
    feats = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [5.0, 5.0]], dtype=np.float32)
    table = UnitTable(
        scan=np.arange(4, dtype=np.int64), region=np.full(4, -1, dtype=np.int64),
        points=np.array([0, 10, 10, 10], dtype=np.int64), labeled=np.array([True, False, False, False]),
        stats={}, features=feats,
    )
    sel = get_strategy("CSET").select(table, budget_points=15, rng=0)
    assert sel.scan.tolist() == [2, 3]  # 10 away first, then (5, 5) (distance ~7.07 from (10,0), 7.07 from 0)
    assert (np.diff(sel.score) < 0).all()


def test_eq4_weights_change_the_ranking():
    table = UnitTable(
        scan=np.zeros(2, dtype=np.int64), region=np.arange(2, dtype=np.int64),
        points=np.array([10, 10], dtype=np.int64), labeled=np.zeros(2, dtype=bool),
        stats={"entropy": np.array([1.0, 0.9]), "color": np.array([0.0, 2.0]), "structure": np.array([0.0, 0.0])},
    )
    strategy = get_strategy("ENT+Region+Color/Structure")
    s3dis = strategy.select(table, budget_points=1, rng=0, params=StrategyParams.for_dataset("s3dis"))
    kitti = strategy.select(table, budget_points=1, rng=0, params=StrategyParams.for_dataset("semantickitti"))
    assert s3dis.region.tolist() == [1]  # 0.9 + 0.1 * 2 = 1.1 > 1.0
    assert kitti.region.tolist() == [0]  # beta = 0: entropy decides
    assert s3dis.score[0] == pytest.approx(1.1)
    assert (s3dis.cluster == -1).all()


def test_redal_diversity_demotes_the_second_region_of_a_cluster():
    # regions 0, 1 look alike (same features), region 2 is different; scores 1.0 > 0.99 > 0.9
    feats = np.array([[0, 0], [0, 0.01], [9, 9], [9, 9.01]], dtype=np.float32)
    table = UnitTable(
        scan=np.zeros(4, dtype=np.int64), region=np.arange(4, dtype=np.int64),
        points=np.full(4, 10, dtype=np.int64), labeled=np.zeros(4, dtype=bool),
        stats={"entropy": np.array([1.0, 0.99, 0.9, 0.5]), "color": np.zeros(4), "structure": np.zeros(4)},
        features=feats,
    )
    params = StrategyParams(alpha=1.0, beta=0.0, gamma=0.0, clusters=2, decay=0.5)
    plain = get_strategy("ENT+Region").select(table, budget_points=20, rng=0)
    assert plain.region.tolist() == [0, 1]
    for name in ("ENT+Region+Div", "ReDAL"):
        sel = get_strategy(name).select(table, budget_points=20, rng=np.random.default_rng(0), params=params)
        assert sel.region.tolist() == [0, 2]
        assert sel.cluster[0] != sel.cluster[1]
        np.testing.assert_allclose(sel.score, [1.0, 0.9])
        np.testing.assert_allclose(sel.adjusted_score, [1.0, 0.9])
    full = get_strategy("ReDAL").select(table, budget_points=40, rng=0, params=params)
    np.testing.assert_allclose(full.adjusted_score, [1.0, 0.9, 0.495, 0.25])


# ------------------------------------------------------------------------------------ budget rule
@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=0, max_size=30), st.integers(0, 600), st.integers(0, 2**16))
def test_take_budget_rule(points, budget, seed):
    points = np.array(points, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(points.size)
    taken, exhausted = take_budget(order, points, budget)
    total = int(points[taken].sum())
    np.testing.assert_array_equal(taken, order[: taken.size])
    if exhausted:
        assert taken.size == points.size and total < budget
    else:
        assert total >= budget
        if taken.size:
            assert total - points[taken[-1]] < budget  # dropping the last unit would fall short


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from(SCAN_NAMES + REGION_NAMES),
    st.integers(1, 60),
    st.integers(0, 10_000),
    st.integers(0, 20_000),
)
def test_select_properties_for_every_strategy(name, n, seed, budget):
    strategy = get_strategy(name)
    table = _table(n, unit=strategy.unit, seed=seed)
    params = StrategyParams(clusters=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sel = strategy.select(table, budget_points=budget, rng=np.random.default_rng(seed), params=params)
    cand = table.candidates()
    keys = set(zip(sel.scan.tolist(), sel.region.tolist(), strict=True))
    # no unit twice, only candidates, each adds points
    assert len(keys) == len(sel)
    allowed = set(zip(table.scan[cand].tolist(), table.region[cand].tolist(), strict=True))
    assert keys <= allowed
    assert (sel.points > 0).all()
    # budget rule
    if sel.exhausted:
        assert len(sel) == int(cand.sum()) and sel.total_points < budget
        assert any("fewer than the budget" in str(w.message) for w in caught)
    else:
        assert sel.total_points >= budget
        if len(sel):
            assert sel.total_points - sel.points[-1] < budget
    # selection order is descending adjusted score
    assert (np.diff(sel.adjusted_score) <= 0).all()
    # determinism for a given seed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = strategy.select(table, budget_points=budget, rng=np.random.default_rng(seed), params=params)
    pd_a, pd_b = sel.to_frame(), again.to_frame()
    assert pd_a.equals(pd_b)


def test_selection_frame_columns_and_pool_growth_over_rounds():
    sizes = [np.full(5, 20, dtype=np.int64) for _ in range(12)]
    state = LabelState.initial(sizes, 10.0, 0)
    strategy = get_strategy("ENT+Region")
    rng = np.random.default_rng(1)
    budget = state.budget_points(10.0)
    for r in range(1, 4):
        rows = []
        for s in range(12):
            region_ids = np.repeat(np.arange(5), 20)
            probs = rng.dirichlet(np.ones(3), size=100)
            rows.append(
                scan_unit_rows(s, unit="region", region_ids=region_ids, labeled_mask=state.point_mask(s, region_ids),
                               probs=probs, needs=strategy.needs)
            )
        sel = strategy.select(UnitTable.concat(rows), budget_points=budget, rng=rng)
        before = state.labeled_points
        assert state.label(sel.scan, sel.region, round=r) == sel.total_points
        assert state.labeled_points == before + sel.total_points
    frame = sel.to_frame()
    assert list(frame.columns) == ["scan", "region", "score", "adjusted_score", "cluster", "points"]
    assert isinstance(sel, Selection) and len(frame) == len(sel)


def test_select_validation():
    table = _table(10, unit="region")
    with pytest.raises(ValueError, match="ENT selects scan units, but the table holds region rows"):
        get_strategy("ENT").select(table, budget_points=10, rng=0)
    with pytest.raises(ValueError, match=r"ReDAL needs \['features'\]"):
        get_strategy("ReDAL").select(_table(10, unit="region", features=False), budget_points=10, rng=0)
    with pytest.raises(ValueError, match="budget_points must be an int >= 0"):
        get_strategy("ENT+Region").select(table, budget_points=-1, rng=0)
    bad = _table(10, unit="region", labeled_frac=0.0)
    bad.stats["entropy"][3] = np.nan
    with pytest.raises(ValueError, match=r"stats\['entropy'\] is not finite for unit \(scan 0, region 3\)"):
        get_strategy("ENT+Region").select(bad, budget_points=10, rng=0)
    # an empty pool selects nothing (with the warning), it does not crash
    done = _table(5, unit="region", labeled_frac=1.0)
    with pytest.warns(UserWarning, match="fewer than the budget"):
        sel = get_strategy("ReDAL").select(done, budget_points=10, rng=0)
    assert len(sel) == 0 and sel.exhausted


# ------------------------------------------------------------------------------------ unit tables
def test_region_rows_match_dense_references():
    rng = np.random.default_rng(2)
    n, k, f = 400, 5, 3
    region_ids = rng.integers(0, 9, size=n)
    probs = rng.dirichlet(np.ones(k), size=n)
    labeled_mask = np.isin(region_ids, [2, 4])
    labeled_mask[np.flatnonzero(region_ids == 4)[0]] = False  # region 4 partly labeled
    color, structure = rng.random(n).astype(np.float32), rng.random(n).astype(np.float32)
    feats = rng.normal(size=(n, f)).astype(np.float32)
    mc = rng.dirichlet(np.ones(k), size=(S.MC_PASSES, n))
    needs = {"entropy", "margin", "confidence", "mc_entropy", "segent", "color", "structure", "features"}
    t = scan_unit_rows(7, unit="region", region_ids=region_ids, labeled_mask=labeled_mask, probs=probs,
                       features=feats, color=color, structure=structure, mc_probs=mc, needs=needs)
    assert len(t) == 9 and t.unit == "region" and (t.scan == 7).all()
    ent, pred = S.softmax_entropy(probs), probs.argmax(axis=1)
    for r in range(9):
        m = region_ids == r
        assert t.points[r] == int((m & ~labeled_mask).sum())
        assert t.labeled[r] == (r == 2)
        assert t.stats["entropy"][r] == pytest.approx(ent[m].mean())
        assert t.stats["margin"][r] == pytest.approx(S.margin(probs[m]).mean())
        assert t.stats["confidence"][r] == pytest.approx(probs[m].max(axis=1).mean())
        assert t.stats["mc_entropy"][r] == pytest.approx(S.mc_entropy(mc[:, m]).mean())
        assert t.stats["color"][r] == pytest.approx(color[m].astype(np.float64).mean())
        assert t.stats["structure"][r] == pytest.approx(structure[m].astype(np.float64).mean())
        p = np.bincount(pred[m], minlength=k) / m.sum()
        p = p[p > 0]
        assert t.stats["segent"][r] == pytest.approx(-(p * np.log(p)).sum())
        np.testing.assert_allclose(t.features[r], feats[m].mean(axis=0), rtol=1e-5, atol=1e-6)
    # scan unit: one row; segent = region segment entropies weighted by size
    s = scan_unit_rows(7, unit="scan", region_ids=region_ids, labeled_mask=labeled_mask, probs=probs,
                       features=feats, needs={"segent", "entropy", "features"})
    assert len(s) == 1 and s.region.tolist() == [-1] and s.points[0] == int((~labeled_mask).sum())
    sizes = np.bincount(region_ids, minlength=9)
    assert s.stats["segent"][0] == pytest.approx((t.stats["segent"] * sizes).sum() / n)
    assert s.stats["entropy"][0] == pytest.approx(ent.mean())
    np.testing.assert_allclose(s.features[0], feats.mean(axis=0), rtol=1e-5, atol=1e-6)
    assert set(s.stats) == {"segent", "entropy"}  # only what was asked for


def test_unit_rows_validation_and_concat():
    ids = np.array([0, 0, 1])
    mask = np.zeros(3, dtype=bool)
    with pytest.raises(ValueError, match="need 'entropy' requires probs"):
        scan_unit_rows(3, unit="region", region_ids=ids, labeled_mask=mask, needs={"entropy"})
    with pytest.raises(ValueError, match="scan 3: color covers 2 points, region_ids has 3"):
        scan_unit_rows(3, unit="region", region_ids=ids, labeled_mask=mask, color=np.ones(2), needs={"color"})
    with pytest.raises(ValueError, match="unknown needs"):
        scan_unit_rows(3, unit="region", region_ids=ids, labeled_mask=mask, needs={"entorpy"})
    with pytest.raises(ValueError, match="unit must be one of"):
        scan_unit_rows(3, unit="voxel", region_ids=ids, labeled_mask=mask, needs=set())
    a = scan_unit_rows(0, unit="region", region_ids=ids, labeled_mask=mask, color=np.ones(3), needs={"color"})
    b = scan_unit_rows(1, unit="region", region_ids=ids, labeled_mask=mask, needs=set())
    with pytest.raises(ValueError, match="table 1 has stats"):
        UnitTable.concat([a, b])
    both = UnitTable.concat([a, a])
    assert len(both) == 4 and both.candidates().all()
    assert len(UnitTable.concat([])) == 0
    with pytest.raises(ValueError, match="UnitTable.points must be >= 0"):
        UnitTable(scan=np.zeros(1, np.int64), region=np.zeros(1, np.int64), points=-np.ones(1, np.int64),
                  labeled=np.zeros(1, bool))


# ------------------------------------------------------------------------------------ real scan
@pytest.mark.real
@pytest.mark.skipif(not KITTI.is_dir(), reason=f"real SemanticKITTI samples not found at {KITTI}")
def test_redal_on_a_real_semantickitti_scan_with_grid_regions():
    """Units and ReDAL selection at real scale (~120k points); regions here are a 10 m grid, not VCCS."""
    xyz = np.fromfile(KITTI / "sequences" / "00" / "velodyne" / "000000.bin", dtype=np.float32).reshape(-1, 4)[:, :3]
    n = xyz.shape[0]
    cell = np.floor(xyz[:, :2] / 10.0).astype(np.int64)
    _, region_ids = np.unique(cell, axis=0, return_inverse=True)
    region_ids = region_ids.reshape(-1)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(19, 0.3), size=n).astype(np.float32)
    feats = np.c_[xyz, np.linalg.norm(xyz, axis=1)].astype(np.float32)
    strategy = get_strategy("ReDAL")
    table = scan_unit_rows(0, unit="region", region_ids=region_ids, labeled_mask=np.zeros(n, bool), probs=probs,
                           features=feats, color=np.zeros(n, np.float32), structure=rng.random(n).astype(np.float32),
                           needs=strategy.needs)
    assert table.points.sum() == n
    sel = strategy.select(table, budget_points=n // 10, rng=0, params=StrategyParams.for_dataset("semantickitti"))
    assert n // 10 <= sel.total_points < n // 10 + sel.points.max()
    assert (sel.cluster >= 0).all()


def test_cset_without_labeled_rows_warns_and_still_fills_the_budget():
    table = _table(20, unit="scan", labeled_frac=0.0, seed=5)
    with pytest.warns(UserWarning, match="CSET: the unit table has no labeled rows"):
        sel = get_strategy("CSET").select(table, budget_points=300, rng=0)
    assert sel.total_points >= 300 and sel.total_points - sel.points[-1] < 300


@pytest.mark.parametrize("name", SCAN_NAMES + REGION_NAMES)
def test_every_strategy_runs_rounds_through_units_and_label_state(name):
    """units -> select -> LabelState.label for three rounds: only unlabeled units, budget met, growth."""
    strategy = get_strategy(name)
    n_scans, k = 10, 4
    rng = np.random.default_rng(11)
    region_ids = [np.sort(rng.integers(0, 6, size=60)) for _ in range(n_scans)]
    for ids in region_ids:
        ids[:6] = np.arange(6)  # dense ids 0..5 in every scan
    state = LabelState.initial([np.bincount(ids) for ids in region_ids], 20.0, rng)
    budget = state.budget_points(10.0)
    params = StrategyParams(clusters=5)
    for r in range(1, 4):
        rows = []
        for s, ids in enumerate(region_ids):
            n = ids.size
            rows.append(scan_unit_rows(
                s, unit=strategy.unit, region_ids=ids, labeled_mask=state.point_mask(s, ids), needs=strategy.needs,
                probs=rng.dirichlet(np.ones(k), size=n), features=rng.normal(size=(n, 8)).astype(np.float32),
                color=rng.random(n).astype(np.float32), structure=rng.random(n).astype(np.float32),
                mc_probs=rng.dirichlet(np.ones(k), size=(3, n)),
            ))
        sel = strategy.select(UnitTable.concat(rows), budget_points=budget, rng=rng, params=params)
        assert not any(state.is_labeled(int(s), int(g)) for s, g in zip(sel.scan, sel.region, strict=True))
        before = state.labeled_points
        added = state.label(sel.scan, sel.region, round=r)
        assert added == sel.total_points >= budget
        assert state.labeled_points == before + added
        assert state.last_round == r


# ------------------------------------------------------------------------------------ selection at scale
@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=0, max_size=40), st.integers(0, 45))
def test_top_by_score_is_the_stable_sort_prefix(values, k):
    score = np.array(values, dtype=np.float64) / 3.0  # many ties
    np.testing.assert_array_equal(top_by_score(score, k), np.argsort(-score, kind="stable")[:k])


def _reference_take(score, adjusted, points, budget):
    """The ranking as first written: every candidate sorted (kept by adjusted, then trimmed by score)."""
    kept = np.isfinite(adjusted)
    first, rest = np.flatnonzero(kept), np.flatnonzero(~kept)
    order = np.concatenate([first[np.argsort(-adjusted[first], kind="stable")],
                            rest[np.argsort(-score[rest], kind="stable")]])
    return take_budget(order, points, budget)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 40), st.floats(0, 1), st.integers(0, 3000), st.integers(0, 2**16))
def test_trimmed_ranking_sorts_the_rest_only_when_needed_and_takes_the_same(n, kept_share, budget, seed):
    rng = np.random.default_rng(seed)
    score = rng.integers(0, 5, n).astype(np.float64)
    adjusted = np.where(rng.random(n) < kept_share, score * rng.random(n), np.nan)
    points = rng.integers(1, 200, n)
    taken, exhausted = _take_ranked(score, adjusted, points, budget)
    ref_taken, ref_exhausted = _reference_take(score, adjusted, points, budget)
    np.testing.assert_array_equal(taken, ref_taken)
    assert exhausted == ref_exhausted


def _big_region_table(n: int, dim: int, seed: int = 0) -> UnitTable:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(40, dim)).astype(np.float32)
    features = centres[rng.integers(0, 40, n)]
    features += rng.standard_normal((n, dim), dtype=np.float32)
    labeled = rng.random(n) < 0.05
    points = rng.integers(1, 500, n)
    points[labeled] = 0
    return UnitTable(
        scan=np.arange(n, dtype=np.int64) // 100, region=np.arange(n, dtype=np.int64) % 100,
        points=points.astype(np.int64), labeled=labeled,
        stats={"entropy": rng.random(n), "color": np.zeros(n), "structure": rng.random(n) * 0.1},
        features=features,
    )


@pytest.mark.parametrize("trim_top", [None, 0.3])
@pytest.mark.parametrize("exact_max", [None, 0])  # scikit-learn, then the sampled path for every size
def test_diversity_reads_the_candidate_rows_in_place(monkeypatch, trim_top, exact_max):
    from redal_core.active import diversity

    if exact_max is not None:
        monkeypatch.setattr(diversity, "KMEANS_EXACT_MAX_UNITS", exact_max)
    table = _big_region_table(3000, 8)
    features = table.features.copy()
    features[table.labeled] = np.nan  # rows that are not candidates are never read
    table = UnitTable(scan=table.scan, region=table.region, points=table.points, labeled=table.labeled,
                      stats=table.stats, features=features)
    params = StrategyParams(alpha=1.0, beta=0.0, gamma=0.05, clusters=12, trim_top=trim_top)
    budget = int(0.05 * table.points.sum())
    sel = get_strategy("ReDAL").select(table, budget_points=budget, rng=np.random.default_rng(3), params=params)
    # the same as selecting from a table that holds only the candidates (what the code did by copying them)
    only = table.take(table.candidates())
    again = get_strategy("ReDAL").select(only, budget_points=budget, rng=np.random.default_rng(3), params=params)
    assert sel.to_frame().equals(again.to_frame())
    assert (sel.cluster >= 0).all() and len(sel) > 0


@pytest.mark.parametrize("trim_top", [None, 0.1])
def test_large_selection_copies_no_features(monkeypatch, trim_top):
    """ReDAL's select over 100,000 regions x 96 features (above KMEANS_EXACT_MAX_UNITS: the sampled path)
    allocates well under one copy of the (U, F) features (numpy's allocations are traced by tracemalloc):
    what it holds is per-unit vectors, blocks of rows and the sample (cut to 8,192 units here, so that it is
    as small a share of this table as the default 65,536 is of a SemanticKITTI pool)."""
    import tracemalloc

    from redal_core.active import diversity

    monkeypatch.setattr(diversity, "KMEANS_SAMPLE_UNITS", 8192)
    table = _big_region_table(100_000, 96)
    params = StrategyParams(alpha=1.0, beta=0.0, gamma=0.05, clusters=20, trim_top=trim_top)
    budget = int(0.01 * table.points.sum())
    get_strategy("ReDAL").select(table.take(np.arange(2000)), budget_points=1000, rng=0, params=params)  # imports
    tracemalloc.start()
    try:
        sel = get_strategy("ReDAL").select(table, budget_points=budget, rng=0, params=params)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sel.total_points >= budget
    assert peak < 0.5 * table.features.nbytes, (peak, table.features.nbytes)
