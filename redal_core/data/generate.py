"""Synthetic dataset roots: generated once, atomically, and checked against what a config asks for.

A run (or a sweep, before its runs start) whose synthetic ``dataset.root`` is absent or empty generates it
with ``ensure_generated``: the writer fills a temporary folder next to the root, a marker file
(``.redal-generate.json``) records the generator's parameters, and the folder is renamed into place, so
concurrent runs racing to generate one root never see half a dataset (one wins, the others discard their
copy). ``check_generated`` then refuses a root that holds other synthetic data than the config describes
(an older demo's rooms, say) instead of silently reusing it.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

__all__ = ["GENERATORS", "MARKER", "check_generated", "ensure_generated", "generate_params", "generator"]

#: dataset name -> writer in ``redal_core.data.synthetic``.
GENERATORS = {"synthetic-indoor": "write_synthetic_indoor", "synthetic-outdoor": "write_synthetic_outdoor"}
#: Written into a generated root: the generator's parameters, compared on every later use.
MARKER = ".redal-generate.json"


def generator(name: str) -> Callable[..., list[Path]]:
    """The writer of synthetic dataset ``name`` (resolved when called, so the heavy module loads lazily)."""
    if name not in GENERATORS:
        raise ValueError(f"{name!r} is not a synthetic dataset; valid: {', '.join(GENERATORS)}")
    return getattr(importlib.import_module("redal_core.data.synthetic"), GENERATORS[name])


#: The outdoor writer's defaults; a marker records only the arguments that differ from them, so a root
#: generated before these options existed keeps its marker.
OUTDOOR_DEFAULTS = {"beams": 64, "azimuth_steps": 1920, "frames_per_drive": None}


def generate_params(name: str, *, scans: int, seed: int, points_per_room: int | None = None,
                    beams: int | None = None, azimuth_steps: int | None = None,
                    frames_per_drive: int | None = None) -> dict[str, Any]:
    """The parameters that define a generated root (what the marker records; the writer's keyword arguments).

    points_per_room applies to ``synthetic-indoor`` only; beams, azimuth_steps (the scanner's size) and
    frames_per_drive (consecutive frames of drives, with poses) to ``synthetic-outdoor`` only.
    """
    out: dict[str, Any] = {"dataset": name, "scans": int(scans), "seed": int(seed)}
    if name == "synthetic-indoor":
        out["points_per_room"] = int(points_per_room) if points_per_room is not None else 40000
    else:
        given = {"beams": beams, "azimuth_steps": azimuth_steps, "frames_per_drive": frames_per_drive}
        out.update({key: value for key, value in given.items() if value is not None and value != OUTDOOR_DEFAULTS[key]})
    return out


def ensure_generated(root: str | os.PathLike[str], params: dict[str, Any], *, executor: Executor | None = None) -> bool:
    """Generate ``params['dataset']`` under ``root`` unless it holds files already; True when generated.

    executor : writes the scans on its workers (the writers' ``executor``), the same files."""
    root = Path(root)
    if root.is_dir() and any(root.iterdir()):
        return False
    root.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {key: value for key, value in params.items() if key != "dataset"}
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.generating-", dir=root.parent))
    try:
        generator(params["dataset"])(tmp, **kwargs, executor=executor)
        (tmp / MARKER).write_text(json.dumps(params, sort_keys=True), encoding="utf-8")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's folder is private; the dataset is not
        try:
            os.replace(tmp, root)  # also replaces an empty folder
        except OSError:
            if not (root.is_dir() and any(root.iterdir())):
                raise
            return False  # another process generated it first
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return True


def check_generated(root: str | os.PathLike[str], params: dict[str, Any], n_scans: int) -> None:
    """ValueError unless the synthetic data under ``root`` is what ``params`` describes.

    With a marker its parameters must equal ``params``; without one (data written by ``redal prepare`` or
    by hand) the number of scans must.
    """
    root = Path(root)
    marker = root / MARKER
    name = params["dataset"]
    if marker.exists():
        found = json.loads(marker.read_text(encoding="utf-8"))
        if found != params:
            raise ValueError(
                f"dataset.root {root} holds synthetic data generated with {found}, but dataset.generate asks for "
                f"{params}; delete {root} (it is regenerated on the next run) or point dataset.root elsewhere"
            )
    elif n_scans != params["scans"]:
        raise ValueError(
            f"dataset.root {root} holds {n_scans} {name} scans, but dataset.generate asks for "
            f"{params['scans']}; delete {root} (it is regenerated on the next run) or point dataset.root elsewhere"
        )
