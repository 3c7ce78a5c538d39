"""The determinism contract: one config, one result.

The same config on the same machine at the same thread count gives byte-identical result files
(``rounds.csv`` and ``train_log.csv`` without their time columns, ``per_class.csv``, ``class_distribution.csv``,
``selections/*.csv``, ``label_state.npz`` and the final checkpoint) whether the regions were computed in the
process or read from the cache, whether the batches are collated in the process or in DataLoader workers,
and under every numba threading layer available (``omp`` always;
``workqueue`` and ``tbb`` where they load). Interrupted runs are covered by ``test_loop_faults``.

Each run is a separate ``redal run`` process with ``NUMBA_THREADING_LAYER`` set explicitly: numba's OpenMP
layer used to lift torch's thread count in exactly the processes that computed regions, so the first run
of a config and every later one trained at different thread counts (issue 9).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from redal_core.results import TIME_COLUMNS, TRAIN_LOG_TIME_COLUMNS

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("determinism")]

RUN_ID = "synthetic-indoor-minkunet-redal-s0"


def _config(results_dir, data_root) -> dict:
    return {
        "results_dir": str(results_dir),
        "dataset": {"name": "synthetic-indoor", "root": str(data_root), "knn": 16,
                    "generate": {"scans": 8, "points_per_room": 2500, "seed": 4}},
        "model": {"name": "minkunet", "width": 0.125, "backend": "torch"},
        "train": {"epochs_init": 2, "epochs_finetune": 1, "batch_size": 2, "device": "cpu"},
        "active": {"strategy": "ReDAL", "x_init": 30.0, "x_active": 8.0, "rounds": 2, "clusters": 6},
    }


def _layer_available(layer: str) -> str | None:
    """None when numba can start its pool with ``layer`` in a fresh process, else the reason it cannot."""
    probe = ("import numba, numpy as np\n@numba.njit(parallel=True)\ndef f(a):\n    return a.sum()\n"
             "f(np.ones(8)); print(numba.threading_layer())")
    env = {**os.environ, "NUMBA_THREADING_LAYER": layer}
    proc = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
    return None


def _redal_run(config_path, layer: str) -> subprocess.CompletedProcess:
    # one thread, fewer than the cores: the numba pool's start-up used to lift torch to all of them
    env = {**os.environ, "NUMBA_THREADING_LAYER": layer, "REDAL_THREADS": "1"}
    for name in ("REDAL_FAULT", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env.pop(name, None)  # as a user's shell has them
    return subprocess.run([sys.executable, "-m", "redal_core.cli", "run", str(config_path)], env=env,
                          capture_output=True, text=True, timeout=600)


def _fingerprint(run_dir) -> dict[str, str]:
    """sha256 of every result file (rounds.csv and train_log.csv without their time columns), by relative path."""
    out = {}
    rounds = pd.read_csv(run_dir / "rounds.csv", dtype=str).drop(columns=TIME_COLUMNS)
    out["rounds.csv"] = hashlib.sha256(rounds.to_csv(index=False).encode()).hexdigest()
    log = pd.read_csv(run_dir / "train_log.csv", dtype=str).drop(columns=TRAIN_LOG_TIME_COLUMNS)
    out["train_log.csv"] = hashlib.sha256(log.to_csv(index=False).encode()).hexdigest()
    names = ["per_class.csv", "class_distribution.csv", "label_state.npz", "checkpoints/round_02.pt",
             *sorted(str(p.relative_to(run_dir)) for p in (run_dir / "selections").glob("*.csv"))]
    for name in names:
        out[name] = hashlib.sha256((run_dir / name).read_bytes()).hexdigest()
    return out


def _run(tmp_path, name: str, data_root, layer: str, **train):
    path = tmp_path / f"{name}.yaml"
    config = _config(tmp_path / name, data_root)
    config["train"].update(train)
    path.write_text(yaml.safe_dump(config))
    proc = _redal_run(path, layer)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp_path / name / "runs" / RUN_ID


def test_fresh_cached_and_every_threading_layer_give_identical_files(tmp_path):
    fresh = _run(tmp_path, "omp-fresh", tmp_path / "data-omp", "omp")  # generates the rooms, computes regions
    cached = _run(tmp_path, "omp-cached", tmp_path / "data-omp", "omp")  # reads the regions from the cache
    reference = _fingerprint(fresh)
    assert len(reference) == 5 + 2 + 1  # four tables, label state, checkpoint, selections of rounds 0 and 1
    assert _fingerprint(cached) == reference

    env = json.loads((fresh / "env.json").read_text())
    assert env["threads"] == 1
    assert env["thread_report"]["torch_intra_op"] == 1 and env["thread_report"]["numba"] == 1
    assert env["thread_report"]["numba_threading_layer"] == "omp"

    # the batches read, augmented and collated in two DataLoader worker processes: the same batches
    workers = _run(tmp_path, "omp-workers", tmp_path / "data-omp", "omp", loader_workers=2)
    assert _fingerprint(workers) == reference

    skipped = {}
    for layer in ("workqueue", "tbb"):
        reason = _layer_available(layer)
        if reason is not None:
            skipped[layer] = reason
            continue
        other = _run(tmp_path, f"{layer}-fresh", tmp_path / f"data-{layer}", layer)  # regions computed anew
        assert json.loads((other / "env.json").read_text())["thread_report"]["numba_threading_layer"] == layer
        assert _fingerprint(other) == reference, layer
    assert "workqueue" not in skipped, skipped  # numba always ships the workqueue layer
    if skipped:
        print(f"threading layers not available here: {skipped}")
