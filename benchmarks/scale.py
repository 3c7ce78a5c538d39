"""How a round's non-training part scales with the pool: time per scan, peak memory, and the selection at 2.3M regions.

Two parts, every case in a FRESH subprocess so that its peak RSS (``resource.getrusage(...).ru_maxrss``) is its
own; one thread per case (``--threads``), as in a 2-job sweep on 2 cores:

1. Pool rounds (``pool_unit_table`` + ``strategy.select``, ReDAL with SemanticKITTI's parameters): cheap random
   scans made in memory (1,000 points, 20 grid regions each, remission as input, structure cue random), a tiny
   point-wise model that honours the models contract (``--model minkunet`` for the real backbone at width
   0.125). Prints, per pool of 100 / 1,000 (/ 10,000) scans: seconds per scan, the peak RSS, the unit table's own
   bytes and the peak less twice the table (the table is built from the per-scan rows, both are alive at the
   concat). Time per scan should stay flat, and so should the peak less the table: nothing per point is kept.
2. Selection on a synthetic SemanticKITTI-like unit table: 240k (/ 2.3M) regions x 96 float32 features around
   19 classes x 8 modes of unequal weight; Eq. 4 scores on the official scale (class-dependent entropy, structure
   <= 0.1), region sizes log-normal (median 700 points: 2.3M regions hold about KITTI's 2.35e9 points), 2 % of the
   regions labeled, a 1 % budget, M = 150; with trim_top 0.1 (the paper's SemanticKITTI protocol) and without.
   ``old`` is the code before this benchmark (one scikit-learn KMeans over every candidate, the candidates'
   features copied), ``new`` the kit's ``Strategy.select``. Jaccard of the selected regions new vs old where both
   ran, and the same for two seeds of one method: one k-means start is seed-dependent, so a seed-to-seed
   Jaccard is what "close" can mean.

    .venv/bin/python benchmarks/scale.py            # --quick (default): 100 / 1,000 scans, 240k regions
    .venv/bin/python benchmarks/scale.py --full     # + 10,000 scans and 2.3M regions (new; old with --old-at-full)

Nothing is asserted: this prints measurements (timings depend on the machine and its load).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
N_FEATURES = 96
REGIONS_PER_SCAN = 120
BUDGET_PCT = 1.0
OLD_AT_FULL = "227 s / 3.7 GB (measured before this change, one process, one thread)"


# ------------------------------------------------------------------------------------------- helpers
def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _table_bytes(table) -> int:
    arrays = [table.scan, table.region, table.points, table.labeled, *table.stats.values()]
    if table.features is not None:
        arrays.append(table.features)
    return int(sum(a.nbytes for a in arrays))


def _kitti_params(trim_top):
    from redal_core.active.strategies import StrategyParams

    kitti = StrategyParams.for_dataset("semantickitti")
    return StrategyParams(alpha=kitti.alpha, beta=kitti.beta, gamma=kitti.gamma, clusters=kitti.clusters,
                          decay=kitti.decay, trim_top=trim_top)


# ------------------------------------------------------------------------------- synthetic unit table
def synthetic_region_table(n_regions: int, *, seed: int = 0, n_features: int = N_FEATURES):
    """A SemanticKITTI-like region table and the round's budget (see the module docstring).

    Returns (UnitTable with stats entropy / color / structure and (U, F) float32 features, budget_points).
    Built block by block: nothing larger than the table itself is ever allocated.
    """
    from redal_core.active.units import UnitTable

    rng = np.random.default_rng(seed)
    n_classes, modes_per_class = 19, 8
    class_weight = 1.0 / np.arange(1, n_classes + 1) ** 1.2  # road, building, vegetation ... bicyclist
    class_centre = rng.normal(scale=2.0, size=(n_classes, n_features)).astype(np.float32)
    mode_class = np.repeat(np.arange(n_classes), modes_per_class)
    mode_centre = class_centre[mode_class] + rng.normal(scale=0.8, size=(mode_class.size, n_features)).astype(np.float32)
    mode_weight = class_weight[mode_class] * rng.dirichlet(np.full(modes_per_class, 2.0), n_classes).ravel()
    mode_spread = rng.uniform(0.3, 0.9, mode_class.size).astype(np.float32)
    mode = rng.choice(mode_class.size, size=n_regions, p=mode_weight / mode_weight.sum()).astype(np.int32)
    features = np.empty((n_regions, n_features), dtype=np.float32)
    for start in range(0, n_regions, 1 << 16):
        m = mode[start : start + (1 << 16)]
        block = rng.standard_normal((m.size, n_features), dtype=np.float32)
        block *= mode_spread[m, None]
        block += mode_centre[m]
        features[start : start + m.size] = block
    # entropy on the official scale (mean over 19 classes of -p log2 p: at most log2(19) / 19 = 0.2235),
    # higher for the rarer classes; structure (surface variation) clipped at 0.1 as the official code does
    uncertain = np.clip(0.15 + 0.6 * np.arange(n_classes) / n_classes + rng.normal(0, 0.05, n_classes), 0.05, 0.9)
    mean = uncertain[mode_class[mode]]
    entropy = np.log2(n_classes) / n_classes * rng.beta(mean * 4.0, (1.0 - mean) * 4.0)
    structure = np.minimum(rng.beta(1.2, 30.0, n_regions), 0.1)
    sizes = np.clip(rng.lognormal(np.log(700.0), 0.9, n_regions), 100, 30_000).astype(np.int64)
    labeled = rng.random(n_regions) < 0.02
    del mode, mean
    index = np.arange(n_regions, dtype=np.int64)
    table = UnitTable(
        scan=index // REGIONS_PER_SCAN, region=index % REGIONS_PER_SCAN,
        points=np.where(labeled, 0, sizes), labeled=labeled,
        stats={"entropy": entropy, "color": np.zeros(n_regions), "structure": structure},
        features=features,
    )
    return table, int(np.ceil(BUDGET_PCT / 100.0 * sizes.sum()))


# ---------------------------------------------------------------------- the selection as it was before
def old_redal_select(table, *, budget_points: int, rng, params):
    """ReDAL's select as the kit did it before this benchmark (commit f6cf684): the candidates' features copied
    (``table.features[cand]``), one scikit-learn KMeans over all of them (or over the trimmed top), a full sort.
    Returns the selected table rows."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    from redal_core.active import scores as S
    from redal_core.active.diversity import KMEANS_N_INIT, _seed_from, penalize_similar
    from redal_core.active.strategies import take_budget

    def old_cluster(features, n_clusters, gen):
        if not np.isfinite(features).all():
            raise ValueError("features not finite")
        seed = _seed_from(gen)
        m = min(int(n_clusters), features.shape[0])
        if m == 1:
            return np.zeros(features.shape[0], dtype=np.int64)
        km = KMeans(n_clusters=m, n_init=KMEANS_N_INIT, random_state=seed)
        with threadpool_limits(limits=1, user_api="blas"):
            return km.fit_predict(features.astype(np.float32, copy=False)).astype(np.int64)

    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    cand = table.candidates()
    idx = np.flatnonzero(cand)
    score = S.combine(table.stats["entropy"][cand], table.stats["color"][cand], table.stats["structure"][cand],
                      params.alpha, params.beta, params.gamma)
    features = table.features[cand]
    if params.trim_top is None:
        adjusted = penalize_similar(score, old_cluster(features, params.clusters, gen), params.decay)
    else:
        keep = np.argsort(-score, kind="stable")[: max(1, int(params.trim_top * score.size))]
        adjusted = np.full(score.shape, np.nan)
        adjusted[keep] = penalize_similar(score[keep], old_cluster(features[keep], params.clusters, gen), params.decay)
    kept = np.isfinite(adjusted)
    first, rest = np.flatnonzero(kept), np.flatnonzero(~kept)
    order = np.concatenate([first[np.argsort(-adjusted[first], kind="stable")],
                            rest[np.argsort(-score[rest], kind="stable")]])
    taken, _ = take_budget(order, table.points[idx], budget_points)
    return idx[taken]


# -------------------------------------------------------------------------------------- the cases
def case_select(spec: dict) -> dict:
    """One selection: build the table, select (old or new), save the selected rows for the Jaccard."""
    import warnings

    import sklearn.cluster  # noqa: F401  (imported by either implementation; in the base)

    from redal_core.active import diversity
    from redal_core.active.strategies import get_strategy

    table, budget = synthetic_region_table(spec["regions"])
    rss_before = _peak_mb()
    params = _kitti_params(spec["trim"])
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the trimmed set always covers a 1 % budget here; no surprise to report
        if spec["impl"] == "old":
            rows = old_redal_select(table, budget_points=budget, rng=spec["seed"], params=params)
        else:
            sel = get_strategy("ReDAL").select(table, budget_points=budget, rng=spec["seed"], params=params)
            rows = sel.scan * REGIONS_PER_SCAN + sel.region  # the table's rows are scan-major
    seconds = time.perf_counter() - t0
    np.save(spec["out"], np.sort(rows))
    candidates = int(table.candidates().sum())
    clustered = candidates if spec["trim"] is None else max(1, int(spec["trim"] * candidates))
    return {"seconds": seconds, "peak_mb": _peak_mb(), "before_mb": rss_before, "table_mb": _table_bytes(table) / 2**20,
            "selected": int(rows.size), "clustered": clustered,
            "path": "scikit-learn" if spec["impl"] == "old" or clustered <= diversity.KMEANS_EXACT_MAX_UNITS
            else "sampled"}


class _PointwiseNet:
    """Built lazily (torch imports only in the pool child)."""

    @staticmethod
    def build(in_channels: int, num_classes: int, width: int = 16):
        import torch
        from torch import nn

        class PointwiseNet(nn.Module):
            """A tiny per-point MLP that honours the models contract: model(batch) -> (logits, features)."""

            has_dropout = False

            def __init__(self) -> None:
                super().__init__()
                self.feature_dim = width
                self.body = nn.Sequential(nn.Linear(in_channels, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
                self.head = nn.Linear(width, num_classes)

            def forward(self, batch):
                features = self.body(batch.point_feats)
                return self.head(features), features

        torch.manual_seed(0)
        return PointwiseNet()


class _RandomScans:
    """In-memory dataset of cheap random LiDAR-like scans: scan i is a function of (seed, i), made on access."""

    name, split, num_classes, in_channels, has_color = "random-scans", "train", 19, 4, False

    def __init__(self, n_scans: int, points: int, seed: int = 0) -> None:
        self.n_scans, self.points, self.seed = n_scans, points, seed
        self.class_names = [f"class{k}" for k in range(self.num_classes)]

    def __len__(self) -> int:
        return self.n_scans

    def __getitem__(self, i: int):
        from redal_core.data.scan import Scan

        rng = np.random.default_rng([self.seed, int(i)])
        xyz = rng.uniform((0, 0, -1.5), (20, 16, 1.5), size=(self.points, 3)).astype(np.float32)
        return Scan(xyz=xyz, rgb=None, intensity=rng.random(self.points).astype(np.float32),
                    labels=rng.integers(0, self.num_classes, self.points), name=f"{i:06d}")


class _GridRegions:
    """20 regions per scan on a 5 x 4 grid over x, y (dense ids); structure cue random, no colour."""

    def __init__(self, dataset: _RandomScans) -> None:
        self.dataset = dataset

    def region_ids(self, i: int) -> np.ndarray:
        xyz = self.dataset[i].xyz
        cell = np.minimum((xyz[:, 0] // 4.0).astype(np.int64), 4) * 4 + np.minimum((xyz[:, 1] // 4.0).astype(np.int64), 3)
        return np.unique(cell, return_inverse=True)[1].astype(np.int64)

    def cues(self, i: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.dataset.seed, int(i), 1])
        n = self.dataset.points
        return {"color": np.zeros(n, dtype=np.float32), "structure": np.minimum(rng.beta(1.2, 30.0, n), 0.1).astype(np.float32)}


def case_pool(spec: dict) -> dict:
    """One round's non-training part over a pool of random scans: pool_unit_table, then ReDAL's select."""
    import warnings
    from types import SimpleNamespace

    from redal_core.active.pool import LabelState
    from redal_core.active.pool_table import pool_unit_table
    from redal_core.active.strategies import get_strategy
    from redal_core.threads import apply_threads

    apply_threads(spec["threads"])
    dataset = _RandomScans(spec["scans"], spec["points"])
    regions = _GridRegions(dataset)
    if spec["model"] == "minkunet":
        from redal_core.models import build_model

        model = build_model("minkunet", in_channels=4, num_classes=19, width=0.125, backend="torch")
    else:
        model = _PointwiseNet.build(4, 19)
    config = SimpleNamespace(seed=0, active=SimpleNamespace(mc_passes=0, scoring="official"),
                             dataset=SimpleNamespace(voxel_size=0.05), train=SimpleNamespace(batch_size=8))
    state = LabelState.initial([np.bincount(regions.region_ids(i)) for i in range(len(dataset))], 1.0, 0)
    strategy = get_strategy("ReDAL")
    import sklearn.cluster  # noqa: F401  (the libraries a round loads count in the base, not in the pool's share)

    rss_before = _peak_mb()
    t0 = time.perf_counter()
    table, predict_s, score_s = pool_unit_table(config, strategy, model, dataset, list(range(len(dataset))), regions,
                                                state, 0, "cpu", 0, 1)
    table_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = strategy.select(table, budget_points=state.budget_points(BUDGET_PCT), rng=0, params=_kitti_params(0.1))
    select_s = time.perf_counter() - t0
    return {"table_s": table_s, "predict_s": predict_s, "score_s": score_s, "select_s": select_s,
            "peak_mb": _peak_mb(), "before_mb": rss_before, "table_mb": _table_bytes(table) / 2**20,
            "units": len(table), "selected": len(sel)}


def _run_case(spec: dict, threads: int) -> dict:
    from redal_core.threads import thread_env

    env = {**os.environ, **thread_env(threads), "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, __file__, "--case", json.dumps(spec)], env=env, capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"case {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _jaccard(a: Path, b: Path) -> float:
    x, y = np.load(a), np.load(b)
    return np.intersect1d(x, y).size / np.union1d(x, y).size


# ------------------------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="100 / 1,000 scans, 240k regions (the default)")
    mode.add_argument("--full", action="store_true", help="also 10,000 scans and 2.3M regions")
    parser.add_argument("--old-at-full", action="store_true", help="with --full: also run the old selection at 2.3M")
    parser.add_argument("--threads", type=int, default=1, help="threads per case (default 1)")
    parser.add_argument("--model", choices=["pointwise", "minkunet"], default="pointwise")
    parser.add_argument("--points", type=int, default=1000, help="points per random scan (default 1,000)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        spec = json.loads(args.case)
        print(json.dumps(case_pool(spec) if spec["kind"] == "pool" else case_select(spec)))
        return 0

    full = args.full
    print(f"benchmarks/scale.py: {'--full' if full else '--quick'} run, {args.threads} thread(s) per case, "
          f"each case in a fresh process; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

    pools = [100, 1000, 10_000] if full else [100, 1000]
    print(f"\n1. pool rounds: pool_unit_table + ReDAL select (trim 0.1, M 150, 1 % budget); random scans of "
          f"{args.points} points, 20 regions each, {args.model} model")
    print(f"{'scans':>7s} {'units':>8s} {'table s':>8s} {'ms/scan':>8s} {'select s':>9s} {'base MB':>8s} "
          f"{'peak MB':>8s} {'table MB':>9s} {'peak-2xtable':>13s}")
    for n in pools:
        r = _run_case({"kind": "pool", "scans": n, "points": args.points, "model": args.model,
                       "threads": args.threads}, args.threads)
        print(f"{n:7d} {r['units']:8d} {r['table_s']:8.2f} {1000 * r['table_s'] / n:8.2f} {r['select_s']:9.3f} "
              f"{r['before_mb']:8.1f} {r['peak_mb']:8.1f} {r['table_mb']:9.2f} {r['peak_mb'] - 2 * r['table_mb']:13.1f}")

    sizes = [240_000, 2_300_000] if full else [240_000]
    print(f"\n2. ReDAL selection on synthetic SemanticKITTI-like tables ({N_FEATURES}-d float32 features, M 150, "
          f"{BUDGET_PCT:g} % budget); 'clustered' = units k-means sees, 'path' = the kit's k-means for them")
    print(f"{'regions':>9s} {'trim':>5s} {'impl':>4s} {'seed':>4s} {'clustered':>9s} {'path':>12s} {'select s':>9s} "
          f"{'ms/region':>9s} {'base MB':>8s} {'peak MB':>8s} {'table MB':>9s}")
    jaccards = []
    with tempfile.TemporaryDirectory(prefix="redal-scale-") as tmp:
        for n in sizes:
            for trim in (0.1, None):
                runs = [("new", 0), ("new", 1)]
                if n < 1_000_000 or args.old_at_full:
                    runs += [("old", 0)] + ([("old", 1)] if trim is None else [])
                out = {}
                for impl, seed in runs:
                    path = Path(tmp) / f"{n}-{trim}-{impl}-{seed}.npy"
                    r = _run_case({"kind": "select", "regions": n, "trim": trim, "impl": impl, "seed": seed,
                                   "out": str(path)}, args.threads)
                    out[impl, seed] = path
                    print(f"{n:9d} {trim or '-':>5} {impl:>4s} {seed:4d} {r['clustered']:9d} {r['path']:>12s} "
                          f"{r['seconds']:9.2f} {1000 * r['seconds'] / n:9.4f} {r['before_mb']:8.1f} "
                          f"{r['peak_mb']:8.1f} {r['table_mb']:9.1f}", flush=True)
                if ("old", 0) not in out:
                    print(f"{n:9d} {trim or '-':>5} {'old':>4s}    - (not run: {OLD_AT_FULL}; --old-at-full runs it)")
                pairs = [("new 0 vs old 0", ("new", 0), ("old", 0)), ("new 0 vs new 1", ("new", 0), ("new", 1)),
                         ("old 0 vs old 1", ("old", 0), ("old", 1))]
                for label, a, b in pairs:
                    if a in out and b in out:
                        jaccards.append((n, trim, label, _jaccard(out[a], out[b])))
    print("\nJaccard of the selected regions (same table; seeds are the select's rng):")
    for n, trim, label, j in jaccards:
        print(f"  {n:9d} regions, trim {trim or '-':>4}: {label:16s} {j:.3f}")
    print("  (one k-means start depends on its seed: 'old 0 vs old 1' is how close two full scikit-learn runs are)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
