"""Sweeps: expand a params grid into runs and execute notebook 02 for each with papermill.

A params file is a run config (``redal_core.config`` schema) in which any leaf that is a LIST expands,
as a cartesian product, into one run per combination; an optional top-level ``figures:`` section says
what ``redal figures`` plots. Each run executes ``notebooks/02_active_learning_run.ipynb`` into
``<results_dir>/runs/<run_id>/run.ipynb``. Complete runs are skipped, incomplete ones resume (the loop
resumes after its last complete round), a failing run does not stop the others, and a summary table
(run, status, rounds, final mIoU, wall time) ends the sweep. Runs go to a local process pool (``jobs``)
or, given a scheduler address, to a Dask distributed cluster.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
import re
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from redal_core.config import RunConfig, default_run_id
from redal_core.threads import resolve_threads, thread_env

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
RUN_NOTEBOOK = NOTEBOOKS / "02_active_learning_run.ipynb"
FIGURE_NOTEBOOKS = ("03_compare_strategies", "04_per_class_tables", "05_ablation")
#: Keys of the optional ``figures:`` section of a params file.
FIGURE_KEYS = ("budget_pct",)
SUMMARY_COLUMNS = ["run", "status", "rounds", "final_miou", "wall_s", "error"]
_ID_KEYS = {"seed", "dataset.name", "model.name", "active.strategy", "run_id"}


# -- params files and grids ------------------------------------------------------------------------------
def load_params(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a params YAML: returns ``(grid, figures)`` with the ``figures:`` section split off."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"params file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {error}") from error
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: a params file must be a mapping of config keys, got {type(data).__name__}")
    grid = dict(data)
    figures = grid.pop("figures", None) or {}
    if not isinstance(figures, Mapping):
        raise ValueError(f"{path}: key 'figures' must be a mapping (keys: {', '.join(FIGURE_KEYS)}), got {figures!r}")
    for key, value in figures.items():
        if key not in FIGURE_KEYS:
            raise ValueError(f"{path}: unknown key '{key}' in section 'figures'; valid keys: {', '.join(FIGURE_KEYS)}")
        if key == "budget_pct" and value is not None and not (
            isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 100
        ):
            raise ValueError(f"{path}: key 'figures.budget_pct' = {value!r} must be a percentage in (0, 100] or null")
    return grid, dict(figures)


def _list_leaves(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, list]]:
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _list_leaves(value, dotted + ".")
        elif isinstance(value, list):
            yield dotted, value


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        tree = tree[key]
    tree[leaf] = value


def _id_part(value: Any) -> str:
    text = re.sub(r"[^A-Za-z0-9._+-]+", "-", str(value)).strip("-.")
    return text or "x"


def expand_grid(params: Mapping[str, Any], *, source: str = "params") -> list[dict[str, Any]]:
    """Expand every list-valued leaf of ``params`` into runs (cartesian product, in key order).

    params : a run-config mapping (no ``figures`` section) whose leaves may be lists.
    Returns the resolved config of every run (``RunConfig.to_dict()``), each validated by
    ``RunConfig.from_dict``; an error names ``source``, the run's combination and the offending key.
    When the grid varies keys that the default run id does not contain (e.g. ``model.width``), and no
    run_id is given, each such key is appended to the run id (``...-s0-width0.25``) so runs never collide.
    """
    if not isinstance(params, Mapping):
        raise ValueError(f"{source}: a params grid must be a mapping, got {type(params).__name__}")
    if "figures" in params:
        raise ValueError(f"{source}: strip the 'figures' section before expand_grid (use load_params)")
    leaves = list(_list_leaves(params))
    for key, values in leaves:
        if not values:
            raise ValueError(f"{source}: key '{key}' is an empty list; give at least one value")
    extra = [key for key, values in leaves if key not in _ID_KEYS and len(values) > 1]
    runs: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for combo in itertools.product(*(values for _, values in leaves)):
        tree = copy.deepcopy(dict(params))
        for (key, _), value in zip(leaves, combo, strict=True):
            _set(tree, key, value)
        label = ", ".join(f"{key}={value}" for (key, _), value in zip(leaves, combo, strict=True)) or "single run"
        config = RunConfig.from_dict(tree, source=f"{source} (run {label})")
        if extra and tree.get("run_id") is None:
            suffix = "".join(f"-{key.rsplit('.', 1)[-1]}{_id_part(v)}" for (key, _), v in zip(leaves, combo, strict=True)
                             if key in extra)
            config = RunConfig.from_dict({**config.to_dict(), "run_id": default_run_id(config) + suffix},
                                         source=f"{source} (run {label})")
        if config.run_id in seen:
            raise ValueError(
                f"{source}: runs ({seen[config.run_id]}) and ({label}) would both write run_id "
                f"{config.run_id!r}; give distinct run_id values or vary a key that names the run"
            )
        seen[config.run_id] = label
        runs.append(config.to_dict())
    return runs


def _absolute(config: dict[str, Any], base: Path) -> dict[str, Any]:
    """The results_dir resolved against ``base``; dataset paths stay as written (each run's kernel starts
    in the sweep's working directory, and the run's params.yaml stays portable)."""
    out = copy.deepcopy(config)
    out["results_dir"] = str((base / out["results_dir"]).resolve())
    return out


# -- kernel ---------------------------------------------------------------------------------------------
#: The kit's kernelspec: one name everywhere (the notebooks' metadata names it), one copy per environment.
KERNEL_NAME = "redal-kit"
KERNEL_DISPLAY_NAME = "Python (redal-kit)"
_HASHED_KERNEL = re.compile(r"redal-kit-[0-9a-f]{10}")  # the per-interpreter names of earlier versions


def kernel_argv() -> list[str]:
    """The command of the kit's kernel: this interpreter, quiet below CRITICAL (no transport warnings in
    sweep logs; a failing cell still fails the run through papermill)."""
    return [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--IPKernelApp.log_level=CRITICAL"]


def kernel_dir(prefix: str | os.PathLike[str] | None = None) -> Path:
    """Where this environment's ``redal-kit`` kernelspec lives: ``<sys.prefix>/share/jupyter/kernels/redal-kit``."""
    return Path(sys.prefix if prefix is None else prefix, "share", "jupyter", "kernels", KERNEL_NAME)


def ensure_kernel() -> str:
    """The name of the kit's kernelspec, ``redal-kit``, checked to run THIS interpreter (``kernel_argv``).

    The spec is (re)written into ``sys.prefix`` (``kernel_dir()``) when missing or different, so each
    environment has its own: two clones (two venvs) never share a kernelspec, as long as Jupyter resolves
    the name to this environment's folder, which is checked. Raises RuntimeError naming the folder when a
    spec of the same name earlier on Jupyter's path shadows it: one in ``JUPYTER_PATH``, or the user's
    ``~/.local/share/jupyter/kernels/redal-kit`` where Jupyter looks before the environment
    (``JUPYTER_PREFER_ENV_PATH=0``, or an environment the user does not own).
    """
    import json

    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    folder = kernel_dir()
    spec = {"argv": kernel_argv(), "display_name": KERNEL_DISPLAY_NAME, "language": "python",
            "metadata": {"debugger": False}}
    try:
        current = json.loads((folder / "kernel.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        current = None
    if current != spec:
        folder.mkdir(parents=True, exist_ok=True)
        _copy_kernel_logos(folder)
        partial = folder / f"kernel.json.tmp{os.getpid()}"
        partial.write_text(json.dumps(spec, indent=1), encoding="utf-8")
        os.replace(partial, folder / "kernel.json")  # a concurrent reader sees the old spec or the new one
    _remove_hashed_kernels(folder.parent)
    manager = KernelSpecManager()
    try:
        resolved = manager.get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        raise RuntimeError(f"kernelspec {KERNEL_NAME!r} was written to {folder}, but Jupyter does not look there "
                           f"(its kernel folders: {', '.join(manager.kernel_dirs)})") from None
    if not os.path.samefile(resolved.resource_dir, folder):
        raise RuntimeError(
            f"kernelspec {KERNEL_NAME!r} resolves to {resolved.resource_dir} (runs {resolved.argv[0]}), which "
            f"shadows this environment's {folder}; remove that folder (rm -r {resolved.resource_dir})"
        )
    if resolved.argv != kernel_argv():
        raise RuntimeError(f"kernelspec {KERNEL_NAME!r} in {folder} runs {resolved.argv[0]}, not {sys.executable}")
    return KERNEL_NAME


def _copy_kernel_logos(folder: Path) -> None:
    """ipykernel's Python logos beside the spec (JupyterLab's launcher shows them); best effort."""
    import shutil
    from importlib.resources import files

    with contextlib.suppress(Exception):
        for logo in files("ipykernel").joinpath("resources").iterdir():
            if logo.name.startswith("logo-") and not (folder / logo.name).exists():
                shutil.copyfile(str(logo), folder / logo.name)


def _remove_hashed_kernels(kernels: Path) -> None:
    """Drop this interpreter's ``redal-kit-<hash>`` specs left in the environment by earlier versions."""
    import json
    import shutil

    for old in kernels.glob("redal-kit-*"):
        if _HASHED_KERNEL.fullmatch(old.name):
            with contextlib.suppress(OSError, ValueError, KeyError, IndexError):
                if json.loads((old / "kernel.json").read_text(encoding="utf-8"))["argv"][0] == sys.executable:
                    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# -- one run --------------------------------------------------------------------------------------------
def run_progress(config: RunConfig) -> tuple[str, int, float]:
    """``(status, last_round, final_miou_pct)`` of a run from its files (``results.run_status``).

    status: ``complete``, ``incomplete`` (resumable, possibly nothing written yet), ``awaiting_labels``
    (oracle: human) or ``missing`` (no folder). last_round is -1 and the mIoU NaN when no round is complete.
    """
    from redal_core.results import RunPaths, run_status

    info = run_status(config.run_dir)
    last = -1 if info["last_round"] is None else int(info["last_round"])
    miou = float("nan")
    rounds_csv = RunPaths(Path(config.run_dir)).rounds
    if last >= 0 and rounds_csv.is_file():
        table = pd.read_csv(rounds_csv)
        row = table[table["round"] == last]
        if not row.empty:
            miou = 100.0 * float(row["miou"].iloc[-1])
    return info["status"], last, miou


def execute_run(
    config: Mapping[str, Any],
    *,
    notebook: str | os.PathLike[str] = RUN_NOTEBOOK,
    kernel_name: str | None = None,
    threads: int | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Execute the run notebook for one resolved config; never raises for a failing run.

    threads : the run's thread count; None decides where the run executes: ``train.threads`` when the
    config sets it, else the cores of this machine divided by the runs it executes at once (a Dask
    worker's ``nthreads``), as ``redal_core.threads.resolve_threads`` does.

    Returns a summary row: ``run, status, rounds`` (last complete round), ``final_miou`` (%), ``wall_s``,
    ``error`` with status ``skipped``
    (already complete), ``complete``, ``incomplete`` (the notebook ended before the last round),
    ``awaiting_labels`` or ``failed`` (the error's last line in ``error``).
    """
    import papermill
    import yaml

    started = time.perf_counter()
    parsed = RunConfig.from_dict(config, source="sweep run")
    state, last, miou = run_progress(parsed)
    row = {"run": parsed.run_id, "status": "", "rounds": last, "final_miou": miou, "wall_s": 0.0, "error": ""}
    if state == "complete":
        return {**row, "status": "skipped"}
    run_dir = Path(parsed.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if threads is None:
        threads = resolve_threads(parsed.train.threads, jobs=_concurrent_tasks())
    try:
        kernel = kernel_name or ensure_kernel()
        with _environment(thread_env(threads)):
            papermill.execute_notebook(
                str(notebook), str(run_dir / "run.ipynb"),
                parameters={"config_yaml": yaml.safe_dump(dict(config), sort_keys=False), "threads": int(threads)},
                kernel_name=kernel, cwd=str(cwd) if cwd is not None else None,
                progress_bar=False, log_output=False,
            )
        state, last, miou = run_progress(parsed)
        status = state if state in ("complete", "awaiting_labels") else "incomplete"
        error = "" if status != "incomplete" else f"the notebook ended after round {last} of {parsed.active.rounds}"
    except Exception as exc:  # a failing run is reported, never allowed to stop the sweep
        state, last, miou = run_progress(parsed)
        status, error = "failed", _last_line(exc)
    return {**row, "status": status, "rounds": last, "final_miou": miou,
            "wall_s": round(time.perf_counter() - started, 2), "error": error}


def _concurrent_tasks() -> int:
    """Runs this process executes at once: a Dask worker's ``nthreads``, else 1."""
    from redal_core.cluster import worker_slots

    return worker_slots()


def _last_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    text = lines[-1] if lines else type(exc).__name__
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # ANSI colours of kernel tracebacks
    return f"{type(exc).__name__}: {text}"[:300]


# -- data shared by the runs ---------------------------------------------------------------------------
def prepare_data(configs: Sequence[Mapping[str, Any]], *, regions: bool = True, echo: bool = True) -> None:
    """Ready what the runs share, once, before they start in parallel.

    For every distinct dataset of ``configs``: generate a synthetic dataset whose root is absent (as the loop
    would, but once: parallel runs would otherwise write the same files at the same time) and, with
    ``regions``, fill the region cache (regions, and cues where the strategy uses them) of the training scans the runs will use, so that
    parallel runs read it instead of each computing it. Relative roots resolve against the current folder.
    """
    from redal_core.active.strategies import STRATEGIES
    from redal_core.config import SYNTHETIC

    seen: set[str] = set()
    for raw in configs:
        config = RunConfig.from_dict(raw, source="sweep run")
        d = config.dataset
        cues = bool(STRATEGIES.get(config.active.strategy).needs & {"color", "structure"})
        key = repr((d.name, d.root, d.cache_dir, d.generate, d.vccs, d.knn, d.max_train_scans,
                    config.regions.division, config.regions.grid_size, config.active.scoring if cues else None))
        if key in seen:
            continue
        seen.add(key)
        root = Path(d.root)
        started = time.perf_counter()
        if d.name in SYNTHETIC:
            from redal_core.active.run_data import config_generate_params
            from redal_core.data.generate import ensure_generated

            if ensure_generated(root, config_generate_params(config)) and echo:
                print(f"generated {d.name} ({d.generate.scans} scans) under {root} in "
                      f"{time.perf_counter() - started:.0f} s", flush=True)
        if regions:
            from redal_core.active.run_data import RunRegions
            from redal_core.data.datasets import build_dataset

            started = time.perf_counter()
            train = build_dataset(d.name, root, "train", cache_dir=d.cache_dir)
            count = len(train) if d.max_train_scans is None else min(d.max_train_scans, len(train))
            RunRegions(config, train).warm(list(range(count)), cues=cues)
            if echo:
                print(f"regions of {count} {d.name} training scans ready in {time.perf_counter() - started:.0f} s",
                      flush=True)


# -- many runs ------------------------------------------------------------------------------------------
def sweep(
    configs: Sequence[Mapping[str, Any]],
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    notebook: str | os.PathLike[str] = RUN_NOTEBOOK,
    echo: bool = True,
    prepare: bool = True,
) -> pd.DataFrame:
    """Execute every config (resolved, absolute paths) and return the summary table, in config order.

    prepare   : first ready the runs' shared data once (``prepare_data``: synthetic generation, and for
                local runs the region cache of the training scans).
    jobs      : parallel runs in a local ``ProcessPoolExecutor``; each run gets ``max(1, (cores - 1) // jobs)`` threads
                (or its ``train.threads``; ``REDAL_THREADS`` overrides both, as everywhere).
    scheduler : a Dask scheduler address (``tcp://host:8786``); the runs are submitted to that cluster
                instead, and each worker applies the same rule with its own cores and ``nthreads``.
    """
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    notebook = Path(notebook).resolve()
    if not notebook.is_file():
        raise FileNotFoundError(f"run notebook {notebook} does not exist")
    kernel = ensure_kernel()
    cwd = str(Path.cwd())
    rows: dict[str, dict[str, Any]] = {}
    pending = [c for c in configs if run_progress(RunConfig.from_dict(c, source="sweep run"))[0] != "complete"]
    if pending and prepare:
        prepare_data(pending, regions=scheduler is None, echo=echo)

    def report(row: dict[str, Any]) -> None:
        rows[row["run"]] = row
        if echo:
            extra = f"  {row['error']}" if row["error"] else ""
            print(f"[{len(rows)}/{len(configs)}] {row['run']}: {row['status']} "
                  f"(rounds {row['rounds']}, mIoU {row['final_miou']:.2f}, {row['wall_s']:.0f} s){extra}", flush=True)

    ids = [RunConfig.from_dict(c, source="sweep run").run_id for c in configs]
    if scheduler:
        from distributed import as_completed

        from redal_core.cluster import connect, watching

        with connect(scheduler) as client:  # unreachable: one line naming the address (SchedulerUnreachable)
            futures = [
                client.submit(execute_run, dict(c), notebook=str(notebook), kernel_name=None, threads=None,
                              cwd=cwd, key=f"redal-run-{rid}-{time.time_ns()}", pure=False)
                for c, rid in zip(configs, ids, strict=True)
            ]
            # says when a worker is lost, and when none has been connected for a while with runs pending
            with watching(client, scheduler, pending=lambda: sum(not f.done() for f in futures), unit="run"):
                for future in as_completed(futures, loop=client.loop):  # connect's client is not the default
                    try:
                        report(future.result())
                    except Exception as exc:  # the worker itself died
                        rid = ids[futures.index(future)]
                        report({"run": rid, "status": "failed", "rounds": -1, "final_miou": float("nan"),
                                "wall_s": 0.0, "error": _last_line(exc)})
    elif jobs == 1:
        for config in configs:
            threads = resolve_threads(config["train"]["threads"], jobs=1)
            report(execute_run(dict(config), notebook=notebook, kernel_name=kernel, threads=threads, cwd=cwd))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        from redal_core.workers import leave_with_parent

        context = multiprocessing.get_context("spawn")  # no forked torch/thread state in the workers
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=leave_with_parent,
                                 initargs=(os.getpid(),)) as pool:  # a killed sweep leaves no run behind
            futures = {
                pool.submit(execute_run, dict(c), notebook=str(notebook), kernel_name=kernel,
                            threads=resolve_threads(c["train"]["threads"], jobs=jobs), cwd=cwd): rid
                for c, rid in zip(configs, ids, strict=True)
            }
            for future in as_completed(futures):
                try:
                    report(future.result())
                except Exception as exc:
                    report({"run": futures[future], "status": "failed", "rounds": -1,
                            "final_miou": float("nan"), "wall_s": 0.0, "error": _last_line(exc)})
    return pd.DataFrame([rows[rid] for rid in ids], columns=SUMMARY_COLUMNS)


def format_summary(summary: pd.DataFrame) -> str:
    from redal_core.plots import to_markdown

    return to_markdown(summary)


def _params_runs(params_path: str, results_dir: str | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    grid, figures = load_params(params_path)
    if results_dir is not None:
        grid["results_dir"] = results_dir
    configs = expand_grid(grid, source=str(params_path))
    return [_absolute(c, Path.cwd()) for c in configs], figures


def cli_sweep(args) -> int:
    """``redal sweep PARAMS [--jobs N] [--dask-scheduler ADDRESS] [--results-dir DIR]``; 1 if a run failed."""
    configs, _ = _params_runs(args.params, getattr(args, "results_dir", None))
    print(f"redal sweep: {len(configs)} run(s) from {args.params}"
          + (f" on {args.dask_scheduler}" if args.dask_scheduler else f", {args.jobs} at a time"), flush=True)
    started = time.perf_counter()
    summary = sweep(configs, jobs=args.jobs, scheduler=args.dask_scheduler)
    results = {Path(c["results_dir"]) for c in configs}
    for folder in results:
        folder.mkdir(parents=True, exist_ok=True)
        summary.to_csv(folder / "sweep_summary.csv", index=False)
    print(f"\nsweep summary ({time.perf_counter() - started:.0f} s):\n" + format_summary(summary), flush=True)
    failed = summary.status.isin(["failed", "incomplete"]).sum()
    if failed:
        print(f"redal sweep: {failed} run(s) did not complete; see their run.ipynb", file=sys.stderr)
    return 1 if failed else 0


# -- figures --------------------------------------------------------------------------------------------
def render_figures(
    configs: Sequence[Mapping[str, Any]],
    *,
    budget_pct: float | None = None,
    notebooks: Sequence[str] = FIGURE_NOTEBOOKS,
    notebook_dir: str | os.PathLike[str] = NOTEBOOKS,
) -> list[Path]:
    """Execute the figure notebooks (03-05) over the runs of ``configs``; returns the files they wrote.

    Writes ``<results_dir>/figures/*.png|*.svg``, ``<results_dir>/tables/*.csv|*.md`` and the executed
    notebooks under ``<results_dir>/figures/notebooks/``. All configs must share one results_dir.
    """
    import papermill

    folders = sorted({str(Path(c["results_dir"])) for c in configs})
    if len(folders) != 1:
        raise ValueError(f"figures: the runs use {len(folders)} results_dir values {folders}; use one")
    results_dir = Path(folders[0])
    run_ids = [RunConfig.from_dict(c, source="figures").run_id for c in configs]
    present = [rid for rid in run_ids if (results_dir / "runs" / rid / "rounds.csv").is_file()]
    if not present:
        raise FileNotFoundError(f"figures: none of the {len(run_ids)} runs has a rounds.csv under {results_dir / 'runs'}")
    if len(present) < len(run_ids):
        warnings.warn(f"figures: {len(run_ids) - len(present)} of {len(run_ids)} runs have no results yet; "
                      "plotting the others", stacklevel=2)
    kernel = ensure_kernel()
    executed = results_dir / "figures" / "notebooks"
    executed.mkdir(parents=True, exist_ok=True)
    before = _outputs(results_dir)
    started = time.time()
    for name in notebooks:
        papermill.execute_notebook(
            str(Path(notebook_dir) / f"{name}.ipynb"), str(executed / f"{name}.ipynb"),
            parameters={"results_dir": str(results_dir), "run_ids": present, "budget_pct": budget_pct},
            kernel_name=kernel, cwd=str(Path.cwd()), progress_bar=False,
        )
    after = _outputs(results_dir)
    return sorted(p for p, mtime in after.items() if mtime >= started - 1 or p not in before)


def _outputs(results_dir: Path) -> dict[Path, float]:
    found = {}
    for sub, patterns in (("figures", ("*.png", "*.svg")), ("tables", ("*.csv", "*.md"))):
        for pattern in patterns:
            for path in (results_dir / sub).glob(pattern):
                found[path] = path.stat().st_mtime
    return found


def cli_figures(args) -> int:
    """``redal figures PARAMS [--results-dir DIR]``: notebooks 03-05 into results/figures and results/tables."""
    configs, figures = _params_runs(args.params, getattr(args, "results_dir", None))
    written = render_figures(configs, budget_pct=figures.get("budget_pct"))
    print(f"redal figures: {len(written)} file(s) written:")
    for path in written:
        print(f"  {path}")
    final = [p for p in written if p.name == "final_miou.md"]
    if final:
        print("\n" + final[0].read_text(encoding="utf-8"))
    return 0
