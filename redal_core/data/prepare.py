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

Scans run in this process (``jobs=1``), on a local process pool (``jobs=N``, spawn context, like the sweep)
or on a Dask cluster (``scheduler``, through ``redal_core.cluster``); each worker sizes its threads with the
kit's rule (``resolve_threads(None, jobs=N)``; a Dask worker: (its cores - 1) // its nthreads) and applies them
(``apply_threads``). Every cache entry is written atomically by the worker that computes it (``ScanCache``),
so the cache is byte-identical whatever the engine, a killed prepare leaves only complete entries, and a
rerun computes only what is missing. A scan that fails (a corrupt file, NaN coordinates, a label count
mismatch) is reported with its name and the error while the others finish; the summary lists the failures
and ``redal prepare`` exits 1. One tqdm bar counts the scans of every root and split.

Testing hook: ``REDAL_PREPARE_FAULT=N`` SIGKILLs the preparing (main) process once N scans are done.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import os
import signal
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from redal_core.data.datasets import DATASETS, build_dataset

__all__ = ["FAULT_ENV", "PrepareReport", "ScanResult", "ScanTask", "SplitSummary", "Target", "cli_prepare",
           "params_targets", "prepare", "prepare_scan"]

_GENERATORS = {"synthetic-indoor": "write_synthetic_indoor", "synthetic-outdoor": "write_synthetic_outdoor"}
#: Splits whose scans are read and cached (regions and cues: the training split only).
SPLITS = ("train", "val")
#: Neighbours of the cues when no params file says otherwise (the run default ``dataset.knn``).
DEFAULT_KNN = 50
#: Testing hook: SIGKILL the main process once this many scans are done.
FAULT_ENV = "REDAL_PREPARE_FAULT"
#: Failures listed in full in the summary (the rest are counted).
_LISTED_FAILURES = 20


# -- records ------------------------------------------------------------------------------------------------
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
class Target:
    """One dataset root and the region work of its training scans.

    regions : ((division, scans), ...), a division being ``("vccs", preset)`` or ``("grid", cell metres)``, and
    cues : ((k, scoring, scans), ...), where scans is how many training scans from the first need it (None:
    all of them). generate : the generator parameters a
    params file's synthetic root must hold (``data.generate.check_generated``), None otherwise.
    """

    dataset: str
    root: str
    cache_dir: str | None
    regions: tuple[tuple[Division, int | None], ...] = ()
    cues: tuple[tuple[int, str, int | None], ...] = ()
    generate: dict[str, Any] | None = None

    @property
    def cache(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir is not None else Path(self.root) / ".cache"

    def describe(self) -> str:
        """The work of the training scans in words: ``regions semantickitti; cues k=50 official``."""
        regions = ", ".join(_division_name(d) + _first(n) for d, n in self.regions) or "none"
        cues = ", ".join(f"k={k} {scoring}{_first(n)}" for k, scoring, n in self.cues) or "none"
        return f"regions {regions}; cues {cues}"


@dataclass(frozen=True)
class ScanTask:
    """One scan's work: read it into the cache, then its regions (``regions``: divisions, ``("vccs", preset)`` or
    ``("grid", cell)``) and cues (``cues``: (k, scoring))."""

    dataset: str
    root: str
    split: str
    cache_dir: str | None
    index: int
    name: str
    regions: tuple[Division, ...] = ()
    cues: tuple[tuple[int, str], ...] = ()

    @property
    def where(self) -> str:
        return f"{self.dataset} {self.split} {self.name}"


@dataclass(frozen=True)
class ScanResult:
    """What one scan's work did: its points and (num_classes,) histogram, cache entries computed and found
    cached, seconds, and the error (None when it succeeded) and warnings raised on the way."""

    task: ScanTask
    points: int = 0
    histogram: np.ndarray | None = None
    computed: int = 0
    cached: int = 0
    seconds: float = 0.0
    error: str | None = None
    warnings: tuple[str, ...] = ()


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


#: A region division: ``("vccs", VCCS preset)`` or ``("grid", cell edge in metres)``.
Division = tuple[str, Any]


def _division_name(division: Division) -> str:
    kind, value = division
    return value if kind == "vccs" else f"grid {value:g} m"


def _division_args(dataset: str, division: Division) -> tuple[str, dict[str, Any]]:
    """(preset, keywords) of ``scan_region_ids`` / ``region_key`` for a division (a grid ignores the preset,
    which must still be valid: the dataset family's)."""
    from redal_core.config import FAMILY

    kind, value = division
    if kind == "vccs":
        return value, {}
    return FAMILY[dataset], {"division": "grid", "cell": float(value)}


def _run_division(config: Any) -> Division:
    """The region division a run uses (``regions.division``: VCCS with ``dataset.vccs``, or grid cells)."""
    if config.regions.division == "grid":
        return ("grid", float(config.regions.grid_size))
    return ("vccs", config.dataset.vccs)


# -- the work of one scan (runs in a worker) ----------------------------------------------------------------
@functools.lru_cache(maxsize=16)
def _open(dataset: str, root: str, split: str, cache_dir: str | None) -> Any:
    """The dataset a worker reads (opened once per process; its listing warnings were reported by the main
    process, which listed the same split)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_dataset(dataset, root, split, cache_dir=cache_dir)


def prepare_scan(task: ScanTask, threads: int | None = None) -> ScanResult:
    """Read scan ``task.index`` into the cache and compute its missing regions and cues; never raises for a
    bad scan (the error's message is in the result).

    threads : the thread count to apply first (None: the kit's rule for this process, ``resolve_threads(None,
    jobs=worker_slots())``: a Dask worker's (cores - 1) // its nthreads).
    """
    from redal_core.cluster import worker_slots
    from redal_core.regions.cached import cue_key, region_key, scan_cues, scan_region_ids
    from redal_core.threads import apply_threads, resolve_threads

    started = time.perf_counter()
    with _recording_warnings() as caught:
        try:
            apply_threads(resolve_threads(None, jobs=worker_slots()) if threads is None else threads)
            ds = _open(task.dataset, task.root, task.split, task.cache_dir)
            i = task.index
            if not 0 <= i < len(ds) or ds.scan_names[i] != task.name:
                found = ds.scan_names[i] if 0 <= i < len(ds) else f"out of range ({len(ds)} scans)"
                raise ValueError(f"scan {i} of {task.dataset} {task.split} under {task.root} is {found}, expected "
                                 f"{task.name}: the files changed while preparing; rerun")
            divisions = [_division_args(task.dataset, d) for d in task.regions]
            keys = list(dict.fromkeys([ds.scan_key(i), *(region_key(ds, i, p, **kw) for p, kw in divisions),
                                       *(cue_key(ds, i, k, s) for k, s in task.cues)]))
            missing = sum(key not in ds.cache for key in keys)
            scan = ds[i]
            histogram = scan.class_histogram(ds.num_classes)
            for preset, kw in divisions:
                scan_region_ids(ds, i, preset, **kw)
            for k, scoring in task.cues:
                scan_cues(ds, i, k, scoring)
        except Exception as error:  # a bad scan is reported, never allowed to stop the others
            return ScanResult(task, seconds=time.perf_counter() - started, error=_message(error),
                              warnings=_warning_lines(caught))
    return ScanResult(task, points=scan.num_points, histogram=histogram, computed=missing,
                      cached=len(keys) - missing, seconds=time.perf_counter() - started,
                      warnings=_warning_lines(caught))


@contextlib.contextmanager
def _recording_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Record the warnings of a scan's work, to report them with its result. Only in a process's main thread
    (this process, a pool worker): ``catch_warnings`` swaps process-wide state, so in a Dask worker's task
    threads the warnings go to the worker's log as usual instead."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def _message(error: BaseException) -> str:
    text = " ".join(str(error).split()) or "(no message)"
    return f"{type(error).__name__}: {text}"[:500]


def _warning_lines(caught: Iterable[warnings.WarningMessage]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))


def _init_pool_worker(threads: int, parent: int) -> None:
    """Start a pool worker at ``threads`` threads in every pool, leaving when its parent is gone (a killed
    prepare must not leave workers behind)."""
    import threading

    from redal_core.threads import apply_threads, thread_env

    os.environ.update(thread_env(threads))  # before numba, torch and BLAS load in this process
    apply_threads(threads)

    def orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=orphaned, name="redal-prepare-parent-watch", daemon=True).start()


# -- planning ------------------------------------------------------------------------------------------------
def _first(n: int | None) -> str:
    return "" if n is None else f" (first {n} scans)"


def _wider(a: int | None, b: int | None) -> int | None:
    """The scans two uses need together (None: all)."""
    return None if a is None or b is None else max(a, b)


def _merge(targets: Iterable[Target]) -> list[Target]:
    """One target per (dataset, root, cache), with the union of their work, in first-seen order."""
    merged: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    for t in targets:
        entry = merged.setdefault((t.dataset, t.root, t.cache_dir), {"regions": {}, "cues": {}, "generate": None})
        for division, n in t.regions:
            entry["regions"][division] = _wider(entry["regions"][division], n) if division in entry["regions"] else n
        for k, scoring, n in t.cues:
            key = (k, scoring)
            entry["cues"][key] = _wider(entry["cues"][key], n) if key in entry["cues"] else n
        if t.generate is not None:
            if entry["generate"] not in (None, t.generate):
                raise ValueError(f"the runs generate {t.root} with two parameter sets, {entry['generate']} and "
                                 f"{t.generate}; give them distinct dataset.root values")
            entry["generate"] = t.generate
    return [
        Target(dataset, root, cache_dir, regions=tuple(e["regions"].items()),
               cues=tuple((k, s, n) for (k, s), n in e["cues"].items()), generate=e["generate"])
        for (dataset, root, cache_dir), e in merged.items()
    ]


def _absolute(path: str | os.PathLike[str] | None) -> str | None:
    return None if path is None else str(Path(path).resolve())


def params_targets(path: str | os.PathLike[str], *, log: Callable[[str], None] = print) -> list[Target]:
    """The dataset roots of a params file's runs and the (division, k, scoring) work each needs.

    Expands the grid (``sweep.load_params`` + ``expand_grid``: the same validation as ``redal sweep``);
    relative roots resolve against the current folder, as the sweep's runs do. A synthetic root that is
    absent is generated first (``ensure_generated``, as a run would).
    """
    from redal_core.active.run_data import config_generate_params
    from redal_core.active.strategies import STRATEGIES
    from redal_core.config import SYNTHETIC, RunConfig
    from redal_core.data.generate import ensure_generated
    from redal_core.sweep import expand_grid, load_params

    grid, _ = load_params(path)
    targets = []
    generated: set[str] = set()
    for raw in expand_grid(grid, source=str(path)):
        config = RunConfig.from_dict(raw, source=str(path))
        d = config.dataset
        root = _absolute(d.root)
        generate = None
        if d.name in SYNTHETIC:
            generate = config_generate_params(config)
            if root not in generated:
                generated.add(root)
                started = time.perf_counter()
                if ensure_generated(root, generate):
                    log(f"generated {d.name} ({d.generate.scans} scans) under {root} in "
                        f"{time.perf_counter() - started:.0f} s")
        cues = bool(STRATEGIES.get(config.active.strategy).needs & {"color", "structure"})
        targets.append(Target(
            d.name, root, _absolute(d.cache_dir), regions=((_run_division(config), d.max_train_scans),),
            cues=((d.knn, config.active.scoring, d.max_train_scans),) if cues else (), generate=generate,
        ))
    return targets


def _command_line_target(dataset: str, root: Path, cache_dir: str | None, scans: int | None, seed: int,
                         scoring: str, log: Callable[[str], None]) -> tuple[Target, set[str] | None]:
    """The target of ``--dataset``/``--root`` (generating a synthetic one) and the scan names it wrote."""
    from redal_core.config import FAMILY

    generated = None
    if dataset in _GENERATORS:
        synthetic = importlib.import_module("redal_core.data.synthetic")
        kwargs = {"seed": seed} if scans is None else {"scans": scans, "seed": seed}
        written = getattr(synthetic, _GENERATORS[dataset])(root, **kwargs)
        log(f"generated {len(written)} {dataset} scans under {root} (seed {seed})")
        generated = {_scan_name(Path(path)) for path in written}
    elif scans is not None:
        raise ValueError(f"--scans applies to synthetic datasets only, not to {dataset!r} (it reads the scans under --root)")
    elif not root.is_dir():
        raise FileNotFoundError(f"{dataset} root {root} does not exist")
    target = Target(dataset, str(root.resolve()), _absolute(cache_dir), regions=((("vccs", FAMILY[dataset]), None),),
                    cues=((DEFAULT_KNN, scoring, None),))
    return target, generated


def _plan(targets: Sequence[Target], splits: Sequence[str],
          log: Callable[[str], None]) -> tuple[list[ScanTask], dict[tuple[int, str], Any]]:
    """Every scan's task, in (target, split, index) order, and the dataset of each listed (target, split)."""
    from redal_core.data.generate import check_generated

    tasks: list[ScanTask] = []
    listed: dict[tuple[int, str], Any] = {}
    for n, t in enumerate(targets):
        for split in splits:
            try:
                ds = build_dataset(t.dataset, t.root, split, cache_dir=t.cache_dir)
            except ValueError as error:
                log(f"{t.dataset} {split}: skipped ({error})")
                continue
            listed[(n, split)] = ds
            for i, name in enumerate(ds.scan_names):
                train = split == "train"
                tasks.append(ScanTask(
                    t.dataset, t.root, split, t.cache_dir, i, name,
                    regions=tuple(d for d, count in t.regions if train and (count is None or i < count)),
                    cues=tuple((k, s) for k, s, count in t.cues if train and (count is None or i < count)),
                ))
        if not any(key[0] == n for key in listed):
            raise ValueError(f"{t.dataset} root {t.root}: none of the splits {', '.join(splits)} holds scans")
        if t.generate is not None:
            check_generated(t.root, t.generate, sum(len(ds) for (m, _), ds in listed.items() if m == n))
    return tasks, listed


# -- execution -------------------------------------------------------------------------------------------------
def _fault_after() -> int | None:
    value = os.environ.get(FAULT_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{FAULT_ENV}={value!r} must be a positive integer (scans done before the kill)")
    return int(value)


@contextlib.contextmanager
def _bar(total: int, progress: bool) -> Iterator[Any]:
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="prepare", unit=" scans", disable=not progress, dynamic_ncols=True,
               smoothing=0.1, mininterval=0.5,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} scans "
                          "[{elapsed}<{remaining}, {rate_noinv_fmt}]")
    try:
        yield bar
    finally:
        bar.close()


def _failed(task: ScanTask, message: str) -> ScanResult:
    return ScanResult(task, error=message)


def _run_here(tasks: Sequence[ScanTask], threads: int) -> Iterator[ScanResult]:
    from redal_core.threads import holding_threads

    with holding_threads():  # a notebook calling prepare keeps its own thread counts
        for task in tasks:
            yield prepare_scan(task, threads)


def _run_pool(tasks: Sequence[ScanTask], jobs: int, threads: int, say: Callable[[str], None]) -> Iterator[ScanResult]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")  # no forked numba / thread state in the workers
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_pool_worker,
                               initargs=(threads, os.getpid()))
    try:
        futures = {pool.submit(prepare_scan, task, threads): task for task in tasks}
        done: set[Any] = set()
        for future in as_completed(futures):
            done.add(future)
            try:
                yield future.result()
            except BrokenProcessPool as error:
                left = [futures[f] for f in futures if f not in done]
                message = (f"the local process pool broke ({_message(error)}): a worker died (killed, or out of "
                           "memory); its scans were not prepared, rerun to resume")
                say(f"prepare: {message} ({len(left) + 1} scans left)")
                yield _failed(futures[future], message)
                for task in left:
                    yield _failed(task, message)
                return
            except Exception as error:  # the task could not even be sent or its result returned
                yield _failed(futures[future], _message(error))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _run_dask(tasks: Sequence[ScanTask], client: Any, address: str, say: Callable[[str], None]) -> Iterator[ScanResult]:
    from distributed import as_completed

    from redal_core.cluster import watching

    token = uuid.uuid4().hex[:10]
    futures = client.map(prepare_scan, list(tasks), key=[f"redal-prepare-{token}-{n}" for n in range(len(tasks))],
                         pure=False)
    by_key = {future.key: task for future, task in zip(futures, tasks, strict=True)}
    left = [len(tasks)]
    try:
        with watching(client, address, pending=lambda: left[0], log=say, unit="scan"):
            for future in as_completed(futures, loop=client.loop):  # the client is not the default one
                left[0] -= 1
                try:
                    result = future.result()
                except Exception as error:  # the worker died on it (KilledWorker) or the result was lost
                    result = _failed(by_key[future.key], _message(error))
                future.release()
                yield result
    except BaseException:
        client.cancel(futures)
        raise


# -- the command -----------------------------------------------------------------------------------------------
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
    from redal_core.regions.cached import SCORINGS
    from redal_core.threads import resolve_threads

    _check_arguments(dataset, root, scans, seed, params, scoring, splits, jobs, scheduler, SCORINGS)
    fault = _fault_after()
    threads = resolve_threads(None, jobs=jobs)  # REDAL_THREADS is checked here, before any work
    client = None
    if scheduler:
        from redal_core.cluster import connect

        client = connect(scheduler)
    try:
        targets: list[Target] = []
        generated = None
        if dataset is not None:
            target, generated = _command_line_target(DATASETS.canonical(dataset), Path(root), cache_dir, scans,
                                                     0 if seed is None else seed, scoring, log)
            targets.append(target)
        if params is not None:
            targets.extend(params_targets(params, log=log))
        targets = _merge(targets)
        tasks, listed = _plan(targets, splits, log)
        if generated is not None:
            _warn_stale(targets[0], listed, generated, log)
        for n, t in enumerate(targets):
            count = sum(len(ds) for (m, _), ds in listed.items() if m == n)
            log(f"{t.dataset} under {t.root}: {count} scans to cache in {t.cache}; training scans: {t.describe()}")
        started = time.perf_counter()
        results, arrived = _execute(tasks, jobs=jobs, threads=threads, client=client, address=scheduler,
                                    progress=progress, fault=fault, log=log)
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


def _execute(tasks: Sequence[ScanTask], *, jobs: int, threads: int, client: Any, address: str | None,
             progress: bool, fault: int | None, log: Callable[[str], None]) -> tuple[list[ScanResult], list[float]]:
    """Every task's result, whatever engine runs them, and the seconds (from the start) at which each arrived;
    failures and first warnings are said as they come."""
    from tqdm.auto import tqdm

    started = time.perf_counter()
    results: list[ScanResult] = []
    arrived: list[float] = []
    seen_warnings: set[str] = set()
    with _bar(len(tasks), progress) as bar:
        say = tqdm.write if log is print and progress else log
        if client is not None:
            stream = _run_dask(tasks, client, address, say)
        elif jobs == 1 or len(tasks) <= 1:
            stream = _run_here(tasks, threads)
        else:
            stream = _run_pool(tasks, min(jobs, len(tasks)), threads, say)
        for result in stream:
            results.append(result)
            arrived.append(time.perf_counter() - started)
            bar.update(1)
            if result.error is not None:
                say(f"failed: {result.task.where}: {result.error}")
            for line in result.warnings:
                if line not in seen_warnings:
                    seen_warnings.add(line)
                    say(f"warning: {result.task.where}: {line}")
            if fault is not None and len(results) >= fault:
                sys.stdout.flush()
                sys.stderr.flush()
                os.kill(os.getpid(), signal.SIGKILL)  # testing hook: a kill in the middle of a prepare
    return results, arrived


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


def _scan_name(path: Path) -> str:
    """Dataset scan name of a generated path: a room folder -> ``Area_N/<room>``, a .bin -> ``XX/NNNNNN``."""
    if path.suffix == ".bin":
        return f"{path.parent.parent.name}/{path.stem}"
    return f"{path.parent.name}/{path.name}"


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
