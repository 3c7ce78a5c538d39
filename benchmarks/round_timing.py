"""Time split of one active-learning round at the demo size: train / evaluate / predict / score+select.

Runs one combination of ``params/demo.yaml`` (strategy ReDAL, seed 0; the most expensive of the demo's
strategies: it needs predictions, features, k-means and the colour/structure terms) into a temporary
results folder, then prints, for each round, the seconds per phase and the median over the first three
rounds (the ones with every phase: a run's last round selects nothing), as seconds and as a share of the
round. Also prints the whole run's wall time against the demo's budget of ~60-90 s per run.

    .venv/bin/python benchmarks/round_timing.py [--strategy ReDAL] [--threads 1]

Nothing is asserted: this prints measurements. The demo's dataset is generated into the temporary folder
(its time, and the regions', is the set-up reported apart from the rounds).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHASES = ["train_s", "eval_s", "predict_s", "select_s"]


def demo_config(strategy: str, results_dir: str):
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
    params["results_dir"] = results_dir
    params["dataset"]["root"] = str(Path(results_dir) / "data")  # generated afresh: the demo's own stays as is
    return RunConfig.from_dict(params, source=str(path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", default="ReDAL")
    parser.add_argument("--threads", default="1", help="REDAL_THREADS for the run (default 1, as in a 2-job sweep)")
    args = parser.parse_args()
    os.environ["REDAL_THREADS"] = args.threads

    import pandas as pd

    from redal_core.active.loop import run

    with tempfile.TemporaryDirectory(prefix="redal-bench-") as tmp:
        config = demo_config(args.strategy, tmp)
        if config is None:
            return 0
        if config.active.rounds < 3:
            config = config.replace(active={"rounds": 3})
        t0 = time.perf_counter()
        run_dir = run(config, progress=False, log=None)
        total = time.perf_counter() - t0
        rounds = pd.read_csv(run_dir / "rounds.csv")

    print(f"round timing: {config.run_id}, {config.dataset.generate.scans} rooms x "
          f"{config.dataset.generate.points_per_room} points, {config.model.name} width {config.model.width}, "
          f"epochs {config.train.epochs_init}/{config.train.epochs_finetune}, threads {args.threads}")
    print(rounds[["round", "labeled_pct", "miou", "wall_s", *PHASES]].round(3).to_string(index=False))
    full = rounds[rounds["round"] < rounds["round"].max()].head(3)
    median = full[["wall_s", *PHASES]].median()
    print(f"median of rounds {full['round'].tolist()} (s):  " + "  ".join(
        f"{name.removesuffix('_s')} {median[name]:.2f}" for name in ["wall_s", *PHASES]))
    print("share of the round (ratio):  " + "  ".join(
        f"{name.removesuffix('_s')} {median[name] / median['wall_s']:.3f}" for name in PHASES))
    overhead = total - rounds["wall_s"].sum()
    print(f"whole run {total:.1f} s (set-up: data, regions, model {overhead:.1f} s); "
          f"ratio to the 90 s per-run budget: {total / 90.0:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
