"""Time of ReDAL's diversity-aware selection per region, next to the paper's 0.58 ms (SemanticKITTI, supp. A.3).

Setting: 20,000 candidate regions, 96-dim region features (the backbones' feature width), M = 150
clusters, decay 0.95, a 1 % point budget. Features are drawn around 300 planted centres (network
features are clustered, not white noise). Prints the median of several runs per stage, in ms per
region, and three side-by-side ratios:
  - the whole ReDAL selection (k-means + Algorithm 1 + budget) vs the paper's 0.58 ms per region
    (different hardware: a ratio, not a race);
  - Algorithm 1 vectorized (``penalize_similar``) vs the literal per-region Python loop;
  - ``cluster_regions`` (one BLAS thread during the fit) vs the same scikit-learn KMeans with the
    BLAS thread pool as found, the reason for that limit.

Run: .venv/bin/python benchmarks/selection.py   (one to three minutes; never asserts on time)
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

PAPER_MS_PER_REGION = 0.58
N_REGIONS = 20_000
N_FEATURES = 96
N_CLUSTERS = 150
REPEATS = 5


def _median_seconds(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _algorithm1_loop(scores: np.ndarray, clusters: np.ndarray, decay: float) -> np.ndarray:
    """Algorithm 1 as printed: sort, loop over regions, one weight per cluster."""
    order = np.argsort(-scores, kind="stable")
    weights = np.ones(int(clusters.max()) + 1)
    adjusted = np.empty_like(scores)
    for i in order:
        c = clusters[i]
        adjusted[i] = scores[i] * weights[c]
        weights[c] *= decay
    return adjusted


def main() -> int:
    try:
        from sklearn.cluster import KMeans
    except ImportError as error:  # scikit-learn is a dependency; say so instead of failing obscurely
        print(f"skipped: scikit-learn not importable ({error})")
        return 0
    from redal_core.active.diversity import KMEANS_N_INIT, cluster_regions, penalize_similar
    from redal_core.active.strategies import StrategyParams, get_strategy
    from redal_core.active.units import UnitTable

    rng = np.random.default_rng(0)
    centres = rng.normal(scale=3.0, size=(300, N_FEATURES))
    features = (centres[rng.integers(0, 300, N_REGIONS)] + rng.normal(size=(N_REGIONS, N_FEATURES))).astype(np.float32)
    points = rng.integers(50, 2_000, size=N_REGIONS).astype(np.int64)
    table = UnitTable(
        scan=np.arange(N_REGIONS, dtype=np.int64) // 100,
        region=np.arange(N_REGIONS, dtype=np.int64) % 100,
        points=points,
        labeled=np.zeros(N_REGIONS, dtype=bool),
        stats={"entropy": rng.random(N_REGIONS) * 2.9, "color": np.zeros(N_REGIONS), "structure": rng.random(N_REGIONS)},
        features=features,
    )
    params = StrategyParams.for_dataset("semantickitti")
    budget = int(np.ceil(0.01 * points.sum()))
    redal = get_strategy("ReDAL")
    scores = rng.random(N_REGIONS)
    clusters = cluster_regions(features, N_CLUSTERS, 0)

    print(f"ReDAL diversity selection: {N_REGIONS} regions x {N_FEATURES} features, M = {N_CLUSTERS}")
    t_pen = _median_seconds(lambda: penalize_similar(scores, clusters, 0.95))
    t_loop = _median_seconds(lambda: _algorithm1_loop(scores, clusters, 0.95))
    np.testing.assert_allclose(penalize_similar(scores, clusters, 0.95), _algorithm1_loop(scores, clusters, 0.95))
    t_km = _median_seconds(lambda: cluster_regions(features, N_CLUSTERS, 0))
    t_sel = _median_seconds(lambda: redal.select(table, budget_points=budget, rng=0, params=params))
    km_free = KMeans(n_clusters=N_CLUSTERS, n_init=KMEANS_N_INIT, random_state=0)
    t_km_free = _median_seconds(lambda: km_free.fit(features), repeats=3)

    def ms(seconds: float) -> float:
        return seconds * 1000.0 / N_REGIONS

    rows = [
        (f"Algorithm 1, vectorized (median of {REPEATS})", t_pen),
        (f"Algorithm 1, literal Python loop (median of {REPEATS})", t_loop),
        (f"cluster_regions, 1 BLAS thread (median of {REPEATS})", t_km),
        ("KMeans, BLAS threads as found (median of 3)", t_km_free),
        (f"whole ReDAL select (median of {REPEATS})", t_sel),
    ]
    print(f"{'stage':54s} {'total s':>9s} {'ms/region':>10s}")
    for label, seconds in rows:
        print(f"{label:54s} {seconds:9.4f} {ms(seconds):10.5f}")
    print()
    print(f"ratio ReDAL select / paper:            {ms(t_sel) / PAPER_MS_PER_REGION:8.3f}  "
          f"({ms(t_sel):.4f} ms vs {PAPER_MS_PER_REGION} ms per region)")
    print(f"ratio Algorithm 1 vectorized / loop:   {t_pen / t_loop:8.3f}")
    print(f"ratio k-means 1 BLAS thread / as found: {t_km / t_km_free:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
