"""The resumable active-learning loop: ``run(config) -> run folder``.

Round r = 0..K (K = ``active.rounds``): train (r = 0 from scratch for ``epochs_init`` epochs, r > 0
fine-tune round r-1's checkpoint for ``epochs_finetune``) on the labeled points; evaluate on every
validation scan (all points); write round r's metrics; if r < K: predict on the pool scans that still
have unlabeled units, reduce each scan at once to its unit rows, select with the strategy, and label
the selection (labels selected after round r are first used to train round r+1, and carry round r+1 in
the label state). The folder layout is in ``redal_core.results``.

Resuming: ``state.json`` (last complete round, status) is written last, after the round's other files
(each written to a temporary name and renamed). A rerun of the same config continues after the last
complete round from that round's checkpoint and label state. Every round draws its randomness from
``(seed, round, phase)``: numpy generators ``default_rng([seed, round, phase])`` and torch seeded from the
same, re-seeded before each phase, so an interrupted and resumed run repeats an uninterrupted one.

Environment knobs: ``REDAL_THREADS=N`` sets torch's intra-op threads (several runs sharing a machine).
Testing hook: ``REDAL_FAULT=<phase>:<round>`` makes the process SIGKILL itself at that point, to test
crash recovery: ``train:R`` after the first epoch of round R's training, ``select:R`` after round R's
selection file and metrics are written but before the label state and ``state.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from redal_core import IGNORE_INDEX, __version__
from redal_core.config import SYNTHETIC, RunConfig
from redal_core.results import (
    DISTRIBUTION_COLUMNS,
    PER_CLASS_COLUMNS,
    ROUNDS_COLUMNS,
    RunPaths,
    atomic_save_with,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_yaml,
    read_state,
    stale_temporaries,
    write_state,
)

_PHASE_INIT, _PHASE_TRAIN, _PHASE_PREDICT, _PHASE_SELECT = 0, 1, 2, 3
_GENERATORS = {"synthetic-indoor": "write_synthetic_indoor", "synthetic-outdoor": "write_synthetic_outdoor"}


# -- validation -----------------------------------------------------------------------------------------
def validate_run(config: RunConfig, dataset: Any, *, model: Any = None, label_state: Any = None) -> None:
    """Check a run against its training dataset before anything is trained; ValueError otherwise.

    - the strategy exists (the message lists the valid names);
    - x_init labels at least one and not every training scan (names x_init, the number of scans and the
      percentage that labels one scan);
    - x_init + x_active * rounds does not exceed 100 % of the points;
    - MC dropout (MCDR) has a model with dropout (``model.has_dropout``; names the model, suggests spvcnn);
    - with ``label_state`` (the initial one): one round's budget fits in the unlabeled points.
    """
    from redal_core.active.strategies import STRATEGIES

    a = config.active
    if a.strategy not in STRATEGIES:
        raise ValueError(f"active.strategy: unknown strategy {a.strategy!r}; valid names: {', '.join(STRATEGIES.names())}")
    strategy = STRATEGIES.get(a.strategy)
    n_scans = _pool_size(config, dataset)
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
    if label_state is not None:
        budget = label_state.budget_points(a.x_active)
        unlabeled = label_state.total_points - label_state.labeled_points
        if budget > unlabeled:
            raise ValueError(
                f"budget larger than the pool: one round's budget, x_active {a.x_active} % = {budget} points, exceeds "
                f"the {unlabeled} points left unlabeled after the initial {a.x_init} % of scans; lower active.x_active"
            )


def _pool_size(config: RunConfig, dataset: Any) -> int:
    cap = config.dataset.max_train_scans
    return len(dataset) if cap is None else min(cap, len(dataset))


# -- the run --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RoundSummary:
    round: int
    labeled_points: int
    labeled_pct: float
    miou: float
    selected_units: int
    selected_points: int
    times: dict[str, float]

    def line(self, strategy: str) -> str:
        sel = f", selected {self.selected_units} units / {self.selected_points} pts" if self.selected_units else ""
        timing = " ".join(f"{k.removesuffix('_s')} {v:.1f}s" for k, v in self.times.items())
        return (f"[{strategy}] round {self.round}: labeled {self.labeled_pct:.2f} % ({self.labeled_points} pts), "
                f"mIoU {self.miou * 100:.2f}{sel} | {timing}")


def run(
    config: RunConfig,
    *,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
) -> Path:
    """Run (or resume) the active-learning run ``config`` and return its folder.

    Raises ValueError before any training for an invalid run (see ``validate_run``) or when the folder
    holds a run with other parameters. ``log`` receives one line per round (None: silent).
    """
    import torch

    previous_mode = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        return _run(config, progress=progress, log=log)
    finally:
        torch.use_deterministic_algorithms(previous_mode[0], warn_only=previous_mode[1])


def _run(config: RunConfig, *, progress: bool, log: Callable[[str], None] | None) -> Path:
    import torch

    from redal_core.engine import init_distributed, resolve_device, world

    say = log or (lambda _: None)
    threads = os.environ.get("REDAL_THREADS")
    if threads:
        if not threads.isdigit() or int(threads) < 1:
            raise ValueError(f"REDAL_THREADS={threads!r} must be a positive integer")
        torch.set_num_threads(int(threads))
    fault = _parse_fault(os.environ.get("REDAL_FAULT"))
    device = resolve_device(config.train.device)
    distributed = init_distributed(device)
    rank, size = world()
    paths = RunPaths(config.run_dir)

    if rank != 0:
        say = lambda _: None  # noqa: E731 - one voice per run
    previous = _check_params(config, paths)
    state = read_state(paths.root) if previous else None
    if state is not None and state["status"] == "complete":
        say(f"{config.run_id}: complete ({state['last_round'] + 1} rounds) in {paths.root}")
        return paths.root
    train_ds, val_ds = _datasets(config, rank=rank, distributed=distributed)
    model = _build_model(config, train_ds, device)
    validate_run(config, train_ds, model=model)

    from redal_core.active.pool import LabelState
    from redal_core.active.strategies import STRATEGIES, StrategyParams

    strategy = STRATEGIES.get(config.active.strategy)
    pool = list(range(_pool_size(config, train_ds)))
    val = list(range(len(val_ds) if config.dataset.max_val_scans is None else min(config.dataset.max_val_scans, len(val_ds))))
    regions = _Regions(config, train_ds)
    if rank == 0:
        regions.warm(pool)
    _barrier(distributed)

    if rank == 0:
        _remove_stale_temporaries(paths.root)
    if state is None:
        label_state = LabelState.initial(
            [regions.sizes(i) for i in pool], config.active.x_init, _rng(config.seed, 0, _PHASE_INIT)
        )
        validate_run(config, train_ds, model=model, label_state=label_state)
        start = 0
        if rank == 0:
            atomic_write_yaml(paths.params, config.to_dict())
            atomic_write_json(paths.env, _environment(model, device, size))
    else:
        last = state["last_round"]
        label_state = LabelState.load(paths.round_label_state(last))
        if state["status"] == "awaiting_labels":
            label_state = _apply_human_labels(paths, last, label_state, rank)
        start = last + 1
        say(f"{config.run_id}: resuming after round {last} from {paths.root}")

    params = StrategyParams(alpha=config.active.alpha, beta=config.active.beta, gamma=config.active.gamma,
                            clusters=config.active.clusters, decay=config.active.decay)
    K = config.active.rounds
    for r in range(start, K + 1):
        t_round = time.perf_counter()
        times = {"train_s": 0.0, "eval_s": 0.0, "predict_s": 0.0, "select_s": 0.0}
        labeled_scans = [s for s in pool if label_state.labeled_regions(s).any()]
        label_fn = _TrainLabels(config, paths, train_ds, regions, label_state)

        # train (or reuse this round's checkpoint, written right after training)
        t0 = time.perf_counter()
        _train_round(config, paths, model, train_ds, labeled_scans, label_fn, r, device,
                     progress=progress, fault=fault, rank=rank, distributed=distributed)
        times["train_s"] = time.perf_counter() - t0

        # evaluate on all points of the validation scans
        t0 = time.perf_counter()
        iou = np.full(train_ds.num_classes, np.nan)
        if config.train.eval_every_round or r == K:
            from redal_core.engine import evaluate
            from redal_core.metrics import per_class_iou

            conf = evaluate(model, val_ds, val, voxel_size=config.dataset.voxel_size, device=device,
                            num_classes=train_ds.num_classes, batch_size=config.train.batch_size)
            iou = per_class_iou(conf)
        miou = float(np.nanmean(iou)) if not np.isnan(iou).all() else float("nan")
        times["eval_s"] = time.perf_counter() - t0

        # predict, score, select
        selection = None
        if r < K:
            table, times["predict_s"], score_s = _unit_table(config, strategy, model, train_ds, pool, regions,
                                                             label_state, r, device, rank, size)
            t0 = time.perf_counter()
            selection = strategy.select(table, budget_points=label_state.budget_points(config.active.x_active),
                                        rng=_rng(config.seed, r, _PHASE_SELECT), params=params)
            times["select_s"] = score_s + time.perf_counter() - t0

        # write the round: metrics and selection, then label state, then state.json (last)
        summary = RoundSummary(
            round=r, labeled_points=label_state.labeled_points, labeled_pct=label_state.labeled_pct, miou=miou,
            selected_units=0 if selection is None else len(selection),
            selected_points=0 if selection is None else selection.total_points,
            times={"wall_s": time.perf_counter() - t_round, **times},
        )
        if rank == 0:
            distribution = _class_distribution(train_ds, labeled_scans, label_fn)
            _write_metrics(paths, train_ds.class_names, summary, iou, distribution)
            if selection is not None:
                frame = selection.to_frame()
                frame.insert(1, "scan_name", [train_ds.scan_names[int(s)] for s in frame["scan"]])
                atomic_write_csv(paths.selection(r), frame)
        _maybe_fault(fault, "select", r)
        status = "complete" if r == K else "incomplete"
        if selection is not None:
            if config.active.oracle == "human":
                status = "awaiting_labels"
            else:
                label_state.label(selection.scan, selection.region, round=r + 1)
        if rank == 0:
            label_state.save(paths.round_label_state(r))
            label_state.save(paths.label_state)
            write_state(paths.root, last_round=r, rounds=K, status=status)
            if config.train.keep_checkpoints == "last" and r > 0:
                # round r is complete and resumes from checkpoint r alone; r-1's model is no longer needed
                paths.checkpoint(r - 1).unlink(missing_ok=True)
        _barrier(distributed)
        say(summary.line(strategy.name))
        if status == "awaiting_labels":
            say(f"{config.run_id}: round {r}'s selection is in {paths.selection(r)}; export it with "
                f"`redal export {paths.root} --round {r}`, import the labels with `redal import`, then run again")
            break
    return paths.root


def cli_run(args: argparse.Namespace) -> int:
    """``redal run CONFIG.yaml [--results-dir DIR]``."""
    config = RunConfig.from_yaml(args.config)
    if getattr(args, "results_dir", None):
        config = config.replace(results_dir=args.results_dir)
    run_dir = run(config)
    from redal_core.engine import world

    if world()[0] == 0:
        print(f"run folder: {run_dir}")
    return 0


# -- pieces of a round ----------------------------------------------------------------------------------
def _rng(seed: int, round_: int, phase: int) -> np.random.Generator:
    return np.random.default_rng([seed, round_, phase])


def _seed_torch(seed: int, round_: int, phase: int) -> None:
    import torch

    torch.manual_seed(int(_rng(seed, round_, phase).integers(2**62)))


class _Regions:
    """Per-scan regions (``scan_regions``, cached on disk by the regions module)."""

    def __init__(self, config: RunConfig, dataset: Any) -> None:
        self.dataset = dataset
        self.preset = config.dataset.vccs
        self.k = config.dataset.knn

    def get(self, i: int) -> dict[str, np.ndarray]:
        from redal_core.regions import scan_regions

        return scan_regions(self.dataset, i, self.preset, self.k)

    def warm(self, indices: list[int]) -> None:
        for i in indices:
            self.get(i)

    def sizes(self, i: int) -> np.ndarray:
        return np.bincount(np.asarray(self.get(i)["region"]))


class _TrainLabels:
    """Training labels of scan i: ground truth (or human annotations) where the label state says labeled."""

    def __init__(self, config: RunConfig, paths: RunPaths, dataset: Any, regions: _Regions, label_state: Any) -> None:
        self.human = config.active.oracle == "human"
        self.paths = paths
        self.regions = regions
        self.label_state = label_state
        self.dataset = dataset

    def __call__(self, i: int, scan: Any) -> np.ndarray:
        labels = np.asarray(scan.labels, np.int64)
        if self.human and self.paths.annotation(i).exists():
            annotation = np.load(self.paths.annotation(i))
            if annotation.shape != labels.shape:
                raise ValueError(
                    f"{self.paths.annotation(i)}: {annotation.shape[0]} labels for scan {i} "
                    f"({self.dataset.scan_names[i]}) of {labels.shape[0]} points"
                )
            labels = np.where(annotation != IGNORE_INDEX, annotation.astype(np.int64), labels)
        return self.label_state.training_labels(i, np.asarray(self.regions.get(i)["region"]), labels)


def _train_round(config, paths, model, dataset, labeled_scans, label_fn, r, device, *, progress, fault, rank,
                 distributed) -> None:
    """Round r's training, leaving ``checkpoints/round_r.pt`` (model + Adam state) behind."""
    import torch

    from redal_core.engine import ScanSamples, train

    checkpoint = paths.checkpoint(r)
    if checkpoint.exists():  # trained before an interruption: the checkpoint is exactly that model
        saved = torch.load(checkpoint, map_location=device, weights_only=True)
        model.load_state_dict(saved["model"])
        return
    optimizer_state = None
    if r > 0:
        saved = torch.load(paths.checkpoint(r - 1), map_location=device, weights_only=True)
        model.load_state_dict(saved["model"])
        optimizer_state = saved["optimizer"]
    epochs = config.train.epochs_init if r == 0 else config.train.epochs_finetune
    _seed_torch(config.seed, r, _PHASE_TRAIN)
    samples = ScanSamples(dataset, labeled_scans, label_fn=label_fn)
    on_epoch = (lambda epoch: _maybe_fault(fault, "train", r)) if fault else None
    result = train(model, samples, epochs=epochs, lr=config.train.lr, batch_size=config.train.batch_size,
                   voxel_size=config.dataset.voxel_size, device=device, rng=_rng(config.seed, r, _PHASE_TRAIN),
                   optimizer_state=optimizer_state, progress=progress, desc=f"round {r}", on_epoch=on_epoch)
    if rank == 0:
        state = {"model": model.state_dict(), "optimizer": result.optimizer_state, "round": r}
        atomic_save_with(checkpoint, lambda p: torch.save(state, p))
    _barrier(distributed)


def _unit_table(config, strategy, model, dataset, pool, regions, label_state, r, device, rank, size):
    """The pool's unit table (gathered over ranks) and the seconds spent predicting and scoring."""
    from redal_core.active.units import UnitTable, scan_unit_rows
    from redal_core.engine import ScanSamples, predict, shard

    if strategy.unit == "scan" and "features" in strategy.needs:
        todo = list(pool)  # core-set distances are measured from the labeled scans' features too
    else:
        todo = [s for s in pool if not label_state.labeled_regions(s).all()]  # scans with an unlabeled unit
    mine = shard(todo, rank, size)
    needs = set(strategy.needs)
    need_model = bool(needs - {"color", "structure"})
    mc_passes = config.active.mc_passes if "mc_entropy" in needs else 0
    _seed_torch(config.seed, r, _PHASE_PREDICT)
    predictions = (
        predict(model, ScanSamples(dataset, mine, with_labels=False), voxel_size=config.dataset.voxel_size,
                device=device, mc_passes=mc_passes, batch_size=config.train.batch_size)
        if need_model else iter(())
    )
    predict_s = score_s = 0.0
    rows = []
    for s in mine:
        t0 = time.perf_counter()
        pred = next(predictions) if need_model else None
        predict_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        reg = regions.get(s)
        region_ids = np.asarray(reg["region"])
        rows.append(scan_unit_rows(
            s, unit=strategy.unit, region_ids=region_ids, labeled_mask=label_state.point_mask(s, region_ids),
            needs=needs, probs=None if pred is None else pred.probs,
            features=None if pred is None else pred.features, mc_probs=None if pred is None else pred.mc_probs,
            color=np.asarray(reg["color"]) if "color" in needs else None,
            structure=np.asarray(reg["structure"]) if "structure" in needs else None,
            num_classes=dataset.num_classes,
        ))
        score_s += time.perf_counter() - t0
    if size > 1:
        import torch.distributed as dist

        gathered: list[Any] = [None] * size
        dist.all_gather_object(gathered, rows)
        rows = sorted((row for part in gathered for row in part), key=lambda t: int(t.scan[0]))
    return UnitTable.concat(rows), predict_s, score_s


def _class_distribution(dataset: Any, labeled_scans: list[int], label_fn: Callable) -> np.ndarray:
    from redal_core.metrics import class_counts

    counts = np.zeros(dataset.num_classes, np.int64)
    for i in labeled_scans:
        counts += class_counts(label_fn(i, dataset[i]), dataset.num_classes)
    return counts


def _write_metrics(paths: RunPaths, class_names: list[str], summary: RoundSummary, iou: np.ndarray,
                   counts: np.ndarray) -> None:
    import pandas as pd

    from redal_core.metrics import permille

    r = summary.round
    row = {"round": r, "labeled_points": summary.labeled_points, "labeled_pct": summary.labeled_pct,
           "miou": summary.miou, **summary.times}
    ids = np.arange(len(class_names))
    new = {
        paths.rounds: pd.DataFrame([row], columns=ROUNDS_COLUMNS),
        paths.per_class: pd.DataFrame({"round": r, "class_id": ids, "class": class_names, "iou": iou},
                                      columns=PER_CLASS_COLUMNS),
        paths.class_distribution: pd.DataFrame({"round": r, "class_id": ids, "class": class_names,
                                                "labeled_points": counts, "permille": permille(counts)},
                                               columns=DISTRIBUTION_COLUMNS),
    }
    for path, frame in new.items():
        if path.exists():  # keep earlier rounds; rows of this round from an interrupted attempt are replaced
            old = pd.read_csv(path)
            frame = pd.concat([old[old["round"] < r], frame], ignore_index=True)
        atomic_write_csv(path, frame)


def _apply_human_labels(paths: RunPaths, round_: int, label_state: Any, rank: int) -> Any:
    """The label state after round ``round_``'s human labels (oracle: human), as ``redal import`` left it
    in ``label_state.npz``; ValueError while none of the selected units is labeled yet."""
    import pandas as pd

    from redal_core.active.pool import LabelState

    imported = LabelState.load(paths.label_state)
    before = np.concatenate(label_state.round_of)
    after = np.concatenate(imported.round_of) if imported.num_scans == label_state.num_scans else None
    if after is None or after.shape != before.shape or not (
        np.array_equal(after[before >= 0], before[before >= 0]) and set(np.unique(after[before < 0])) <= {-1, round_ + 1}
    ):
        raise ValueError(f"{paths.label_state} does not extend the label state saved after round {round_} "
                         f"({paths.round_label_state(round_)}); was it written by another run?")
    selection = pd.read_csv(paths.selection(round_))
    scans, _ = imported.units_labeled_in(round_ + 1)
    if scans.size == 0:
        raise ValueError(
            f"run {paths.root.name} is awaiting labels for round {round_}: none of the {len(selection)} selected "
            f"unit(s) is labeled yet; export them with `redal export {paths.root} --round {round_} --out DIR` and "
            "import the annotators' files with `redal import`"
        )
    missing = [(int(s), int(r)) for s, r in zip(selection["scan"], selection["region"], strict=True)
               if not imported.is_labeled(int(s), int(r))]
    if missing:
        warnings.warn(
            f"run {paths.root.name}: {len(missing)} of the {len(selection)} unit(s) selected after round {round_} "
            f"were not imported (first: scan {missing[0][0]}, region {missing[0][1]}); they stay unlabeled",
            stacklevel=3,
        )
    if rank == 0:
        imported.save(paths.round_label_state(round_))
        state = read_state(paths.root)
        write_state(paths.root, last_round=round_, rounds=state["rounds"], status="incomplete")
    return imported


# -- set-up ---------------------------------------------------------------------------------------------
def _check_params(config: RunConfig, paths: RunPaths) -> bool:
    """True when the folder holds this run (resume); ValueError when it holds another one."""
    import yaml

    if not paths.params.exists():
        return False
    saved = yaml.safe_load(paths.params.read_text(encoding="utf-8"))
    mine = config.to_dict()
    diff = sorted(_diff(saved, mine, ignore={"results_dir"}))
    if diff:
        raise ValueError(
            f"{paths.params} belongs to a run with other parameters (differing: {', '.join(diff)}); "
            "use another run_id or results_dir, or delete the folder to start over"
        )
    return True


def _diff(a: Any, b: Any, *, ignore: set[str], prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            if key in ignore and not prefix:
                continue
            out += _diff(a.get(key), b.get(key), ignore=ignore, prefix=f"{prefix}{key}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


def _datasets(config: RunConfig, *, rank: int, distributed: bool):
    from redal_core.data.datasets import build_dataset

    d = config.dataset
    root = Path(d.root)
    if d.name in SYNTHETIC and not (root.is_dir() and any(root.iterdir())):
        if rank == 0:
            _generate(config)
        _barrier(distributed)
    elif not root.is_dir():
        raise FileNotFoundError(f"dataset.root {root} does not exist ({d.name} needs its original files there)")
    train_ds = build_dataset(d.name, root, "train", cache_dir=d.cache_dir)
    val_ds = build_dataset(d.name, root, "val", cache_dir=d.cache_dir)
    if d.name in SYNTHETIC:
        _check_generated(config, len(train_ds) + len(val_ds))
    return train_ds, val_ds


_MARKER = ".redal-generate.json"


def _generate_params(config: RunConfig) -> dict[str, Any]:
    g = config.dataset.generate
    out = {"dataset": config.dataset.name, "scans": g.scans, "seed": g.seed}
    if config.dataset.name == "synthetic-indoor":  # the outdoor generator sets its size by beams x azimuth steps
        out["points_per_room"] = g.points_per_room
    return out


def _check_generated(config: RunConfig, n_scans: int) -> None:
    """The synthetic data under dataset.root must be what dataset.generate describes (not an older demo's)."""
    root = Path(config.dataset.root)
    wanted = _generate_params(config)
    marker = root / _MARKER
    if marker.exists():
        found = json.loads(marker.read_text(encoding="utf-8"))
        if found != wanted:
            raise ValueError(
                f"dataset.root {root} holds synthetic data generated with {found}, but dataset.generate asks for "
                f"{wanted}; delete {root} (it is regenerated on the next run) or point dataset.root elsewhere"
            )
    elif n_scans != wanted["scans"]:
        raise ValueError(
            f"dataset.root {root} holds {n_scans} {config.dataset.name} scans, but dataset.generate asks for "
            f"{wanted['scans']}; delete {root} (it is regenerated on the next run) or point dataset.root elsewhere"
        )


def _generate(config: RunConfig) -> None:
    """Write the synthetic dataset into a temporary folder and rename it into place (concurrent runs of a
    sweep may race to generate the same root: one wins, the others discard their copy)."""
    import shutil
    import tempfile

    from redal_core.data import synthetic

    root = Path(config.dataset.root)
    root.parent.mkdir(parents=True, exist_ok=True)
    params = _generate_params(config)
    kwargs = {key: value for key, value in params.items() if key != "dataset"}
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.generating-", dir=root.parent))
    try:
        getattr(synthetic, _GENERATORS[config.dataset.name])(tmp, **kwargs)
        (tmp / _MARKER).write_text(json.dumps(params, sort_keys=True), encoding="utf-8")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's folder is private; the dataset is not
        try:
            os.replace(tmp, root)  # also replaces an empty folder
        except OSError:
            if not (root.is_dir() and any(root.iterdir())):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _build_model(config: RunConfig, dataset: Any, device: Any):
    from redal_core.models import build_model

    _seed_torch(config.seed, 0, _PHASE_INIT)
    model = build_model(config.model.name, in_channels=dataset.in_channels, num_classes=dataset.num_classes,
                        width=config.model.width, backend=config.model.backend)
    return model.to(device)


def _environment(model: Any, device: Any, world_size: int) -> dict[str, Any]:
    import torch

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "backend": getattr(model, "backend_name", None) or type(getattr(model, "backend", None)).__name__,
        "device": str(device),
        "world_size": world_size,
        "threads": torch.get_num_threads(),
        "git_commit": commit,
        "hostname": socket.gethostname(),
        "redal_core": __version__,
    }


def _remove_stale_temporaries(run_dir: Path) -> None:
    stale = stale_temporaries(run_dir)
    if stale:
        warnings.warn(
            f"{run_dir}: removed {len(stale)} half-written temporary file(s) of an interrupted run: "
            f"{', '.join(p.name for p in stale[:5])}{' ...' if len(stale) > 5 else ''}",
            stacklevel=3,
        )
        for p in stale:
            p.unlink()


def _barrier(distributed: bool) -> None:
    if distributed:
        import torch.distributed as dist

        dist.barrier()


# -- testing hook ---------------------------------------------------------------------------------------
def _parse_fault(spec: str | None) -> tuple[str, int] | None:
    if not spec:
        return None
    phase, _, round_ = spec.partition(":")
    if phase not in ("train", "select") or not round_.isdigit():
        raise ValueError(f"REDAL_FAULT={spec!r} must be train:<round> or select:<round> (a testing hook)")
    return phase, int(round_)


def _maybe_fault(fault: tuple[str, int] | None, phase: str, round_: int) -> None:
    if fault == (phase, round_):
        os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["RoundSummary", "cli_run", "run", "validate_run"]
