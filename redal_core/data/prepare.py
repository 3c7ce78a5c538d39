"""``redal prepare``: generate a synthetic dataset (synthetic only), then read every scan into the cache.

For ``s3dis`` and ``semantickitti`` nothing is written under the root: the existing scans are indexed
and cached (in ``<root>/.cache`` unless ``cache_dir`` is given). The summary lists, per split, the
scans, points, labeled points and the class histogram.
"""

from __future__ import annotations

import argparse
import importlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from redal_core.data.datasets import DATASETS, build_dataset

_GENERATORS = {"synthetic-indoor": "write_synthetic_indoor", "synthetic-outdoor": "write_synthetic_outdoor"}


@dataclass(frozen=True)
class SplitSummary:
    """What ``prepare`` found in one split: scans, points, labeled points, (num_classes,) int64 histogram."""

    split: str
    scans: int
    points: int
    labeled_points: int
    class_histogram: np.ndarray
    class_names: tuple[str, ...]


def prepare(
    dataset: str,
    root: str | os.PathLike[str],
    *,
    scans: int | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    splits: tuple[str, ...] = ("train", "val"),
    log: Callable[[str], None] = print,
) -> list[SplitSummary]:
    """Generate (synthetic datasets only) and cache every scan of ``splits``; returns one summary per split.

    A split whose folders are absent is reported through ``log`` and left out; no split at all is an error.
    """
    name = DATASETS.canonical(dataset)
    root = Path(root)
    generated: set[str] | None = None  # scan names written by this call (synthetic only)
    if name in _GENERATORS:
        synthetic = importlib.import_module("redal_core.data.synthetic")
        if scans is not None and scans < 1:
            raise ValueError(f"--scans must be a positive number of scans, got {scans}")
        kwargs = {"seed": seed} if scans is None else {"scans": scans, "seed": seed}
        written = getattr(synthetic, _GENERATORS[name])(root, **kwargs)
        log(f"generated {len(written)} {name} scans under {root} (seed {seed})")
        generated = {_scan_name(Path(path)) for path in written}
    elif scans is not None:
        raise ValueError(f"--scans applies to synthetic datasets only, not to {name!r} (it reads the scans under --root)")
    elif not root.is_dir():
        raise FileNotFoundError(f"{name} root {root} does not exist")

    summaries: list[SplitSummary] = []
    listed: list[str] = []
    for split in splits:
        try:
            ds = build_dataset(name, root, split, cache_dir=cache_dir)
        except ValueError as error:
            log(f"{split}: skipped ({error})")
            continue
        listed.extend(ds.scan_names)
        histogram = np.zeros(ds.num_classes, np.int64)
        points = 0
        for scan in ds:
            points += scan.num_points
            histogram += scan.class_histogram(ds.num_classes)
        summaries.append(
            SplitSummary(
                split=split,
                scans=len(ds),
                points=points,
                labeled_points=int(histogram.sum()),
                class_histogram=histogram,
                class_names=tuple(ds.class_names),
            )
        )
        log(_format_summary(summaries[-1]))
    if not summaries:
        raise ValueError(f"{name} root {root}: none of the splits {', '.join(splits)} holds scans")
    if generated is not None:
        stale = sorted(set(listed) - generated)
        if stale:
            message = (
                f"{len(stale)} scan(s) under {root} were not written by this run (left by an earlier one, e.g. "
                f"{stale[0]}) and are included; use an empty --root for exactly the generated set"
            )
            warnings.warn(message, stacklevel=2)
            log(f"warning: {message}")
    return summaries


def _scan_name(path: Path) -> str:
    """Dataset scan name of a generated path: a room folder -> ``Area_N/<room>``, a .bin -> ``XX/NNNNNN``."""
    if path.suffix == ".bin":
        return f"{path.parent.parent.name}/{path.stem}"
    return f"{path.parent.name}/{path.name}"


def _format_summary(summary: SplitSummary) -> str:
    share = summary.class_histogram / max(summary.labeled_points, 1)
    classes = ", ".join(
        f"{name} {count} ({100 * frac:.1f}%)"
        for name, count, frac in zip(summary.class_names, summary.class_histogram, share, strict=True)
    )
    return (
        f"{summary.split}: {summary.scans} scans, {summary.points} points, {summary.labeled_points} labeled\n"
        f"  classes: {classes}"
    )


def cli_prepare(args: argparse.Namespace) -> int:
    """Entry point of ``redal prepare`` (arguments defined in ``redal_core.cli``)."""
    summaries = prepare(args.dataset, args.root, scans=args.scans, seed=args.seed, cache_dir=args.cache_dir)
    cache = args.cache_dir if args.cache_dir is not None else Path(args.root) / ".cache"
    print(f"cached {sum(s.scans for s in summaries)} scans in {cache}")
    return 0
