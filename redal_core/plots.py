"""Figures and tables of the study: Fig. 5 curves, Fig. 8 ablation, Tables 1/2/7/8, plotly 3D views.

The table/figure functions take the tidy DataFrames of ``redal_core.results.read_runs`` (columns
``run_id, dataset, backbone, strategy, seed`` plus ``round, labeled_pct, miou`` for rounds, ``round,
class, iou`` for per-class IoU, ``round, class, labeled_points, permille`` for the class distribution)
and return a matplotlib ``Figure`` (built without pyplot: no global state) or a DataFrame. The run files
hold mIoU and IoU as fractions in [0, 1]; every figure and table here shows them as percentages, like the
paper. Saving is explicit (``save_figure``, ``write_table``, ``write_html``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from redal_core import paper_reference

if TYPE_CHECKING:
    import plotly.graph_objects as go

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

_ORDER = (
    "RAND", "MAR", "CONF", "ENT", "CSET", "SEGENT", "MCDR",
    "RAND+Region", "ENT+Region", "ENT+Region+Div", "ENT+Region+Color/Structure", "ReDAL",
    "BALD", "BALD+Region", "Annotator", "LiDAL",
)
_PALETTE = (
    "#7f7f7f", "#bcbd22", "#17becf", "#9467bd", "#8c564b", "#e377c2", "#98df8a",
    "#1f77b4", "#ff7f0e", "#2ca02c", "#393b79", "#d62728",
    "#c5b0d5", "#6b6ecf", "#e7ba52", "#31a354",
)
_COLORS = dict(zip(_ORDER, _PALETTE, strict=True))
_GROUP = ["dataset", "backbone", "strategy", "round"]


def strategy_color(name: str) -> str:
    """A fixed colour per strategy, so a strategy looks the same in every figure."""
    if name in _COLORS:
        return _COLORS[name]
    return _PALETTE[sum(map(ord, name)) % len(_PALETTE)]


def _strategy_order(names) -> list[str]:
    names = list(dict.fromkeys(names))
    return sorted(names, key=lambda n: (_ORDER.index(n) if n in _ORDER else len(_ORDER), n))


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what}: expected a pandas DataFrame from results.read_runs, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; got {list(frame.columns)}")


def seeds_caption(seeds, *, spread: bool = True) -> str:
    """How statistics over seeds are shown, for captions and table headers.

    seeds : an int or (S,) ints >= 1, the seed count of every strategy (``seeds`` columns).
    Returns "one seed" when every count is 1 (the mean alone is shown: one run has no spread),
    "mean +- std over n seeds" when all are n >= 2 ("mean over n seeds" with ``spread=False``, for
    tables of means), and the range with a note when they differ.
    """
    counts = np.unique(np.asarray(seeds, dtype=np.int64).ravel())
    if counts.size == 0 or counts.min() < 1:
        raise ValueError(f"seeds_caption: seed counts must be integers >= 1, got {sorted(counts.tolist())}")
    low, high = int(counts.min()), int(counts.max())
    stat = "mean +- std" if spread else "mean"
    if high == 1:
        return "one seed"
    if low == high:
        return f"{stat} over {high} seeds"
    alone = "; one seed: the mean alone" if low == 1 and spread else ""
    return f"{stat} over {low}-{high} seeds (n per strategy{alone})"


def format_mean_std(mean: float, std: float, seeds: int, *, digits: int = 2) -> str:
    """``"54.00 +- 4.24 (n=2)"``, or ``"54.00 (one seed)"`` when ``seeds`` is 1 (no spread to show)."""
    seeds = int(seeds)
    if seeds < 1:
        raise ValueError(f"format_mean_std: seeds must be >= 1, got {seeds}")
    if seeds == 1:
        return f"{mean:.{digits}f} (one seed)"
    return f"{mean:.{digits}f} +- {std:.{digits}f} (n={seeds})"


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


def budget_rounds(rounds: pd.DataFrame, budget_pct: float | None = None) -> pd.DataFrame:
    """The round of every run closest to ``budget_pct`` labeled points (the final round when None).

    Returns ``run_id, dataset, backbone, strategy, seed, round, labeled_pct, miou``, one row per run.
    """
    _require(rounds, ["run_id", "round", "labeled_pct", "miou"], "budget_rounds(rounds)")
    if budget_pct is not None and not (np.isfinite(budget_pct) and 0 < budget_pct <= 100):
        raise ValueError(f"budget_pct must be a percentage in (0, 100], got {budget_pct!r}")
    if budget_pct is None:
        index = rounds.groupby("run_id")["round"].idxmax()
    else:
        distance = (rounds.labeled_pct - budget_pct).abs()
        index = distance.groupby(rounds.run_id).idxmin()
    return rounds.loc[index.to_numpy()].reset_index(drop=True)


def _at_budget(table: pd.DataFrame, rounds: pd.DataFrame, budget_pct: float | None) -> pd.DataFrame:
    chosen = budget_rounds(rounds, budget_pct)[["run_id", "round"]]
    return table.merge(chosen, on=["run_id", "round"], how="inner")


def per_class_table(
    per_class: pd.DataFrame,
    rounds: pd.DataFrame,
    *,
    dataset: str,
    backbone: str,
    budget_pct: float | None = None,
    class_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Paper Tables 1/7: per-class IoU (%) per strategy at a budget, mean over seeds.

    IoU in % (the run files hold fractions). Rows: strategies (``source`` "ours"), plus the paper's rows
    (``source`` "paper") where the paper has the table (SemanticKITTI, minkunet: RAND and ReDAL at 5 %, and
    Full, the fully supervised model, at ``labeled_pct`` 100). Columns: ``source, strategy, labeled_pct, seeds, mIoU`` and
    one column per class (``class_names`` order, else first appearance). A class IoU that is missing
    (no ground truth) stays NaN and is left out of the mean.
    """
    _require(per_class, ["run_id", "dataset", "backbone", "strategy", "seed", "round", "class", "iou"], "per_class_table")
    sel = (rounds.dataset == dataset) & (rounds.backbone == backbone)
    part = _at_budget(per_class[(per_class.dataset == dataset) & (per_class.backbone == backbone)], rounds[sel], budget_pct)
    if part.empty:
        raise ValueError(f"per_class_table: no per-class IoU for {dataset} x {backbone}")
    order = list(class_names) if class_names is not None else list(dict.fromkeys(part["class"]))
    wide = part.pivot_table(index="strategy", columns="class", values="iou", aggfunc="mean") * 100.0
    wide = wide.reindex(columns=order)
    chosen = budget_rounds(rounds[sel], budget_pct).groupby("strategy")
    out = pd.DataFrame({
        "source": "ours",
        "strategy": wide.index,
        "labeled_pct": chosen.labeled_pct.mean().reindex(wide.index).to_numpy(),
        "seeds": chosen.seed.nunique().reindex(wide.index).to_numpy(),
        "mIoU": 100.0 * chosen.miou.mean().reindex(wide.index).to_numpy(),
    })
    out = pd.concat([out.reset_index(drop=True), wide.reset_index(drop=True)], axis=1)
    out = out.set_index("strategy", drop=False).loc[_strategy_order(out.strategy)].reset_index(drop=True)
    if dataset == "semantickitti" and backbone == "minkunet":
        ref = paper_reference.per_class_iou()
        order += [c for c in paper_reference.class_names() if c not in order]
        paper = ref.pivot_table(index="method", columns="class", values="iou").reindex(columns=order)
        budget = ref.groupby("method").labeled_pct.first().reindex(paper.index).to_numpy()
        rows = pd.DataFrame({
            "source": "paper", "strategy": paper.index, "labeled_pct": budget, "seeds": 3,
            "mIoU": paper_reference.per_class_miou().reindex(paper.index).to_numpy(),
        })
        out = pd.concat([out, pd.concat([rows, paper.reset_index(drop=True)], axis=1)], ignore_index=True)
    return out


def class_distribution_table(
    class_distribution: pd.DataFrame,
    rounds: pd.DataFrame,
    *,
    dataset: str,
    backbone: str,
    budget_pct: float | None = None,
    class_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Paper Tables 2/8: labeled class distribution (per mille) per strategy at a budget, mean over seeds.

    Same row/column layout as ``per_class_table`` (without ``mIoU``); the paper's Full / RAND / ReDAL rows
    are appended for SemanticKITTI with minkunet (``labeled_pct`` 100 for Full, the whole training set;
    NaN for RAND and ReDAL, whose budget the paper's Tables 2/8 do not print).
    """
    _require(
        class_distribution,
        ["run_id", "dataset", "backbone", "strategy", "seed", "round", "class", "permille"],
        "class_distribution_table",
    )
    sel = (rounds.dataset == dataset) & (rounds.backbone == backbone)
    table = class_distribution[(class_distribution.dataset == dataset) & (class_distribution.backbone == backbone)]
    part = _at_budget(table, rounds[sel], budget_pct)
    if part.empty:
        raise ValueError(f"class_distribution_table: no class distribution for {dataset} x {backbone}")
    order = list(class_names) if class_names is not None else list(dict.fromkeys(part["class"]))
    wide = part.pivot_table(index="strategy", columns="class", values="permille", aggfunc="mean").reindex(columns=order)
    chosen = budget_rounds(rounds[sel], budget_pct).groupby("strategy")
    out = pd.DataFrame({
        "source": "ours",
        "strategy": wide.index,
        "labeled_pct": chosen.labeled_pct.mean().reindex(wide.index).to_numpy(),
        "seeds": chosen.seed.nunique().reindex(wide.index).to_numpy(),
    })
    out = pd.concat([out.reset_index(drop=True), wide.reset_index(drop=True)], axis=1)
    out = out.set_index("strategy", drop=False).loc[_strategy_order(out.strategy)].reset_index(drop=True)
    if dataset == "semantickitti" and backbone == "minkunet":
        ref = paper_reference.class_distribution()
        order += [c for c in paper_reference.class_names() if c not in order]
        paper = ref.pivot_table(index="method", columns="class", values="permille").reindex(columns=order)
        full = np.where(paper.index == paper_reference.FULL, 100.0, np.nan)
        rows = pd.DataFrame({"source": "paper", "strategy": paper.index, "labeled_pct": full, "seeds": 3})
        out = pd.concat([out, pd.concat([rows, paper.reset_index(drop=True)], axis=1)], ignore_index=True)
    return out


def final_miou_table(rounds: pd.DataFrame) -> pd.DataFrame:
    """mIoU (%, from the runs' fractions) at every run's last round, mean +- std over seeds, per dataset x backbone x strategy.

    Columns: ``dataset, backbone, strategy, rounds, seeds, labeled_pct, miou, miou_std, initial_miou,
    gain`` (gain = final - initial mIoU, mean over seeds), sorted by dataset, backbone, descending miou.
    ``miou_std`` is the sample std (ddof=1) for two seeds or more and NaN (printed "-") for one seed, which
    has no spread; ``seeds_caption(table.seeds)`` words a header for the table.
    """
    _require(rounds, ["run_id", "dataset", "backbone", "strategy", "seed", "round", "labeled_pct", "miou"], "final_miou_table")
    rounds = rounds.assign(miou=rounds.miou * 100.0)
    last = budget_rounds(rounds, None)
    first = rounds.loc[rounds.groupby("run_id")["round"].idxmin().to_numpy(), ["run_id", "miou"]]
    last = last.merge(first.rename(columns={"miou": "initial_miou"}), on="run_id")
    last["gain"] = last.miou - last.initial_miou
    table = last.groupby(["dataset", "backbone", "strategy"]).agg(
        rounds=("round", "max"),
        seeds=("seed", "nunique"),
        labeled_pct=("labeled_pct", "mean"),
        miou=("miou", "mean"),
        miou_std=("miou", "std"),
        initial_miou=("initial_miou", "mean"),
        gain=("gain", "mean"),
    ).reset_index()
    table["miou_std"] = table["miou_std"].where(table.seeds >= 2)
    return table.sort_values(["dataset", "backbone", "miou"], ascending=[True, True, False]).reset_index(drop=True)


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


def to_markdown(table: pd.DataFrame, *, floatfmt: str = ".2f") -> str:
    """A GitHub-flavoured Markdown table; NaN prints as an em dash ("-")."""
    def cell(value) -> str:
        if isinstance(value, float | np.floating):
            return "-" if not np.isfinite(value) else format(value, floatfmt)
        return str(value).replace("|", "\\|")

    header = "| " + " | ".join(str(c) for c in table.columns) + " |"
    rule = "| " + " | ".join("---" for _ in table.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def save_figure(figure: Figure, directory: str | Path, stem: str, *, dpi: int = 130) -> list[Path]:
    """Write ``<directory>/<stem>.png`` and ``.svg``; returns both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{stem}.png", directory / f"{stem}.svg"]
    for path in paths:
        figure.savefig(path, dpi=dpi, bbox_inches="tight")
    return paths


def show(figure: Figure, *, dpi: int = 110):
    """An ``IPython.display.Image`` of ``figure`` (PNG), for notebooks; needs no pyplot backend."""
    import io

    from IPython.display import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return Image(data=buffer.getvalue())


def write_table(table: pd.DataFrame, directory: str | Path, stem: str, *, title: str | None = None) -> list[Path]:
    """Write ``<directory>/<stem>.csv`` and ``.md`` (with an optional heading); returns both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    csv, md = directory / f"{stem}.csv", directory / f"{stem}.md"
    table.to_csv(csv, index=False)
    heading = f"## {title}\n\n" if title else ""
    md.write_text(heading + to_markdown(table), encoding="utf-8")
    return [csv, md]


def plot_region_sizes(region: np.ndarray, *, bins: int = 40, title: str = "region sizes") -> Figure:
    """Histogram of points per region. region : (N,) int64 region id of every point (>= 0)."""
    region = np.asarray(region)
    if region.ndim != 1 or region.size == 0 or region.min() < 0:
        raise ValueError(f"region must be a non-empty (N,) array of ids >= 0, got shape {region.shape}")
    sizes = np.bincount(region)
    sizes = sizes[sizes > 0]
    figure = Figure(figsize=(6, 3.6), layout="constrained")
    ax = figure.subplots()
    ax.hist(sizes, bins=np.geomspace(max(1, sizes.min()), sizes.max() + 1, bins), color="#1f77b4")
    ax.set_xscale("log")
    ax.set_xlabel("points per region")
    ax.set_ylabel("regions")
    ax.set_title(f"{title}: {sizes.size} regions, median {int(np.median(sizes))} points", fontsize=10)
    return figure


#: plotly's default vertical field of view (perspective projection), radians.
PLOTLY_FOVY = np.pi / 4
#: Direction from the scene's centre to the eye: plotly's default three-quarter view, from above.
VIEW_DIRECTION = (1.25, 1.25, 1.25)
#: Grey of the points outside the highlighted sets of a 3D view (regions never selected, ignored labels).
UNSELECTED_COLOR = "rgb(200, 200, 200)"


def scene_layout(xyz: np.ndarray, *, margin: float = 1.05, min_aspect: float = 0.02) -> dict:
    """A plotly ``layout.scene`` that fits a point cloud: axis ranges, aspect and camera from its extent.

    xyz : (N, 3) float coordinates (N >= 1). Returns ``{"xaxis": {"range"}, "yaxis", "zaxis",
    "aspectmode": "manual", "aspectratio": {x, y, z}, "camera": {eye, center, up, projection}}``.
    The aspect ratio is the extent of each axis over the largest one (so a street is long and flat, a
    room boxy; an axis with no extent gets ``min_aspect``). plotly draws the box with edges of
    ``aspectratio`` units around the origin; the eye looks at its centre along ``VIEW_DIRECTION`` from
    ``margin`` times the distance at which the box's bounding sphere fills the vertical field of view,
    so the whole cloud is in view whatever its shape.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or xyz.shape[0] == 0:
        raise ValueError(f"scene_layout: xyz must be a non-empty (N, 3) array, got shape {xyz.shape}")
    if not np.isfinite(xyz).all():
        raise ValueError("scene_layout: xyz has non-finite coordinates")
    if not margin >= 1.0:
        raise ValueError(f"scene_layout: margin must be >= 1 (1 = the bounding sphere just fits), got {margin}")
    low, high = xyz.min(axis=0), xyz.max(axis=0)
    extent = high - low
    largest = float(extent.max())
    aspect = np.full(3, 1.0) if largest == 0 else np.maximum(extent / largest, min_aspect)
    # an axis of zero extent still needs a range for plotly: pad it to its share of the largest axis
    pad = np.where(extent > 0, 0.0, 0.5 * aspect * (largest if largest > 0 else 1.0))
    radius = 0.5 * float(np.linalg.norm(aspect))
    distance = margin * radius / np.sin(PLOTLY_FOVY / 2)
    direction = np.asarray(VIEW_DIRECTION, dtype=np.float64)
    eye = distance * direction / np.linalg.norm(direction)
    axes = ("x", "y", "z")
    scene = {f"{a}axis": {"range": [float(low[i] - pad[i]), float(high[i] + pad[i])]} for i, a in enumerate(axes)}
    scene.update(
        aspectmode="manual",
        aspectratio={a: float(aspect[i]) for i, a in enumerate(axes)},
        camera={
            "eye": {a: float(eye[i]) for i, a in enumerate(axes)},
            "center": {"x": 0.0, "y": 0.0, "z": 0.0},
            "up": {"x": 0.0, "y": 0.0, "z": 1.0},
            "projection": {"type": "perspective"},
        },
    )
    return scene


def _subsample(xyz: np.ndarray, n_values: int, rng, max_points: int, what: str) -> np.ndarray:
    """Validate a cloud and its per-point values; return the sorted indices of a random subsample."""
    if xyz.ndim != 2 or xyz.shape[1] != 3 or xyz.shape[0] == 0:
        raise ValueError(f"{what}: xyz must be a non-empty (N, 3) array, got shape {xyz.shape}")
    if n_values != xyz.shape[0]:
        raise ValueError(f"{what}: values must have shape ({xyz.shape[0]},), got ({n_values},)")
    if max_points < 1:
        raise ValueError(f"{what}: max_points must be >= 1, got {max_points}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"{what}: rng must be a numpy Generator, got {type(rng).__name__}")
    keep = np.arange(xyz.shape[0])
    if keep.size > max_points:
        keep = np.sort(rng.choice(keep.size, size=max_points, replace=False))
    return keep


def _layout_3d(figure: go.Figure, points: np.ndarray, title: str, shown: int, total: int, *, legend: bool,
               legend_title: str = "") -> None:
    figure.update_layout(
        title={"text": f"{title} ({shown} of {total} points)", "font": {"size": 12}},
        scene=scene_layout(points), margin={"l": 0, "r": 0, "t": 30, "b": 0}, showlegend=legend,
        # plotly's default legend place, right of the scene (the margin grows to hold it), never over the cloud;
        # constant item size: legend markers readable whatever the point size
        legend={"itemsizing": "constant", "font": {"size": 11}, "title": {"text": legend_title}},
    )


def _rgb(color) -> str:
    if isinstance(color, str):
        return color
    r, g, b = (int(c) for c in color)
    return f"rgb({r}, {g}, {b})"


def _points_trace(p: np.ndarray, *, name: str, color: str, point_size: float):
    import plotly.graph_objects as go

    return go.Scatter3d(
        x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="markers", name=name,
        marker={"size": point_size, "color": color}, hovertemplate=f"{name}<extra></extra>",
    )


def scatter3d(
    xyz: np.ndarray,
    values: np.ndarray,
    *,
    categorical: bool,
    rng: np.random.Generator,
    max_points: int = 30000,
    title: str = "",
    names: Sequence[str] | None = None,
    point_size: float = 1.6,
) -> go.Figure:
    """A plotly 3D scatter of a point cloud coloured by ``values``, randomly subsampled: one trace, no legend.

    xyz    : (N, 3) float coordinates;  values : (N,) per-point values (ids when ``categorical``,
    e.g. regions or clusters, shuffled onto a qualitative palette; floats otherwise, e.g. scores, with a
    colour bar). ``names`` labels categorical ids in the hover text; ``rng`` draws the subsample of at
    most ``max_points`` points. The camera is fitted to the cloud (``scene_layout``). For classes with a
    legend in the dataset's colours use ``scatter_classes``; for selections, ``scatter_selection``.
    """
    import plotly.graph_objects as go

    xyz = np.asarray(xyz)
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"scatter3d: values must have shape ({len(xyz)},), got {values.shape}")
    keep = _subsample(xyz, values.shape[0], rng, max_points, "scatter3d")
    p, v = xyz[keep], values[keep]
    marker = {"size": point_size}
    hover = None
    if categorical:
        ids = v.astype(np.int64)
        # shuffle ids to colours so that neighbouring ids (adjacent regions) get distinct colours
        palette = np.array(_qualitative(), dtype=object)
        marker["color"] = palette[(ids * 7919) % len(palette)].tolist()
        hover = [names[i] if names is not None and 0 <= i < len(names) else str(i) for i in ids]
    else:
        marker.update(color=v.astype(np.float64), colorscale="Viridis", showscale=True, colorbar={"thickness": 12})
    trace = go.Scatter3d(
        x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="markers", marker=marker,
        text=hover, hoverinfo="text" if hover is not None else "all",
    )
    figure = go.Figure(trace)
    _layout_3d(figure, p, title, keep.size, xyz.shape[0], legend=False)
    return figure


def scatter_classes(
    xyz: np.ndarray,
    labels: np.ndarray,
    *,
    class_names: Sequence[str],
    colors: Mapping[str, tuple[int, int, int] | str],
    rng: np.random.Generator,
    max_points: int = 30000,
    title: str = "",
    point_size: float = 1.6,
    ignored: str = "ignored",
) -> go.Figure:
    """A plotly 3D view of per-point classes, one trace (legend entry) per class present, in ``colors``.

    xyz : (N, 3) float coordinates;  labels : (N,) int class ids in ``0..len(class_names)-1``, negative
    (``IGNORE_INDEX``) for points without a label, drawn grey as ``ignored`` (the last entry) when present.
    colors : class name -> (r, g, b) 0..255 or a CSS colour, e.g.
    ``redal_core.data.class_colors.class_colors(dataset)``; a class it lacks raises ValueError.
    One legend entry per class present in ``labels`` (the whole scan), in ``class_names`` order.
    ``rng`` draws the subsample of at most ``max_points`` points; the camera is fitted to the cloud.
    """
    import plotly.graph_objects as go

    xyz = np.asarray(xyz)
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"scatter_classes: labels must be a (N,) integer array, got {labels.dtype} {labels.shape}")
    keep = _subsample(xyz, labels.shape[0], rng, max_points, "scatter_classes")
    names = list(class_names)
    if labels.size and labels.max() >= len(names):
        raise ValueError(f"scatter_classes: label {int(labels.max())} has no name ({len(names)} class names)")
    missing = [n for n in names if n not in colors]
    if missing:
        raise ValueError(f"scatter_classes: no colour for class(es) {missing}; colours given for {list(colors)}")
    p, v = xyz[keep], labels[keep].astype(np.int64)
    figure = go.Figure()
    for k in np.unique(labels[labels >= 0]):
        figure.add_trace(_points_trace(p[v == k], name=names[k], color=_rgb(colors[names[k]]),
                                       point_size=point_size))
    if (labels < 0).any():
        figure.add_trace(_points_trace(p[v < 0], name=ignored, color=UNSELECTED_COLOR, point_size=point_size))
    _layout_3d(figure, p, title, keep.size, xyz.shape[0], legend=True)
    return figure


def scatter_selection(
    xyz: np.ndarray,
    selected_round: np.ndarray,
    region: np.ndarray,
    *,
    rng: np.random.Generator,
    max_points: int = 30000,
    title: str = "",
    point_size: float = 1.6,
    unit: str = "region",
) -> go.Figure:
    """A plotly 3D view of the regions selected in each round: one trace per round, the rest grey.

    xyz : (N, 3) float coordinates;  selected_round : (N,) int round in which each point's region was
    selected (-1: never);  region : (N,) int region id of each point (>= 0), used to count the regions of
    each round on the whole scan. Legend entries read ``round r (k regions)`` (``unit`` names the unit),
    in round order, then ``not selected`` for the grey points. ``rng`` draws the subsample of at most ``max_points``
    points; the camera is fitted to the cloud.
    """
    import plotly.graph_objects as go

    xyz = np.asarray(xyz)
    selected_round = np.asarray(selected_round)
    region = np.asarray(region)
    for name, array in (("selected_round", selected_round), ("region", region)):
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"scatter_selection: {name} must be a (N,) integer array, got {array.dtype} {array.shape}")
    if region.shape != selected_round.shape:
        raise ValueError(f"scatter_selection: region has shape {region.shape}, selected_round {selected_round.shape}")
    if region.size and region.min() < 0:
        raise ValueError(f"scatter_selection: region ids must be >= 0, got {int(region.min())}")
    if selected_round.size and selected_round.min() < -1:
        raise ValueError(f"scatter_selection: rounds must be >= -1 (-1: never selected), got {int(selected_round.min())}")
    keep = _subsample(xyz, selected_round.shape[0], rng, max_points, "scatter_selection")
    p, v = xyz[keep], selected_round[keep].astype(np.int64)
    palette = _qualitative()
    figure = go.Figure()
    for r in np.unique(selected_round[selected_round >= 0]):
        count = np.unique(region[selected_round == r]).size
        label = f"round {int(r)} ({count} {unit}{'s' if count != 1 else ''})"
        figure.add_trace(_points_trace(p[v == r], name=label, color=palette[int(r) % len(palette)],
                                       point_size=point_size))
    if (selected_round < 0).any():
        figure.add_trace(_points_trace(p[v < 0], name="not selected", color=UNSELECTED_COLOR, point_size=point_size))
    _layout_3d(figure, p, title, keep.size, xyz.shape[0], legend=True, legend_title="selected in")
    return figure


def best_region_run(results_dir: str | Path, *, dataset: str | None = None, backbone: str | None = None) -> Path:
    """The run folder that notebook 06 explores by default: a run of the best region-unit strategy.

    Among the runs under ``<results_dir>/runs`` with at least one complete selection round (optionally of
    one ``dataset`` / ``backbone``), keeps the region-unit strategies (``get_strategy(name).unit ==
    "region"``: RAND+Region, ENT+Region, ENT+Region+Div, ENT+Region+Color/Structure, ReDAL), takes the
    strategy with the highest final mIoU, mean over its seeds (``final_miou_table``; across several
    dataset x backbone combinations, the highest row), and returns its run with the lowest seed.
    Raises FileNotFoundError when no run has a selection, ValueError when none is region-unit.
    """
    from redal_core.active.strategies import STRATEGIES, get_strategy
    from redal_core.results import read_runs

    tables = read_runs(results_dir)
    rounds = tables.rounds[tables.rounds.run_id.isin(set(tables.selections.run_id))]
    if dataset is not None:
        rounds = rounds[rounds.dataset == dataset]
    if backbone is not None:
        rounds = rounds[rounds.backbone == backbone]
    if rounds.empty:
        where = "".join(f" {k}={v}" for k, v in (("dataset", dataset), ("backbone", backbone)) if v is not None)
        raise FileNotFoundError(f"best_region_run: no run with a selection under {Path(results_dir) / 'runs'}{where}")
    known = set(STRATEGIES.names())
    region = [n for n in sorted(set(rounds.strategy)) if n in known and get_strategy(n).unit == "region"]
    if not region:
        raise ValueError(
            f"best_region_run: no region-unit strategy among the runs under {results_dir} "
            f"(strategies: {', '.join(_strategy_order(rounds.strategy))}); give run_dir explicitly"
        )
    rounds = rounds[rounds.strategy.isin(region)]
    best = final_miou_table(rounds).sort_values("miou", ascending=False, kind="stable").iloc[0]
    runs = rounds[(rounds.dataset == best.dataset) & (rounds.backbone == best.backbone)
                  & (rounds.strategy == best.strategy)]
    run_id = runs.sort_values(["seed", "run_id"]).run_id.iloc[0]
    return Path(results_dir) / "runs" / run_id


def _qualitative() -> list[str]:
    import plotly.express as px

    return list(px.colors.qualitative.Dark24) + list(px.colors.qualitative.Light24)


def write_html(figure: go.Figure, path: str | Path, *, include_plotlyjs: bool | str = True) -> Path:
    """Write an HTML file that works offline: plotly.js embedded (``True``, self-contained) or written
    once as ``plotly.min.js`` beside it (``"directory"``, for folders of many views)."""
    if include_plotlyjs not in (True, "directory"):
        raise ValueError(f"include_plotlyjs must be True or 'directory' (offline), got {include_plotlyjs!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.write_html(path, include_plotlyjs=include_plotlyjs, full_html=True)
    return path
