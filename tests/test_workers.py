"""How pool workers start (``redal_core.workers.pool_context``): fork only where nothing can be half-held.

Each case runs in a fresh interpreter, since what it checks is the state of a whole process (its threads,
numba's thread pool, torch). (Workers leaving with their parent: test_sweep.py and test_prepare.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from redal_core.workers import START_METHOD_ENV

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is only used on Linux")


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {key: value for key, value in os.environ.items() if key != START_METHOD_ENV}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120,
                          env={**environ, **env})


def _last_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_a_fresh_process_forks():
    done = _python("""
        from redal_core.workers import fork_unsafe_reason, pool_context
        print(fork_unsafe_reason(), pool_context().get_start_method())
    """)
    assert _last_line(done) == "None fork"


def test_another_thread_makes_it_spawn():
    done = _python("""
        import threading
        from redal_core.workers import fork_unsafe_reason, pool_context
        stop = threading.Event()
        threading.Thread(target=stop.wait, name="busy", daemon=True).start()
        print(pool_context().get_start_method(), "|", fork_unsafe_reason())
        stop.set()
    """)
    assert _last_line(done) == "spawn | 1 other thread(s) run in this process (busy)"


def test_a_started_numba_pool_makes_it_spawn():
    done = _python("""
        from numba.np.ufunc import parallel
        from redal_core.workers import fork_unsafe_reason, pool_context
        parallel._launch_threads()
        print(pool_context().get_start_method(), "|", fork_unsafe_reason())
    """)
    assert _last_line(done).startswith("spawn | numba's parallel thread pool has started")


def test_torch_makes_it_spawn():
    done = _python("""
        import torch
        from redal_core.workers import fork_unsafe_reason, pool_context
        print(pool_context().get_start_method(), "|", fork_unsafe_reason())
    """)
    assert _last_line(done).startswith("spawn | torch is imported")


def test_warming_the_region_kernels_keeps_fork_safe():
    # what redal prepare does in its main process before it forks the scans' workers
    done = _python("""
        from redal_core.regions.warm import warm_kernels
        from redal_core.workers import fork_unsafe_reason
        warm_kernels(color=True)
        warm_kernels(color=False)
        print(fork_unsafe_reason())
    """)
    assert _last_line(done) == "None"


def test_the_start_method_can_be_chosen():
    code = "from redal_core.workers import pool_context; print(pool_context().get_start_method())"
    assert _last_line(_python(code, **{START_METHOD_ENV: "spawn"})) == "spawn"
    assert _last_line(_python(code, **{START_METHOD_ENV: "fork"})) == "fork"
    assert _last_line(_python(code, **{START_METHOD_ENV: " "})) == "fork"  # blank: auto


def test_fork_asked_for_where_it_is_unsafe_spawns_with_a_warning():
    done = _python("""
        import threading, warnings
        from redal_core.workers import pool_context
        stop = threading.Event()
        threading.Thread(target=stop.wait, name="busy", daemon=True).start()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            method = pool_context().get_start_method()
        stop.set()
        print(method, "|", caught[0].message)
    """, **{START_METHOD_ENV: "fork"})
    assert _last_line(done) == ("spawn | REDAL_START_METHOD=fork: spawning workers instead, because 1 other "
                                "thread(s) run in this process (busy)")


def test_an_unknown_start_method_is_named():
    done = _python("""
        from redal_core.workers import pool_context
        try:
            pool_context()
        except ValueError as error:
            print(error)
    """, **{START_METHOD_ENV: "forkserver"})
    assert _last_line(done) == "REDAL_START_METHOD='forkserver' is not a start method; valid: auto, spawn, fork"


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_pool_starts_every_worker_at_once(method):
    # so that forks happen while the process is as checked, and spawns start up while the caller goes on
    done = _python("""
        import glob, os
        from redal_core.workers import start_pool
        pool = start_pool(3, initializer=int)
        children = [pid for path in glob.glob(f"/proc/{os.getpid()}/task/*/children")
                    for pid in open(path).read().split()]
        print(len(children))
        pool.shutdown(wait=True)
    """, **{START_METHOD_ENV: method})
    assert int(_last_line(done)) >= 3  # (spawn adds multiprocessing's resource tracker)
