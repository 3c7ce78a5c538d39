"""Argument checks shared by the synthetic generators and writers (one message format for every entry point)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum or (maximum is not None and value > maximum):
        allowed = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise ValueError(f"{name} must be {allowed}, got {value}")


def _check_root(root: object) -> Path:
    if not isinstance(root, (str, os.PathLike)) or str(root) == "":
        raise ValueError(f"root must be a non-empty path, got {root!r}")
    path = Path(root)
    if path.exists() and not path.is_dir():
        raise ValueError(f"root {path} exists and is not a folder")
    return path
