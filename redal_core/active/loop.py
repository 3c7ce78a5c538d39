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

Threads: the run applies one thread count (``redal_core.threads``: ``REDAL_THREADS`` > ``train.threads`` >
cores) to torch, numba and the OpenMP/BLAS pools before any work and again before every phase.

What it shows: one header line through ``log`` before the regions and rounds (run folder, dataset and
scans, model / backend / device, strategy, the budget per round in % and points, threads and numba's layer),
then a line per round; with ``progress``, ``tqdm.auto`` bars on stderr for the scans (a new run's first parse
into the cache: the header counts the pool's points) and regions when they are computed, each round's
epochs, evaluation and pool prediction. What it records beyond the round files: each epoch in
``train_log.csv`` (``training``), ``run.lock`` while it runs (pid, host; its mtime the heartbeat), and
``failed.json`` when it raises; ``results.status_table`` reads them.
Around the round: ``validation`` (checks before training), ``run_data`` (datasets, regions),
``labels`` (training and human labels), ``environment`` (``env.json``), ``faults`` (the crash testing hook).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from redal_core.active.attempt import RunAttempt, pool_points, remove_stale_temporaries, run_header
from redal_core.active.faults import maybe_fault, parse_fault
from redal_core.active.seeding import PHASE_INIT, PHASE_SELECT, round_rng
from redal_core.active.validation import check_run_folder, pool_size, validate_run
from redal_core.config import RunConfig
from redal_core.results import (
    RunPaths,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_yaml,
    read_state,
    write_round_metrics,
    write_state,
)
from redal_core.threads import apply_threads, resolve_threads

__all__ = ["RoundSummary", "cli_run", "run", "validate_run"]


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


def run(config: RunConfig, *, progress: bool = True, log: Callable[[str], None] | None = print) -> Path:
    """Run (or resume) the active-learning run ``config`` and return its folder.

    Raises ValueError before any training for an invalid run (see ``validate_run``), when the folder
    holds a run with other parameters, or when another live process on this host runs it (its ``run.lock``).
    ``log`` receives the header line, then one line per round (None: silent); ``progress=False`` turns
    every bar off.
    """
    import torch

    previous_mode = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    previous_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        return _run(config, progress=progress, log=log)
    finally:
        torch.use_deterministic_algorithms(previous_mode[0], warn_only=previous_mode[1])
        apply_threads(previous_threads)  # a notebook's kernel gets its own count back


def _run(config: RunConfig, *, progress: bool, log: Callable[[str], None] | None) -> Path:
    from redal_core.engine import init_distributed, resolve_device, world

    say = log or (lambda _: None)
    threads = apply_threads(resolve_threads(config.train.threads))
    fault = parse_fault(os.environ.get("REDAL_FAULT"))
    device = resolve_device(config.train.device)
    distributed = init_distributed(device)
    rank, size = world()
    paths = RunPaths(config.run_dir)

    if rank != 0:
        say = lambda _: None  # noqa: E731 - one voice per run
    previous = check_run_folder(config, paths)
    state = read_state(paths.root) if previous else None
    if state is not None and state["status"] == "complete":
        say(f"{config.run_id}: complete ({state['last_round'] + 1} rounds) in {paths.root}")
        return paths.root
    with RunAttempt(paths, rank) as attempt:
        return _rounds(config, paths, state, attempt, progress=progress, say=say, threads=threads, fault=fault,
                       device=device, distributed=distributed, rank=rank, size=size)


def _rounds(config: RunConfig, paths: RunPaths, state: dict[str, Any] | None, attempt: RunAttempt, *, progress: bool,
            say: Callable[[str], None], threads: int, fault: tuple[str, int] | None, device: Any, distributed: bool,
            rank: int, size: int) -> Path:
    """The run once this process holds its folder: data, regions, the label state, then the rounds."""
    from redal_core.active.environment import capture_environment, check_resume_threads
    from redal_core.active.labels import TrainLabels, apply_human_labels, labeled_class_counts
    from redal_core.active.pool import LabelState
    from redal_core.active.pool_table import pool_unit_table
    from redal_core.active.pseudo import choose_pseudo, predicted_classes, pseudo_labels_of, write_pseudo
    from redal_core.active.run_data import RunRegions, build_run_model, run_datasets
    from redal_core.active.strategies import STRATEGIES, StrategyParams
    from redal_core.active.training import train_round
    from redal_core.engine import barrier

    train_ds, val_ds = run_datasets(config, rank=rank, distributed=distributed)
    model = build_run_model(config, train_ds, device)
    validate_run(config, train_ds, model=model)

    strategy = STRATEGIES.get(config.active.strategy)
    pool = list(range(pool_size(config, train_ds)))
    n_val = len(val_ds) if config.dataset.max_val_scans is None else min(config.dataset.max_val_scans, len(val_ds))
    # a resumed run's label state knows the pool's points; a new run reads them from the scans (cached ones
    # are memory maps: a bar shows only while scans are parsed for the first time, before the header)
    resumed = LabelState.load(paths.round_label_state(state["last_round"])) if state is not None else None
    if rank == 0:
        points = resumed.total_points if resumed is not None else pool_points(train_ds, pool, progress=progress,
                                                                                tick=attempt.beat)
        say(run_header(config, paths, train_ds=train_ds, pool=pool, n_val=n_val, model=model, device=device,
                       world_size=size, threads=threads, pool_points=points))
        if state is not None:
            say(f"{config.run_id}: resuming after round {state['last_round']} from {paths.root}")
    regions = RunRegions(config, train_ds)
    if rank == 0:
        regions.warm(pool, cues=bool(strategy.needs & {"color", "structure"}), progress=progress, tick=attempt.beat)
        remove_stale_temporaries(paths.root)
    barrier(distributed)

    if state is None:
        # regions.min_points concerns region units (the official region pipeline); a scan unit labels every point
        min_points = config.regions.min_points if strategy.unit == "region" else 0
        label_state = LabelState.initial([regions.sizes(i) for i in pool], config.active.x_init,
                                         round_rng(config.seed, 0, PHASE_INIT), min_points=min_points)
        validate_run(config, train_ds, model=model, label_state=label_state)
        start = 0
        if rank == 0:
            atomic_write_yaml(paths.params, config.to_dict())
            atomic_write_json(paths.env, capture_environment(model, device, size, threads))
    else:
        check_resume_threads(paths, threads)
        last = state["last_round"]
        label_state = resumed
        if state["status"] == "awaiting_labels":
            label_state = apply_human_labels(paths, last, label_state, rank)
        start = last + 1

    def val_iou(bar: str | None = None) -> np.ndarray:
        """(K,) per-class IoU of the model on every point of the validation scans (NaN: class absent);
        ``bar``: the progress bar's label (None: no bar)."""
        from redal_core.engine import evaluate
        from redal_core.metrics import per_class_iou

        return per_class_iou(evaluate(model, val_ds, list(range(n_val)), voxel_size=config.dataset.voxel_size,
                                      device=device, num_classes=train_ds.num_classes,
                                      batch_size=config.train.batch_size, progress=progress and bar is not None,
                                      desc=bar or "evaluate", workers=workers))

    from redal_core.batches import loader_workers

    workers = loader_workers(config.train.loader_workers, device=device, threads=threads)
    a = config.active
    params = StrategyParams(alpha=a.alpha, beta=a.beta, gamma=a.gamma, clusters=a.clusters, decay=a.decay,
                            trim_top=a.trim_top)
    K = a.rounds
    for r in range(start, K + 1):
        attempt.round = r
        attempt.beat()
        t_round = time.perf_counter()
        times = {"train_s": 0.0, "eval_s": 0.0, "predict_s": 0.0, "select_s": 0.0}
        labeled_scans = [s for s in pool if label_state.labeled_regions(s).any()]
        label_fn = TrainLabels(human=a.oracle == "human", paths=paths, dataset=train_ds,
                               region_of=regions.region_ids, label_state=label_state)
        pseudo_pairs, pseudo_files = pseudo_labels_of(paths, r - 1) if a.pseudo_labels else (set(), {})
        train_labels = label_fn
        if pseudo_files:  # LiDAL's pseudo-labels of the previous round train this round only
            train_labels = TrainLabels(human=a.oracle == "human", paths=paths, dataset=train_ds,
                                       region_of=regions.region_ids, label_state=label_state, pseudo=pseudo_files)

        apply_threads(threads)  # train (or reuse this round's checkpoint, written right after training)
        t0 = time.perf_counter()
        train_round(config, paths, model, train_ds, sorted(set(labeled_scans) | set(pseudo_files)), train_labels,
                    r, device, progress=progress, fault=fault, rank=rank, distributed=distributed,
                    val_miou=lambda: _miou(val_iou()), heartbeat=attempt.beat, workers=workers)
        times["train_s"] = time.perf_counter() - t0

        apply_threads(threads)  # evaluate on all points of the validation scans
        attempt.beat()
        t0 = time.perf_counter()
        scored = config.train.eval_every_round or r == K
        iou = val_iou(f"round {r} evaluate") if scored else np.full(train_ds.num_classes, np.nan)
        miou = _miou(iou)
        times["eval_s"] = time.perf_counter() - t0
        maybe_fault(fault, "eval", r)

        selection = None  # predict, score, select
        if r < K:
            apply_threads(threads)
            attempt.beat()
            table, times["predict_s"], score_s = pool_unit_table(config, strategy, model, train_ds, pool, regions,
                                                                   label_state, r, device, rank, size,
                                                                   progress=progress, workers=workers)
            maybe_fault(fault, "predict", r)
            apply_threads(threads)
            attempt.beat()
            t0 = time.perf_counter()
            selection = strategy.select(table, budget_points=label_state.budget_points(a.x_active),
                                        rng=round_rng(config.seed, r, PHASE_SELECT), params=params)
            times["select_s"] = score_s + time.perf_counter() - t0
            if a.pseudo_labels and rank == 0:
                chosen = choose_pseudo(table, set(zip(selection.scan.tolist(), selection.region.tolist(), strict=True)),
                                       pseudo_pairs, label_state.budget_points(a.x_active))
                write_pseudo(paths, r, chosen, lambda s: predicted_classes(model, train_ds, s, config, device),
                             regions.region_ids)

        # write the round: metrics and selection, then label state, then state.json (last)
        summary = RoundSummary(
            round=r, labeled_points=label_state.labeled_points, labeled_pct=label_state.labeled_pct, miou=miou,
            selected_units=0 if selection is None else len(selection),
            selected_points=0 if selection is None else selection.total_points,
            times={"wall_s": time.perf_counter() - t_round, **times},
        )
        if rank == 0:
            row = {"labeled_points": summary.labeled_points, "labeled_pct": summary.labeled_pct, "miou": miou,
                   **summary.times}
            write_round_metrics(paths, r, row, train_ds.class_names, iou,
                                labeled_class_counts(train_ds, labeled_scans, label_fn))
            if selection is not None:
                frame = selection.to_frame()
                frame.insert(1, "scan_name", [train_ds.scan_names[int(s)] for s in frame["scan"]])
                atomic_write_csv(paths.selection(r), frame)
        maybe_fault(fault, "select", r)
        status = "complete" if r == K else "incomplete"
        if selection is not None:
            if a.oracle == "human":
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
        barrier(distributed)
        say(summary.line(strategy.name))
        if status == "awaiting_labels":
            say(f"{config.run_id}: round {r}'s selection is in {paths.selection(r)}; export it with "
                f"`redal export {paths.root} --round {r}` (writes {paths.export(r)}), import the annotators' labels "
                f"with `redal import {paths.root} {paths.export(r)}`, then run again (`redal run {paths.params}`)")
            break
    return paths.root


def cli_run(args: argparse.Namespace) -> int:
    """``redal run CONFIG.yaml [--results-dir DIR]``; under torchrun the process group is destroyed on every
    exit path (``redal_core.cli`` then leaves a distributed rank through ``os._exit``)."""
    from redal_core.engine import shutdown_distributed, world

    config = RunConfig.from_yaml(args.config)
    if getattr(args, "results_dir", None):
        config = config.replace(results_dir=args.results_dir)
    try:
        run_dir = run(config)
        if world()[0] == 0:
            print(f"run folder: {run_dir}")
    finally:
        shutdown_distributed()
    return 0


# -- pieces of a round ----------------------------------------------------------------------------------
def _miou(iou: np.ndarray) -> float:
    return float(np.nanmean(iou)) if not np.isnan(iou).all() else float("nan")
