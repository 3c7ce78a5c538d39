"""A process's attempt at a run: its hold on the run folder, and the one-line header it prints.

``RunAttempt`` (rank 0 writes): ``run.lock`` (pid, host, start time) while the attempt runs, its mtime
bumped by ``beat()`` as a heartbeat for ``redal status``; another live process holding the lock on this host
is an error; ``failed.json`` with the error's last line when the attempt raises an Exception (a
KeyboardInterrupt leaves an interrupted run); half-written temporaries of an interrupted attempt removed
with a warning. ``run_header`` is the line ``redal run`` prints before the rounds.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redal_core.config import RunConfig
from redal_core.results import (
    RunPaths,
    lock_alive,
    read_run_lock,
    remove_run_lock,
    stale_temporaries,
    touch_run_lock,
    write_failure,
    write_run_lock,
)

__all__ = ["RunAttempt", "pool_points", "remove_stale_temporaries", "run_header"]


class RunAttempt:
    """This process's hold on a run folder (rank 0 writes): ``run.lock`` while it runs, its mtime bumped by
    ``beat()`` (the heartbeat), and ``failed.json`` with the error's last line when it raises an Exception
    (a KeyboardInterrupt leaves an interrupted run). ``round`` is the round in progress (None before)."""

    def __init__(self, paths: RunPaths, rank: int) -> None:
        self.paths, self.rank = paths, rank
        self.round: int | None = None

    def __enter__(self) -> RunAttempt:
        if self.rank == 0:
            lock = read_run_lock(self.paths.root)
            if lock is not None and lock.get("pid") != os.getpid() and lock_alive(lock):
                raise ValueError(
                    f"{self.paths.root} is being run by pid {lock.get('pid')} on {lock.get('host')} since "
                    f"{lock.get('started')} (its run.lock); wait for it to end or stop it, then run again"
                )
            self.paths.root.mkdir(parents=True, exist_ok=True)
            self.paths.failed.unlink(missing_ok=True)  # a new attempt: the last one's failure is history
            write_run_lock(self.paths)
        return self

    def beat(self) -> None:
        if self.rank == 0:
            touch_run_lock(self.paths)

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> bool:
        if self.rank == 0:
            if isinstance(error, Exception):
                try:
                    write_failure(self.paths, error, round_=self.round)
                except OSError:
                    pass  # the original error matters more
            remove_run_lock(self.paths)
        return False


def pool_points(dataset: Any, pool: list[int], *, progress: bool, tick: Callable[[], None]) -> int:
    """Points of the pool's scans (the label state's total): memory-mapped reads from the scan cache, with a
    bar only when the pass is slow (scans parsed into the cache for the first time)."""
    from tqdm.auto import tqdm

    from redal_core.active.run_data import WARM_BAR_DELAY_S

    total = 0
    for i in tqdm(pool, desc="reading scans", unit="scan", disable=not progress, delay=WARM_BAR_DELAY_S, leave=True):
        total += dataset[i].num_points
        tick()
    return total


def _numba_layer() -> str:
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        return f"{numba.config.THREADING_LAYER} requested"


def run_header(config: RunConfig, paths: RunPaths, *, train_ds: Any, pool: list[int], n_val: int, model: Any,
               device: Any, world_size: int, threads: int, pool_points: int) -> str:
    """The run's one-line header: run folder, dataset and scans, model / backend / device, strategy, the
    budget per round (% and points of the pool), threads and numba's threading layer."""
    a = config.active
    scans = f"{len(pool)}" if len(pool) == len(train_ds) else f"{len(pool)} of {len(train_ds)}"
    backend = getattr(model, "backend_name", None) or config.model.backend
    ranks = f" x {world_size} ranks" if world_size > 1 else ""
    budget = math.ceil(a.x_active / 100.0 * pool_points)
    return (f"{config.run_id}: {paths.root} | {config.dataset.name}: train {scans} scans ({pool_points} pts), "
            f"val {n_val} | {config.model.name} x{config.model.width:g} / {backend} / {device}{ranks} | "
            f"{a.strategy}, oracle {a.oracle} | budget {a.x_active:g} % = {budget} pts per round, {a.rounds} rounds "
            f"after x_init {a.x_init:g} % | threads {threads} (numba {_numba_layer()})")


def remove_stale_temporaries(run_dir: Path) -> None:
    stale = stale_temporaries(run_dir)
    if stale:
        warnings.warn(
            f"{run_dir}: removed {len(stale)} half-written temporary file(s) of an interrupted run: "
            f"{', '.join(p.name for p in stale[:5])}{' ...' if len(stale) > 5 else ''}",
            stacklevel=3,
        )
        for p in stale:
            p.unlink()
