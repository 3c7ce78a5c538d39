"""The active-learning loop end to end on a tiny synthetic indoor set, plus results-file helpers."""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from redal_core import IGNORE_INDEX
from redal_core.config import RunConfig
from redal_core.results import (
    ROUNDS_COLUMNS,
    TRAIN_LOG_COLUMNS,
    RunPaths,
    atomic_save_npz,
    atomic_write_csv,
    atomic_write_text,
    read_runs,
    run_status,
    stale_temporaries,
    write_state,
)

STRATEGIES = ["RAND", "MAR", "CONF", "ENT", "CSET", "SEGENT", "MCDR",
              "RAND+Region", "ENT+Region", "ENT+Region+Div", "ENT+Region+Color/Structure", "ReDAL"]
TIME_COLUMNS = ["wall_s", "train_s", "eval_s", "predict_s", "select_s"]
pytestmark = pytest.mark.xdist_group("loop")  # one worker generates the rooms and their region cache once


# -- results helpers (no training) ----------------------------------------------------------------------
def test_atomic_writes_leave_nothing_behind_on_error(tmp_path):
    target = tmp_path / "a" / "table.csv"
    atomic_write_csv(target, pd.DataFrame({"x": [1, 2]}))
    assert pd.read_csv(target)["x"].tolist() == [1, 2]

    class Broken:
        def to_csv(self, path, index):
            with open(path, "w") as handle:
                handle.write("half")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write_csv(target, Broken())
    assert pd.read_csv(target)["x"].tolist() == [1, 2]  # the old file is untouched
    assert stale_temporaries(tmp_path) == []
    atomic_write_text(tmp_path / "t.txt", "hello")
    atomic_save_npz(tmp_path / "z.npz", a=np.arange(3))
    assert np.load(tmp_path / "z.npz")["a"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "t.txt", "z.npz"]


def test_read_runs_empty_and_status_of_missing(tmp_path):
    tables = read_runs(tmp_path)
    assert tables.rounds.empty and {"run_id", "strategy", "seed", "miou"} <= set(tables.rounds.columns)
    assert tables.selections.empty and "adjusted_score" in tables.selections.columns
    assert run_status(tmp_path / "runs" / "nothing")["status"] == "missing"


def test_read_runs_keeps_only_complete_rounds(tmp_path):
    config = RunConfig.from_dict({"results_dir": str(tmp_path), "active": {"strategy": "ENT", "rounds": 2}})
    paths = RunPaths.of(tmp_path, config.run_id)
    paths.root.mkdir(parents=True)
    import yaml

    atomic_write_text(paths.params, yaml.safe_dump(config.to_dict()))
    assert run_status(paths.root) == {"run_dir": str(paths.root), "status": "incomplete", "rounds_done": 0,
                                      "rounds_total": 3, "last_round": None}
    rows = [{c: 0.0 for c in ROUNDS_COLUMNS} | {"round": r, "miou": 0.1 * r} for r in range(2)]
    atomic_write_csv(paths.rounds, pd.DataFrame(rows))
    atomic_write_csv(paths.selection(0), pd.DataFrame({"scan": [1], "scan_name": ["a"], "region": [-1], "score": [1.0],
                                                       "adjusted_score": [1.0], "cluster": [-1], "points": [5]}))
    write_state(paths.root, last_round=0, rounds=2, status="incomplete")  # round 1's row is not complete yet
    tables = read_runs(tmp_path)
    assert tables.rounds["round"].tolist() == [0]
    assert tables.rounds[["run_id", "dataset", "backbone", "strategy", "seed"]].iloc[0].tolist() == [
        config.run_id, "synthetic-indoor", "minkunet", "ENT", 0]
    assert tables.selections["round"].tolist() == [0]
    assert read_runs(tmp_path, complete_only=True).rounds.empty
    assert run_status(paths.root)["rounds_done"] == 1


# -- the loop on a tiny synthetic set -------------------------------------------------------------------
@pytest.fixture(scope="module")
def rooms(tmp_path_factory):
    from redal_core.data.synthetic import write_synthetic_indoor

    root = tmp_path_factory.mktemp("rooms") / "synthetic-indoor"
    write_synthetic_indoor(root, scans=8, points_per_room=3000, seed=0)
    return root


def tiny(results_dir, root, strategy="ReDAL", **sections) -> RunConfig:
    data = {
        "results_dir": str(results_dir),
        "dataset": {"name": "synthetic-indoor", "root": str(root), "knn": 16,
                    "generate": {"scans": 8, "points_per_room": 3000, "seed": 0}},
        "model": {"name": "spvcnn" if strategy == "MCDR" else "minkunet", "width": 0.125, "backend": "torch"},
        "train": {"epochs_init": 1, "epochs_finetune": 1, "batch_size": 4, "device": "cpu"},
        "active": {"strategy": strategy, "x_init": 30.0, "x_active": 8.0, "rounds": 2, "clusters": 4, "mc_passes": 2},
    }
    for section, values in sections.items():
        data[section] = {**data.get(section, {}), **values} if isinstance(values, dict) else values
    return RunConfig.from_dict(data)


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("REDAL_THREADS", "1")


def _frames(run_dir):
    rounds = pd.read_csv(run_dir / "rounds.csv").drop(columns=TIME_COLUMNS)
    selections = {p.name: pd.read_csv(p) for p in sorted((run_dir / "selections").glob("*.csv"))}
    return rounds, pd.read_csv(run_dir / "per_class.csv"), selections


@pytest.mark.slow
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_completes_two_rounds(tmp_path, rooms, strategy):
    from redal_core.active.pool import LabelState
    from redal_core.active.strategies import get_strategy

    config = tiny(tmp_path, rooms, strategy)
    run_dir = config.run_dir
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is repaired or dropped on a clean run
        assert run(config) == run_dir
    assert run_status(run_dir)["status"] == "complete"
    rounds = pd.read_csv(run_dir / "rounds.csv")
    assert rounds.columns.tolist() == ROUNDS_COLUMNS and rounds["round"].tolist() == [0, 1, 2]
    assert rounds["labeled_points"].is_monotonic_increasing and rounds["labeled_points"].iloc[0] > 0
    assert ((rounds["miou"] >= 0) & (rounds["miou"] <= 1)).all()
    assert (rounds[TIME_COLUMNS] >= 0).all().all() and (rounds["wall_s"] >= rounds["train_s"]).all()

    state = LabelState.load(run_dir / "label_state.npz")
    budget = state.budget_points(config.active.x_active)
    unit = get_strategy(strategy).unit
    seen = set()
    for r in (0, 1):
        sel = pd.read_csv(run_dir / "selections" / f"round_{r:02d}.csv")
        assert sel.columns.tolist() == ["scan", "scan_name", "region", "score", "adjusted_score", "cluster", "points"]
        assert (sel["region"] == -1).all() if unit == "scan" else (sel["region"] >= 0).all()
        # budget rule: the units reach the budget, and without the last one they would not
        assert sel["points"].sum() >= budget and sel["points"].iloc[:-1].sum() < budget
        assert (sel["adjusted_score"].diff().dropna() <= 1e-12).all()  # in descending adjusted score
        units = set(zip(sel["scan"], sel["region"], strict=True))
        assert not units & seen  # nothing is selected twice
        seen |= units
        labeled_next = rounds.loc[r + 1, "labeled_points"] - rounds.loc[r, "labeled_points"]
        assert labeled_next == sel["points"].sum()
        scans, regions = state.units_labeled_in(r + 1)
        if unit == "region":
            assert set(zip(scans, regions, strict=True)) == units
        else:
            assert set(scans) == set(sel["scan"])
    assert state.labeled_points == rounds["labeled_points"].iloc[-1]  # the last round selects nothing

    per_class = pd.read_csv(run_dir / "per_class.csv")
    assert len(per_class) == 3 * 13 and per_class["class"].iloc[:3].tolist() == ["ceiling", "floor", "wall"]
    present = per_class[per_class["iou"].notna()]
    means = present.groupby("round")["iou"].mean()
    np.testing.assert_allclose(means.to_numpy(), rounds["miou"].to_numpy())
    dist = pd.read_csv(run_dir / "class_distribution.csv")
    np.testing.assert_allclose(dist.groupby("round")["permille"].sum().to_numpy(), 1000.0)
    np.testing.assert_array_equal(dist.groupby("round")["labeled_points"].sum().to_numpy(),
                                  rounds["labeled_points"].to_numpy())
    env = json.loads((run_dir / "env.json").read_text())
    assert env["backend"] == "torch" and env["device"] == "cpu" and env["threads"] == 1
    assert RunConfig.from_dict(__import__("yaml").safe_load((run_dir / "params.yaml").read_text())) == config
    for r in range(3):
        assert (run_dir / "checkpoints" / f"round_{r:02d}.pt").exists()
    assert stale_temporaries(run_dir) == []
    log = pd.read_csv(run_dir / "train_log.csv")  # one epoch per round, the last epoch's model kept
    assert log.columns.tolist() == TRAIN_LOG_COLUMNS and log["round"].tolist() == [0, 1, 2]
    assert log["epoch"].tolist() == [0, 0, 0] and log["kept"].tolist() == [1, 1, 1] and log["val_miou"].isna().all()
    assert (log["steps"] >= 1).all() and np.isfinite(log["loss"]).all() and (log["lr"] == config.train.lr).all()
    assert not (run_dir / "run.lock").exists() and not (run_dir / "failed.json").exists()


def run(config, **kwargs):
    from redal_core.active.loop import run as loop_run

    return loop_run(config, progress=False, log=None, **kwargs)


@pytest.mark.slow
def test_same_seed_same_run_other_seed_other_selection(tmp_path, rooms):
    a = run(tiny(tmp_path / "a", rooms, "ENT+Region+Div", active={"rounds": 1}))
    b = run(tiny(tmp_path / "b", rooms, "ENT+Region+Div", active={"rounds": 1}))
    c = run(tiny(tmp_path / "c", rooms, "ENT+Region+Div", seed=1, active={"rounds": 1}))
    ra, pa, sa = _frames(a)
    rb, pb, sb = _frames(b)
    pd.testing.assert_frame_equal(ra, rb)
    pd.testing.assert_frame_equal(pa, pb)
    assert sa.keys() == sb.keys() == {"round_00.csv"}
    pd.testing.assert_frame_equal(sa["round_00.csv"], sb["round_00.csv"])
    assert not _frames(c)[2]["round_00.csv"].equals(sa["round_00.csv"])


@pytest.mark.slow
def test_rerun_resumes_and_refuses_other_params(tmp_path, rooms, capsys):
    from redal_core.active.loop import run as loop_run

    config = tiny(tmp_path, rooms, "RAND+Region", active={"rounds": 1})
    run_dir = run(config)
    before = (run_dir / "rounds.csv").read_bytes()
    loop_run(config, progress=False)  # complete: nothing is redone
    assert "complete (2 rounds)" in capsys.readouterr().out
    assert (run_dir / "rounds.csv").read_bytes() == before
    with pytest.raises(ValueError, match=r"other parameters \(differing: active.x_active\)"):
        run(tiny(tmp_path, rooms, "RAND+Region", run_id=config.run_id, active={"rounds": 1, "x_active": 5.0}))
    # another results_dir is not a difference: the params of a moved folder still match
    moved = tiny(tmp_path / "elsewhere", rooms, "RAND+Region", active={"rounds": 1})
    assert moved.to_dict() | {"results_dir": ""} == config.to_dict() | {"results_dir": ""}


@pytest.mark.slow
def test_interrupted_round_is_redone_and_temporaries_removed(tmp_path, rooms):
    """A crash after round 1's files but before its state.json: the rerun removes the half-written
    temporaries (with a warning naming them) and redoes round 1 from round 0's checkpoint, identically."""
    config = tiny(tmp_path, rooms, "ENT+Region", active={"rounds": 1})
    run_dir = run(config)
    rounds, per_class, selections = _frames(run_dir)
    (run_dir / "checkpoints" / "round_01.pt").unlink()
    write_state(run_dir, last_round=0, rounds=1, status="incomplete")
    (run_dir / ".rounds.tmp-4242.csv").write_text("round,labeled_po")
    (run_dir / "checkpoints" / "label_state_01.npz.x1y2.tmp").write_bytes(b"PK\x03")
    with pytest.warns(UserWarning, match=r"removed 2 half-written temporary file\(s\).*rounds.tmp-4242"):
        run(config)
    assert stale_temporaries(run_dir) == []
    again = _frames(run_dir)
    pd.testing.assert_frame_equal(again[0], rounds)
    pd.testing.assert_frame_equal(again[1], per_class)
    assert again[2].keys() == selections.keys()
    assert run_status(run_dir)["status"] == "complete"


@pytest.mark.slow
def test_human_oracle_waits_for_labels_and_prefers_them(tmp_path, rooms):
    from redal_core.active.pool import LabelState
    from redal_core.results import status_table

    config = tiny(tmp_path, rooms, "ENT+Region", active={"rounds": 1, "oracle": "human"})
    run_dir = run(config)
    status = run_status(run_dir)
    assert status["status"] == "awaiting_labels" and status["last_round"] == 0
    assert pd.read_csv(run_dir / "rounds.csv")["round"].tolist() == [0]
    assert status_table(run_dir).iloc[0]["status"] == "awaiting_labels"
    with pytest.raises(ValueError, match="awaiting labels for round 0"):
        run(config)
    row = status_table(run_dir).iloc[0]  # the refused resume is noted, the run still awaits its labels
    assert row["status"] == "awaiting_labels" and "last attempt: ValueError: " in row["note"]
    # what `redal import` does: annotations/<scan>.npy and the units marked labeled (round 1)
    sel = pd.read_csv(run_dir / "selections" / "round_00.csv")
    state = LabelState.load(run_dir / "label_state.npz")
    from redal_core.data.datasets import build_dataset
    from redal_core.regions import scan_regions

    ds = build_dataset("synthetic-indoor", rooms, "train")
    annotated = 0
    for scan in sel["scan"].unique():
        region_ids = np.asarray(scan_regions(ds, int(scan), "s3dis", 16)["region"])
        chosen = np.isin(region_ids, sel.loc[sel["scan"] == scan, "region"].to_numpy())
        labels = np.full(region_ids.shape, IGNORE_INDEX, np.int64)
        labels[chosen] = 12  # the annotator calls everything clutter (planted: differs from ground truth)
        annotated += int(chosen.sum())
        (run_dir / "annotations").mkdir(exist_ok=True)
        np.save(run_dir / "annotations" / f"{scan}.npy", labels)
    state.label(sel["scan"].to_numpy(), sel["region"].to_numpy(), round=1)
    state.save(run_dir / "label_state.npz")
    run(config)
    assert run_status(run_dir)["status"] == "complete"
    dist = pd.read_csv(run_dir / "class_distribution.csv")
    clutter = dist[(dist["class"] == "clutter")].set_index("round")["labeled_points"]
    assert clutter[1] - clutter[0] == annotated == sel["points"].sum()


# -- validation before any training ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("strategy", "model", "active", "pattern"),
    [
        ("ReDAL", "minkunet", {"x_init": 30.0, "x_active": 40.0, "rounds": 2},
         r"budget larger than the pool: x_init 30.0 % \+ x_active 40.0 % x 2 rounds = 110 %"),
        ("ReDAL", "minkunet", {"x_init": 5.0},
         r"x_init = 5.0 % of the 7 training scans gives 0 scans .* at least 14.29 % \(one scan\)"),
        ("SUPER", "minkunet", {}, r"'active.strategy' = 'SUPER' is not a known strategy; valid names: RAND, MAR, .*ReDAL"),
        ("MCDR", "minkunet", {}, r"MCDR needs MC dropout, but model 'minkunet' has no dropout .* spvcnn"),
    ],
)
def test_bad_runs_fail_before_training(tmp_path, rooms, strategy, model, active, pattern):
    with pytest.raises(ValueError, match=pattern):
        run(tiny(tmp_path, rooms, strategy, model={"name": model}, active=active))
    assert not list(tmp_path.rglob("*.pt"))


def test_validate_run_names_unknown_strategies(rooms):
    """A config built around from_dict's check still meets validate_run's."""
    import dataclasses

    from redal_core.active.loop import validate_run
    from redal_core.data.datasets import build_dataset

    config = tiny("unused", rooms, "ENT")
    config = dataclasses.replace(config, active=dataclasses.replace(config.active, strategy="SUPER"))
    with pytest.raises(ValueError, match=r"unknown strategy 'SUPER'; valid names: RAND, MAR, .*ReDAL"):
        validate_run(config, build_dataset("synthetic-indoor", rooms, "train"))


def test_synthetic_data_is_generated_once_and_must_match_the_config(tmp_path, rooms):
    from redal_core.active.run_data import run_datasets as _datasets

    root = tmp_path / "gen" / "rooms"
    config = tiny(tmp_path, root, "RAND", dataset={"generate": {"scans": 6, "points_per_room": 1000, "seed": 2}})
    train_ds, val_ds = _datasets(config, rank=0, distributed=False)
    assert len(train_ds) + len(val_ds) == 6
    assert json.loads((root / ".redal-generate.json").read_text())["points_per_room"] == 1000
    assert [p.name for p in root.parent.iterdir()] == ["rooms"]  # no temporary folder left
    umask = os.umask(0)
    os.umask(umask)
    assert root.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's private 0o700
    names = train_ds.scan_names
    assert _datasets(config, rank=0, distributed=False)[0].scan_names == names  # reused, not regenerated
    other = tiny(tmp_path, root, "RAND", dataset={"generate": {"scans": 6, "points_per_room": 1200, "seed": 2}})
    with pytest.raises(ValueError, match=r"generated with .*'points_per_room': 1000.* asks for .*1200.*delete"):
        _datasets(other, rank=0, distributed=False)
    unmarked = tiny(tmp_path, rooms, "RAND", dataset={"generate": {"scans": 12}})  # the fixture's 8 rooms
    with pytest.raises(ValueError, match=r"holds 8 synthetic-indoor scans, but dataset.generate asks for 12"):
        _datasets(unmarked, rank=0, distributed=False)


def test_one_round_budget_larger_than_the_unlabeled_points(rooms):
    from redal_core.active.loop import validate_run
    from redal_core.active.pool import LabelState
    from redal_core.data.datasets import build_dataset

    ds = build_dataset("synthetic-indoor", rooms, "train")
    config = tiny("unused", rooms, "ENT", active={"x_init": 50.0, "x_active": 50.0, "rounds": 1})
    sizes = [np.array([100]), np.array([100]), np.array([100]), np.array([700]), np.array([50]), np.array([50]),
             np.array([50])]
    state = LabelState(region_sizes=np.concatenate(sizes), offsets=np.arange(8),
                       rounds=np.array([-1, -1, -1, 0, -1, -1, -1]))
    validate_run(config, ds)  # fine by the percentages alone
    with pytest.raises(ValueError, match=r"one round's budget, x_active 50.0 % = 575 points, exceeds the 450 points"):
        validate_run(config, ds, label_state=state)


def test_cli_run_reports_a_bad_config(tmp_path, capsys):
    from redal_core.cli import main

    path = tmp_path / "run.yaml"
    path.write_text("active:\n  x_active: 120\n")
    assert main(["run", str(path)]) == 2
    assert "active.x_active" in capsys.readouterr().err


@pytest.mark.slow
def test_keep_last_checkpoint_only_and_resume_from_it(tmp_path, rooms):
    from redal_core.active.loop import run as loop_run

    config = tiny(tmp_path, rooms, "RAND", train={"keep_checkpoints": "last"})
    run_dir = run(config)
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("*.pt")) == ["round_02.pt"]
    # the per-round label states stay (they are small and annotate.py reads them)
    assert len(list((run_dir / "checkpoints").glob("label_state_*.npz"))) == 3
    loop_run(config, progress=False, log=None)  # a complete run needs nothing it deleted
    keep_all = run(tiny(tmp_path / "all", rooms, "RAND"))
    assert len(list((keep_all / "checkpoints").glob("*.pt"))) == 3
    pd.testing.assert_frame_equal(_frames(run_dir)[0], _frames(keep_all)[0])


# -- what a run shows and records: header, bars, train_log.csv, run.lock / failed.json, status ---------------
def _final_bar_lines(err: str) -> list[str]:
    """Each bar's last state (tqdm rewrites its line with carriage returns)."""
    return [line.rsplit("\r", 1)[-1].strip() for line in err.splitlines() if line.strip()]


def _bar(lines: list[str], desc: str, total: int | None) -> str:
    """The final line of the bar ``desc`` (complete, over ``total`` items; None: any)."""
    done = re.compile(rf"\b{total}/{total}\b" if total is not None else r"\b(\d+)/\1\b")
    found = [line for line in lines if line.startswith(f"{desc}: 100%") and done.search(line)]
    assert found, (desc, lines)
    return found[-1]


@pytest.mark.slow
def test_header_bars_and_train_log_of_a_run_and_its_resume(tmp_path, rooms, capfd, monkeypatch):
    from redal_core.active import run_data
    from redal_core.active.loop import run as loop_run
    from redal_core.active.pool import LabelState
    from redal_core.results import TRAIN_LOG_TIME_COLUMNS, status_table

    # a fresh cache: the scans are parsed and their regions computed in this run (bars without delay)
    config = tiny(tmp_path, rooms, "ReDAL", dataset={"cache_dir": str(tmp_path / "cache")},
                  train={"epochs_init": 2})
    monkeypatch.setattr(run_data, "WARM_BAR_DELAY_S", 0.0)
    capfd.readouterr()
    lines: list[str] = []
    run_dir = loop_run(config, progress=True, log=lines.append)
    out, err = capfd.readouterr()
    assert out == ""  # everything printed went through log; the bars went to stderr
    state = LabelState.load(run_dir / "label_state.npz")
    budget = state.budget_points(8.0)
    header = lines[0]
    assert header.startswith(f"{config.run_id}: {run_dir} | synthetic-indoor: train 7 scans ({state.total_points} pts), "
                             "val 1 | minkunet x0.125 / torch / cpu | ReDAL, oracle simulated | "
                             f"budget 8 % = {budget} pts per round, 2 rounds after x_init 30 % | threads 1 (numba "), header
    assert [line.split(":")[0] for line in lines[1:]] == ["[ReDAL] round 0", "[ReDAL] round 1", "[ReDAL] round 2"]
    bars = _final_bar_lines(err)
    _bar(bars, "reading scans", 7)
    _bar(bars, "regions + cues", 7)
    for r in range(3):
        assert "loss=" in _bar(bars, f"round {r}", 2 if r == 0 else 1)  # the epoch bars stay
        _bar(bars, f"round {r} evaluate", 1)
    for r in range(2):
        _bar(bars, f"round {r} predict", None)  # the scans with a region left to label
    assert not any(line.startswith("round 2 predict") for line in bars)  # the last round selects nothing

    log = pd.read_csv(run_dir / "train_log.csv")
    assert log[["round", "epoch", "kept"]].values.tolist() == [[0, 0, 0], [0, 1, 1], [1, 0, 1], [2, 0, 1]]
    rounds = pd.read_csv(run_dir / "rounds.csv")
    assert log["steps"].between(1, 2).all()  # batches of 4 over at most 7 labeled scans
    assert (log["seconds"] > 0).all() and log["val_miou"].isna().all()
    assert log.groupby("round")["seconds"].sum().le(rounds["train_s"] + 1e-9).all()
    row = status_table(tmp_path).iloc[0]
    assert (row["status"], row["rounds_done"], row["rounds_total"]) == ("complete", 3, 3)
    assert math.isclose(row["labeled_pct"], rounds["labeled_pct"].iloc[-1])
    assert math.isclose(row["miou_pct"], rounds["miou"].iloc[-1] * 100)
    assert math.isclose(row["wall_s"], rounds["wall_s"].sum())

    # interrupted after round 0 (round 1 to redo): the header, then "resuming" on the next line; the regions
    # are cached now, so their pass shows no bar
    monkeypatch.setattr(run_data, "WARM_BAR_DELAY_S", 1.0)
    for r in (1, 2):
        (run_dir / "checkpoints" / f"round_{r:02d}.pt").unlink()
    write_state(run_dir, last_round=0, rounds=2, status="incomplete")
    assert status_table(tmp_path).iloc[0]["status"] == "interrupted"
    lines.clear()
    loop_run(config, progress=True, log=lines.append)
    out, err = capfd.readouterr()
    assert lines[0].startswith(f"{config.run_id}: {run_dir} | ")
    assert lines[1] == f"{config.run_id}: resuming after round 0 from {run_dir}"
    bars = _final_bar_lines(err)
    assert not any(line.startswith(("reading scans", "regions")) for line in bars), bars
    _bar(bars, "round 1", 1)
    again = pd.read_csv(run_dir / "train_log.csv")
    pd.testing.assert_frame_equal(again.drop(columns=TRAIN_LOG_TIME_COLUMNS), log.drop(columns=TRAIN_LOG_TIME_COLUMNS))
    assert (again["seconds"].iloc[:2] == log["seconds"].iloc[:2]).all()  # round 0's rows are kept as written

    # progress=False: no bar at all
    quiet = tiny(tmp_path / "quiet", rooms, "ReDAL", active={"rounds": 1})
    loop_run(quiet, progress=False, log=None)
    assert capfd.readouterr() == ("", "")


@pytest.mark.slow
def test_best_val_logs_the_scored_epochs_and_the_kept_one(tmp_path, rooms, monkeypatch):
    from redal_core.active import training

    monkeypatch.setattr(training, "BEST_VAL_EPOCHS", 2)  # of 3 epochs, the last 2 are scored
    config = tiny(tmp_path, rooms, "RAND", active={"rounds": 1},
                  train={"fine_tune_from": "best_val", "epochs_init": 3, "epochs_finetune": 3})
    run_dir = run(config)
    log = pd.read_csv(run_dir / "train_log.csv")
    rounds = pd.read_csv(run_dir / "rounds.csv")
    assert log["round"].tolist() == [0, 0, 0, 1, 1, 1] and log["epoch"].tolist() == [0, 1, 2] * 2
    for r, epochs in log.groupby("round"):
        assert epochs["val_miou"].isna().tolist() == [True, False, False]
        assert epochs["kept"].sum() == 1
        kept = epochs[epochs["kept"] == 1].iloc[0]
        assert kept["epoch"] == epochs.loc[epochs["val_miou"].idxmax(), "epoch"]  # the first best
        # the round's evaluation scores the kept model, on the same scans: the same mIoU
        assert math.isclose(kept["val_miou"], rounds.loc[r, "miou"], rel_tol=1e-12)


@pytest.mark.slow
def test_a_failing_run_records_its_error_and_the_next_attempt_clears_it(tmp_path, rooms, monkeypatch):
    from redal_core.active import pool_table
    from redal_core.results import status_table

    config = tiny(tmp_path, rooms, "ENT", active={"rounds": 1})
    seen = {}
    real = pool_table.pool_unit_table

    def broken(*args, **kwargs):
        seen["status"] = status_table(config.run_dir).iloc[0].to_dict()  # while the run runs
        raise RuntimeError("while scoring\nscan 3: disk full")

    monkeypatch.setattr(pool_table, "pool_unit_table", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        run(config)
    assert seen["status"]["status"] == "running" and f"pid {os.getpid()} on " in seen["status"]["note"]
    failed = json.loads((config.run_dir / "failed.json").read_text())
    assert failed["error"] == "RuntimeError: scan 3: disk full" and failed["round"] == 0
    assert not (config.run_dir / "run.lock").exists()
    row = status_table(tmp_path).iloc[0]
    assert (row["status"], row["note"], row["rounds_done"]) == ("failed", "round 0: RuntimeError: scan 3: disk full", 0)

    # another live process holds the folder: refused, its lock and this failure left alone
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        from redal_core.results import _process_start

        lock = {"pid": holder.pid, "host": socket.gethostname(), "started": "now",
                "proc_start": _process_start(holder.pid)}
        (config.run_dir / "run.lock").write_text(json.dumps(lock))
        monkeypatch.setattr(pool_table, "pool_unit_table", real)
        with pytest.raises(ValueError, match=rf"is being run by pid {holder.pid} on .*run.lock"):
            run(config)
        assert json.loads((config.run_dir / "run.lock").read_text())["pid"] == holder.pid
        assert status_table(tmp_path).iloc[0]["status"] == "running"
    finally:
        holder.kill()
        holder.wait()
    assert status_table(tmp_path).iloc[0]["status"] == "failed"  # the holder is gone: the failure shows again
    run(config)
    assert not (config.run_dir / "failed.json").exists() and not (config.run_dir / "run.lock").exists()
    assert status_table(tmp_path).iloc[0]["status"] == "complete"
