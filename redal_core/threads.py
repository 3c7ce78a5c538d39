"""One thread policy for every place work runs: torch, numba and the OpenMP/BLAS pools, set together.

Why it exists: float sums depend on how work is split over threads, so a run's numbers are a function of
its thread count. Two libraries change that count behind the caller's back:

* numba's OpenMP threading layer (the one numba picks when libtbb is absent, as on a fresh machine)
  sets the process-wide OpenMP thread count to ``NUMBA_NUM_THREADS`` (all cores) when its thread pool
  starts, i.e. at the first ``parallel=True`` call. torch's intra-op count follows, but only in a
  process that happened to run a numba kernel (one that computes regions, not one that reads them from
  the cache), so two runs of one config trained at different thread counts;
* BLAS / OpenMP runtimes read their own environment variables.

``apply_threads(n)`` therefore starts numba's pool FIRST, then sets numba, torch and every OpenMP/BLAS
pool threadpoolctl finds to ``n``; after that the pool's start-up cannot move torch again. Long-lived
code paths that call into numba also re-apply on the way out (``holding_threads``), so nothing a library
does can leave a process at another count.

The rule (``resolve_threads``): ``REDAL_THREADS`` when set, else the config's ``train.threads``, else
``max(1, (cores - 1) // jobs)``: the cores but one, shared by the jobs (runs of ``redal sweep --jobs``,
scans of ``redal prepare --jobs``). ``benchmarks/threads.py`` measured why: on 2 cores a training step at 2
threads took 0.82x the time at 1 on a quiet machine, but 4.25x beside one CPU-bound process (OpenMP threads
wait for a descheduled sibling at every barrier); a core left free costs little where nothing else runs and
saves the run where something does. The README's "Threads" section has the numbers.
Results are comparable only at equal thread counts: ``env.json`` records the effective counts and
numba's threading layer, and a resume at another count warns.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any

__all__ = [
    "THREAD_ENV",
    "apply_threads",
    "available_cores",
    "current_threads",
    "holding_threads",
    "resolve_threads",
    "thread_env",
    "thread_report",
]

#: Environment variables that size the CPU pools of child processes (read when their libraries load).
THREAD_ENV = ("REDAL_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask; ``os.cpu_count()`` where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def resolve_threads(configured: int | None = None, *, jobs: int = 1) -> int:
    """The thread count a run uses: ``REDAL_THREADS`` > ``configured`` (``train.threads``) > the cores but one,
    shared by ``jobs`` (``max(1, (cores - 1) // jobs)``).

    configured : a positive int, or None / 0 for the rule; jobs : processes sharing the machine (>= 1).
    A ``REDAL_THREADS`` that is not a positive integer is a ValueError naming it.
    """
    env = os.environ.get("REDAL_THREADS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"REDAL_THREADS={env!r} must be a positive integer (threads per run)")
        return int(env)
    if configured:
        if isinstance(configured, bool) or not isinstance(configured, int) or configured < 1:
            raise ValueError(f"train.threads must be a positive integer or null (the rule), got {configured!r}")
        return configured
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    return max(1, (available_cores() - 1) // jobs)


def current_threads() -> int:
    """The thread count in effect for the kit's own CPU work, read without starting any pool.

    numba's count when its pool runs (``apply_threads`` starts it and sets it: a run's count), else
    ``REDAL_THREADS`` when set, else torch's intra-op count when torch is imported, else the cores
    (``available_cores``). For code that sizes its own worker threads (``diversity``'s k-means) and holds
    scikit-learn's OpenMP pool, which loads after ``apply_threads`` ran and so would start at every core.
    """
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    if parallel is not None and getattr(parallel, "_is_initialized", False):
        import numba

        return int(numba.get_num_threads())
    if os.environ.get("REDAL_THREADS", "").strip():
        return resolve_threads(None)
    torch = sys.modules.get("torch")
    if torch is not None:
        return int(torch.get_num_threads())
    return available_cores()


def thread_env(threads: int) -> dict[str, str]:
    """Environment variables that start a child process at ``threads`` threads in every pool."""
    value = str(max(1, int(threads)))
    return dict.fromkeys(THREAD_ENV, value)


def _numba_pool_size() -> int:
    """Start numba's thread pool (idempotent) and return its size (``NUMBA_NUM_THREADS``)."""
    import numba
    from numba.np.ufunc import parallel

    parallel._launch_threads()  # the OpenMP layer resets OpenMP's thread count here, once per process
    return int(numba.config.NUMBA_NUM_THREADS)


def apply_threads(threads: int, *, load_torch: bool = True) -> int:
    """Set torch (intra-op), numba and every OpenMP/BLAS pool to ``threads``; returns ``threads``.

    numba's pool is started first (see the module docstring) and capped at its size
    (``NUMBA_NUM_THREADS``, fixed when numba loads): asking for more numba threads than that is a warning,
    and numba keeps its pool size. Safe to call again at any point (it is how a count is held).

    load_torch : False sets torch only where it is already imported: for a process that computes regions
        and never trains (a ``redal prepare`` worker), which saves torch's import (seconds per worker).
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    import numba
    from threadpoolctl import threadpool_limits

    if load_torch:
        import torch
    else:
        torch = sys.modules.get("torch")

    pool = _numba_pool_size()
    if threads > pool:
        warnings.warn(
            f"numba's thread pool has {pool} threads (NUMBA_NUM_THREADS, fixed when numba loaded); numba runs "
            f"at {pool}, torch and BLAS at {threads}",
            stacklevel=2,
        )
    numba.set_num_threads(min(threads, pool))
    threadpool_limits(limits=threads)  # OpenMP and BLAS runtimes loaded so far (not a context: it stays)
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


@contextlib.contextmanager
def holding_threads() -> Iterator[None]:
    """Restore torch's and numba's thread counts on exit, whatever the body's libraries did to them.

    For code that calls numba kernels outside a run (a notebook, ``redal prepare``): the first parallel
    call starts numba's pool, which moves torch's count under the OpenMP layer. torch is only looked at
    when it is already imported (the regions layer does not import it). Two getters, setters only when
    something moved.
    """
    import numba

    torch = sys.modules.get("torch")
    torch_before = torch.get_num_threads() if torch is not None else None
    numba_before = numba.get_num_threads()
    try:
        yield
    finally:
        if numba.get_num_threads() != numba_before:
            numba.set_num_threads(numba_before)
        if torch_before is not None and torch.get_num_threads() != torch_before:
            torch.set_num_threads(torch_before)


def thread_report() -> dict[str, Any]:
    """The thread counts in effect now, for ``env.json``: torch intra-/inter-op, numba's count, pool size
    and threading layer, and every OpenMP/BLAS runtime threadpoolctl sees (``api:library -> threads``)."""
    import numba
    import torch
    from threadpoolctl import threadpool_info

    _numba_pool_size()
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region has run yet; the pool's layer is what the config asked for
        layer = None
    pools = {}
    for info in threadpool_info():
        name = f"{info['user_api']}:{info.get('internal_api', '')}:{os.path.basename(info['filepath'])}"
        pools[name] = int(info["num_threads"])
    return {
        "torch_intra_op": torch.get_num_threads(),
        "torch_inter_op": torch.get_num_interop_threads(),
        "numba": numba.get_num_threads(),
        "numba_pool": int(numba.config.NUMBA_NUM_THREADS),
        "numba_threading_layer": layer,
        "numba_threading_layer_requested": os.environ.get("NUMBA_THREADING_LAYER", numba.config.THREADING_LAYER),
        "openmp_blas": dict(sorted(pools.items())),
        "cores": available_cores(),
        "env": {name: os.environ[name] for name in THREAD_ENV if name in os.environ},
    }
