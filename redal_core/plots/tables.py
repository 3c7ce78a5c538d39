"""Tables of the study: final mIoU (``final_miou_table``), paper Tables 1/7 (``per_class_table``) and 2/8
(``class_distribution_table``) at a budget (``budget_rounds``), and their Markdown (``to_markdown``).

IoU and mIoU in % (the run files hold fractions), like the paper; the class distribution in per mille.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from redal_core import paper_reference

from .style import _require, _strategy_order


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
