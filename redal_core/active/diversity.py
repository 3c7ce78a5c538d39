"""Diversity: region features, k-means, Algorithm 1 (similar region penalization), core-set k-center.

ReDAL's diversity step (paper Sec. 3.3): a region's feature is the mean of its points' features
(the decoder output before the classifier), regions are clustered with k-means (M = 400 on S3DIS,
150 on SemanticKITTI), and Algorithm 1 walks the regions in descending score order, multiplying each
region's score by its cluster's weight and then decaying that weight by eta (0.95).

The original implementation sorted the features by score but decayed the scores in the unsorted
order, so penalties landed on the wrong regions. ``penalize_similar`` takes scores and clusters in
ANY order, sorts internally, and returns the adjusted scores aligned with its input; the tests check
that permuting the input permutes the output identically.
"""

from __future__ import annotations

import numpy as np

#: k-means clusters M per dataset (supplementary A.3) and the decay eta.
DEFAULT_CLUSTERS: dict[str, int] = {"s3dis": 400, "semantickitti": 150}
DEFAULT_DECAY: float = 0.95
#: k-means restarts: fixed so a run is a deterministic function of its seed. One k-means++ start:
#: the clusters only group look-alike regions for Algorithm 1, and the paper reports the step's cost
#: (0.58 ms per region), which several restarts would multiply.
KMEANS_N_INIT: int = 1


def region_features(point_features: np.ndarray, region_ids: np.ndarray, n_regions: int | None = None) -> np.ndarray:
    """Mean point feature per region (paper Sec. 3.3.1).

    point_features : (n_points, F) float
    region_ids     : (n_points,) int in [0, n_regions)
    n_regions      : number of regions (default ``region_ids.max() + 1``)
    returns (n_regions, F) float32 (float64 accumulation); a region with no points is a NaN row.
    """
    if not isinstance(point_features, np.ndarray) or point_features.ndim != 2:
        raise ValueError(f"point_features must be a (n_points, F) array, got {_describe(point_features)}")
    if not isinstance(region_ids, np.ndarray) or region_ids.ndim != 1 or not np.issubdtype(region_ids.dtype, np.integer):
        raise ValueError(f"region_ids must be a 1-D integer array, got {_describe(region_ids)}")
    if region_ids.shape[0] != point_features.shape[0]:
        raise ValueError(
            f"region_ids has {region_ids.shape[0]} entries but point_features has {point_features.shape[0]} rows"
        )
    if region_ids.size and region_ids.min() < 0:
        raise ValueError(f"region_ids holds negative id {int(region_ids.min())}; ids must be >= 0")
    top = int(region_ids.max()) + 1 if region_ids.size else 0
    if n_regions is None:
        n_regions = top
    elif n_regions < top:
        raise ValueError(f"n_regions={n_regions} is smaller than the largest region id + 1 ({top})")
    return _group_mean_rows(point_features, region_ids.astype(np.int64, copy=False), int(n_regions))


def cluster_regions(features: np.ndarray, n_clusters: int, rng: np.random.Generator | int) -> np.ndarray:
    """k-means cluster index of every unit (scikit-learn ``KMeans``, k-means++ init, ``n_init=KMEANS_N_INIT``).

    features   : (U, F) float, finite
    n_clusters : M; when U < M, M = U is used (k-means cannot have more clusters than points), so
                 distinct units get distinct clusters (identical features may still share one)
    rng        : a Generator (one integer is drawn from it as ``random_state``) or an int seed
    returns (U,) int64 cluster ids in [0, min(M, U)).
    """
    if not isinstance(features, np.ndarray) or features.ndim != 2:
        raise ValueError(f"features must be a (U, F) array, got {_describe(features)}")
    if not isinstance(n_clusters, (int, np.integer)) or isinstance(n_clusters, bool) or n_clusters < 1:
        raise ValueError(f"n_clusters must be a positive int, got {n_clusters!r}")
    if not np.isfinite(features).all():
        row = int(np.flatnonzero(~np.isfinite(features).all(axis=1))[0])
        raise ValueError(f"features row {row} is not finite (NaN/inf); cluster only units that have points")
    seed = _seed_from(rng)
    n_units = features.shape[0]
    if n_units == 0:
        return np.zeros(0, dtype=np.int64)
    m = min(int(n_clusters), n_units)
    if m == 1:
        return np.zeros(n_units, dtype=np.int64)
    from sklearn.cluster import KMeans  # heavy imports, only when clustering runs
    from threadpoolctl import threadpool_limits

    km = KMeans(n_clusters=m, n_init=KMEANS_N_INIT, random_state=seed)
    # One BLAS thread for the duration of the fit (restored afterwards). k-means++ initialisation does
    # many small BLAS products; with multi-threaded BLAS they were 20-30x slower on a loaded 2-core
    # machine (benchmarks/selection.py). Lloyd iterations still use scikit-learn's OpenMP threads.
    with threadpool_limits(limits=1, user_api="blas"):
        return km.fit_predict(features.astype(np.float32, copy=False)).astype(np.int64)


def penalize_similar(scores: np.ndarray, clusters: np.ndarray, decay: float = DEFAULT_DECAY) -> np.ndarray:
    """Algorithm 1 (Similar Region Penalization), returned in the INPUT order.

    scores   : (U,) float >= 0, region information scores phi in any order
    clusters : (U,) int >= 0, k-means cluster of each unit (same order as ``scores``)
    decay    : eta in (0, 1]
    returns (U,) float64 ``adjusted`` with ``adjusted[i]`` belonging to unit i of the input.

    Units are visited in descending score (ties: lower input index first). Visiting unit i does
    ``adjusted[i] = scores[i] * W[clusters[i]]; W[clusters[i]] *= decay`` with W initialised to 1,
    so the k-th visited unit of a cluster (k = 0, 1, ...) is scaled by ``decay ** k``. Scores must
    be non-negative: multiplying a negative score by eta < 1 would raise it, not penalize it.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {s.shape}")
    c = np.asarray(clusters)
    if c.shape != s.shape or not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"clusters must be an integer array of the scores' shape {s.shape}, got {_describe(c)}")
    if not (0.0 < decay <= 1.0):
        raise ValueError(f"decay must be in (0, 1], got {decay!r}")
    if not np.isfinite(s).all():
        raise ValueError(f"scores hold NaN/inf at index {int(np.flatnonzero(~np.isfinite(s))[0])}")
    if s.size and s.min() < 0:
        raise ValueError(
            f"scores must be >= 0 for Algorithm 1 (index {int(np.argmin(s))} is {s.min():.6g}); "
            "decaying a negative score would raise it"
        )
    if c.size and c.min() < 0:
        raise ValueError(f"clusters must be >= 0, got {int(c.min())}")
    order = np.argsort(-s, kind="stable")  # visiting order: descending score, ties by input index
    visited_clusters = c[order].astype(np.int64)
    # k = how many units of the same cluster were visited before this one.
    by_cluster = np.argsort(visited_clusters, kind="stable")
    sorted_c = visited_clusters[by_cluster]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_c)) + 1]
    run_id = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, sorted_c.size]))
    k_sorted = np.arange(sorted_c.size) - starts[run_id] if sorted_c.size else np.zeros(0, dtype=np.int64)
    k_visit = np.empty_like(k_sorted)
    k_visit[by_cluster] = k_sorted
    adjusted = np.empty_like(s)
    adjusted[order] = s[order] * np.power(float(decay), k_visit)
    return adjusted


def kcenter_greedy(
    features: np.ndarray,
    labeled: np.ndarray,
    rng: np.random.Generator | int,
    *,
    n_select: int | None = None,
    points: np.ndarray | None = None,
    budget_points: int | None = None,
) -> np.ndarray:
    """Core-set greedy k-center (Sener & Savarese 2018): repeatedly pick the unlabeled unit farthest
    (Euclidean, in feature space) from the labeled + already-picked set.

    features      : (U, F) float, finite
    labeled       : (U,) bool, the current centres (never picked)
    rng           : Generator or seed; used only to pick the first unit when nothing is labeled
    n_select      : stop after this many picks, or
    points, budget_points : (U,) int points per unit and a point budget: stop as soon as the picked
                    units hold >= budget_points points (the last pick may overshoot)
    returns (n_picked,) int64 indices into U, in pick order. Stops early when the unlabeled units run out.
    """
    if not isinstance(features, np.ndarray) or features.ndim != 2:
        raise ValueError(f"features must be a (U, F) array, got {_describe(features)}")
    labeled = np.asarray(labeled)
    if labeled.dtype != bool or labeled.shape != (features.shape[0],):
        raise ValueError(f"labeled must be a bool array of shape ({features.shape[0]},), got {_describe(labeled)}")
    if (n_select is None) == (budget_points is None):
        raise ValueError("pass exactly one of n_select or budget_points (with points)")
    if n_select is not None and n_select < 0:
        raise ValueError(f"n_select must be >= 0, got {n_select}")
    if budget_points is not None:
        if points is None:
            raise ValueError("budget_points needs points (points per unit)")
        points = np.asarray(points)
        if points.shape != labeled.shape or not np.issubdtype(points.dtype, np.integer) or (points < 0).any():
            raise ValueError(f"points must be a non-negative int array of shape {labeled.shape}, got {_describe(points)}")
    if not np.isfinite(features).all():
        row = int(np.flatnonzero(~np.isfinite(features).all(axis=1))[0])
        raise ValueError(f"features row {row} is not finite (NaN/inf)")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(_seed_from(rng))
    x = features.astype(np.float64, copy=False)
    sq = np.einsum("ij,ij->i", x, x)
    dist = np.full(x.shape[0], np.inf)
    centres = np.flatnonzero(labeled)
    for start in range(0, centres.size, 256):
        block = centres[start : start + 256]
        d = sq[:, None] - 2.0 * x @ x[block].T + sq[block][None, :]
        dist = np.minimum(dist, d.min(axis=1))
    dist[labeled] = -np.inf
    n_free = int((~labeled).sum())
    limit = n_free if n_select is None else min(int(n_select), n_free)
    picked: list[int] = []
    total = 0
    while len(picked) < limit:
        if budget_points is not None and total >= budget_points:
            break
        if not picked and centres.size == 0:
            idx = int(gen.choice(np.flatnonzero(~labeled)))
        else:
            idx = int(np.argmax(dist))
        picked.append(idx)
        if points is not None:
            total += int(points[idx])
        d = sq - 2.0 * x @ x[idx] + sq[idx]
        dist = np.minimum(dist, d)
        dist[idx] = -np.inf
    return np.asarray(picked, dtype=np.int64)


def _group_mean_rows(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """(N, F) rows averaged per group -> (n_groups, F) float32, NaN rows for empty groups."""
    from scipy.sparse import csr_matrix

    n = groups.shape[0]
    counts = np.bincount(groups, minlength=n_groups).astype(np.float64)
    # (n_groups, N) membership matrix times the features: 2x faster than one bincount per column;
    # float64 in column blocks so the upcast copy stays small
    member = csr_matrix((np.ones(n), (groups, np.arange(n))), shape=(n_groups, n))
    out = np.empty((n_groups, values.shape[1]), dtype=np.float64)
    for start in range(0, values.shape[1], 32):
        out[:, start : start + 32] = member @ values[:, start : start + 32].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out /= counts[:, None]
    return out.astype(np.float32)


def _seed_from(rng: np.random.Generator | int) -> int:
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**31 - 1))
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return int(rng)
    raise ValueError(f"rng must be a numpy Generator or a non-negative int seed, got {rng!r}")


def _describe(a: object) -> str:
    if isinstance(a, np.ndarray):
        return f"{a.dtype} array of shape {a.shape}"
    return type(a).__name__
