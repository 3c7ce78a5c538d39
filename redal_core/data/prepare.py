"""``redal prepare``: every per-scan step of a run done once, before the runs, in parallel and resumable.

What is prepared, per dataset root (the ``--dataset``/``--root`` of the command line, the roots of a params
file's runs, or both; a root named twice is prepared once with the union of the work):

1. synthetic datasets only: the command line's ``--scans``/``--seed`` are written under its root (today's
   behaviour), a params file's ``dataset.generate`` through ``ensure_generated`` (as a run would);
2. every scan of the train and val splits is read into the scan cache (``<root>/.cache`` unless a cache
   folder is given): the per-split summary (scans, points, labeled points, class histogram) comes from it;
3. every training scan (the active-learning pool: only training scans have regions) gets its VCCS region
   ids (``redal_core.regions.scan_region_ids``) and its colour / structure cues (``scan_cues``): on the command
   line for the dataset family's preset with k = 50 and ``--scoring`` (default ``official``, the run default);
   for a params file for every region division and (k, scoring) its runs use (``regions.division``: VCCS with
   ``dataset.vccs`` or grid cells of ``regions.grid_size``; ``dataset.knn``, ``active.scoring``; cues only for
   strategies that need colour / structure, ``STRATEGIES.get(name).needs``), over the first
   ``dataset.max_train_scans`` scans when the runs set it. A sweep then starts on a warm cache.

Scans run in this process (``jobs=1``), on a local process pool (``jobs=N``, ``prepare_work.LocalPool``: forked
where that is safe and spawned otherwise, ``redal_core.workers.pool_context``; it also writes the synthetic
scans of step 1, one scan or drive per task) or on a Dask cluster (``scheduler``, through
``redal_core.cluster``); each worker sizes its threads with the
kit's rule (``resolve_threads(None, jobs=N)``; a Dask worker: (its cores - 1) // its nthreads) and applies them
(``apply_threads``). Every cache entry is written atomically by the worker that computes it (``ScanCache``),
so the cache is byte-identical whatever the engine, a killed prepare leaves only complete entries, and a
rerun computes only what is missing. A scan that fails (a corrupt file, NaN coordinates, a label count
mismatch) is reported with its name and the error while the others finish; the summary lists the failures
and ``redal prepare`` exits 1. One tqdm bar counts the scans of every root and split.

Testing hook: ``REDAL_PREPARE_FAULT=N`` SIGKILLs the preparing (main) process once N scans are done.

Planning (the roots, their work, one task per scan) is in ``redal_core.data.prepare_plan``, a scan's work and
the engines in ``redal_core.data.prepare_work``; this module re-exports their public names.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from redal_core.data.datasets import DATASETS
from redal_core.data.prepare_plan import DEFAULT_KNN as DEFAULT_KNN
from redal_core.data.prepare_plan import Division as Division
from redal_core.data.prepare_plan import ScanTask, Target, _command_line_target, _merge, _plan, params_targets
from redal_core.data.prepare_work import FAULT_ENV, LocalPool, ScanResult, _execute, _fault_after
from redal_core.data.prepare_work import prepare_scan as prepare_scan

__all__ = ["FAULT_ENV", "PrepareReport", "ScanResult", "ScanTask", "SplitSummary", "Target", "cli_prepare",
           "params_targets", "prepare", "prepare_scan"]

#: Splits whose scans are read and cached (regions and cues: the training split only).
SPLITS = ("train", "val")
#: Failures listed in full in the summary (the rest are counted).
_LISTED_FAILURES = 20


@dataclass(frozen=True)
class SplitSummary:
    """What ``prepare`` found in one split: scans, points, labeled points, (num_classes,) int64 histogram.

    Counts cover the scans that were prepared; ``failed`` scans are counted apart. dataset, root, cache: where.
    """

    split: str
    scans: int
    points: int
    labeled_points: int
    class_histogram: np.ndarray
    class_names: tuple[str, ...]
    dataset: str = ""
    root: str = ""
    cache: str = ""
    failed: int = 0


@dataclass(frozen=True)
class PrepareReport:
    """Everything ``prepare`` did: one summary per (root, split), the failures ``(where, message)``, cache
    entries computed and already cached, scans whose entries were all cached before, the seconds the scans
    took (generation and listing excluded), each distinct warning with the number of scans that raised it,
    the seconds of worker time of every prepared scan, and the seconds from the start of the scans at which
    each result arrived (arrival order: the throughput once the workers are up)."""

    summaries: list[SplitSummary]
    targets: list[Target]
    failures: list[tuple[str, str]] = field(default_factory=list)
    computed: int = 0
    cached: int = 0
    scans: int = 0
    complete_before: int = 0
    seconds: float = 0.0
    warnings: dict[str, int] = field(default_factory=dict)
    scan_seconds: list[float] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)


def prepare(
    dataset: str | None = None,
    root: str | os.PathLike[str] | None = None,
    *,
    scans: int | None = None,
    seed: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    params: str | os.PathLike[str] | None = None,
    scoring: str = "official",
    splits: tuple[str, ...] = SPLITS,
    jobs: int = 1,
    scheduler: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> PrepareReport:
    """Prepare ``dataset`` under ``root`` and / or every dataset of the params file ``params`` (see the module
    docstring); returns the report (``failures`` lists the scans that could not be prepared).

    scans, seed : the synthetic generator's (command-line dataset only); cache_dir : its cache folder
    (default ``<root>/.cache``); scoring : its cues' scale (``official`` | ``paper``); jobs : scans at once in
    a local process pool; scheduler : a Dask scheduler address instead (connected first, so an unreachable
    one is an error before any work); progress : the tqdm bar. Bad arguments raise ValueError naming them.
    """
    from redal_core.config import SCORING
    from redal_core.threads import resolve_threads

    _check_arguments(dataset, root, scans, seed, params, scoring, splits, jobs, scheduler, SCORING)
    fault = _fault_after()
    threads = resolve_threads(None, jobs=jobs)  # REDAL_THREADS is checked here, before any work
    client = None
    if scheduler:
        from redal_core.cluster import connect

        client = connect(scheduler)
    try:
        with LocalPool(jobs, threads) if client is None and jobs > 1 else contextlib.nullcontext() as pool:
            targets: list[Target] = []
            generated = None
            if dataset is not None:
                name = DATASETS.canonical(dataset)
                target, generated = _command_line_target(name, Path(root), cache_dir, scans, 0 if seed is None else seed,
                                                         scoring, log, executor=pool.writer(name) if pool else None)
                targets.append(target)
            if params is not None:
                targets.extend(params_targets(params, log=log, writer=pool.writer if pool else None))
            targets = _merge(targets)
            tasks, listed = _plan(targets, splits, log)
            if generated is not None:
                _warn_stale(targets[0], listed, generated, log)
            for n, t in enumerate(targets):
                count = sum(len(ds) for (m, _), ds in listed.items() if m == n)
                log(f"{t.dataset} under {t.root}: {count} scans to cache in {t.cache}; training scans: {t.describe()}")
            started = time.perf_counter()
            results, arrived = _execute(tasks, pool=pool.scans() if pool else None, threads=threads, client=client,
                                        address=scheduler, progress=progress, fault=fault, log=log)
    finally:
        if client is not None:
            client.close()
    return _report(targets, listed, results, arrived, time.perf_counter() - started)


def _check_arguments(dataset, root, scans, seed, params, scoring, splits, jobs, scheduler, scorings) -> None:
    if dataset is None and params is None:
        raise ValueError("give --dataset and --root (one dataset), --params PARAMS.yaml (the datasets of its "
                         "runs), or both")
    if (dataset is None) != (root is None):
        raise ValueError("--dataset and --root go together" + (" (--root is missing)" if root is None else
                                                               " (--dataset is missing)"))
    if dataset is None and (scans is not None or seed is not None):
        raise ValueError("--scans and --seed generate the --dataset (a synthetic one); give --dataset and --root")
    if scans is not None and (isinstance(scans, bool) or not isinstance(scans, int) or scans < 1):
        raise ValueError(f"--scans must be a positive number of scans, got {scans}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"--seed must be an integer >= 0, got {seed}")
    if scoring not in scorings:
        raise ValueError(f"--scoring {scoring!r} is not a cue scale; valid: {', '.join(scorings)}")
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"--jobs must be an integer >= 1 (scans prepared at once), got {jobs!r}")
    if scheduler and jobs != 1:
        raise ValueError(f"--jobs {jobs} sizes the local process pool; with --dask-scheduler the cluster's workers "
                         "run the scans (as many at once as their threads): drop --jobs")


def _warn_stale(target: Target, listed: dict[tuple[int, str], Any], generated: set[str],
                log: Callable[[str], None]) -> None:
    names = {name for (n, _), ds in listed.items() if n == 0 for name in ds.scan_names}
    stale = sorted(names - generated)
    if stale:
        message = (
            f"{len(stale)} scan(s) under {target.root} were not written by this run (left by an earlier one, e.g. "
            f"{stale[0]}) and are included; use an empty --root for exactly the generated set"
        )
        warnings.warn(message, stacklevel=3)
        log(f"warning: {message}")


def _report(targets: list[Target], listed: dict[tuple[int, str], Any], results: list[ScanResult],
            arrived: list[float], seconds: float) -> PrepareReport:
    index = {(t.dataset, t.root, t.cache_dir): n for n, t in enumerate(targets)}
    by_split: dict[tuple[int, str], list[ScanResult]] = {key: [] for key in listed}
    for result in results:
        task = result.task
        by_split[(index[(task.dataset, task.root, task.cache_dir)], task.split)].append(result)
    summaries = []
    for (n, split), ds in listed.items():
        ok = [r for r in by_split[(n, split)] if r.error is None]
        histogram = np.zeros(ds.num_classes, np.int64)
        for r in ok:
            histogram += r.histogram
        summaries.append(SplitSummary(
            split=split, scans=len(ok), points=sum(r.points for r in ok), labeled_points=int(histogram.sum()),
            class_histogram=histogram, class_names=tuple(ds.class_names), dataset=targets[n].dataset,
            root=targets[n].root, cache=str(targets[n].cache), failed=len(by_split[(n, split)]) - len(ok),
        ))
    counted: dict[str, int] = {}
    for result in results:
        for line in result.warnings:
            counted[line] = counted.get(line, 0) + 1
    failures = sorted((r.task.where, r.error) for r in results if r.error is not None)
    return PrepareReport(
        summaries=summaries, targets=targets, failures=failures, computed=sum(r.computed for r in results),
        cached=sum(r.cached for r in results), scans=len(results),
        complete_before=sum(1 for r in results if r.error is None and r.computed == 0),
        seconds=seconds, warnings=counted, scan_seconds=[r.seconds for r in results if r.error is None],
        arrived=arrived,
    )


def _format_summary(summary: SplitSummary) -> str:
    share = summary.class_histogram / max(summary.labeled_points, 1)
    classes = ", ".join(
        f"{name} {count} ({100 * frac:.1f}%)"
        for name, count, frac in zip(summary.class_names, summary.class_histogram, share, strict=True)
    )
    failed = f" ({summary.failed} failed)" if summary.failed else ""
    return (
        f"{summary.split}: {summary.scans} scans{failed}, {summary.points} points, {summary.labeled_points} labeled\n"
        f"  classes: {classes}"
    )


def format_report(report: PrepareReport) -> str:
    """The summary ``redal prepare`` prints: per root its splits and cache, the work done, the failures."""
    lines = []
    for t in report.targets:
        mine = [s for s in report.summaries if (s.dataset, s.root, s.cache) == (t.dataset, t.root, str(t.cache))]
        lines.append(f"{t.dataset} under {t.root}:")
        lines.extend(_format_summary(s) for s in mine)
        lines.append(f"cached {sum(s.scans for s in mine)} scans in {t.cache}")
    rate = report.scans / report.seconds if report.seconds > 0 else float("nan")
    worker = f", median {float(np.median(report.scan_seconds)):.2f} s per scan" if report.scan_seconds else ""
    lines.append(
        f"prepared {report.scans} scans in {report.seconds:.1f} s ({rate:.2f} scans/s{worker}): {report.computed} "
        f"cache entries computed, {report.cached} already cached ({report.complete_before} scans had all their entries)"
    )
    repeated = {line: count for line, count in report.warnings.items() if count > 1}
    for line, count in sorted(repeated.items()):
        lines.append(f"warning ({count} scans): {line}")
    if report.failures:
        lines.append(f"failed: {len(report.failures)} scan(s) could not be prepared (rerun after fixing them; "
                     "the others are cached):")
        lines.extend(f"  {where}: {message}" for where, message in report.failures[:_LISTED_FAILURES])
        if len(report.failures) > _LISTED_FAILURES:
            lines.append(f"  ... and {len(report.failures) - _LISTED_FAILURES} more")
    return "\n".join(lines)


def cli_prepare(args: argparse.Namespace) -> int:
    """Entry point of ``redal prepare`` (arguments defined in ``redal_core.cli``); 1 when a scan failed."""
    report = prepare(args.dataset, args.root, scans=args.scans, seed=args.seed, cache_dir=args.cache_dir,
                     params=args.params, scoring=args.scoring, jobs=args.jobs, scheduler=args.dask_scheduler)
    print(format_report(report), flush=True)
    if report.failures:
        print(f"redal prepare: {len(report.failures)} scan(s) failed (listed above)", file=sys.stderr)
        return 1
    return 0
