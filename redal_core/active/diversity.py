"""Diversity: region features, k-means, Algorithm 1 (similar region penalization), core-set k-center.

ReDAL's diversity step (paper Sec. 3.3): a region's feature is the mean of its points' features
(the decoder output before the classifier), regions are clustered with k-means (M = 400 on S3DIS,
150 on SemanticKITTI), and Algorithm 1 walks the regions in descending score order, multiplying each
region's score by its cluster's weight and then decaying that weight by eta (0.95).

The original implementation sorted the features by score but decayed the scores in the unsorted
order, so penalties landed on the wrong regions. ``penalize_similar`` takes scores and clusters in
ANY order, sorts internally, and returns the adjusted scores aligned with its input; the tests check
that permuting the input permutes the output identically.

k-means at pool scale: up to ``KMEANS_EXACT_MAX_UNITS`` units ``cluster_regions`` is scikit-learn's KMeans, as
the kit always ran it; a SemanticKITTI pool (2.3M regions, 230k after the paper's trim) goes to
``sampled_kmeans``, which seeds and runs Lloyd on a sample, then runs Lloyd over every unit in blocks of rows
(float32, no copy of the caller's features), skipping the units whose nearest centre provably did not change.
Its labels are a function of the features, rows and seed only (not of the thread count).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: k-means clusters M per dataset (supplementary A.3) and the decay eta.
DEFAULT_CLUSTERS: dict[str, int] = {"s3dis": 400, "semantickitti": 150}
DEFAULT_DECAY: float = 0.95
#: k-means restarts: fixed so a run is a deterministic function of its seed. One k-means++ start:
#: the clusters only group look-alike regions for Algorithm 1, and the paper reports the step's cost
#: (0.58 ms per region), which several restarts would multiply.
KMEANS_N_INIT: int = 1
#: Up to this many units ``cluster_regions`` runs scikit-learn's KMeans over all of them (k-means++, n_init 1),
#: as the kit always did; above it, ``sampled_kmeans`` (seeded on a sample, then Lloyd over every unit).
#: scikit-learn's k-means++ upcasts float32 distances to float64 block by block and dominates its cost, and
#: KMeans copies its input: at 50,000 units (M = 150 / 400, one thread) both take seconds (3.8 / 13 s vs 3.0 /
#: 8.3 s), but ReDAL's whole select over 2.3M regions took 424 s and 3.7 GB with scikit-learn, 37 s and 1.4 GB
#: with ``sampled_kmeans`` (with the SemanticKITTI trim: 29 s / 2.3 GB vs 4.3 s / 1.2 GB; benchmarks/scale.py).
KMEANS_EXACT_MAX_UNITS: int = 50_000
#: ``sampled_kmeans``: k-means++ seeding and a first Lloyd run on a uniform sample of this many units.
KMEANS_SAMPLE_UNITS: int = 65_536
#: ``sampled_kmeans``: Lloyd stops once a pass moves at most this share of the units to another cluster ...
#: Lloyd's tail is long on network-like features (half the units sit between two near-equal centres): at 2.3M
#: units a pass still moves 0.3 % after 40 passes, while the ReDAL selection after the pass that moves 0.5 %
#: (about 20) agrees with the one after 40 passes at Jaccard 0.985 (two seeds agree at about 0.7).
KMEANS_TOL: float = 5e-3
#: ... or after this many passes (per stage: the sample, then every unit).
KMEANS_MAX_ITER: int = 100
#: rows per block of the streamed distance / assignment pass (float32 rows gathered from the caller's array)
_BLOCK_ROWS = 4096


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


def cluster_regions(
    features: np.ndarray,
    n_clusters: int,
    rng: np.random.Generator | int,
    *,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """k-means cluster index of every unit (or of the units ``rows``).

    features   : (U, F) float, finite where used (the sampled path reads it in blocks and copies nothing (U, F);
                 the scikit-learn path, at most KMEANS_EXACT_MAX_UNITS units, gathers its rows)
    n_clusters : M; when C < M (C = the units clustered), M = C is used (k-means cannot have more clusters
                 than points), so distinct units get distinct clusters (identical features may still share one)
    rng        : a Generator (one integer is drawn from it as the seed) or an int seed
    rows       : None (cluster all U units) or (C,) int positions into ``features``, in the order the
                 caller's labels come back (the result is ``labels[j]`` for unit ``rows[j]``)
    returns (C,) int64 cluster ids in [0, min(M, C)).

    C <= ``KMEANS_EXACT_MAX_UNITS``: scikit-learn ``KMeans`` (k-means++ init, ``n_init=KMEANS_N_INIT``,
    ``random_state`` = the seed) over all C units, as before. C above it: ``sampled_kmeans`` (k-means++ and
    a first Lloyd run on ``KMEANS_SAMPLE_UNITS`` units drawn with the seed, then Lloyd over all C units until
    a pass moves at most ``KMEANS_TOL`` of them). Both are deterministic: same features, rows, seed and
    thread count -> same labels (``sampled_kmeans``: at any thread count). Threads: ``threads.current_threads``
    (the run's count under ``apply_threads``) for scikit-learn's OpenMP pool and the Lloyd passes; BLAS at 1.
    """
    rows, seed, n_units, m = _clustering_inputs(features, n_clusters, rng, rows, "; cluster only units that have points")
    if m <= 1:
        return np.zeros(n_units, dtype=np.int64)
    if n_units > KMEANS_EXACT_MAX_UNITS:
        return _sampled_kmeans(features, rows, m, seed, KMEANS_SAMPLE_UNITS, KMEANS_TOL, KMEANS_MAX_ITER)
    from sklearn.cluster import KMeans  # heavy imports, only when clustering runs
    from threadpoolctl import threadpool_limits

    from redal_core.threads import current_threads

    x = features if rows is None else features[rows]
    km = KMeans(n_clusters=m, n_init=KMEANS_N_INIT, random_state=seed)
    # One BLAS thread for the duration of the fit (restored afterwards). k-means++ initialisation does
    # many small BLAS products; with multi-threaded BLAS they were 20-30x slower on a loaded 2-core
    # machine (benchmarks/selection.py). Lloyd iterations use scikit-learn's OpenMP threads, held at the
    # kit's count: scikit-learn's OpenMP runtime loads with the first import, after ``apply_threads`` ran,
    # and would otherwise start at every core.
    with threadpool_limits(limits=1, user_api="blas"), threadpool_limits(limits=current_threads(), user_api="openmp"):
        return km.fit_predict(x.astype(np.float32, copy=False)).astype(np.int64)


def sampled_kmeans(
    features: np.ndarray,
    n_clusters: int,
    rng: np.random.Generator | int,
    *,
    rows: np.ndarray | None = None,
    sample: int = KMEANS_SAMPLE_UNITS,
    tol: float = KMEANS_TOL,
    max_iter: int = KMEANS_MAX_ITER,
) -> np.ndarray:
    """k-means for large C: k-means++ and Lloyd on a uniform sample, then Lloyd over every unit.

    features   : (U, F) float, finite; read in blocks of rows cast to float32 (no (U, F) copy)
    n_clusters : M (M = C when C < M, C = the units clustered)
    rng        : a Generator (one integer is drawn from it) or an int seed
    rows       : None (all U units) or (C,) int positions into ``features``; labels come back in that order
    sample     : units drawn (without replacement, with the seed) for the seeding stage, at least 3 M;
                 all C units when C is not larger
    tol        : a Lloyd stage stops once a pass moves at most ``tol`` x its units to another cluster
    max_iter   : at most this many passes per stage
    returns (C,) int64 cluster ids in [0, min(M, C)): each unit's nearest centre in the last pass.

    The stages: greedy k-means++ (as scikit-learn's: 2 + ln M candidates per centre, the one that lowers the
    potential most) on the sample; Lloyd on the sample from those centres; Lloyd over all C units from the
    sample's centres (the first full pass only assigns; later passes count the units that moved). Each Lloyd
    pass skips the units whose nearest centre cannot have changed (distance bounds, ``_lloyd``: the answer
    is plain Lloyd's). A cluster that empties keeps its centre. Distances are float32 products; sums per
    cluster float64, added block by block in a fixed order, so the labels do not depend on the thread count
    (``threads.current_threads`` worker threads, BLAS at 1 thread each). Memory beyond the caller's array:
    the sample's rows, about 40 bytes per unit and a few blocks of rows per thread.
    """
    for name, value, low in (("sample", sample, 1), ("max_iter", max_iter, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if not isinstance(tol, (int, float)) or not 0 <= tol < 1:
        raise ValueError(f"tol must be in [0, 1), got {tol!r}")
    rows, seed, n_units, m = _clustering_inputs(features, n_clusters, rng, rows, "")
    if m <= 1:
        return np.zeros(n_units, dtype=np.int64)
    return _sampled_kmeans(features, rows, m, seed, int(sample), float(tol), int(max_iter))


def _clustering_inputs(features, n_clusters, rng, rows, hint: str) -> tuple[np.ndarray | None, int, int, int]:
    """Validate a k-means call's inputs; returns (rows, seed, C units clustered, M = min(n_clusters, C))."""
    if not isinstance(features, np.ndarray) or features.ndim != 2:
        raise ValueError(f"features must be a (U, F) array, got {_describe(features)}")
    if not isinstance(n_clusters, (int, np.integer)) or isinstance(n_clusters, bool) or n_clusters < 1:
        raise ValueError(f"n_clusters must be a positive int, got {n_clusters!r}")
    rows = _check_rows(rows, features.shape[0])
    _check_finite_rows(features, rows, hint)
    seed = _seed_from(rng)
    n_units = features.shape[0] if rows is None else rows.shape[0]
    return rows, seed, n_units, min(int(n_clusters), n_units)


def _sampled_kmeans(features, rows, m, seed, sample, tol, max_iter) -> np.ndarray:
    """``sampled_kmeans`` on checked arguments (2 <= m <= C)."""
    from threadpoolctl import threadpool_limits

    from redal_core.threads import current_threads

    n_units = features.shape[0] if rows is None else rows.shape[0]
    sample = max(sample, 3 * m)  # a sample too small for M centres would merge units (as MiniBatchKMeans' 3 M)
    gen = np.random.default_rng(seed)
    threads = max(1, current_threads())
    with threadpool_limits(limits=1, user_api="blas"):
        if sample < n_units:
            pick = np.sort(gen.choice(n_units, size=sample, replace=False))
            sample_rows = pick if rows is None else rows[pick]
            x = features[sample_rows].astype(np.float32, copy=False)
        else:
            x = features[slice(None) if rows is None else rows].astype(np.float32, copy=False)
        centres = _kmeans_plusplus(x, m, gen)
        labels, centres = _lloyd(x, None, centres, tol, max_iter, threads)
        if sample >= n_units:
            return labels.astype(np.int64)
        del x, labels
        labels, _ = _lloyd(features, rows, centres, tol, max_iter, threads)
    return labels.astype(np.int64)


def _kmeans_plusplus(x: np.ndarray, m: int, gen: np.random.Generator) -> np.ndarray:
    """Greedy k-means++ (Arthur & Vassilvitskii 2007; scikit-learn's variant): (n, F) float32 -> (m, F) float64.

    Each new centre: 2 + ln m candidates drawn with probability proportional to the squared distance to the
    nearest centre so far; the candidate that leaves the smallest total squared distance is kept. Distances
    in float32, their sums and running totals in float64."""
    n = x.shape[0]
    trials = 2 + int(np.log(m))
    sq = np.einsum("ij,ij->i", x, x)
    chosen = np.empty(m, dtype=np.int64)
    chosen[0] = gen.integers(n)
    closest = sq - 2.0 * (x @ x[chosen[0]]) + sq[chosen[0]]
    np.maximum(closest, 0.0, out=closest)
    potential = closest.sum(dtype=np.float64)
    for c in range(1, m):
        cum = np.cumsum(closest, dtype=np.float64)
        cand = np.minimum(np.searchsorted(cum, gen.random(trials) * potential), n - 1)
        d = x @ x[cand].T  # (n, trials) float32
        d *= -2.0
        d += sq[:, None]
        d += sq[cand][None, :]
        np.maximum(d, 0.0, out=d)
        np.minimum(d, closest[:, None], out=d)
        pots = d.sum(axis=0, dtype=np.float64)
        best = int(np.argmin(pots))
        chosen[c] = cand[best]
        closest = np.ascontiguousarray(d[:, best])
        potential = pots[best]
    return x[chosen].astype(np.float64)


def _lloyd(features, rows, centres, tol, max_iter, threads):
    """Lloyd passes over ``features[rows]`` (all rows when None) from ``centres`` (M, F) float64, M >= 2.

    Each pass assigns every unit to its nearest centre, then moves each centre to its units' mean. Stops once
    a pass moves at most ``tol`` x C units (the first pass counts as moving all), or after ``max_iter`` passes.
    Returns the last pass's labels (C,) int32 and the centres updated from them.

    Distance bounds (Hamerly 2010, with the second-nearest centre tracked on its own as in Drake & Hamerly's
    adaptive k-means) skip a unit whose nearest centre cannot have changed: an upper bound on its distance to
    its centre, a lower bound on its distance to its second-nearest centre and one on every other centre, each
    widened by how far those centres moved. A unit is recomputed only when its upper bound exceeds half the
    distance from its centre to the nearest other centre and one of the lower bounds; its exact distance to
    its own centre is tried first. The answer is Lloyd's (up to ties within float32 rounding); most units of
    real features sit between two near-equal centres that barely move, so later passes cost a small part of
    a full one. Per-cluster sums are float64, built block by block and updated for the units that moved, in
    block order (the same for every thread count).
    """
    n_units = features.shape[0] if rows is None else rows.shape[0]
    blocks = [(start, min(start + _BLOCK_ROWS, n_units)) for start in range(0, n_units, _BLOCK_ROWS)]
    state = _LloydState(
        features=features, rows=rows,
        labels=np.empty(n_units, dtype=np.int32), second=np.empty(n_units, dtype=np.int32),
        upper=np.empty(n_units, dtype=np.float64), lower_second=np.empty(n_units, dtype=np.float64),
        lower_rest=np.empty(n_units, dtype=np.float64), norms=np.empty(n_units, dtype=np.float32),
    )
    centres = centres.copy()
    sums = np.zeros_like(centres)
    counts = np.zeros(centres.shape[0], dtype=np.int64)
    pool = None
    if threads > 1 and len(blocks) > 1:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=min(threads, len(blocks)))

    def run(fn, *args):  # results come back in block order whatever the thread count
        call = lambda block: fn(state, block, *args)  # noqa: E731
        return pool.map(call, blocks) if pool is not None else map(call, blocks)

    try:
        c32, cnorm = _scaled_centres(centres)
        for ids, part, cnt in run(_full_block, c32, cnorm):
            sums[ids] += part  # ids are unique within a block; blocks are added in order
            counts[ids] += cnt
        moved, passes = n_units, 1
        while True:
            filled = counts > 0
            updated = centres.copy()
            updated[filled] = sums[filled] / counts[filled, None]
            shift = np.sqrt(((updated - centres) ** 2).sum(axis=1))
            centres = updated
            if moved <= tol * n_units or passes >= max_iter:
                break
            _widen_bounds(state, shift)
            gap = np.sqrt(np.maximum(_sq_distances(centres, centres), 0.0))
            np.fill_diagonal(gap, np.inf)
            half = 0.5 * gap.min(axis=1)
            c32, cnorm = _scaled_centres(centres)
            moved = 0
            for old, new, x in run(_bounded_block, c32, cnorm, half):
                if old.size:
                    np.subtract.at(sums, old, x)
                    np.add.at(sums, new, x)
                    np.subtract.at(counts, old, 1)
                    np.add.at(counts, new, 1)
                    moved += old.size
            passes += 1
    finally:
        if pool is not None:
            pool.shutdown()
    return state.labels, centres


@dataclass(frozen=True)
class _LloydState:
    """Per-unit arrays of ``_lloyd`` (C,): nearest and second-nearest centre, the three bounds, |x|^2."""

    features: np.ndarray
    rows: np.ndarray | None
    labels: np.ndarray
    second: np.ndarray
    upper: np.ndarray
    lower_second: np.ndarray
    lower_rest: np.ndarray
    norms: np.ndarray


def _widen_bounds(state: _LloydState, shift: np.ndarray) -> None:
    """After the centres moved by ``shift`` (M,): the upper bound grows by the unit's centre's move, the
    second-nearest bound shrinks by that centre's move, the rest bound by the largest move of any other."""
    np.add(state.upper, shift[state.labels], out=state.upper)
    np.subtract(state.lower_second, shift[state.second], out=state.lower_second)
    top = np.argsort(-shift, kind="stable")[:3]  # M >= 2; with M = 2 the rest bound covers no centre
    far = np.full(state.labels.shape, shift[top[-1]] if top.size > 2 else 0.0)
    for t in top[:2][::-1]:  # the largest move among centres that are neither the unit's nor its second
        other = (state.labels != t) & (state.second != t)
        far = np.where(other, shift[t], far)
    np.subtract(state.lower_rest, far, out=state.lower_rest)


def _scaled_centres(centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(-2 x centres) as float32 and the centres' squared norms (of their float32 values), for ``_nearest``."""
    c32 = centres.astype(np.float32)
    return c32 * np.float32(-2.0), np.einsum("ij,ij->i", c32, c32)


def _sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) squared Euclidean distances of rows of a (n, F) and b (m, F), in their dtype."""
    return np.einsum("ij,ij->i", a, a)[:, None] - 2.0 * (a @ b.T) + np.einsum("ij,ij->i", b, b)[None, :]


def _rows_of(features, rows, positions):
    """float32 rows of ``features`` at unit positions (a slice or an int array)."""
    x = features[positions] if rows is None else features[rows[positions]]
    return x.astype(np.float32, copy=False)


def _nearest(state: _LloydState, positions, x, c32, cnorm) -> np.ndarray:
    """Nearest and second-nearest centre of the rows ``x`` at ``positions`` and their three bounds, written
    into ``state``; returns the nearest (int32).

    c32 holds -2 x the centres and cnorm their squared norms: d^2 = |x|^2 + cnorm - 2 x.c, ranked without
    |x|^2 (the same for every centre of a row)."""
    d = x @ c32.T  # (b, M) float32
    d += cnorm[None, :]
    at = np.arange(d.shape[0])
    found = []
    for _ in range(3 if d.shape[1] > 2 else 2):
        j = d.argmin(axis=1)
        found.append((j, d[at, j].astype(np.float64)))
        d[at, j] = np.inf
    norms = state.norms[positions]
    dist = [np.sqrt(np.maximum(v + norms, 0.0)) for _, v in found]
    lab = found[0][0].astype(np.int32)
    state.labels[positions] = lab
    state.second[positions] = found[1][0]
    state.upper[positions] = dist[0]
    state.lower_second[positions] = dist[1]
    state.lower_rest[positions] = dist[2] if len(dist) > 2 else np.inf
    return lab


def _full_block(state: _LloydState, block, c32, cnorm):
    """A first pass over one block: labels, bounds and row norms into ``state``; the block's sums per cluster."""
    start, stop = block
    x = _rows_of(state.features, state.rows, slice(start, stop))
    state.norms[start:stop] = np.einsum("ij,ij->i", x, x)
    lab = _nearest(state, slice(start, stop), x, c32, cnorm)
    order = np.argsort(lab, kind="stable")
    ordered = lab[order]
    first = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    part = np.add.reduceat(x[order], first, axis=0, dtype=np.float64)
    return ordered[first], part, np.diff(np.r_[first, ordered.shape[0]])


def _bounded_block(state: _LloydState, block, c32, cnorm, half):
    """A later pass over one block: recompute only the units the bounds cannot vouch for; returns the old and
    new labels and the float64 rows of the units that moved (in position order)."""
    start, stop = block
    lab = state.labels[start:stop]

    def doubtful(upper, at):
        return (upper > half[lab[at]]) & (
            (upper > state.lower_second[start:stop][at]) | (upper > state.lower_rest[start:stop][at])
        )

    need = np.flatnonzero(doubtful(state.upper[start:stop], slice(None)))
    if need.size:  # the exact distance to the unit's own centre first (F products, not M x F)
        pos = start + need
        x = _rows_of(state.features, state.rows, pos)
        own = lab[need]
        exact = state.norms[pos] + cnorm[own] + np.einsum("ij,ij->i", x, c32[own], dtype=np.float64)
        state.upper[pos] = np.sqrt(np.maximum(exact, 0.0))
        still = doubtful(state.upper[pos], need)
        need, pos, x = need[still], pos[still], x[still]
    if need.size == 0:
        empty = np.zeros(0, dtype=np.int32)
        return empty, empty, np.zeros((0, c32.shape[1]))
    old = state.labels[pos].copy()
    new = _nearest(state, pos, x, c32, cnorm)
    moved = np.flatnonzero(new != old)
    return old[moved], new[moved], x[moved].astype(np.float64)


def _check_rows(rows, n_units: int) -> np.ndarray | None:
    if rows is None:
        return None
    rows = np.asarray(rows)
    if rows.ndim != 1 or not (np.issubdtype(rows.dtype, np.integer) or rows.size == 0):
        raise ValueError(f"rows must be a 1-D integer array of unit positions, got {_describe(rows)}")
    rows = rows.astype(np.int64, copy=False)
    if rows.size and (rows.min() < 0 or rows.max() >= n_units):
        bad = rows[(rows < 0) | (rows >= n_units)][0]
        raise ValueError(f"rows holds position {int(bad)}, outside the {n_units} units of features")
    return rows


def _check_finite_rows(features: np.ndarray, rows: np.ndarray | None, hint: str) -> None:
    """ValueError naming the first row (of those used) that is not finite; checked in blocks of rows."""
    n = features.shape[0] if rows is None else rows.shape[0]
    for start in range(0, n, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, n)
        x = features[start:stop] if rows is None else features[rows[start:stop]]
        ok = np.isfinite(x).all(axis=1)
        if not ok.all():
            j = start + int(np.flatnonzero(~ok)[0])
            row = j if rows is None else int(rows[j])
            raise ValueError(f"features row {row} is not finite (NaN/inf){hint}")


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
