"""The field's other strategies: BALD, Annotator (voxel confusion degree on grid cells) and LiDAL
(inter-frame divergence and entropy), each against planted answers that a plausible wrong variant fails,
then two rounds of each through the loop.
"""

from __future__ import annotations

import math
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from redal_core.active import scores as S
from redal_core.active.interframe import FrameEvidence
from redal_core.active.peers import annotator_order, lidal_walk
from redal_core.active.strategies import STRATEGIES, get_strategy
from redal_core.active.units import UnitTable, scan_unit_rows
from redal_core.regions.grid import grid_regions

PEERS = ["BALD", "BALD+Region", "Annotator", "LiDAL"]


# -- BALD ------------------------------------------------------------------------------------------------
def _check_bald(bald) -> None:
    """Known answers (nats): agreeing passes 0; one-hot passes that disagree ln 2; soft ones 0.368064."""
    same = np.tile(np.array([0.7, 0.2, 0.1]), (3, 1, 1))
    assert abs(bald(same)[0]) < 1e-12
    assert bald(np.array([[[1.0, 0.0]], [[0.0, 1.0]]]))[0] == pytest.approx(math.log(2), abs=1e-12)
    assert bald(np.array([[[0.9, 0.1]], [[0.1, 0.9]]]))[0] == pytest.approx(0.368064, abs=1e-6)
    passes = np.array([[[0.6, 0.3, 0.1]], [[0.2, 0.5, 0.3]], [[0.1, 0.1, 0.8]]])
    assert bald(passes)[0] == pytest.approx(0.233356, abs=1e-6)
    wide = np.random.default_rng(0).dirichlet(np.ones(5), size=(3, 7))  # T = 3, N = 7, K = 5: no axis mix-up
    assert bald(wide).shape == (7,) and (bald(wide) >= -1e-12).all()


def test_bald_known_answers_and_a_planted_wrong_variant_fails():
    _check_bald(S.bald)

    def swapped(mc):  # the two terms the wrong way round
        return -S.bald(mc)

    def predictive_entropy(mc):  # entropy of the mean alone
        return S.softmax_entropy(mc.mean(axis=0))

    for wrong in (swapped, predictive_entropy):
        with pytest.raises(AssertionError):
            _check_bald(wrong)


def test_bald_region_is_the_region_mean():
    # region 0: one point whose passes disagree (ln 2); region 1: ten points with BALD 0 (agreeing passes)
    mc = np.concatenate([np.array([[[1.0, 0.0]], [[0.0, 1.0]]]), np.tile([[0.5, 0.5]], (2, 10, 1))], axis=1)
    rows = scan_unit_rows(0, unit="region", region_ids=np.r_[0, np.ones(10, np.int64)],
                          labeled_mask=np.zeros(11, bool), needs={"bald"}, mc_probs=mc)
    np.testing.assert_allclose(rows.stats["bald"], [math.log(2), 0.0], atol=1e-12)
    selection = get_strategy("BALD+Region").select(rows, budget_points=1, rng=0)
    assert selection.region.tolist() == [0]


# -- Annotator -------------------------------------------------------------------------------------------
def _check_vcd(vcd) -> None:
    pred = np.array([0, 0, 1, 1,  2, 2, 2, 2,  0, 1, 2, 3,  0, 0, 0, 1])
    voxels = np.repeat(np.arange(4), 4)
    np.testing.assert_allclose(vcd(pred, voxels, 4), [1.0, 0.0, 2.0, 0.811278], atol=1e-6)  # bits


def test_voxel_confusion_degree_known_answers():
    _check_vcd(S.voxel_confusion_degree)
    with pytest.raises(AssertionError):  # natural log instead of bits
        _check_vcd(lambda p, v, k: S.segment_entropy(p, v, k))


def test_vcd_is_per_voxel_not_per_point():
    """Voxel X: uncertain points that all vote one class (VCD 0); voxel Y: confident points voting two
    classes (VCD 1). Annotator picks Y; a per-point softmax entropy picks X."""
    uncertain = np.array([0.34, 0.33, 0.33])
    probs = np.array([uncertain] * 4 + [[0.99, 0.005, 0.005]] * 2 + [[0.005, 0.99, 0.005]] * 2)
    voxels = np.repeat([0, 1], 4)
    rows = scan_unit_rows(0, unit="region", region_ids=voxels, labeled_mask=np.zeros(8, bool),
                          needs={"vcd", "entropy"}, probs=probs)
    np.testing.assert_allclose(rows.stats["vcd"], [0.0, 1.0], atol=1e-12)
    assert get_strategy("Annotator").select(rows, budget_points=4, rng=0).region.tolist() == [1]
    assert get_strategy("ENT+Region").select(rows, budget_points=4, rng=0).region.tolist() == [0]  # the wrong pick


def test_annotator_takes_each_scans_best_voxel_before_any_second():
    # scan 0's voxels all have VCD about 2, scan 1's about 0.5; a budget of two voxels gives one per scan
    scan = np.repeat([0, 1], 3)
    vcd = np.array([2.0, 1.9, 1.8, 0.5, 0.4, 0.3])
    order = annotator_order(scan, vcd)
    assert order.tolist() == [0, 3, 1, 4, 2, 5]
    table = UnitTable(scan=scan.astype(np.int64), region=np.tile(np.arange(3), 2).astype(np.int64),
                      points=np.full(6, 10, np.int64), labeled=np.zeros(6, bool), stats={"vcd": vcd})
    selection = get_strategy("Annotator").select(table, budget_points=20, rng=0)
    assert list(zip(selection.scan.tolist(), selection.region.tolist(), strict=True)) == [(0, 0), (1, 0)]
    global_top = np.argsort(-vcd, kind="stable")[:2]  # the wrong, global rule: both from scan 0
    assert scan[global_top].tolist() == [0, 0]
    # a labeled voxel is never a candidate: scan 0's best is labeled, its second comes first now
    labeled = np.array([True, False, False, False, False, False])
    table = UnitTable(scan=scan.astype(np.int64), region=np.tile(np.arange(3), 2).astype(np.int64),
                      points=np.where(labeled, 0, 10).astype(np.int64), labeled=labeled, stats={"vcd": vcd})
    selection = get_strategy("Annotator").select(table, budget_points=20, rng=0)
    assert list(zip(selection.scan.tolist(), selection.region.tolist(), strict=True)) == [(0, 1), (1, 0)]


def test_grid_regions_are_cells_of_the_raw_coordinates():
    xyz = np.array([[0.10, 0, 0], [0.30, 0, 0], [0.20, 0.2, 0.1], [-0.10, 0, 0], [0.49, 0.24, 0.24]])
    ids = grid_regions(xyz, 0.25)
    assert ids[0] == ids[2] and ids[1] == ids[4] and ids[1] != ids[0]  # x cells 0 and 1 of 0.25 m
    assert ids[3] != ids[0]  # floor, not the official code's truncation toward zero (which would merge them)
    assert sorted(set(ids.tolist())) == list(range(3))
    shuffled = np.random.default_rng(0).permutation(5)
    np.testing.assert_array_equal(grid_regions(xyz[shuffled], 0.25), ids[shuffled])  # order-free ids
    with pytest.raises(ValueError, match="cell must be a positive number"):
        grid_regions(xyz, 0.0)


# -- LiDAL -----------------------------------------------------------------------------------------------
def test_interframe_divergence_and_entropy_known_answers():
    p = np.array([[0.5, 0.5]])
    d, e = S.interframe_scores(p, [(np.array([0]), np.array([[0.9, 0.1]]))])
    assert d[0] == pytest.approx(0.510800, abs=1e-6)  # KL(p || q), this frame first; reversed: 0.368054
    assert e[0] == pytest.approx(0.610864, abs=1e-6)  # H([0.7, 0.3]): the point itself in the mean
    # the mean over MATCHED frames only: KL 1.0-ish and 0 over two matches, 22 frames without a match
    q1 = np.array([[0.9, 0.1]])
    kl = float(S.interframe_scores(p, [(np.array([0]), q1)])[0][0])
    d2, _ = S.interframe_scores(p, [(np.array([0]), q1), (np.array([0]), p)] + [(np.array([], np.int64),
                                                                                np.zeros((0, 2)))] * 22)
    assert d2[0] == pytest.approx(kl / 2, abs=1e-9)
    _, e_self = S.interframe_scores(np.array([[1.0, 0.0]]), [(np.array([0]), np.array([[0.0, 1.0]]))])
    assert e_self[0] == pytest.approx(math.log(2), abs=1e-4)  # excluding the point itself would give 0
    d0, e0 = S.interframe_scores(np.array([[0.8, 0.2], [0.3, 0.7]]), [])  # no matches: D 0, E of itself
    np.testing.assert_allclose(d0, 0.0)
    np.testing.assert_allclose(e0, S.softmax_entropy(np.array([[0.8, 0.2], [0.3, 0.7]])))


def test_lidal_walk_ranks_by_divergence_dedups_by_entropy_and_stops_at_overflow():
    centers = np.array([[0.0, 0, 0], [3.0, 0, 0]])
    taken, _ = lidal_walk(np.array([0.9, 0.5]), np.array([0.1, 2.0]), centers, np.array([10, 10]), 100)
    assert taken.tolist() == [1]  # B replaces A: within 5 m and higher entropy
    far = np.array([[0.0, 0, 0], [6.0, 0, 0]])
    taken, _ = lidal_walk(np.array([0.9, 0.5]), np.array([0.1, 2.0]), far, np.array([10, 10]), 100)
    assert taken.tolist() == [0, 1]  # both, in divergence order
    spread = np.array([[0.0, 0, 0], [10.0, 0, 0], [20.0, 0, 0]])
    taken, exhausted = lidal_walk(np.array([0.9, 0.8, 0.7]), np.zeros(3), spread, np.array([60, 50, 10]), 100)
    assert taken.tolist() == [0] and not exhausted  # the 50-point region overflows: the round ends there


class _Frames:
    """Two frames of one sequence, the sensor moved +1 m in x, both seeing the same two world points."""

    name, root = "drive", "planted"
    has_poses = True

    def __init__(self):
        world = np.array([[5.0, 0.0, 0.0], [8.0, 2.0, 0.0]])
        self.poses = [np.eye(4), np.eye(4)]
        self.poses[1][0, 3] = 1.0
        self.scans = [SimpleNamespace(xyz=world - pose[:3, 3]) for pose in self.poses]

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return self.scans[i]

    def pose(self, i):
        return self.poses[i]

    def frame(self, i):
        return "00", i

    def frame_neighbours(self, i, *, before, after):
        return np.array([1 - i])


def test_frames_are_matched_in_world_coordinates():
    frames = _Frames()
    probs = {0: np.array([[0.5, 0.5], [0.5, 0.5]]), 1: np.array([[0.9, 0.1], [0.5, 0.5]])}
    evidence = FrameEvidence(frames, lambda i: probs[i])
    _, (d, _), world = evidence.scan(0)
    np.testing.assert_allclose(world, [[5, 0, 0], [8, 2, 0]])
    assert d[0] == pytest.approx(0.510800, abs=1e-6) and d[1] == pytest.approx(0.0, abs=1e-9)  # both matched
    frames.poses[1] = np.eye(4)  # without the motion the frames do not line up: no match within 0.1 m
    _, (d, _), _ = FrameEvidence(frames, lambda i: probs[i]).scan(0)
    np.testing.assert_allclose(d, 0.0)
    frames.poses[1][0, 3] = 1.15  # 0.15 m off: beyond LiDAL's 0.1 m
    _, (d, _), _ = FrameEvidence(frames, lambda i: probs[i]).scan(0)
    np.testing.assert_allclose(d, 0.0)


def test_registry_holds_the_peers_after_the_papers_strategies():
    names = STRATEGIES.names()
    assert names[-4:] == PEERS
    assert get_strategy("bald+region").name == "BALD+Region"
    assert get_strategy("Annotator").division == "grid" and get_strategy("LiDAL").division == "vccs"
    assert get_strategy("LiDAL").requires_poses
    assert [n for n in names if get_strategy(n).requires_dropout] == ["MCDR", "BALD", "BALD+Region"]


def test_lidal_without_poses_fails_at_config_time():
    from redal_core.config import RunConfig

    with pytest.raises(ValueError, match=r"'LiDAL' needs consecutive frames with sensor poses, which "
                                         r"'synthetic-indoor' does not have"):
        RunConfig.from_dict({"active": {"strategy": "LiDAL"}})
    with pytest.raises(ValueError, match=r"writes only with dataset.generate.frames_per_drive"):
        RunConfig.from_dict({"dataset": {"name": "synthetic-outdoor"}, "active": {"strategy": "LiDAL"}})


# -- two rounds of each through the loop ------------------------------------------------------------------
@pytest.fixture(scope="module")
def drives(tmp_path_factory):
    return tmp_path_factory.mktemp("drives") / "synthetic-outdoor"


@pytest.mark.slow
@pytest.mark.xdist_group("peers")
@pytest.mark.parametrize("strategy", [*PEERS, "LiDAL+pseudo"])
def test_every_peer_completes_two_rounds(tmp_path, drives, strategy, monkeypatch):
    from redal_core.active.loop import run
    from redal_core.config import RunConfig

    monkeypatch.setenv("REDAL_THREADS", "1")
    config = RunConfig.from_dict({
        "results_dir": str(tmp_path),
        "dataset": {"name": "synthetic-outdoor", "root": str(drives), "knn": 8,
                    "generate": {"scans": 12, "seed": 1, "beams": 16, "azimuth_steps": 256, "frames_per_drive": 6}},
        "model": {"name": "spvcnn", "width": 0.125, "backend": "torch"},
        "train": {"epochs_init": 1, "epochs_finetune": 1, "batch_size": 4, "device": "cpu"},
        "active": {"strategy": strategy.removesuffix("+pseudo"), "x_init": 20.0, "x_active": 5.0, "rounds": 2,
                   "mc_passes": 2, "pseudo_labels": strategy.endswith("+pseudo")},
    })
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_dir = run(config, progress=False, log=None)
    rounds = pd.read_csv(run_dir / "rounds.csv")
    assert rounds["round"].tolist() == [0, 1, 2] and rounds["labeled_points"].is_monotonic_increasing
    for r in (0, 1):
        selection = pd.read_csv(run_dir / "selections" / f"round_{r:02d}.csv")
        assert len(selection) > 0 and (selection["points"] > 0).all()
        assert not selection.duplicated(["scan", "region"]).any()
    if strategy == "Annotator":
        assert RunConfig.from_yaml(run_dir / "params.yaml").regions.division == "grid"
    if strategy == "LiDAL+pseudo":
        from redal_core.active.pseudo import pseudo_labels_of
        from redal_core.results import RunPaths

        paths = RunPaths(run_dir)
        first, files = pseudo_labels_of(paths, 0)
        second, _ = pseudo_labels_of(paths, 1)
        assert first and not first & second  # alternating: never pseudo-labeled twice in a row
        for r, pairs in ((0, first), (1, second)):
            selected = pd.read_csv(run_dir / "selections" / f"round_{r:02d}.csv")
            assert not pairs & set(zip(selected["scan"], selected["region"], strict=True))
        labels = np.load(next(iter(files.values())))
        assert (labels != -100).any() and (labels == -100).any()
    else:
        assert not (run_dir / "pseudo").exists()


def test_pseudo_labels_apply_to_lidal_only():
    from redal_core.config import RunConfig

    with pytest.raises(ValueError, match=r"active.pseudo_labels' applies to the LiDAL strategy only"):
        RunConfig.from_dict({"active": {"strategy": "ReDAL", "pseudo_labels": True}})


def test_lidal_pseudo_walk_prefers_agreement():
    divergence = np.array([0.9, 0.2, 0.0, 0.1])
    entropy = np.array([1.0, 0.5, 0.1, 2.0])
    centers = np.array([[0.0, 0, 0], [100.0, 0, 0], [200.0, 0, 0], [102.0, 0, 0]])
    taken, _ = lidal_walk(divergence, entropy, centers, np.full(4, 10), 100, pseudo=True)
    # ascending divergence, the evidence-free region (D = 0) skipped; region 3 (D 0.1) is taken first and
    # region 1 (2 m away, LOWER entropy) replaces it
    assert taken.tolist() == [1, 0]
