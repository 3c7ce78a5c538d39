"""The ReDAL paper's own numbers (supplementary Tables 3-8), shipped in ``redal_core/paper/*.csv``.

Every loader returns a tidy pandas DataFrame in the kit's vocabulary: dataset names ``s3dis`` /
``semantickitti``, backbone names ``minkunet`` (the paper's MinkowskiNet) / ``spvcnn`` and the strategy
names of ``redal_core.active.strategies`` (RAND, MAR, CONF, ENT, CSET, SEGENT, MCDR, ReDAL). Values are
percent (IoU, mIoU, labeled points) or per mille (class distribution), exactly as printed in the paper.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

#: The paper's dataset spelling -> the kit's dataset name.
DATASETS: dict[str, str] = {"S3DIS": "s3dis", "SemanticKITTI": "semantickitti"}
#: The paper's backbone spelling -> the kit's model name.
BACKBONES: dict[str, str] = {"MinkowskiNet": "minkunet", "SPVCNN": "spvcnn"}
#: Strategies compared in the paper's Fig. 5 / Tables 3-6, in the paper's column order.
STRATEGIES: tuple[str, ...] = ("RAND", "MAR", "CONF", "ENT", "CSET", "SEGENT", "MCDR", "ReDAL")
#: The paper's fully supervised row of Tables 1/2/7/8: every training point labeled.
FULL = "Full"
#: The budget of the paper's active-learning rows in Tables 1/7 (% labeled points).
TABLE_BUDGET_PCT = 5.0

_CURVES = "miou_curves.csv"
_PER_CLASS = "semantickitti_per_class_iou_5pct.csv"
_DISTRIBUTION = "semantickitti_labeled_class_ratio_permille.csv"


def _read(name: str) -> pd.DataFrame:
    with resources.files("redal_core").joinpath("paper", name).open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle)


def is_paper_combo(dataset: str, backbone: str) -> bool:
    """True when the paper reports curves for this kit ``dataset`` x ``backbone`` (real data only)."""
    return dataset in DATASETS.values() and backbone in BACKBONES.values()


def miou_curves(dataset: str | None = None, backbone: str | None = None) -> pd.DataFrame:
    """The paper's Fig. 5 curves (Tables 3-6) as a long table.

    Columns: ``dataset``, ``backbone`` (kit names), ``paper_dataset``, ``paper_backbone``, ``strategy``,
    ``labeled_pct`` (float, %), ``miou`` (float, %), ``round`` (0 = the initial labeled set). Strategies a
    combination does not report (MCDR with MinkowskiNet) have no rows. ``dataset`` / ``backbone`` filter
    by kit name; an unknown name raises ValueError listing the valid ones.
    """
    _check_choice("dataset", dataset, DATASETS.values())
    _check_choice("backbone", backbone, BACKBONES.values())
    wide = _read(_CURVES)
    long = wide.melt(
        id_vars=["dataset", "backbone", "labeled_pct"], var_name="strategy", value_name="miou"
    ).dropna(subset=["miou"])
    long = long.rename(columns={"dataset": "paper_dataset", "backbone": "paper_backbone"})
    long["dataset"] = long["paper_dataset"].map(DATASETS)
    long["backbone"] = long["paper_backbone"].map(BACKBONES)
    long["labeled_pct"] = long["labeled_pct"].astype(float)
    long["miou"] = long["miou"].astype(float)
    long = long.sort_values(["dataset", "backbone", "strategy", "labeled_pct"], kind="stable")
    long["round"] = long.groupby(["dataset", "backbone", "strategy"]).cumcount()
    if dataset is not None:
        long = long[long["dataset"] == dataset]
    if backbone is not None:
        long = long[long["backbone"] == backbone]
    columns = ["dataset", "backbone", "paper_dataset", "paper_backbone", "strategy", "round", "labeled_pct", "miou"]
    return long[columns].reset_index(drop=True)


def per_class_iou() -> pd.DataFrame:
    """Per-class IoU (%) on SemanticKITTI val at 5 % labeled points, MinkowskiNet (Tables 1 and 7).

    Columns: ``dataset`` ("semantickitti"), ``backbone`` ("minkunet"), ``labeled_pct`` (100.0 for Full,
    the fully supervised row; 5.0 for RAND and ReDAL), ``method`` (Full | RAND | ReDAL), ``class`` (the 19
    SemanticKITTI class names, in the paper's order), ``iou`` (%).
    The paper's reported mIoU per method is in ``paper_miou`` (``per_class_miou()`` returns it alone).
    """
    wide = _read(_PER_CLASS)
    long = wide.melt(id_vars=["method", "mIoU"], var_name="class", value_name="iou")
    long = long.rename(columns={"mIoU": "paper_miou"})
    long.insert(0, "labeled_pct", long["method"].map(lambda m: 100.0 if m == FULL else TABLE_BUDGET_PCT))
    long.insert(0, "backbone", "minkunet")
    long.insert(0, "dataset", "semantickitti")
    long["iou"] = long["iou"].astype(float)
    return long[["dataset", "backbone", "labeled_pct", "method", "class", "iou", "paper_miou"]]


def per_class_miou() -> pd.Series:
    """The mIoU (%) the paper prints beside Table 7's per-class IoU, indexed by method."""
    wide = _read(_PER_CLASS)
    return wide.set_index("method")["mIoU"].astype(float)


def class_distribution() -> pd.DataFrame:
    """Labeled class distribution (per mille) on SemanticKITTI, MinkowskiNet (Tables 2 and 8).

    Columns: ``dataset``, ``backbone``, ``method`` (Full | RAND | ReDAL), ``class``, ``permille``.
    The paper's unnamed first column (103 in every row, no header in the paper) is left out.
    """
    wide = _read(_DISTRIBUTION).drop(columns=["first_column_unnamed"])
    long = wide.melt(id_vars=["method"], var_name="class", value_name="permille")
    long.insert(0, "backbone", "minkunet")
    long.insert(0, "dataset", "semantickitti")
    long["permille"] = long["permille"].astype(float)
    return long


def class_names(dataset: str = "semantickitti") -> list[str]:
    """The class names in the order the paper's SemanticKITTI tables print them."""
    _check_choice("dataset", dataset, ["semantickitti"])
    return [c for c in _read(_PER_CLASS).columns if c not in ("method", "mIoU")]


def _check_choice(key: str, value: str | None, allowed) -> None:
    allowed = list(allowed)
    if value is not None and value not in allowed:
        raise ValueError(f"paper reference: unknown {key} {value!r}; the paper reports {', '.join(allowed)}")
