"""Execution of ``redal prepare`` (``redal_core.data.prepare``): one scan's work (``prepare_scan``, in a
worker) and the engines that run the tasks: this process, a local process pool (``LocalPool``, which also
writes synthetic datasets) or a Dask cluster, under one progress bar (``_execute``), with the
``REDAL_PREPARE_FAULT`` testing hook."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from redal_core.data.datasets import build_dataset
from redal_core.data.prepare_plan import ScanTask, _division_args

#: Testing hook: SIGKILL the main process once this many scans are done.
FAULT_ENV = "REDAL_PREPARE_FAULT"


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
            apply_threads(resolve_threads(None, jobs=worker_slots()) if threads is None else threads, load_torch=False)
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
    from redal_core.threads import apply_threads, thread_env
    from redal_core.workers import leave_with_parent

    _open.cache_clear()  # a forked worker lists its datasets itself, never trusting what its parent had opened
    os.environ.update(thread_env(threads))  # spawned: before numba and BLAS load (forked: they are loaded)
    apply_threads(threads, load_torch=False)  # regions and cues never load torch: no seconds spent importing it
    leave_with_parent(parent)


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


class LocalPool:
    """The local process pool of ``redal prepare --jobs N``: ``jobs`` workers at ``threads`` threads each, for
    the synthetic writers (``writer``) and then the scans (``scans``).

    Workers start on ``workers.start_pool`` (forked where that is safe, spawned otherwise). Forked, the pool
    that wrote a synthetic dataset is closed once it is written, and the scans get a new one, forked after
    this process loaded the kernels the scans need (``_load_scan_work``, done while the writers run), so
    that no worker loads them again. Spawned, one pool serves both (a spawn inherits nothing).
    """

    def __init__(self, jobs: int, threads: int):
        self.jobs, self.threads = jobs, threads
        self._pool: Any = None
        self._forked = False

    def _started(self) -> Any:
        from redal_core.workers import pool_context, start_pool

        if self._pool is None:
            context = pool_context()
            self._forked = context.get_start_method() == "fork"
            self._pool = start_pool(self.jobs, initializer=_init_pool_worker, initargs=(self.threads, os.getpid()),
                                    context=context)
        return self._pool

    def writer(self, dataset: str) -> _PoolWriter:
        """The ``executor`` for the writer of synthetic ``dataset``."""
        return _PoolWriter(self, dataset)

    def scans(self) -> Any:
        """The pool the scans run on (a ``ProcessPoolExecutor``)."""
        return self._started()

    def close(self, *, cancel: bool = False) -> None:
        """Shut the pool down: wait for its workers, or (cancel) drop what is queued and go."""
        if self._pool is not None:
            self._pool.shutdown(wait=not cancel, cancel_futures=cancel)
            self._pool = None

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: Any) -> None:
        self.close(cancel=kind is not None)  # an error or an interrupt: queued scans are dropped


class _PoolWriter:
    """What a synthetic writer sees as its ``executor``: ``map`` sends the jobs to the pool and, while they
    run, loads the scans' work into this process when the pool is forked."""

    def __init__(self, pool: LocalPool, dataset: str):
        self._pool, self._dataset = pool, dataset

    def map(self, function: Callable[[Any], Any], jobs: Iterable[Any]) -> Iterator[Any]:
        pool = self._pool._started()
        futures = [pool.submit(function, job) for job in jobs]
        forked = self._pool._forked
        if forked:
            _load_scan_work(self._dataset)
        results = [future.result() for future in futures]
        if forked:
            self._pool.close()  # the scans' workers fork from this process as it is now
        return iter(results)


def _load_scan_work(dataset: str) -> None:
    """Import what ``prepare_scan`` runs (the ``redal_core.regions`` package, which ``regions.warm`` loads) and
    load its serial numba kernels for ``dataset``."""
    from redal_core.data.datasets import DATASETS
    from redal_core.regions.warm import warm_kernels

    warm_kernels(color=bool(DATASETS.get(dataset).has_color))


def _run_pool(tasks: Sequence[ScanTask], pool: Any, threads: int, say: Callable[[str], None]) -> Iterator[ScanResult]:
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

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


def _execute(tasks: Sequence[ScanTask], *, pool: Any, threads: int, client: Any, address: str | None,
             progress: bool, fault: int | None, log: Callable[[str], None]) -> tuple[list[ScanResult], list[float]]:
    """Every task's result, whatever engine runs them (the Dask ``client``, the local ``pool``, else this
    process), and the seconds (from the start) at which each arrived; failures and first warnings are said
    as they come."""
    from tqdm.auto import tqdm

    started = time.perf_counter()
    results: list[ScanResult] = []
    arrived: list[float] = []
    seen_warnings: set[str] = set()
    with _bar(len(tasks), progress) as bar:
        say = tqdm.write if log is print and progress else log
        if client is not None:
            stream = _run_dask(tasks, client, address, say)
        elif pool is None:
            stream = _run_here(tasks, threads)
        else:
            stream = _run_pool(tasks, pool, threads, say)
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
