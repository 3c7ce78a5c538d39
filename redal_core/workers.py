"""Process-pool workers that leave with their parent.

A ``SIGKILL`` or ``SIGTERM`` sent to ``redal prepare`` or ``redal sweep`` reaches that process only: its
spawn-pool workers would go on computing (a sweep's, each with its notebook kernel) with nobody to collect
their results. Every pool worker therefore starts ``leave_with_parent`` in its initializer.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["leave_with_parent"]


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
