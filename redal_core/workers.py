"""Process-pool workers: how they start (``pool_context``) and that they leave with their parent.

Start method. A spawned worker is a fresh interpreter: about 2 s of one core on this kit's imports (numpy,
numba, scipy, the kit) before its first task, which is most of a small ``redal prepare``. A forked worker
inherits the parent's imported modules and starts in milliseconds, but fork copies a process as it is, and
is unsafe after threads have started (a lock another thread held stays held in the child: numba's OpenMP
pool, torch's pools, a notebook kernel's threads). ``pool_context`` therefore forks only where nothing can
be half-held: Linux, one thread in the process, numba's parallel pool not started, torch not imported; it
spawns otherwise. ``REDAL_START_METHOD`` = ``auto`` (that choice, the default) | ``spawn`` | ``fork`` (fork
where that is safe, else spawn with a warning saying why). Workers compute the same bytes either way (the
prepare tests compare the caches of both).

Leaving. A ``SIGKILL`` or ``SIGTERM`` sent to ``redal prepare`` or ``redal sweep`` reaches that process only:
its pool workers would go on computing (a sweep's, each with its notebook kernel) with nobody to collect
their results. Every pool worker therefore starts ``leave_with_parent`` in its initializer.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import BaseContext
from typing import Any

__all__ = ["START_METHOD_ENV", "fork_unsafe_reason", "leave_with_parent", "pool_context", "requested_start_method",
           "start_pool"]

#: Environment variable choosing how ``pool_context`` starts workers: auto | spawn | fork.
START_METHOD_ENV = "REDAL_START_METHOD"
_START_METHODS = ("auto", "spawn", "fork")


def fork_unsafe_reason() -> str | None:
    """Why forking this process now could hang or corrupt a worker, in words; None when it is safe."""
    if not sys.platform.startswith("linux"):
        return f"fork is only used on Linux (this is {sys.platform})"
    if threading.active_count() > 1:
        names = ", ".join(sorted(t.name for t in threading.enumerate() if t is not threading.current_thread()))
        return f"{threading.active_count() - 1} other thread(s) run in this process ({names})"
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    if parallel is not None and getattr(parallel, "_is_initialized", False):
        return "numba's parallel thread pool has started in this process"
    if "torch" in sys.modules:
        return "torch is imported in this process (its thread pools and CUDA state are not fork-safe)"
    return None


def requested_start_method() -> str:
    """``REDAL_START_METHOD`` (auto | spawn | fork; unset or blank: auto); another value is a ValueError."""
    wanted = os.environ.get(START_METHOD_ENV, "auto").strip() or "auto"
    if wanted not in _START_METHODS:
        raise ValueError(f"{START_METHOD_ENV}={wanted!r} is not a start method; valid: {', '.join(_START_METHODS)}")
    return wanted


def pool_context() -> BaseContext:
    """The multiprocessing context for a pool of workers started now: fork where ``fork_unsafe_reason`` finds
    nothing against it, else spawn (see the module docstring; ``REDAL_START_METHOD`` overrides)."""
    wanted = requested_start_method()
    if wanted == "spawn":
        return multiprocessing.get_context("spawn")
    reason = fork_unsafe_reason()
    if reason is not None:
        if wanted == "fork":
            warnings.warn(f"{START_METHOD_ENV}=fork: spawning workers instead, because {reason}", stacklevel=2)
        return multiprocessing.get_context("spawn")
    return multiprocessing.get_context("fork")


def start_pool(workers: int, *, initializer: Callable[..., None], initargs: tuple[Any, ...] = (),
               context: BaseContext | None = None) -> ProcessPoolExecutor:
    """A process pool of ``workers`` on ``context`` (default ``pool_context()``), every worker started now (a
    fork now, while the process is as ``fork_unsafe_reason`` checked it; a spawn now, so that the workers'
    start-up overlaps the caller's next steps)."""
    context = pool_context() if context is None else context
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=initializer, initargs=initargs)
    for _ in range(workers):  # a fork context starts every worker at the first submit; spawn one per submit
        pool.submit(os.getpid)
    return pool


def leave_with_parent(parent: int, *, interval_s: float = 0.2) -> None:
    """Start a daemon thread that ends this process (``os._exit(1)``) as soon as ``parent`` is no longer its
    parent (the parent died and the process was re-parented). parent : the pid the pool was started from.

    A sweep's notebook kernel is this process's child and leaves in turn (ipykernel polls its parent).
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        os._exit(1)

    threading.Thread(target=watch, name="redal-parent-watch", daemon=True).start()
