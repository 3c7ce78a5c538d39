"""Selection strategies under the paper's names, in an explicit registry.

Scan unit (supplementary B): RAND, MAR, CONF, ENT, CSET, SEGENT, MCDR.
Region unit (paper Sec. 4, Fig. 8 ablation): RAND+Region, ENT+Region, ENT+Region+Div,
ENT+Region+Color/Structure, ReDAL (Eq. 4 + diversity).
The field's other strategies: BALD (scan), BALD+Region, Annotator (grid cells), LiDAL (inter-frame,
needs poses); their selection rules are in ``active.peers`` and FIDELITY.md lists their sources.

``strategy.select(table, budget_points=..., rng=..., params=...)`` scores every candidate unit of a
``UnitTable`` (not labeled, with unlabeled points), orders them by descending adjusted score (ties:
table order) and takes units until the point budget is reached (``take_budget``: the last unit may
overshoot). Higher score = queried first; scores whose informative end is LOW are negated (MAR: -margin,
CONF: -confidence). The diversity strategies (ENT+Region+Div, ReDAL) run k-means over the CANDIDATE
regions of the round (the unlabeled pool D_U), then Algorithm 1 on their scores. CSET ranks scans by
greedy k-center order (first pick = highest score) from the table's labeled rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from redal_core.active import scores as S
from redal_core.active.diversity import (
    DEFAULT_CLUSTERS,
    DEFAULT_DECAY,
    cluster_regions,
    kcenter_greedy,
    penalize_similar,
)
from redal_core.active.peers import annotator_order, lidal_walk
from redal_core.active.units import NEED_KEYS, UnitTable
from redal_core.registry import Registry


@dataclass(frozen=True, kw_only=True)
class StrategyParams:
    """Eq. 4 weights (alpha, beta, gamma), k-means clusters M, Algorithm 1's decay eta, and the trim.

    Defaults are S3DIS's; ``StrategyParams.for_dataset("semantickitti")`` gives (1, 0, 0.05), M = 150.
    trim_top : None (cluster every candidate) or a fraction f in (0, 1]: the diversity step keeps only the
    top ``max(1, int(f * C))`` of the C candidates by score, clusters and penalizes those, and ranks them
    first; the others follow by score (the official SemanticKITTI config's ``trim_rate`` 0.1, as LiDAL's
    corrected re-implementation applies it).
    """

    alpha: float = 1.0
    beta: float = 0.1
    gamma: float = 0.05
    clusters: int = 400
    decay: float = DEFAULT_DECAY
    trim_top: float | None = None

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "gamma"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
                raise ValueError(f"StrategyParams.{name} must be a finite number >= 0, got {value!r}")
        if not isinstance(self.clusters, int) or isinstance(self.clusters, bool) or self.clusters < 1:
            raise ValueError(f"StrategyParams.clusters must be an int >= 1, got {self.clusters!r}")
        if not isinstance(self.decay, (int, float)) or not 0 < self.decay <= 1:
            raise ValueError(f"StrategyParams.decay must be in (0, 1], got {self.decay!r}")
        if self.trim_top is not None and not (isinstance(self.trim_top, (int, float)) and 0 < self.trim_top <= 1):
            raise ValueError(f"StrategyParams.trim_top must be None or a fraction in (0, 1], got {self.trim_top!r}")

    @classmethod
    def for_dataset(cls, dataset: str) -> StrategyParams:
        """The paper's settings for "s3dis" or "semantickitti" (synthetic-indoor/-outdoor map to them)."""
        key = {"synthetic-indoor": "s3dis", "synthetic-outdoor": "semantickitti"}.get(dataset, dataset)
        if key not in S.DEFAULT_WEIGHTS:
            raise ValueError(
                f"no paper defaults for dataset {dataset!r}; known: s3dis, semantickitti, synthetic-indoor, synthetic-outdoor"
            )
        alpha, beta, gamma = S.DEFAULT_WEIGHTS[key]
        return cls(alpha=alpha, beta=beta, gamma=gamma, clusters=DEFAULT_CLUSTERS[key], decay=DEFAULT_DECAY)


@dataclass(frozen=True, eq=False)
class Selection:
    """Selected units in selection order (all arrays of length n_selected).

    scan, region (-1 = whole scan) : int64; score : float64 raw score; adjusted_score : float64 the
    score the ranking used (after diversity, else = score; NaN for a region left out of a trimmed
    diversity step, ranked after the trimmed set by score); cluster : int64 (-1 when no clustering);
    points : int64 unlabeled points each unit adds. ``budget_points`` is the round's budget and
    ``exhausted`` is True when the candidates ran out before the budget was reached.
    """

    scan: np.ndarray
    region: np.ndarray
    score: np.ndarray
    adjusted_score: np.ndarray
    cluster: np.ndarray
    points: np.ndarray
    budget_points: int = 0
    exhausted: bool = False

    def __len__(self) -> int:
        return int(self.scan.shape[0])

    @property
    def total_points(self) -> int:
        return int(self.points.sum())

    def to_frame(self):
        """pandas DataFrame with columns scan, region, score, adjusted_score, cluster, points."""
        import pandas as pd

        return pd.DataFrame(
            {
                "scan": self.scan,
                "region": self.region,
                "score": self.score,
                "adjusted_score": self.adjusted_score,
                "cluster": self.cluster,
                "points": self.points,
            }
        )


# A scorer gets the whole table, the candidate mask, the budget, rng and params and returns, for the
# candidate rows in table order: (score, adjusted_score, cluster).
Scorer = Callable[[UnitTable, np.ndarray, int, np.random.Generator, StrategyParams], tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True, kw_only=True)
class Strategy:
    """A named selection strategy: its unit, the table columns it needs and its scorer."""

    name: str
    unit: str
    needs: frozenset[str]
    requires_dropout: bool = False
    requires_poses: bool = False
    division: str = "vccs"
    description: str = ""
    scorer: Scorer = field(repr=False)

    def select(
        self,
        table: UnitTable,
        *,
        budget_points: int,
        rng: np.random.Generator | int,
        params: StrategyParams | None = None,
    ) -> Selection:
        """Score the candidate units of ``table`` and take them in descending adjusted score until
        ``budget_points`` unlabeled points are covered (the last unit may overshoot).

        table         : rows of this strategy's unit ("scan": region == -1; "region": region >= 0)
        budget_points : int >= 0
        rng           : Generator or seed (RAND's draw, k-means seed, core-set start)
        params        : StrategyParams (default: S3DIS's)
        If the candidates hold fewer points than the budget, all are taken with a warning.
        """
        params = StrategyParams() if params is None else params
        if not isinstance(table, UnitTable):
            raise ValueError(f"{self.name}: table must be a UnitTable, got {type(table).__name__}")
        if not isinstance(params, StrategyParams):
            raise ValueError(f"{self.name}: params must be a StrategyParams, got {type(params).__name__}")
        if not isinstance(budget_points, (int, np.integer)) or isinstance(budget_points, bool) or budget_points < 0:
            raise ValueError(f"{self.name}: budget_points must be an int >= 0, got {budget_points!r}")
        if len(table) and table.unit != self.unit:
            raise ValueError(
                f"{self.name} selects {self.unit} units, but the table holds "
                f"{table.unit or 'mixed scan/region'} rows (region == -1 marks a scan unit)"
            )
        missing = sorted(k for k in self.needs if k not in ("features", "centers") and k not in table.stats)
        for key in ("features", "centers"):
            if key in self.needs and getattr(table, key) is None:
                missing.append(key)
        if missing:
            raise ValueError(f"{self.name} needs {missing} in the unit table, which has stats {sorted(table.stats)}")
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        cand = table.candidates()
        for key in sorted(self.needs - {"features", "centers"}):
            bad = cand & ~np.isfinite(table.stats[key])
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(
                    f"{self.name}: stats[{key!r}] is not finite for unit (scan {table.scan[i]}, region {table.region[i]})"
                )
        idx = np.flatnonzero(cand)
        ruled = None  # a scorer with a budget rule of its own returns (taken, exhausted) as a 4th element
        if idx.size:
            score, adjusted, cluster, *ruled = self.scorer(table, cand, int(budget_points), gen, params)
        else:
            score = adjusted = np.zeros(0)
            cluster = np.zeros(0, dtype=np.int64)
        if ruled:
            taken, exhausted = ruled[0]
        else:
            taken, exhausted = _take_ranked(np.asarray(score, np.float64), np.asarray(adjusted, np.float64),
                                            table.points[idx], int(budget_points))
        trimmed = ~np.isfinite(np.asarray(adjusted, np.float64))
        if trimmed.any() and trimmed[taken].any():
            kept = ~trimmed
            warnings.warn(
                f"{self.name}: trim_top {params.trim_top} kept {int(kept.sum())} of {idx.size} candidate regions "
                f"({int(table.points[idx][kept].sum())} points), fewer than the budget of {budget_points}; "
                f"{int(trimmed[taken].sum())} regions outside the trimmed set fill it in score order",
                stacklevel=2,
            )
        if exhausted:
            warnings.warn(
                f"{self.name}: the {idx.size} candidate units hold {int(table.points[idx].sum())} points, fewer than "
                f"the budget of {budget_points}; all of them were selected",
                stacklevel=2,
            )
        rows = idx[taken]
        return Selection(
            scan=table.scan[rows].copy(),
            region=table.region[rows].copy(),
            score=np.asarray(score, dtype=np.float64)[taken],
            adjusted_score=np.asarray(adjusted, dtype=np.float64)[taken],
            cluster=np.asarray(cluster, dtype=np.int64)[taken],
            points=table.points[rows].copy(),
            budget_points=int(budget_points),
            exhausted=exhausted,
        )


def _take_ranked(score: np.ndarray, adjusted: np.ndarray, points: np.ndarray, budget: int) -> tuple[np.ndarray, bool]:
    """``take_budget`` over the candidates ranked best first: by descending adjusted score (ties: table
    order); candidates left out of the diversity step (adjusted NaN: trimmed) follow, by descending raw
    score. The trimmed-out ones are ranked only when the kept ones do not reach the budget."""
    kept = np.isfinite(adjusted)
    if kept.all():
        return take_budget(np.argsort(-adjusted, kind="stable"), points, budget)
    first = np.flatnonzero(kept)
    first = first[np.argsort(-adjusted[first], kind="stable")]
    taken, exhausted = take_budget(first, points, budget)
    if not exhausted:
        return taken, False
    rest = np.flatnonzero(~kept)
    rest = rest[np.argsort(-score[rest], kind="stable")]
    more, exhausted = take_budget(rest, points, budget - int(points[first].sum()))
    return np.concatenate([first, more]), exhausted


def take_budget(order: np.ndarray, points: np.ndarray, budget_points: int) -> tuple[np.ndarray, bool]:
    """Prefix of ``order`` whose points first reach ``budget_points``.

    order  : (C,) int positions into ``points``, best first
    points : (C,) int > 0 points per candidate
    returns (taken (k,) int64 positions, exhausted): the shortest prefix with sum >= budget (so dropping
    its last unit leaves < budget), or all of ``order`` with ``exhausted=True`` if the sum stays below.
    """
    order = np.asarray(order, dtype=np.int64)
    cum = np.cumsum(np.asarray(points, dtype=np.int64)[order])
    if budget_points <= 0:
        return order[:0], False
    if cum.size == 0 or cum[-1] < budget_points:
        return order, True
    k = int(np.searchsorted(cum, budget_points, side="left")) + 1
    return order[:k], False


STRATEGIES: Registry[Strategy] = Registry("strategy")


def get_strategy(name: str) -> Strategy:
    """The registered strategy ``name`` (case-insensitive); unknown names raise KeyError listing the valid ones."""
    return STRATEGIES.get(name)


def _register(strategy: Strategy) -> Strategy:
    unknown = strategy.needs - NEED_KEYS
    if unknown:
        raise ValueError(f"strategy {strategy.name}: unknown needs {sorted(unknown)}")
    return STRATEGIES.register(strategy.name)(strategy)


# ------------------------------------------------------------------------------------------ scorers
def _no_clusters(score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return score, score, np.full(score.shape[0], -1, dtype=np.int64)


def _random(table, cand, budget, rng, params):
    return _no_clusters(rng.permutation(int(cand.sum())).astype(np.float64))


def _stat(key: str, sign: float = 1.0) -> Scorer:
    def scorer(table, cand, budget, rng, params):
        return _no_clusters(sign * table.stats[key][cand])

    return scorer


def _eq4(table, cand, params) -> np.ndarray:
    return S.combine(
        table.stats["entropy"][cand],
        table.stats["color"][cand],
        table.stats["structure"][cand],
        params.alpha,
        params.beta,
        params.gamma,
    )


def _with_diversity(score, table, cand, rng, params):
    """k-means over the candidates' features, then Algorithm 1 on their scores; with ``trim_top`` only
    the top fraction by score is clustered and penalized (the rest get adjusted NaN and cluster -1).

    The candidates' features are read in place (``cluster_regions(rows=...)``): no (C, F) copy."""
    rows = np.flatnonzero(cand)
    if params.trim_top is None:
        clusters = cluster_regions(table.features, params.clusters, rng, rows=rows)
        return score, penalize_similar(score, clusters, params.decay), clusters
    keep = top_by_score(score, max(1, int(params.trim_top * score.size)))
    adjusted = np.full(score.shape, np.nan)
    cluster = np.full(score.shape, -1, dtype=np.int64)
    cluster[keep] = cluster_regions(table.features, params.clusters, rng, rows=rows[keep])
    adjusted[keep] = penalize_similar(score[keep], cluster[keep], params.decay)
    return score, adjusted, cluster


def top_by_score(score: np.ndarray, k: int) -> np.ndarray:
    """The k highest scores' positions, best first (ties: lower position first).

    score : (C,) float, no NaN; k : int >= 0
    returns (min(k, C),) int64, equal to ``np.argsort(-score, kind="stable")[:k]`` but sorting only those k
    (a partition finds the k-th score first): O(C + k log k) instead of O(C log C).
    """
    neg = -np.asarray(score, dtype=np.float64)
    if k >= neg.size:
        return np.argsort(neg, kind="stable")
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    kth = np.partition(neg, k - 1)[k - 1]
    better = np.flatnonzero(neg < kth)
    tied = np.flatnonzero(neg == kth)[: k - better.size]
    chosen = np.sort(np.concatenate([better, tied]))
    return chosen[np.argsort(neg[chosen], kind="stable")]


def _coreset(table, cand, budget, rng, params):
    if not table.labeled.any():
        warnings.warn(
            "CSET: the unit table has no labeled rows, so the core-set distances start from a random first pick "
            "instead of the labeled set; include the labeled scans' rows (with features) in the table",
            stacklevel=3,
        )
    keep = cand | table.labeled
    pos = np.flatnonzero(keep)
    picks = kcenter_greedy(
        table.features[pos], table.labeled[pos], rng, points=table.points[pos], budget_points=budget
    )
    # candidates not picked rank below every pick (score 0); picks score n, n-1, ..., 1 in pick order
    rank = np.zeros(pos.size, dtype=np.float64)
    rank[picks] = np.arange(picks.size, 0, -1, dtype=np.float64)
    return _no_clusters(rank[cand[pos]])


_SCAN = "scan"
_REGION = "region"

_register(Strategy(name="RAND", unit=_SCAN, needs=frozenset(), scorer=_random, description="random scans"))
_register(
    Strategy(name="MAR", unit=_SCAN, needs=frozenset({"margin"}), scorer=_stat("margin", -1.0),
             description="smallest mean top-1 minus top-2 margin first")
)
_register(
    Strategy(name="CONF", unit=_SCAN, needs=frozenset({"confidence"}), scorer=_stat("confidence", -1.0),
             description="least mean top-1 confidence first")
)
_register(
    Strategy(name="ENT", unit=_SCAN, needs=frozenset({"entropy"}), scorer=_stat("entropy"),
             description="highest mean softmax entropy first")
)
_register(
    Strategy(name="CSET", unit=_SCAN, needs=frozenset({"features"}), scorer=_coreset,
             description="core-set greedy k-center on mean scan features")
)
_register(
    Strategy(name="SEGENT", unit=_SCAN, needs=frozenset({"segent"}), scorer=_stat("segent"),
             description="highest size-weighted segment entropy of the scan's regions first")
)
_register(
    Strategy(name="MCDR", unit=_SCAN, needs=frozenset({"mc_entropy"}), scorer=_stat("mc_entropy"),
             requires_dropout=True, description="highest entropy of the mean of MC-dropout passes first")
)
_register(
    Strategy(name="RAND+Region", unit=_REGION, needs=frozenset(), scorer=_random, description="random regions")
)
_register(
    Strategy(name="ENT+Region", unit=_REGION, needs=frozenset({"entropy"}), scorer=_stat("entropy"),
             description="highest region entropy (Eq. 1) first")
)
_register(
    Strategy(
        name="ENT+Region+Div", unit=_REGION, needs=frozenset({"entropy", "features"}),
        scorer=lambda t, c, b, r, p: _with_diversity(t.stats["entropy"][c], t, c, r, p),
        description="region entropy with Algorithm 1 diversity",
    )
)
_register(
    Strategy(
        name="ENT+Region+Color/Structure", unit=_REGION, needs=frozenset({"entropy", "color", "structure"}),
        scorer=lambda t, c, b, r, p: _no_clusters(_eq4(t, c, p)),
        description="Eq. 4 (alpha H + beta C + gamma S), no diversity",
    )
)
_register(
    Strategy(
        name="ReDAL", unit=_REGION, needs=frozenset({"entropy", "color", "structure", "features"}),
        scorer=lambda t, c, b, r, p: _with_diversity(_eq4(t, c, p), t, c, r, p),
        description="Eq. 4 with Algorithm 1 diversity (the full method)",
    )
)

# -- the field's other strategies (peers.py holds their selection rules) ---------------------------------


def _annotator(table, cand, budget, rng, params):
    vcd = table.stats["vcd"][cand]
    order = annotator_order(table.scan[cand], vcd)
    score, adjusted, cluster = _no_clusters(vcd)
    return score, adjusted, cluster, take_budget(order, table.points[cand], budget)


def _lidal(table, cand, budget, rng, params):
    divergence = table.stats["lidal_div"][cand]
    taken, exhausted = lidal_walk(divergence, table.stats["lidal_ent"][cand], table.centers[cand],
                                  table.points[cand], budget)
    adjusted = np.full(divergence.shape, np.nan)
    adjusted[taken] = divergence[taken]
    return divergence, adjusted, np.full(divergence.shape, -1, dtype=np.int64), (taken, exhausted)


_register(
    Strategy(name="BALD", unit=_SCAN, needs=frozenset({"bald"}), scorer=_stat("bald"), requires_dropout=True,
             description="highest mean BALD (H[mean_t p_t] - mean_t H[p_t], MC dropout; Houlsby et al. 2011) first")
)
_register(
    Strategy(name="BALD+Region", unit=_REGION, needs=frozenset({"bald"}), scorer=_stat("bald"),
             requires_dropout=True, description="highest region-mean BALD first (no diversity)")
)
_register(
    Strategy(name="Annotator", unit=_REGION, needs=frozenset({"vcd"}), scorer=_annotator, division="grid",
             description="voxel confusion degree on grid cells, each scan's best cell first (Xie et al. 2023)")
)
_register(
    Strategy(name="LiDAL", unit=_REGION, needs=frozenset({"lidal_div", "lidal_ent", "centers"}), scorer=_lidal,
             requires_poses=True,
             description="inter-frame divergence, entropy-resolved spatial dedup (Hu et al. 2022)")
)
