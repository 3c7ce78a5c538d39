"""Curves of the study: paper Fig. 5 (``plot_compare``), Fig. 8 (``plot_ablation``), their statistics over
seeds (``curve_stats``) and the one-paragraph reading of the final mIoU table (``verdict``).

Figures are matplotlib ``Figure`` objects built without pyplot; mIoU is shown in %, like the paper.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from redal_core import paper_reference

from .style import _require, _strategy_order, format_mean_std, seeds_caption, strategy_color

#: The strategies of the paper's ablation (Fig. 8), in its legend order.
ABLATION_STRATEGIES: tuple[str, ...] = (
    "ENT",
    "ENT+Region",
    "RAND+Region",
    "ENT+Region+Div",
    "ENT+Region+Color/Structure",
    "ReDAL",
)
#: Synthetic datasets are written in a real dataset's layout; the paper's panel shown beside them.
PAPER_FAMILY: dict[str, str] = {"synthetic-indoor": "s3dis", "synthetic-outdoor": "semantickitti"}

_GROUP = ["dataset", "backbone", "strategy", "round"]


def curve_stats(rounds: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of every (dataset, backbone, strategy, round).

    rounds : one row per run and round with ``labeled_pct`` (%) and ``miou`` (fraction in [0, 1]).
    Returns columns ``dataset, backbone, strategy, round, seeds, labeled_pct, labeled_pct_std, miou,
    miou_std`` with mIoU in %; the std is the sample standard deviation (ddof=1) over seeds, 0.0 for a
    single seed.
    """
    _require(rounds, [*_GROUP, "seed", "labeled_pct", "miou"], "curve_stats(rounds)")
    grouped = rounds.assign(miou=rounds.miou * 100.0).groupby(_GROUP, sort=True)
    stats = grouped.agg(
        seeds=("seed", "nunique"),
        labeled_pct=("labeled_pct", "mean"),
        labeled_pct_std=("labeled_pct", "std"),
        miou=("miou", "mean"),
        miou_std=("miou", "std"),
    ).reset_index()
    for column in ("labeled_pct_std", "miou_std"):
        stats[column] = stats[column].fillna(0.0)
    return stats


def _draw_curves(ax, stats: pd.DataFrame, strategies: Sequence[str]) -> None:
    for name in strategies:
        part = stats[stats.strategy == name].sort_values("round")
        if part.empty:
            continue
        x, y, s = part.labeled_pct.to_numpy(), part.miou.to_numpy(), part.miou_std.to_numpy()
        seeds = int(part.seeds.max())
        color = strategy_color(name)
        ax.plot(x, y, marker="o", ms=3.5, lw=1.8, color=color, label=f"{name} (n={seeds})")
        if seeds >= 2:  # one seed has no spread: no band
            ax.fill_between(x, y - s, y + s, color=color, alpha=0.15, lw=0)


def _draw_paper(ax, paper: pd.DataFrame, strategies: Sequence[str] | None, label_suffix: str) -> None:
    names = _strategy_order(paper.strategy) if strategies is None else [s for s in strategies if s in set(paper.strategy)]
    for name in names:
        part = paper[paper.strategy == name].sort_values("labeled_pct")
        ax.plot(
            part.labeled_pct, part.miou, ls="--", lw=1.2, marker=".", color=strategy_color(name),
            alpha=0.5, label=f"{name}{label_suffix}",
        )


def _style(ax, title: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("labeled points (%)")
    ax.set_ylabel("mIoU (%)")
    ax.grid(True, alpha=0.3)
    # right of the axes, never over the data (the last round's points sit in the lower/upper right)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)


def _caption(figure: Figure, text: str) -> None:
    figure.suptitle(text, fontsize=8, y=0.0, va="bottom")
    figure.get_layout_engine().set(rect=(0, 0.05, 1, 0.95))


def _ours_caption(stats: pd.DataFrame, dataset: str, backbone: str) -> str:
    seeds = stats.groupby("strategy").seeds.max()
    band = " (band)" if (seeds >= 2).any() else ""
    return f"Ours: {seeds_caption(seeds)}{band}, {dataset}, {backbone}."


def plot_compare(
    rounds: pd.DataFrame,
    *,
    dataset: str,
    backbone: str,
    strategies: Sequence[str] | None = None,
    paper: bool = True,
) -> Figure:
    """Paper Fig. 5 for one dataset x backbone: mIoU vs % labeled points, mean +- std over seeds.

    The caption states the seed count (``seeds_caption``): with one seed it says so and no band is drawn.
    Legends sit right of their axes, outside the data.

    Where the combination is one of the paper's (real S3DIS / SemanticKITTI with minkunet / spvcnn) the
    paper's curves (Tables 3-6) are drawn on the same axes, dashed and lighter. For a synthetic dataset
    the paper's curves of the real dataset it imitates are drawn in a separate right-hand panel, and the
    caption says they are not comparable. ``paper=False`` draws ours only.
    """
    _require(rounds, [*_GROUP, "seed", "labeled_pct", "miou"], "plot_compare(rounds)")
    part = rounds[(rounds.dataset == dataset) & (rounds.backbone == backbone)]
    if part.empty:
        have = sorted({f"{d} x {b}" for d, b in zip(rounds.dataset, rounds.backbone, strict=True)})
        raise ValueError(f"plot_compare: no runs for {dataset} x {backbone}; the runs have {have}")
    stats = curve_stats(part)
    names = _strategy_order(stats.strategy) if strategies is None else list(strategies)
    same_axes = paper and paper_reference.is_paper_combo(dataset, backbone)
    family = PAPER_FAMILY.get(dataset) if paper and not same_axes else None
    side = family is not None and paper_reference.is_paper_combo(family, backbone)
    figure = Figure(figsize=(14.0 if side else 8.5, 4.6), layout="constrained")
    axes = figure.subplots(1, 2 if side else 1, squeeze=False)[0]
    _draw_curves(axes[0], stats, names)
    caption = _ours_caption(stats[stats.strategy.isin(names)], dataset, backbone)
    if same_axes:
        _draw_paper(axes[0], paper_reference.miou_curves(dataset, backbone), names, " (paper)")
        caption += " Dashed: the paper's Tables 3-6 for the same dataset and backbone."
    _style(axes[0], f"{dataset} / {backbone}: mIoU vs labeled points")
    if side:
        reference = paper_reference.miou_curves(family, backbone)
        _draw_paper(axes[1], reference, None, "")
        _style(axes[1], f"paper: {family} / {backbone} (Tables 3-6)")
        caption += (
            f" Right: the paper's {family} curves, for shape only - synthetic data is NOT comparable"
            " to the real dataset."
        )
    _caption(figure, caption)
    return figure


def plot_ablation(
    rounds: pd.DataFrame,
    *,
    dataset: str,
    backbone: str,
    strategies: Sequence[str] = ABLATION_STRATEGIES,
) -> Figure:
    """Paper Fig. 8 for one dataset x backbone: the ablation strategies' curves, mean +- std over seeds.

    The paper publishes Fig. 8 as a chart only (no table), so no paper overlay is drawn. The caption
    states the seed count, as in ``plot_compare``; the legend sits right of the axes.
    """
    _require(rounds, [*_GROUP, "seed", "labeled_pct", "miou"], "plot_ablation(rounds)")
    part = rounds[(rounds.dataset == dataset) & (rounds.backbone == backbone) & rounds.strategy.isin(strategies)]
    if part.empty:
        raise ValueError(
            f"plot_ablation: no runs of {list(strategies)} for {dataset} x {backbone}; "
            f"strategies present: {sorted(set(rounds.strategy))}"
        )
    figure = Figure(figsize=(8.5, 4.6), layout="constrained")
    ax = figure.subplots()
    stats = curve_stats(part)
    _draw_curves(ax, stats, [s for s in strategies if s in set(part.strategy)])
    _style(ax, f"ablation (Fig. 8 style): {dataset} / {backbone}")
    _caption(figure, _ours_caption(stats, dataset, backbone))
    return figure


#: Scan-level strategies (the paper's baselines) and region-based strategies with diversity.
SCAN_LEVEL: tuple[str, ...] = ("RAND", "MAR", "CONF", "ENT", "CSET", "SEGENT", "MCDR")
REGION_DIVERSITY: tuple[str, ...] = ("ENT+Region+Div", "ReDAL")


def verdict(final: pd.DataFrame) -> str:
    """An honest one-paragraph reading of ``final_miou_table``, per dataset x backbone: did the best
    region-based strategy with diversity (ENT+Region+Div, ReDAL) beat the best scan-level one?

    "beat" needs the gap to exceed the larger of the two strategies' seed std; a smaller gap is reported
    as within seed noise. With one seed there is no std: a gap under 1 point is reported as no clear
    winner, and the means are printed alone ("one seed"). Combos lacking either group say so.
    """
    _require(final, ["dataset", "backbone", "strategy", "miou", "miou_std", "seeds"], "verdict(final)")
    lines = []
    for (dataset, backbone), part in final.groupby(["dataset", "backbone"], sort=True):
        region = part[part.strategy.isin(REGION_DIVERSITY)].sort_values("miou", ascending=False)
        scan = part[part.strategy.isin(SCAN_LEVEL)].sort_values("miou", ascending=False)
        head = f"{dataset} / {backbone}:"
        if region.empty or scan.empty:
            lines.append(f"{head} no comparison (needs both a scan-level strategy and ENT+Region+Div or ReDAL).")
            continue
        r, s = region.iloc[0], scan.iloc[0]
        gap = r.miou - s.miou
        noise = float(np.nanmax([r.miou_std, s.miou_std, 0.0]))
        seeds = int(min(r.seeds, s.seeds))
        facts = (f"best region+diversity {r.strategy} {format_mean_std(r.miou, r.miou_std, r.seeds)} vs best "
                 f"scan-level {s.strategy} {format_mean_std(s.miou, s.miou_std, s.seeds)} mIoU % (final round)")
        if seeds < 2 and abs(gap) < 1.0:
            word = f"no clear winner: the gap of {gap:+.2f} points is under 1 point with one seed (no spread measured)"
        elif abs(gap) <= noise:
            word = f"no clear winner: the gap of {gap:+.2f} points is within the seeds' spread"
        elif gap > 0:
            word = f"region-based selection with diversity BEAT scan-level selection by {gap:.2f} points"
        else:
            word = f"region-based selection with diversity did NOT beat scan-level selection ({gap:+.2f} points)"
        lines.append(f"{head} {word}; {facts}.")
    return "\n".join(lines)
