"""What every figure and table shares: the strategies' colours and order, the seed-count wording, the
check of the tidy frames they take.

The colour and order tables exist here only: a strategy looks the same and sits in the same place in every
figure and table of ``redal_core.plots``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

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
