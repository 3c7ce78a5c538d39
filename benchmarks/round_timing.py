"""Time split of one active-learning round at the demo size (train / evaluate / predict / score+select), for
three input pipelines side by side: no augmentation, the official augmentation (``train.augment: official``)
in the training process, and the official augmentation in DataLoader workers (``train.loader_workers``).

Runs one combination of ``params/demo.yaml`` (strategy ReDAL, seed 0; the most expensive of the demo's
strategies) into a temporary results folder per variant, interleaved ``--reps`` times (the machine's load
drifts), then prints the median seconds per phase over the rounds that have every phase (a run's last round
selects nothing), the ratio of each variant's round to the unaugmented one (target for the official
augmentation: <= 1.10), and the seconds per training step spent WAITING for data (reading, augmenting,
collating: ``train_log.csv``'s ``data_s`` over ``steps``) in-process vs with workers.

    .venv/bin/python benchmarks/round_timing.py [--strategy ReDAL] [--threads 1] [--reps 3] [--workers 2]

Nothing is asserted: this prints measurements. The demo's dataset is generated into the temporary folder
(its time, and the regions', is set-up reported apart from the rounds).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHASES = ["train_s", "eval_s", "predict_s", "select_s"]
VARIANTS = {"augment none": {"augment": "none"}, "augment official": {"augment": "official"},
            "official + workers": {"augment": "official", "loader_workers": None}}


def demo_config(strategy: str, results_dir: str, data_root: str, train: dict):
    import yaml

    from redal_core.config import RunConfig

    path = ROOT / "params" / "demo.yaml"
    if not path.exists():
        print(f"skipped: {path} is absent (the demo's params grid)")
        return None
    params = yaml.safe_load(path.read_text())
    params.pop("figures", None)
    params["seed"] = 0
    params["active"]["strategy"] = strategy
    params["active"]["rounds"] = max(3, params["active"]["rounds"])
    params["results_dir"] = results_dir
    params["dataset"]["root"] = data_root  # generated afresh: the demo's own stays as is
    params["train"].update(train)
    params["train"].pop("transforms", None)
    return RunConfig.from_dict(params, source=str(path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", default="ReDAL")
    parser.add_argument("--threads", default="1", help="REDAL_THREADS for the runs (default 1, as in a 2-job sweep)")
    parser.add_argument("--reps", type=int, default=3, help="runs per variant, interleaved (median reported)")
    parser.add_argument("--workers", type=int, default=2, help="loader workers of the third variant")
    args = parser.parse_args()
    os.environ["REDAL_THREADS"] = args.threads
    VARIANTS["official + workers"]["loader_workers"] = args.workers

    import pandas as pd

    from redal_core.active.loop import run

    rows: dict[str, list[pd.DataFrame]] = {name: [] for name in VARIANTS}
    logs: dict[str, list[pd.DataFrame]] = {name: [] for name in VARIANTS}
    totals: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="redal-bench-") as tmp:
        data_root = str(Path(tmp) / "data")
        config = None
        for rep in range(args.reps):
            for name, train in VARIANTS.items():
                config = demo_config(args.strategy, str(Path(tmp) / f"{rep}-{name.replace(' ', '_')}"), data_root, train)
                if config is None:
                    return 0
                t0 = time.perf_counter()
                run_dir = run(config, progress=False, log=None)
                totals[name].append(time.perf_counter() - t0)
                rounds = pd.read_csv(run_dir / "rounds.csv")
                rows[name].append(rounds[rounds["round"] < rounds["round"].max()])
                logs[name].append(pd.read_csv(run_dir / "train_log.csv"))

    print(f"round timing: {args.strategy}, {config.dataset.generate.scans} rooms x "
          f"{config.dataset.generate.points_per_room} points, {config.model.name} width {config.model.width}, "
          f"epochs {config.train.epochs_init}/{config.train.epochs_finetune}, threads {args.threads}, "
          f"median over {args.reps} runs x the rounds with every phase")
    print(f"{'variant':<20} {'round s':>8} " + " ".join(f"{p.removesuffix('_s'):>8}" for p in PHASES)
          + f" {'x none':>7} {'data s/step':>12} {'run s':>7}")
    base = None
    for name in VARIANTS:
        frame = pd.concat(rows[name])
        median = frame[["wall_s", *PHASES]].median()
        log = pd.concat(logs[name])
        per_step = float(log["data_s"].sum() / max(1, log["steps"].sum()))
        base = median["wall_s"] if base is None else base
        print(f"{name:<20} {median['wall_s']:>8.2f} " + " ".join(f"{median[p]:>8.2f}" for p in PHASES)
              + f" {median['wall_s'] / base:>7.2f} {per_step * 1000:>9.1f} ms {statistics.median(totals[name]):>7.1f}")
    print("target: the official augmentation slows a round by at most 10 % (x none <= 1.10)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
