"""`results.status_table` / `redal status` on planted run folders, one per status (no training here; the
loop's own files are checked on real runs in test_loop)."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from redal_core.cli import main
from redal_core.config import RunConfig
from redal_core.results import (
    STATUS_COLUMNS,
    RunPaths,
    _process_start,
    atomic_write_csv,
    format_status_table,
    lock_alive,
    read_run_lock,
    status_table,
    write_run_lock,
    write_state,
)

HOST = socket.gethostname()


def plant(results, strategy, *, rounds_done=0, rounds=2, status="incomplete", miou=None, lock=None, failed=None,
          state=True):
    """A run folder of ``rounds + 1`` rounds with ``rounds_done`` of them complete."""
    config = RunConfig.from_dict({"results_dir": str(results), "active": {"strategy": strategy, "rounds": rounds}})
    paths = RunPaths.of(results, config.run_id)
    paths.root.mkdir(parents=True)
    paths.params.write_text(yaml.safe_dump(config.to_dict()))
    if rounds_done:
        miou = miou or [0.1 * (r + 1) for r in range(rounds_done)]
        atomic_write_csv(paths.rounds, pd.DataFrame({
            "round": range(rounds_done), "labeled_points": [100 * (r + 1) for r in range(rounds_done)],
            "labeled_pct": [3.0 + 2 * r for r in range(rounds_done)], "miou": miou,
            "wall_s": [10.0] * rounds_done, "train_s": 5.0, "eval_s": 1.0, "predict_s": 1.0, "select_s": 1.0}))
        if state:
            write_state(paths.root, last_round=rounds_done - 1, rounds=rounds, status=status)
    if lock is not None:
        paths.lock.write_text(json.dumps(lock))
    if failed is not None:
        paths.failed.write_text(json.dumps(failed))
    return paths


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def row(table, run_dir):
    found = table[table["run_dir"] == str(run_dir)]
    assert len(found) == 1, table
    return found.iloc[0]


def test_every_status_from_planted_folders(tmp_path):
    me = {"pid": os.getpid(), "host": HOST, "proc_start": _process_start(os.getpid()), "started": "today"}
    runs = {
        "complete": plant(tmp_path, "RAND", rounds_done=3, status="complete"),
        "running": plant(tmp_path, "MAR", rounds_done=1, lock=me),
        "elsewhere": plant(tmp_path, "CONF", rounds_done=1, lock={**me, "host": "gpu-node-7"}),
        "stale": plant(tmp_path, "ENT", rounds_done=2, lock={**me, "pid": dead_pid()}),
        "reused": plant(tmp_path, "CSET", rounds_done=1, lock={**me, "proc_start": -5}),  # our pid, another process
        "stopped": plant(tmp_path, "SEGENT", rounds_done=2, miou=[0.25, float("nan")]),
        "fresh": plant(tmp_path, "MCDR"),  # params only: killed before its first round
        "awaiting": plant(tmp_path, "ReDAL", rounds_done=1, status="awaiting_labels"),
        "failed": plant(tmp_path, "ENT+Region", rounds_done=1,
                        failed={"error": "RuntimeError: CUDA out of memory", "round": 1}),
    }
    table = status_table(tmp_path)
    assert table.columns.tolist() == STATUS_COLUMNS and len(table) == len(runs)
    assert table["run"].tolist() == sorted(p.root.name for p in runs.values())
    got = {name: row(table, paths.root) for name, paths in runs.items()}
    assert {name: r["status"] for name, r in got.items()} == {
        "complete": "complete", "running": "running", "elsewhere": "running", "stale": "interrupted",
        "reused": "interrupted", "stopped": "interrupted", "fresh": "interrupted", "awaiting": "awaiting_labels",
        "failed": "failed"}
    c = got["complete"]
    assert (c["rounds_done"], c["rounds_total"], c["labeled_pct"], c["wall_s"]) == (3, 3, 7.0, 30.0)
    assert math.isclose(c["miou_pct"], 30.0)
    assert f"pid {os.getpid()} on {HOST}" in got["running"]["note"]
    assert "another host" in got["elsewhere"]["note"] and "heartbeat" in got["elsewhere"]["note"]
    assert "is gone (stale run.lock)" in got["stale"]["note"] and "run again" in got["stale"]["note"]
    assert (got["stale"]["rounds_done"], got["stale"]["rounds_total"]) == (2, 3)
    assert math.isclose(got["stopped"]["miou_pct"], 25.0)  # the last scored round (round 1 was not evaluated)
    assert (got["fresh"]["rounds_done"], got["fresh"]["rounds_total"]) == (0, 3)
    assert math.isnan(got["fresh"]["labeled_pct"]) and got["fresh"]["note"].startswith("no round complete")
    assert "redal export" in got["awaiting"]["note"]
    assert got["failed"]["note"] == "round 1: RuntimeError: CUDA out of memory"

    text = format_status_table(table)
    lines = text.splitlines()
    assert lines[0].split() == ["run", "status", "rounds", "labeled", "%", "mIoU", "%", "wall", "note"]
    complete = next(line for line in lines if line.startswith(runs["complete"].root.name))
    assert complete.split()[1:6] == ["complete", "3/3", "7.00", "30.00", "0:00:30"]
    fresh = next(line for line in lines if line.startswith(runs["fresh"].root.name))
    assert fresh.split()[1:6] == ["interrupted", "0/3", "-", "-", "0:00:00"]


def test_one_run_folder_the_runs_folder_and_missing_paths(tmp_path):
    paths = plant(tmp_path, "RAND", rounds_done=1)
    assert status_table(paths.root)["run"].tolist() == [paths.root.name]
    assert status_table(tmp_path / "runs")["run"].tolist() == [paths.root.name]
    (tmp_path / "runs" / "not-a-run").mkdir()  # no run file in it: not listed
    assert len(status_table(tmp_path)) == 1
    empty = status_table(tmp_path / "runs" / "not-a-run")
    assert empty.empty and empty.columns.tolist() == STATUS_COLUMNS
    with pytest.raises(FileNotFoundError, match="does not exist"):
        status_table(tmp_path / "nowhere")
    paths.state.write_text("{half")
    damaged = status_table(tmp_path).iloc[0]
    assert damaged["status"] == "unreadable" and "not valid JSON" in damaged["note"]


def test_a_sweep_summary_marks_failures_until_the_folder_changes(tmp_path):
    paths = plant(tmp_path, "ENT", rounds_done=1)
    other = plant(tmp_path, "RAND", rounds_done=3, status="complete")
    summary = tmp_path / "sweep_summary.csv"
    pd.DataFrame([{"run": paths.root.name, "status": "failed", "rounds": 0, "final_miou": 10.0, "wall_s": 3.0,
                   "error": "DeadKernelError: Kernel died"},
                  {"run": other.root.name, "status": "failed", "rounds": 0, "final_miou": 10.0, "wall_s": 3.0,
                   "error": "old"}]).to_csv(summary, index=False)
    later = time.time() + 5
    os.utime(summary, (later, later))
    table = status_table(tmp_path)
    r = row(table, paths.root)
    assert r["status"] == "failed" and r["note"] == "DeadKernelError: Kernel died (sweep_summary.csv)"
    assert row(table, other.root)["status"] == "complete"  # completed since: the summary is history
    assert row(status_table(paths.root), paths.root)["status"] == "failed"  # found from the run folder too
    os.utime(paths.root, (later + 5, later + 5))  # an attempt since the summary (its run.lock came and went)
    assert row(status_table(tmp_path), paths.root)["status"] == "interrupted"


def test_awaiting_labels_keeps_its_status_after_a_refused_resume(tmp_path):
    paths = plant(tmp_path, "ReDAL", rounds_done=1, status="awaiting_labels",
                  failed={"error": "ValueError: run x is awaiting labels for round 0", "round": None})
    r = status_table(tmp_path).iloc[0]
    assert r["status"] == "awaiting_labels" and r["note"] == "last attempt: ValueError: run x is awaiting labels for round 0"
    assert paths.failed.exists()


def test_lock_liveness(tmp_path):
    paths = RunPaths(tmp_path / "run")
    write_run_lock(paths)
    lock = read_run_lock(paths.root)
    assert lock["pid"] == os.getpid() and lock["host"] == HOST and lock["heartbeat"] <= time.time() + 1
    assert lock_alive(lock) is True
    assert lock_alive({**lock, "host": "elsewhere"}) is None
    assert lock_alive({**lock, "pid": dead_pid()}) is False
    assert lock_alive(None) is False
    if _process_start(os.getpid()) is not None:  # Linux: a zombie is not running
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        deadline = time.time() + 30
        while _process_start(child.pid) != -1 and time.time() < deadline:
            time.sleep(0.05)
        assert lock_alive({**lock, "pid": child.pid, "proc_start": None}) is False
        child.wait()


def test_cli_status_prints_the_table(tmp_path, capsys):
    paths = plant(tmp_path, "RAND", rounds_done=2, status="incomplete")
    assert main(["status", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("run ") and paths.root.name in out and "interrupted" in out
    assert main(["status", str(tmp_path / "runs" / paths.root.name)]) == 0
    assert paths.root.name in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    assert main(["status", str(tmp_path / "empty")]) == 0
    assert capsys.readouterr().out.strip() == f"no runs under {tmp_path / 'empty'}"
    assert main(["status", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
