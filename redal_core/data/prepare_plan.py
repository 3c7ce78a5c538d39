"""Planning of ``redal prepare`` (``redal_core.data.prepare``): the dataset roots and the region work their
training scans need (``Target``: from the command line, or from a params file's runs through
``params_targets``), merged per root, then one ``ScanTask`` per scan of every listed split."""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redal_core.data.datasets import build_dataset

_GENERATORS = {"synthetic-indoor": "write_synthetic_indoor", "synthetic-outdoor": "write_synthetic_outdoor"}
#: Neighbours of the cues when no params file says otherwise (the run default ``dataset.knn``).
DEFAULT_KNN = 50


@dataclass(frozen=True)
class Target:
    """One dataset root and the region work of its training scans.

    regions : ((division, scans), ...), a division being ``("vccs", preset)`` or ``("grid", cell metres)``, and
    cues : ((k, scoring, scans), ...), where scans is how many training scans from the first need it (None:
    all of them). generate : the generator parameters a
    params file's synthetic root must hold (``data.generate.check_generated``), None otherwise.
    """

    dataset: str
    root: str
    cache_dir: str | None
    regions: tuple[tuple[Division, int | None], ...] = ()
    cues: tuple[tuple[int, str, int | None], ...] = ()
    generate: dict[str, Any] | None = None

    @property
    def cache(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir is not None else Path(self.root) / ".cache"

    def describe(self) -> str:
        """The work of the training scans in words: ``regions semantickitti; cues k=50 official``."""
        regions = ", ".join(_division_name(d) + _first(n) for d, n in self.regions) or "none"
        cues = ", ".join(f"k={k} {scoring}{_first(n)}" for k, scoring, n in self.cues) or "none"
        return f"regions {regions}; cues {cues}"


@dataclass(frozen=True)
class ScanTask:
    """One scan's work: read it into the cache, then its regions (``regions``: divisions, ``("vccs", preset)`` or
    ``("grid", cell)``) and cues (``cues``: (k, scoring))."""

    dataset: str
    root: str
    split: str
    cache_dir: str | None
    index: int
    name: str
    regions: tuple[Division, ...] = ()
    cues: tuple[tuple[int, str], ...] = ()

    @property
    def where(self) -> str:
        return f"{self.dataset} {self.split} {self.name}"


#: A region division: ``("vccs", VCCS preset)`` or ``("grid", cell edge in metres)``.
Division = tuple[str, Any]


def _division_name(division: Division) -> str:
    kind, value = division
    return value if kind == "vccs" else f"grid {value:g} m"


def _division_args(dataset: str, division: Division) -> tuple[str, dict[str, Any]]:
    """(preset, keywords) of ``scan_region_ids`` / ``region_key`` for a division (a grid ignores the preset,
    which must still be valid: the dataset family's)."""
    from redal_core.config import FAMILY

    kind, value = division
    if kind == "vccs":
        return value, {}
    return FAMILY[dataset], {"division": "grid", "cell": float(value)}


def _run_division(config: Any) -> Division:
    """The region division a run uses (``regions.division``: VCCS with ``dataset.vccs``, or grid cells)."""
    if config.regions.division == "grid":
        return ("grid", float(config.regions.grid_size))
    return ("vccs", config.dataset.vccs)


def _first(n: int | None) -> str:
    return "" if n is None else f" (first {n} scans)"


def _wider(a: int | None, b: int | None) -> int | None:
    """The scans two uses need together (None: all)."""
    return None if a is None or b is None else max(a, b)


def _merge(targets: Iterable[Target]) -> list[Target]:
    """One target per (dataset, root, cache), with the union of their work, in first-seen order."""
    merged: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    for t in targets:
        entry = merged.setdefault((t.dataset, t.root, t.cache_dir), {"regions": {}, "cues": {}, "generate": None})
        for division, n in t.regions:
            entry["regions"][division] = _wider(entry["regions"][division], n) if division in entry["regions"] else n
        for k, scoring, n in t.cues:
            key = (k, scoring)
            entry["cues"][key] = _wider(entry["cues"][key], n) if key in entry["cues"] else n
        if t.generate is not None:
            if entry["generate"] not in (None, t.generate):
                raise ValueError(f"the runs generate {t.root} with two parameter sets, {entry['generate']} and "
                                 f"{t.generate}; give them distinct dataset.root values")
            entry["generate"] = t.generate
    return [
        Target(dataset, root, cache_dir, regions=tuple(e["regions"].items()),
               cues=tuple((k, s, n) for (k, s), n in e["cues"].items()), generate=e["generate"])
        for (dataset, root, cache_dir), e in merged.items()
    ]


def _absolute(path: str | os.PathLike[str] | None) -> str | None:
    return None if path is None else str(Path(path).resolve())


def params_targets(path: str | os.PathLike[str], *, log: Callable[[str], None] = print,
                   writer: Callable[[str], Executor] | None = None) -> list[Target]:
    """The dataset roots of a params file's runs and the (division, k, scoring) work each needs.

    Expands the grid (``sweep.load_params`` + ``expand_grid``: the same validation as ``redal sweep``);
    relative roots resolve against the current folder, as the sweep's runs do. A synthetic root that is
    absent is generated first (``ensure_generated``, as a run would; on the executor ``writer(dataset)``
    returns, when given).
    """
    from redal_core.active.run_data import config_generate_params
    from redal_core.active.strategies import STRATEGIES
    from redal_core.config import SYNTHETIC, RunConfig
    from redal_core.data.generate import ensure_generated
    from redal_core.sweep import expand_grid, load_params

    grid, _ = load_params(path)
    targets = []
    generated: set[str] = set()
    for raw in expand_grid(grid, source=str(path)):
        config = RunConfig.from_dict(raw, source=str(path))
        d = config.dataset
        root = _absolute(d.root)
        generate = None
        if d.name in SYNTHETIC:
            generate = config_generate_params(config)
            if root not in generated:
                generated.add(root)
                started = time.perf_counter()
                if ensure_generated(root, generate, executor=writer(d.name) if writer else None):
                    log(f"generated {d.name} ({d.generate.scans} scans) under {root} in "
                        f"{time.perf_counter() - started:.0f} s")
        cues = bool(STRATEGIES.get(config.active.strategy).needs & {"color", "structure"})
        targets.append(Target(
            d.name, root, _absolute(d.cache_dir), regions=((_run_division(config), d.max_train_scans),),
            cues=((d.knn, config.active.scoring, d.max_train_scans),) if cues else (), generate=generate,
        ))
    return targets


def _command_line_target(dataset: str, root: Path, cache_dir: str | None, scans: int | None, seed: int,
                         scoring: str, log: Callable[[str], None],
                         executor: Executor | None = None) -> tuple[Target, set[str] | None]:
    """The target of ``--dataset``/``--root`` (generating a synthetic one, on ``executor``'s workers when
    given) and the scan names it wrote."""
    from redal_core.config import FAMILY

    generated = None
    if dataset in _GENERATORS:
        synthetic = importlib.import_module("redal_core.data.synthetic")
        kwargs = {"seed": seed} if scans is None else {"scans": scans, "seed": seed}
        written = getattr(synthetic, _GENERATORS[dataset])(root, **kwargs, executor=executor)
        log(f"generated {len(written)} {dataset} scans under {root} (seed {seed})")
        generated = {_scan_name(Path(path)) for path in written}
    elif scans is not None:
        raise ValueError(f"--scans applies to synthetic datasets only, not to {dataset!r} (it reads the scans under --root)")
    elif not root.is_dir():
        raise FileNotFoundError(f"{dataset} root {root} does not exist")
    target = Target(dataset, str(root.resolve()), _absolute(cache_dir), regions=((("vccs", FAMILY[dataset]), None),),
                    cues=((DEFAULT_KNN, scoring, None),))
    return target, generated


def _plan(targets: Sequence[Target], splits: Sequence[str],
          log: Callable[[str], None]) -> tuple[list[ScanTask], dict[tuple[int, str], Any]]:
    """Every scan's task, in (target, split, index) order, and the dataset of each listed (target, split)."""
    from redal_core.data.generate import check_generated

    tasks: list[ScanTask] = []
    listed: dict[tuple[int, str], Any] = {}
    for n, t in enumerate(targets):
        for split in splits:
            try:
                ds = build_dataset(t.dataset, t.root, split, cache_dir=t.cache_dir)
            except ValueError as error:
                log(f"{t.dataset} {split}: skipped ({error})")
                continue
            listed[(n, split)] = ds
            for i, name in enumerate(ds.scan_names):
                train = split == "train"
                tasks.append(ScanTask(
                    t.dataset, t.root, split, t.cache_dir, i, name,
                    regions=tuple(d for d, count in t.regions if train and (count is None or i < count)),
                    cues=tuple((k, s) for k, s, count in t.cues if train and (count is None or i < count)),
                ))
        if not any(key[0] == n for key in listed):
            raise ValueError(f"{t.dataset} root {t.root}: none of the splits {', '.join(splits)} holds scans")
        if t.generate is not None:
            check_generated(t.root, t.generate, sum(len(ds) for (m, _), ds in listed.items() if m == n))
    return tasks, listed


def _scan_name(path: Path) -> str:
    """Dataset scan name of a generated path: a room folder -> ``Area_N/<room>``, a .bin -> ``XX/NNNNNN``."""
    if path.suffix == ".bin":
        return f"{path.parent.parent.name}/{path.stem}"
    return f"{path.parent.name}/{path.name}"
