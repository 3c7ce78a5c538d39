"""The kit's one way onto a Dask cluster: connect with a short timeout, watch the workers, size a task's threads.

Used by ``redal sweep --dask-scheduler`` and ``redal prepare --dask-scheduler``:

* ``connect(address)`` returns a ``distributed.Client``; a scheduler that does not answer within
  ``CONNECT_TIMEOUT_S`` seconds (nothing listening, a wrong host or port, a malformed address) raises
  ``SchedulerUnreachable`` with one line naming the address (``no Dask scheduler at tcp://HOST:8786: ...``),
  which the ``redal`` command prints without a traceback;
* ``watching(client, address, pending=...)`` polls the scheduler's workers in a background thread while
  tasks are pending and prints a line when a worker is lost, and one when no worker has been connected
  for ``NO_WORKER_WARN_S`` seconds (with the command that starts one: ``dask worker ADDRESS``);
  ``WorkerWatch`` is its logic, a pure function of successive views of the workers;
* ``worker_slots()`` is the number of tasks this process runs at once (a Dask worker's ``nthreads``, else
  1), the ``jobs`` of the thread rule (``redal_core.threads.resolve_threads``) inside a worker.

``distributed`` is imported only when a function here needs it.
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = ["CONNECT_TIMEOUT_S", "NO_WORKER_WARN_S", "POLL_S", "SchedulerUnreachable", "WorkerWatch", "connect",
           "watching", "worker_slots"]

#: Seconds ``connect`` waits for a scheduler to answer.
CONNECT_TIMEOUT_S = 5.0
#: Seconds without any connected worker, while tasks are pending, before ``watching`` says so.
NO_WORKER_WARN_S = 30.0
#: Seconds between two looks at the scheduler's workers.
POLL_S = 1.0


class SchedulerUnreachable(ConnectionError):
    """No Dask scheduler answered at an address; the message is one line naming it."""


def connect(address: str, *, timeout: float | None = None) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address`` (``tcp://HOST:PORT``).

    timeout : seconds to wait for the scheduler (default ``CONNECT_TIMEOUT_S``).
    Raises ``SchedulerUnreachable`` (``no Dask scheduler at ADDRESS: reason``) when it does not answer in
    time or the address cannot be used; ValueError for an address that is not a non-empty string.
    The address is probed first with one bare Dask connection, so a failure leaves no half-started client
    behind (one that would spend seconds, and a traceback, closing at exit).
    """
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"a Dask scheduler address must be a string such as tcp://HOST:8786, got {address!r}")
    from distributed import Client

    wait = CONNECT_TIMEOUT_S if timeout is None else float(timeout)
    try:
        _probe(address, wait)
        return Client(address, timeout=wait, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as error:  # refused, timed out, unknown scheme / host
        raise SchedulerUnreachable(f"no Dask scheduler at {address}: {_reason(error, wait)}") from None


def _probe(address: str, wait: float) -> None:
    """Open and close one Dask connection to ``address`` within ``wait`` seconds (in a thread of its own, so
    that it also works under a running event loop, e.g. in a notebook)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.comm import connect as open_comm

    async def probe() -> None:
        comm = await open_comm(address, timeout=wait)
        await comm.close()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="redal-dask-probe") as pool:
        pool.submit(asyncio.run, probe()).result()


def _reason(error: BaseException, wait: float) -> str:
    """One line saying why a connection failed: a timeout with its innermost cause, or the error's text."""
    text = " ".join(str(error).split())
    if isinstance(error, OSError | TimeoutError) and "timed out" in text.lower():
        inner = error
        while (inner.__cause__ or inner.__context__) is not None:
            inner = inner.__cause__ or inner.__context__
        detail = re.sub(r"^in <[^>]*>:\s*", "", " ".join(str(inner).split())) if inner is not error else ""
        return f"nothing answered within {wait:g} s" + (f" ({detail})" if detail else "")
    return (text or type(error).__name__)[:300]


def worker_slots() -> int:
    """Tasks this process runs at once: a Dask worker's ``nthreads``, else 1 (not inside a worker)."""
    if "distributed" not in sys.modules:  # a Dask worker has it loaded; elsewhere, do not load it for nothing
        return 1
    try:
        from distributed import get_worker

        return max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):  # not inside a Dask worker
        return 1


def _label(address: str, name: str) -> str:
    return address if name in ("", address) else f"{name} ({address})"


class WorkerWatch:
    """Turns successive views of a scheduler's workers into the lines worth printing.

    address : the scheduler's address (named in the lines); idle_after : seconds without any worker, while
    tasks are pending, before the no-worker line; start : the clock's time when watching began (the cluster
    counts as without workers since then until the first view shows one); unit : what a task is (``run``).
    """

    def __init__(self, address: str, *, idle_after: float = NO_WORKER_WARN_S, start: float = 0.0,
                 unit: str = "task") -> None:
        self.address = address
        self.unit = unit
        self.idle_after = float(idle_after)
        self._known: dict[str, str] = {}  # worker address -> name
        self._idle_since: float | None = start
        self._warned = False

    def update(self, workers: Mapping[str, Mapping[str, Any]], now: float, pending: int) -> list[str]:
        """Lines for this view: one per worker gone since the last view, and the no-worker line once per
        stretch of ``idle_after`` seconds without workers while ``pending`` > 0 tasks wait.

        workers : worker address -> its info (``name`` used when present), as ``scheduler_info()["workers"]``.
        """
        current = {str(address): str(info.get("name", address)) for address, info in workers.items()}
        lines = [
            f"dask: worker {_label(address, self._known[address])} was lost ({len(current)} worker(s) left)"
            for address in sorted(set(self._known) - set(current))
        ]
        self._known = current
        if current:
            self._idle_since, self._warned = None, False
            return lines
        if self._idle_since is None:
            self._idle_since = now
        idle = now - self._idle_since
        if pending > 0 and not self._warned and idle >= self.idle_after:
            self._warned = True
            lines.append(
                f"dask: no worker has been connected to the scheduler at {self.address} for {idle:.0f} s and "
                f"{pending} {self.unit}(s) are pending; start one with: dask worker {self.address}"
            )
        return lines


@contextlib.contextmanager
def watching(
    client: Any,
    address: str,
    *,
    pending: Callable[[], int],
    log: Callable[[str], None] | None = None,
    idle_after: float | None = None,
    poll_s: float | None = None,
    unit: str = "task",
) -> Iterator[WorkerWatch]:
    """Watch ``client``'s workers in a daemon thread for the duration of the block (see ``WorkerWatch``).

    pending : how many tasks still wait (looked at on every poll); log : where the lines go (default: stderr,
    flushed); idle_after / poll_s : default ``NO_WORKER_WARN_S`` / ``POLL_S``, read when the block starts;
    unit : what a task is, in the no-worker line (``run``, ``scan``).
    A scheduler that stops answering is said once; the caller's own calls then fail as they would.
    """
    out = log or (lambda line: print(line, file=sys.stderr, flush=True))
    watch = WorkerWatch(address, idle_after=NO_WORKER_WARN_S if idle_after is None else idle_after,
                        start=time.monotonic(), unit=unit)
    interval = POLL_S if poll_s is None else float(poll_s)
    stop = threading.Event()

    def poll() -> None:
        silent = False
        while not stop.is_set():
            try:
                workers = client.scheduler_info(n_workers=-1)["workers"]
            except Exception as error:  # the scheduler went away, or the client is closing
                if not stop.is_set() and not silent:
                    out(f"dask: the scheduler at {address} does not answer ({_reason(error, interval)})")
                    silent = True
            else:
                silent = False
                for line in watch.update(workers, time.monotonic(), pending()):
                    out(line)
            stop.wait(interval)

    thread = threading.Thread(target=poll, name="redal-dask-watch", daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        stop.set()
        thread.join(timeout=interval + 5.0)
