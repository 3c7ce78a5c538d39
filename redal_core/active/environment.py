"""What a run's numbers depend on beyond its config, recorded in ``env.json`` and checked on resume.

``capture_environment`` records versions (python, torch, numpy, numba, scikit-learn, the sparse backend's
library), the backend and device, the world size, the git commit, the host and the effective thread counts
with numba's threading layer (``redal_core.threads.thread_report``): float sums depend on the thread count,
so results are comparable only at equal thread counts. ``check_resume_threads`` warns when a run is
resumed at another thread count than the one it started with.
"""

from __future__ import annotations

import json
import platform
import socket
import subprocess
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from redal_core import __version__
from redal_core.results import RunPaths
from redal_core.threads import thread_report

__all__ = ["capture_environment", "check_resume_threads"]

_PACKAGES = ("numba", "scikit-learn", "scipy", "spconv", "MinkowskiEngine", "torchsparse")


def capture_environment(model: Any, device: Any, world_size: int, threads: int) -> dict[str, Any]:
    """The ``env.json`` record of a run about to train (``threads``: its effective thread count)."""
    import torch

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    packages = {}
    for name in _PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "packages": packages,
        "backend": getattr(model, "backend_name", None) or type(getattr(model, "backend", None)).__name__,
        "device": str(device),
        "world_size": world_size,
        "threads": int(threads),
        "thread_report": thread_report(),
        "git_commit": commit,
        "hostname": socket.gethostname(),
        "redal_core": __version__,
    }


def check_resume_threads(paths: RunPaths, threads: int) -> None:
    """Warn when the run in ``paths`` started at another thread count than ``threads`` (naming both)."""
    if not paths.env.exists():
        return
    recorded = json.loads(paths.env.read_text(encoding="utf-8")).get("threads")
    if recorded is not None and int(recorded) != int(threads):
        warnings.warn(
            f"{paths.root.name}: resuming at {threads} thread(s), but the run started at {recorded} "
            f"(env.json); its later rounds are not comparable with an uninterrupted run at {recorded} thread(s). "
            f"Set REDAL_THREADS={recorded} (or train.threads: {recorded}) to resume at the recorded count",
            stacklevel=3,
        )
