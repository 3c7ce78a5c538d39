"""Checks of a run before anything is trained: the run against its dataset, and a run folder's identity.

``validate_run`` raises ValueError with the offending key and value for a run that cannot work on its
training set (an unknown strategy, an initial set of no scan or of every scan, a budget beyond the pool,
MC dropout without dropout layers). ``check_run_folder`` tells a resume (the folder holds this run) from a
collision (the folder holds a run with other parameters).
"""

from __future__ import annotations

from typing import Any

import yaml

from redal_core.config import RunConfig
from redal_core.results import RunPaths

__all__ = ["NOT_IDENTITY", "check_run_folder", "pool_size", "validate_run"]

#: Config keys that do not make a run another run: where its folder lives, and how many threads compute it
#: (a resume at another thread count warns instead; see ``redal_core.active.environment``).
NOT_IDENTITY = frozenset({"results_dir", "train.threads", "train.loader_workers"})


def pool_size(config: RunConfig, dataset: Any) -> int:
    """Training scans the run draws from (``dataset.max_train_scans`` caps the dataset's)."""
    cap = config.dataset.max_train_scans
    return len(dataset) if cap is None else min(cap, len(dataset))


def validate_run(config: RunConfig, dataset: Any, *, model: Any = None, label_state: Any = None) -> None:
    """Check a run against its training dataset before anything is trained; ValueError otherwise.

    - the strategy exists (the message lists the valid names);
    - x_init labels at least one and not every training scan (names x_init, the number of scans and the
      percentage that labels one scan);
    - x_init + x_active * rounds does not exceed 100 % of the points;
    - MC dropout (MCDR, BALD) has a model with dropout (``model.has_dropout``; names the model, suggests spvcnn);
    - an inter-frame strategy (LiDAL) has a dataset with poses (``dataset.has_poses``);
    - with ``label_state`` (the initial one): one round's budget fits in the unlabeled points.
    """
    from redal_core.active.strategies import STRATEGIES

    a = config.active
    if a.strategy not in STRATEGIES:
        raise ValueError(f"active.strategy: unknown strategy {a.strategy!r}; valid names: {', '.join(STRATEGIES.names())}")
    strategy = STRATEGIES.get(a.strategy)
    n_scans = pool_size(config, dataset)
    n_init = int(round(a.x_init / 100.0 * n_scans))
    one_scan = 100.0 / n_scans
    if n_init < 1:
        raise ValueError(
            f"active.x_init = {a.x_init} % of the {n_scans} training scans gives 0 scans for the initial labeled set; "
            f"x_init must be at least {one_scan:.4g} % (one scan)"
        )
    if n_init >= n_scans:
        raise ValueError(
            f"active.x_init = {a.x_init} % of the {n_scans} training scans labels all {n_scans} of them; nothing is "
            f"left to select (at most {100.0 * (n_scans - 1) / n_scans:.4g} %)"
        )
    total = a.x_init + a.x_active * a.rounds
    if total > 100.0 + 1e-9:
        raise ValueError(
            f"budget larger than the pool: x_init {a.x_init} % + x_active {a.x_active} % x {a.rounds} rounds = "
            f"{total:.4g} % of the training points, more than 100 %; lower active.x_active or active.rounds"
        )
    if strategy.requires_dropout:
        has_dropout = bool(getattr(model, "has_dropout", False)) if model is not None else config.model.name == "spvcnn"
        if not has_dropout:
            raise ValueError(
                f"strategy {strategy.name} needs MC dropout, but model {config.model.name!r} has no dropout layers; "
                "use model.name: spvcnn"
            )
    if strategy.requires_poses and not getattr(dataset, "has_poses", False):
        raise ValueError(
            f"strategy {strategy.name} needs sensor poses (consecutive frames registered to one world frame), but "
            f"the {config.dataset.name} training set under {config.dataset.root} has none: SemanticKITTI sequences "
            "need poses.txt and calib.txt; synthetic-outdoor writes them with dataset.generate.frames_per_drive"
        )
    if label_state is not None:
        budget = label_state.budget_points(a.x_active)
        unlabeled = label_state.total_points - label_state.labeled_points
        if budget > unlabeled:
            raise ValueError(
                f"budget larger than the pool: one round's budget, x_active {a.x_active} % = {budget} points, exceeds "
                f"the {unlabeled} points left unlabeled after the initial {a.x_init} % of scans; lower active.x_active"
            )


def check_run_folder(config: RunConfig, paths: RunPaths) -> bool:
    """True when the folder holds this run (resume); False when it holds none; ValueError for another run."""
    if not paths.params.exists():
        return False
    saved = yaml.safe_load(paths.params.read_text(encoding="utf-8"))
    differing = _diff(saved, config.to_dict())
    if differing:
        raise ValueError(
            f"{paths.params} belongs to a run with other parameters (differing: {', '.join(differing)}); "
            "use another run_id or results_dir, or delete the folder to start over"
        )
    return True


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested mappings, ``NOT_IDENTITY`` left out."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            dotted = f"{prefix}{key}"
            if dotted not in NOT_IDENTITY:
                out += _diff(a.get(key), b.get(key), prefix=f"{dotted}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]
